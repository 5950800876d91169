"""The stack engine's scheduler: independent resources at once, dependencies first, failures stop or not."""

from __future__ import annotations

import asyncio

from selfmaker.services.cloudformation.scheduler import run_graph


def _run(dependencies, fail=(), stop_on_failure=True, slow=()):
    started, finished = [], []
    running = 0
    peak = 0

    async def action(name: str) -> None:
        nonlocal running, peak
        started.append(name)
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(1 if name in slow else 0.01)
            if name in fail:
                raise RuntimeError(name)
            finished.append(name)
        finally:
            running -= 1

    outcome = asyncio.run(run_graph(dependencies, action, stop_on_failure))
    return outcome, started, finished, peak


def test_independent_nodes_run_together_and_dependencies_go_first():
    outcome, started, finished, peak = _run({"A": set(), "B": set(), "C": {"A", "B"}, "D": {"C"}})
    assert outcome.ok and sorted(outcome.done) == ["A", "B", "C", "D"]
    assert peak == 2
    assert started.index("C") > max(finished.index("A"), finished.index("B"))
    assert started[-1] == "D"


def test_a_failure_cancels_what_runs_and_starts_nothing_more():
    outcome, started, _finished, _peak = _run({"A": set(), "Slow": set(), "After": {"A"}}, fail={"A"}, slow={"Slow"})
    assert outcome.failed == ["A"]
    assert outcome.cancelled == ["Slow"]
    assert "After" not in started


def test_without_stopping_the_rest_of_the_graph_goes_on():
    outcome, started, _finished, _peak = _run({"A": set(), "B": set(), "AfterA": {"A"}, "AfterB": {"B"}},
                                              fail={"A"}, stop_on_failure=False)
    assert outcome.failed == ["A"]
    assert sorted(outcome.done) == ["AfterB", "B"]
    assert "AfterA" not in started
