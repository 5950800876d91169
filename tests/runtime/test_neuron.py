"""AWS Neuron device discovery: /dev/neuronN nodes, counted and bound in number order."""

from pathlib import Path

import pytest

from selfmaker.runtime import neuron


def test_this_host() -> None:
    count = neuron.count_devices()
    assert count == len(list(Path("/dev").glob("neuron[0-9]*")))
    assert len(neuron.device_nodes(count)) == count
    assert neuron.device_nodes(0) == []


def test_numbered_nodes_in_number_order(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("neuron10", "neuron0", "neuron1", "neuron_monitor", "nvidia0"):
        (tmp_path / name).touch()
    monkeypatch.setattr(neuron, "_DEV", tmp_path)
    assert neuron.count_devices() == 3
    assert neuron.device_nodes(2) == [str(tmp_path / "neuron0"), str(tmp_path / "neuron1")]
    assert neuron.device_nodes(16) == [str(tmp_path / n) for n in ("neuron0", "neuron1", "neuron10")]
    assert neuron.device_nodes(0) == []
