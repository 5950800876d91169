"""Provider methods are called the same way by the gateway and by stacks, blocking ones off the event loop."""

from __future__ import annotations

import asyncio
import threading

from selfmaker.services.base import RequestContext, blocking, invoke

CTX = RequestContext("123456789012", "us-east-1", "arn:aws:iam::123456789012:root", "AKIA", "req", "http://x")


class Provider:
    def Plain(self, ctx, params):
        return {"thread": threading.get_ident()}

    async def Async(self, ctx, params):
        return {"thread": threading.get_ident()}

    @blocking
    def Slow(self, ctx, params):
        return {"thread": threading.get_ident(), **params}


def test_blocking_methods_run_in_a_worker_thread_and_others_on_the_loop():
    provider = Provider()

    async def main():
        loop_thread = threading.get_ident()
        assert (await invoke(provider.Plain, CTX, {}))["thread"] == loop_thread
        assert (await invoke(provider.Async, CTX, {}))["thread"] == loop_thread
        slow = await invoke(provider.Slow, CTX, {"Password": "x"})
        assert slow["thread"] != loop_thread and slow["Password"] == "x"

    asyncio.run(main())
