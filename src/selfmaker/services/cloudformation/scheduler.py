"""Run one action per node of a dependency graph, each as soon as its dependencies are done, the
independent ones concurrently.

On a failure, ``stop_on_failure`` (create, update) starts nothing more and cancels what is running, as
CloudFormation cancels the other resources in progress; otherwise (delete) the rest of the graph goes on,
except the nodes that wait on a failed one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Set
from dataclasses import dataclass, field


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # in the order they failed
    cancelled: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled


async def run_graph(
    dependencies: Mapping[str, Set[str]],
    action: Callable[[str], Awaitable[None]],
    stop_on_failure: bool,
) -> Outcome:
    """``dependencies`` maps each node to the nodes that must be done before it (others are ignored).
    An action reports failure by raising; it is cancelled (CancelledError) when another one fails."""
    outcome = Outcome()
    waiting = dict(dependencies)
    running: dict[asyncio.Task, str] = {}
    try:
        while True:
            if not (stop_on_failure and outcome.failed):
                for name in list(waiting):
                    needs = {n for n in waiting[name] if n in dependencies}
                    if needs <= set(outcome.done):
                        del waiting[name]
                        running[asyncio.ensure_future(action(name))] = name
                    elif needs & (set(outcome.failed) | set(outcome.cancelled)):
                        del waiting[name]  # blocked for good by a failure
            if not running:
                break
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                _record(task, running.pop(task), outcome)
            if stop_on_failure and outcome.failed and running:
                await _cancel(running, outcome)
    finally:
        if running:  # we were cancelled ourselves: the actions go too
            await _cancel(running, outcome)
    return outcome


async def _cancel(running: dict[asyncio.Task, str], outcome: Outcome) -> None:
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    for task, name in running.items():
        _record(task, name, outcome)
    running.clear()


def _record(task: asyncio.Task, name: str, outcome: Outcome) -> None:
    """File a finished action under how it ended."""
    if task.cancelled():
        outcome.cancelled.append(name)
    elif task.exception() is not None:
        outcome.failed.append(name)
    else:
        outcome.done.append(name)
