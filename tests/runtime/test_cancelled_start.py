"""A start cancelled at any moment (server shutdown, a test-mode reset) leaves nothing behind: the clean-up
waits for the threads still making disks and namespaces instead of racing them."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from selfmaker.runtime.local import LocalRuntime
from tests.runtime.test_local_runtime import Sink, data_dir, make_spec  # noqa: F401 - data_dir is a fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(str(path))]


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_a_cancelled_start_is_cleaned_up_whenever_it_is_cancelled(tmp_path: Path, data_dir: Path,  # noqa: F811
                                                                 delay: float) -> None:
    runtime = LocalRuntime(data_dir)
    spec = make_spec(tmp_path)

    async def scenario() -> None:
        start = asyncio.create_task(runtime.start(spec, Sink()))
        await asyncio.sleep(delay)
        start.cancel()
        await asyncio.gather(start, return_exceptions=True)
        await runtime.delete(spec.instance_id, spec.volume_dir)  # raised "Directory not empty" before

    asyncio.run(scenario())
    assert not runtime.alive(spec.instance_id)
    assert not (data_dir / "run" / spec.instance_id).exists()
    assert _mounts_under(tmp_path) == []  # the volume (under tmp_path) and the scratch disk
