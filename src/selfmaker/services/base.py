"""What every service provider shares: the request context and the error it raises.

A provider is a class with one method per operation, named as the operation is in botocore's model
(``DescribeNotebookInstance``). A method takes (ctx, params) — params already parsed and validated
against the operation's input shape — and returns a dict shaped like the output shape. Methods may be
plain or async; a plain one that burns CPU for long (password hashing) is marked ``@blocking`` and runs
off the event loop. Providers never see HTTP.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from selfmaker.domain.partitions import partition_of
from selfmaker.offload import on_user_input_pool


class ServiceError(Exception):
    """An AWS error: ``code`` is the wire error code, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, sender_fault: bool = True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


@dataclass(frozen=True)
class RequestContext:
    account_id: str
    region: str
    principal_arn: str
    access_key_id: str
    request_id: str
    endpoint_url: str  # the base URL clients reach this server at, for links we hand out

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, service: str, resource: str, region: str | None = None) -> str:
        """An ARN in this request's partition, region and account (``region=""`` for global services)."""
        region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"


def blocking(method: Callable) -> Callable:
    """Mark a provider method that takes long (Argon2 by design): callers run it in a worker thread, so the
    event loop goes on serving everyone else."""
    method.blocking = True  # type: ignore[attr-defined]
    return method


def on_user_input(method: Callable) -> Callable:
    """Mark a provider method whose CPU work is matching what users hand in (their patterns): it runs in the
    user-input pool (``selfmaker.offload``), so many at once cannot take the server's own worker threads."""
    method.blocking = "user-input"  # type: ignore[attr-defined]
    return method


async def invoke(method: Callable, ctx: RequestContext, params: dict):
    """Call a provider method however it is written: async, plain, or plain and ``@blocking``."""
    kind = getattr(method, "blocking", False)
    if kind == "user-input":
        return await on_user_input_pool(method, ctx, params)
    if kind:
        return await asyncio.to_thread(method, ctx, params)
    result = method(ctx, params)
    if inspect.isawaitable(result):
        result = await result
    return result
