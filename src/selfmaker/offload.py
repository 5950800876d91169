"""Where CPU-bound work runs off the event loop.

Work on what users hand in (templates and their parameter patterns, log filter patterns) runs in a small
pool of its own: each piece is budgeted (``selfmaker.patterns``), but many at once must not take the
threads the server's own work needs (store writes, password checks, log shipping) from everyone else.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_USER_INPUT_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="user-input")


async def on_user_input_pool(func: Callable[..., T], *args, **kwargs) -> T:
    """``func(*args, **kwargs)`` in the user-input pool (with the caller's context, as ``to_thread``)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_USER_INPUT_POOL, call)
