"""NVIDIA GPUs of this host, seen as device nodes (/dev/nvidia0, /dev/nvidia1, ... plus shared control nodes)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_DEV = Path("/dev")
_NUMBERED = re.compile(r"nvidia(\d+)")


def _numbered_nodes() -> list[Path]:
    nodes = [p for p in _DEV.glob("nvidia*") if _NUMBERED.fullmatch(p.name)]
    return sorted(nodes, key=lambda p: int(p.name.removeprefix("nvidia")))


def count_gpus() -> int:
    """How many GPUs this host has: its numbered device nodes, or else what `nvidia-smi -L` lists."""
    nodes = _numbered_nodes()
    if nodes:
        return len(nodes)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU ") for line in listing.splitlines())


def device_nodes(count: int) -> list[str]:
    """Device files a sandbox needs to use the first `count` GPUs (fewer if the host has fewer).

    Those are the numbered nodes plus every shared one (nvidiactl, nvidia-uvm, nvidia-caps/, ...): CUDA
    needs the control nodes whichever GPU it opens.
    """
    if count <= 0:
        return []
    shared = sorted(p for p in _DEV.glob("nvidia*") if not _NUMBERED.fullmatch(p.name))
    return [str(p) for p in shared + _numbered_nodes()[:count]]
