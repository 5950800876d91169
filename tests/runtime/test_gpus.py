"""GPU discovery on whatever host runs the tests (usually one without GPUs)."""

from pathlib import Path

from selfmaker.runtime import gpus


def test_count_matches_device_nodes() -> None:
    count = gpus.count_gpus()
    assert count >= 0
    numbered = [node for node in gpus.device_nodes(count) if Path(node).name.removeprefix("nvidia").isdigit()]
    assert len(numbered) == count or not Path("/dev/nvidia0").exists()


def test_no_devices_without_gpus() -> None:
    assert gpus.device_nodes(0) == []
