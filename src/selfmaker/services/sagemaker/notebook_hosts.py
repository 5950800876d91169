"""The host name of each notebook instance's Jupyter: ``<name>-<account>.notebook.<region>.<domain>``.

Every instance is served on an origin of its own (as AWS serves ``<name>.notebook.<region>.sagemaker.aws``),
so no notebook page shares an origin with the console, the API or another instance. Host names are
lowercase; instance names match them case-insensitively.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_NAME = re.compile(r"[a-z0-9](-*[a-z0-9])*")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_LABEL_MAX = 63  # a DNS label's longest
_DIGEST = 8
_SHORT_PREFIX = _LABEL_MAX - _DIGEST - 2 - 12  # "<prefix>-<digest>-<account>"
_DOMAIN = re.compile(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True)
class NotebookHost:
    name: str  # lowercased
    account_id: str
    region: str


def valid_domain(domain: str) -> bool:
    return bool(_DOMAIN.fullmatch(domain))


def host_label(name: str, account_id: str) -> str:
    """``<name>-<account>``; for names too long for one DNS label (63), the name's first characters and a
    digest of it, so that every instance keeps a host of its own behind wildcard DNS."""
    name = name.lower()
    label = f"{name}-{account_id}"
    if len(label) <= _LABEL_MAX:
        return label
    digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST]
    return f"{name[:_SHORT_PREFIX]}-{digest}-{account_id}"


def shortened_prefix(label_name: str) -> str | None:
    """The name prefix a shortened label's name part stands for (None when it is a plain name)."""
    head, _, digest = label_name.rpartition("-")
    if len(head) == _SHORT_PREFIX and len(digest) == _DIGEST and all(c in "0123456789abcdef" for c in digest):
        return head
    return None


def notebook_host(name: str, account_id: str, region: str, domain: str) -> str:
    return f"{host_label(name, account_id)}.notebook.{region}.{domain}"


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
