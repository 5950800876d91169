"""The host name of each notebook instance's Jupyter: ``<name>-<account>.notebook.<region>.<domain>``.

Every instance is served on an origin of its own (as AWS serves ``<name>.notebook.<region>.sagemaker.aws``),
so no notebook page shares an origin with the console, the API or another instance. Host names are
lowercase; instance names match them case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_NAME = re.compile(r"[a-z0-9](-*[a-z0-9])*")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_DOMAIN = re.compile(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True)
class NotebookHost:
    name: str  # lowercased
    account_id: str
    region: str


def valid_domain(domain: str) -> bool:
    return bool(_DOMAIN.fullmatch(domain))


def notebook_host(name: str, account_id: str, region: str, domain: str) -> str:
    return f"{name.lower()}-{account_id}.notebook.{region}.{domain}"


def notebook_netloc(endpoint_url: str, name: str, account_id: str, region: str, domain: str) -> str:
    """host[:port], with the port of ``endpoint_url`` when it names one: SageMaker's ``Url``."""
    port = urlsplit(endpoint_url).port
    host = notebook_host(name, account_id, region, domain)
    return f"{host}:{port}" if port else host


def notebook_origin(endpoint_url: str, name: str, account_id: str, region: str, domain: str) -> str:
    """scheme://host[:port] of an instance's Jupyter, on the scheme and port people reach this server at."""
    scheme = urlsplit(endpoint_url).scheme or "http"
    return f"{scheme}://{notebook_netloc(endpoint_url, name, account_id, region, domain)}"


def parse_notebook_host(host_header: str, domain: str) -> NotebookHost | None:
    """The instance a Host header names, or None when it is no notebook host under ``domain``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal
    head, _, port = host.rpartition(":")
    if head and port.isdigit():
        host = head
    suffix = f".{domain}"
    if not host.rstrip(".").endswith(suffix):
        return None
    labels = host.rstrip(".")[: -len(suffix)].split(".")
    if len(labels) != 3 or labels[1] != "notebook":
        return None
    name, _, account_id = labels[0].rpartition("-")
    region = labels[2]
    if not (_NAME.fullmatch(name) and _ACCOUNT.fullmatch(account_id) and _REGION.fullmatch(region)):
        return None
    return NotebookHost(name, account_id, region)
