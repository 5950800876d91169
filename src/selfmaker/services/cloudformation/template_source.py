"""Where a template's text comes from: TemplateBody, or TemplateURL.

TemplateURL may be
- a bundled template: ``selfmaker://fastai.yaml``, or the bare name ``fastai.yaml`` (or ``fastai``), read
  from the package's ``selfmaker/templates`` folder;
- ``file:///path`` on the server's host — for the account's root user only, since it reads the server's
  own files;
- ``http(s)://…``, fetched with a size limit, never from this server itself nor (unless the administrator
  sets SELFMAKER_TEMPLATE_ALLOW_PRIVATE_URLS=1) from loopback, private or link-local addresses. The
  address is checked and then connected to as checked, so a name cannot be re-pointed in between.
"""

from __future__ import annotations

import errno
import os
import stat
from importlib import resources
from urllib.parse import unquote, urlsplit

import httpx

from selfmaker.net.outbound import OutboundGuard, OutboundRefused
from selfmaker.services.base import RequestContext, ServiceError

MAX_BODY = 51_200  # bytes, as AWS limits TemplateBody
MAX_URL_TEMPLATE = 1_048_576  # bytes, as AWS limits a template at a TemplateURL
_FETCH_TIMEOUT = 10.0
_MAX_REDIRECTS = 3


def _invalid(message: str) -> ServiceError:
    return ServiceError("ValidationError", message)


class TemplateSource:
    def __init__(self, allow_private_urls: bool, own_host: str, own_port: int):
        self.guard = OutboundGuard(allow_private_urls, own_host, own_port, "SELFMAKER_TEMPLATE_ALLOW_PRIVATE_URLS")

    async def text(self, ctx: RequestContext, params: dict) -> str:
        """The template of a request with TemplateBody or TemplateURL (exactly one of them)."""
        body, url = params.get("TemplateBody"), params.get("TemplateURL")
        if body is not None and url is not None:
            raise _invalid("Specify exactly one of TemplateBody or TemplateURL")
        if body is not None:
            if len(body.encode()) > MAX_BODY:
                raise _invalid("1 validation error detected: Value at 'templateBody' failed to satisfy constraint: "
                               f"Member must have length less than or equal to {MAX_BODY}")
            return body
        if url is None:
            raise _invalid("Either Template URL or Template Body must be specified.")
        return await self.fetch(ctx, url)

    async def fetch(self, ctx: RequestContext, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "selfmaker" or "://" not in url:
            return bundled(parts.netloc + parts.path if parts.scheme else url)
        if parts.scheme == "file":
            return self._file(ctx, unquote(parts.path))
        if parts.scheme in ("http", "https"):
            return await self._http(url)
        raise _invalid("TemplateURL must be a supported URL.")

    def _file(self, ctx: RequestContext, path: str) -> str:
        if not ctx.principal_arn.endswith(":root"):
            raise _invalid("TemplateURL file:// reads the Selfmaker server's own files: only the account's root "
                           "user may use it.")
        try:
            data = _read_regular(path)
        except OSError as err:
            raise _invalid(f"TemplateURL file://{path} cannot be read: {err.strerror}") from None
        except ValueError:  # a NUL in the path
            raise _invalid(f"TemplateURL file://{path} is not a valid path") from None
        return _decoded(data, f"file://{path}")

    async def _http(self, url: str) -> str:
        async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT, follow_redirects=False) as client:
            for _ in range(_MAX_REDIRECTS + 1):
                target = httpx.URL(url)
                address = await self._checked_address(target)
                # Connect to the address just checked; TLS still verifies the host's name.
                pinned = target.copy_with(host=address)
                request = client.build_request("GET", pinned, headers={"Host": target.netloc.decode()},
                                               extensions={"sni_hostname": target.host})
                try:
                    response = await client.send(request, stream=True)
                except httpx.HTTPError as err:
                    raise _invalid(f"TemplateURL {url} could not be fetched: {err}") from None
                try:
                    if response.is_redirect and "location" in response.headers:
                        url = str(target.join(response.headers["location"]))
                        continue
                    if response.status_code != 200:
                        raise _invalid(f"TemplateURL {url} could not be fetched: HTTP {response.status_code}")
                    return _decoded(await _read_limited(response, url), url)
                finally:
                    await response.aclose()
        raise _invalid(f"TemplateURL {url} redirects more than {_MAX_REDIRECTS} times")

    async def _checked_address(self, url: httpx.URL) -> str:
        if url.scheme not in ("http", "https") or not url.host:
            raise _invalid("TemplateURL must be a supported URL.")
        try:
            return await self.guard.address(url)
        except OutboundRefused as refused:
            raise _invalid(f"TemplateURL {url} cannot be fetched: {refused}") from None


def _read_regular(path: str) -> bytes:
    """At most one byte past the limit of a regular file: a FIFO would block the server on open, and
    /dev/zero would never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(MAX_URL_TEMPLATE + 1)
    finally:
        os.close(fd)


async def _read_limited(response: httpx.Response, url: str) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_URL_TEMPLATE:
            raise _invalid(f"The template at TemplateURL {url} is larger than {MAX_URL_TEMPLATE} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decoded(data: bytes, where: str) -> str:
    if len(data) > MAX_URL_TEMPLATE:
        raise _invalid(f"The template at TemplateURL {where} is larger than {MAX_URL_TEMPLATE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"The template at TemplateURL {where} is not UTF-8 text") from None


def bundled(name: str) -> str:
    """A template shipped with Selfmaker, by file name (the .yaml may be left out)."""
    folder = resources.files("selfmaker.templates")
    # Matched against the folder's listing, never handed to the file system: a name the client made up
    # (too long, a NUL, "..") finds nothing rather than an OSError.
    shipped = {p.name: p for p in folder.iterdir() if p.name.endswith((".yaml", ".yml", ".json")) and p.is_file()}
    candidates = [name, f"{name}.yaml"] if not name.endswith((".yaml", ".yml", ".json")) else [name]
    for candidate in candidates:
        if candidate in shipped:
            return shipped[candidate].read_text()
    known = sorted(shipped)
    raise _invalid(f"TemplateURL {name}: no bundled template of that name. Bundled: {', '.join(known)}")
