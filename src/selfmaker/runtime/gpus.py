"""NVIDIA GPUs of this host, seen as device nodes (/dev/nvidia0, /dev/nvidia1, ... plus shared control nodes)."""

from __future__ import annotations

import glob
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


# The NVIDIA driver's user-space half, which must match the host's kernel module: the image cannot bring it.
_DRIVER_GLOBS = ("/usr/lib/x86_64-linux-gnu/libcuda.so*", "/usr/lib/x86_64-linux-gnu/libnvidia-*.so*",
                 "/usr/lib/aarch64-linux-gnu/libcuda.so*", "/usr/lib/aarch64-linux-gnu/libnvidia-*.so*",
                 "/usr/lib64/libcuda.so*", "/usr/lib64/libnvidia-*.so*", "/usr/bin/nvidia-smi",
                 "/usr/bin/nvidia-debugdump", "/usr/bin/nvidia-persistenced")


def driver_files(count: int) -> list[str]:
    """Host files an instance on the image needs for its GPUs (none without GPUs or a driver)."""
    if count <= 0 or not _numbered_nodes():
        return []
    return sorted({path for pattern in _DRIVER_GLOBS for path in glob.glob(pattern)})


def device_nodes(count: int, ids: list[int] | None = None) -> list[str]:
    """Device files a sandbox needs to use the first `count` GPUs (fewer if the host has fewer), or the GPUs
    numbered ``ids`` (those a scheduler such as Slurm assigned).

    Those are the numbered nodes plus every shared one (nvidiactl, nvidia-uvm, nvidia-caps/, ...): CUDA
    needs the control nodes whichever GPU it opens.
    """
    if count <= 0 and not ids:
        return []
    numbered = _numbered_nodes()
    chosen = [p for p in numbered if int(p.name.removeprefix("nvidia")) in ids] if ids else numbered[:count]
    shared = sorted(p for p in _DEV.glob("nvidia*") if not _NUMBERED.fullmatch(p.name))
    return [str(p) for p in shared + chosen]


def visible_devices(count: int, ids: list[int] | None = None) -> str:
    """CUDA_VISIBLE_DEVICES for those GPUs."""
    return ",".join(str(i) for i in (ids if ids else range(min(count, count_gpus()))))
