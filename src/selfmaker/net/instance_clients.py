"""HTTP clients for instances' Jupyter on their Unix sockets, one per instance, kept until it stops.

The gateway's proxy and the idle checker both talk to every instance's Jupyter this way. Making an httpx
client the usual way costs 30-50 ms of CPU (its TLS context loads the CA bundle); these sockets never speak
TLS, so every client shares one context that trusts nothing, which costs nothing (and would fail any TLS
handshake). Nothing from this server's environment (proxies, SSL_CERT_FILE) applies to an instance's socket.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Collection

import httpx

NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA loaded: any TLS handshake would fail


def unix_transport(socket_path: str, limits: httpx.Limits | None = None) -> httpx.AsyncHTTPTransport:
    """Plain HTTP over ``socket_path``, with the shared context and none of the environment."""
    return httpx.AsyncHTTPTransport(uds=socket_path, verify=NO_TLS, trust_env=False,
                                    limits=limits if limits is not None else httpx.Limits())


class InstanceClients:
    """Clients keyed by instance id, each made by ``build(socket_path)`` on first use, replaced when the
    instance comes back on another socket, closed by ``keep_only`` once it is no longer InService."""

    def __init__(self, build: Callable[[str], httpx.AsyncClient]):
        self._build = build
        self._clients: dict[str, tuple[str, httpx.AsyncClient]] = {}  # instance id -> (socket path, client)

    def __len__(self) -> int:
        return len(self._clients)

    def instance_ids(self) -> set[str]:
        return set(self._clients)

    async def get(self, instance_id: str, socket_path: str) -> httpx.AsyncClient:
        kept = self._clients.get(instance_id)
        if kept is not None and kept[0] == socket_path:
            return kept[1]
        client = self._build(socket_path)
        # Put in place before the old one is closed: no other request can make a second one meanwhile.
        self._clients[instance_id] = (socket_path, client)
        if kept is not None:  # started again elsewhere
            await kept[1].aclose()
        return client

    async def keep_only(self, instance_ids: Collection[str]) -> None:
        """Close the clients of every instance not in ``instance_ids``."""
        gone = [self._clients.pop(key)[1] for key in self._clients.keys() - set(instance_ids)]
        await asyncio.gather(*(client.aclose() for client in gone))

    async def close(self) -> None:
        await self.keep_only(())
