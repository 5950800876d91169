"""Where the server may connect on a user's behalf (SNS http endpoints, CloudFormation TemplateURLs).

A name is resolved and every address it has is checked right before the request, and the caller then
connects to the address as checked (TLS still verifies the name), so the name cannot be re-pointed in
between. Never this server itself; never loopback, private or link-local ranges unless the
administrator allows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_ANY = ("0.0.0.0", "::", "")


class OutboundRefused(Exception):
    """The URL may not be reached; the text says why, for a person."""


class Unresolvable(OutboundRefused):
    """The name has no address (now: DNS may answer later)."""


class OutboundGuard:
    def __init__(self, allow_private: bool, own_host: str, own_port: int, allow_private_setting: str):
        self.allow_private = allow_private
        self.own_host = own_host
        self.own_port = own_port
        self.allow_private_setting = allow_private_setting  # named in refusals: how the admin allows them
        self._own: set[Address] | None = None

    async def address(self, url: httpx.URL) -> str:
        """The address to connect to for ``url``, or OutboundRefused."""
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve(url.host, port)
        own = await self._own_addresses()
        for address in addresses:
            plain = (address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else address
            if plain in own and port == self.own_port:
                raise OutboundRefused(f"{url.host}:{port} is this Selfmaker server itself")
            if not self.allow_private and (not plain.is_global or plain.is_multicast):
                raise OutboundRefused(
                    f"{url.host} resolves to {plain}, a loopback, private or link-local address "
                    f"(the administrator can allow these with {self.allow_private_setting}=1)"
                )
        return str(addresses[0])

    async def _own_addresses(self) -> set[Address]:
        if self._own is None:
            found: set[Address] = set()
            for host in {self.own_host, socket.gethostname(), "localhost"} - set(_ANY):
                with contextlib.suppress(OutboundRefused):  # a name that does not resolve is no address
                    found.update(await resolve(host, self.own_port))
            if self.own_host in _ANY:
                found.update({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})
            self._own = found
        return self._own


async def resolve(host: str, port: int) -> list[Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise Unresolvable(f"{host} does not resolve ({err})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    if not addresses:
        raise Unresolvable(f"{host} does not resolve")
    return addresses
