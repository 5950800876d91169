"""HTTP(S) subscription endpoints: well-formed, and never pointed at this server or a private network.

Names are resolved and every address checked right before each request, and the request then goes to
the checked address (TLS still verifies the name), so a name cannot be re-pointed in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

import httpx

from selfmaker.services.sns.errors import invalid_parameter

_PORTS_BELOW_1024 = (80, 443)  # as SNS: 80, 443 and 1024–65535


class EndpointRefused(Exception):
    """The endpoint may not be reached; the text says why."""


def check_url(protocol: str, endpoint: str | None) -> httpx.URL:
    """An http/https endpoint's URL, or InvalidParameter (what Subscribe answers)."""
    if not endpoint:
        raise invalid_parameter("Endpoint")
    try:
        url = httpx.URL(endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError):
        raise invalid_parameter("Endpoint", "not a valid URL") from None
    if url.scheme != protocol or not url.host:
        raise invalid_parameter("Endpoint", f"an {protocol} endpoint must be a URL starting with {protocol}://")
    if port < 1024 and port not in _PORTS_BELOW_1024:
        raise invalid_parameter("Endpoint", "the port must be 80, 443 or between 1024 and 65535")
    return url


class EndpointGuard:
    def __init__(self, allow_private: bool, own_hosts: tuple[str, ...]):
        self.allow_private = allow_private
        self.own_hosts = own_hosts
        self._own: set[ipaddress.IPv4Address | ipaddress.IPv6Address] | None = None

    async def resolve(self, url: httpx.URL) -> str:
        """The address to connect to for ``url``; EndpointRefused when it may not be reached."""
        addresses = await _addresses(url.host, url.port or 0)
        if not addresses:
            raise EndpointRefused(f"{url.host} does not resolve")
        if not self.allow_private:
            own = await self._own_addresses()
            for address in addresses:
                plain = (address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else address
                if plain in own:
                    raise EndpointRefused(f"{url.host} is this server's own address")
                if not plain.is_global or plain.is_multicast:
                    raise EndpointRefused(
                        f"{url.host} resolves to {plain}, a private, loopback or link-local address "
                        "(the administrator can allow these with SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS=1)"
                    )
        return str(addresses[0])

    async def _own_addresses(self) -> set:
        if self._own is None:
            found = set()
            for host in (*self.own_hosts, socket.gethostname()):
                with contextlib.suppress(EndpointRefused):  # a name that does not resolve is no address
                    found.update(await _addresses(host, 0))
            self._own = found
        return self._own


async def _addresses(host: str, port: int) -> list:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise EndpointRefused(f"{host} does not resolve ({err})") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
