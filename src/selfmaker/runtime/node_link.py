"""The wire between the server and the node agents of the Slurm runtime: one line first, then bytes.

Every connection opens with a single line of words, checked before anything else is read:
  node → server  ``READY <instance id> <ticket> <port>``   Jupyter of the instance listens at <port> on the
                 node the connection comes from; the ticket is good for one READY (batchspawner's callback).
  node → server  ``GUEST <instance id> <key> <n>``         the instance connects to its n-th guest service
                 (the API, the metadata service) and the rest of the connection is that service's.
  server → node  ``<key>``                                 the proxy connects to the instance's Jupyter.
Secrets are made per start by the server and reach the node in the job's directory (root only); they are
compared in constant time. A connection that does not send its line within LINE_TIMEOUT is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac

LINE_TIMEOUT = 10.0
MAX_LINE = 512


async def read_line(reader: asyncio.StreamReader) -> list[str] | None:
    """The opening line's words, or None (too long, too slow, or the peer went away)."""
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), LINE_TIMEOUT)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
        return None
    if len(line) > MAX_LINE:
        return None
    try:
        return line.decode("ascii").split()
    except UnicodeDecodeError:
        return None


def same(secret: str, given: str) -> bool:
    return hmac.compare_digest(secret.encode(), given.encode())


def close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        writer.close()
