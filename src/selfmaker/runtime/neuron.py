"""AWS Neuron devices of this host (Inferentia and Trainium chips), seen as device nodes /dev/neuron0, ...

They are no CUDA GPUs: an instance type's accelerators are counted here, its GPUs in gpus.py.
"""

from __future__ import annotations

import re
from pathlib import Path

_DEV = Path("/dev")
_NUMBERED = re.compile(r"neuron(\d+)")


def _numbered_nodes() -> list[Path]:
    nodes = [p for p in _DEV.glob("neuron*") if _NUMBERED.fullmatch(p.name)]
    return sorted(nodes, key=lambda p: int(p.name.removeprefix("neuron")))


def count_devices() -> int:
    """How many Neuron devices (one per Inferentia or Trainium chip) this host has."""
    return len(_numbered_nodes())


def device_nodes(count: int) -> list[str]:
    """Device files a sandbox needs to use the first `count` Neuron devices (fewer if the host has fewer)."""
    return [str(p) for p in _numbered_nodes()[:max(count, 0)]]
