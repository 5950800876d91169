"""An instance's root file system when it runs on the instance image: the image's layers, read-only,
under a writable layer of its own on the instance's scratch disk (overlayfs), made anew at every start.

So root and lifecycle scripts may change anything (``/etc``, ``/usr``, ``/opt``, ``/var``, the conda
environments) and all of it is back to the image on the next start; only the volume at
``/home/ec2-user/SageMaker`` keeps what is written, as on SageMaker.

The overlay is mounted on the host, in the instance's run directory (root's alone), ``nosuid,nodev``,
before the sandbox starts, and unmounted when it has stopped; bwrap binds it as the sandbox's /. What the
host puts into the instance's root (its /etc identity files, the lifecycle scripts, the service commands)
it writes into the fresh upper layer before mounting it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from selfmaker.runtime.image.store import Image

_UNSAFE_IN_OPTIONS = (",", ":", "\\", "\n")


def prepare(upper: Path, work: Path, mountpoint: Path) -> None:
    """An empty writable layer, with the directories the host fills in before the start."""
    for path in (upper, work):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(mode=0o755)
    mountpoint.mkdir(mode=0o755, exist_ok=True)
    for name, mode, owner in (("etc", 0o755, None), ("etc/profile.d", 0o755, None), ("tmp", 0o1777, None),
                              ("root", 0o700, None), ("home", 0o755, None), ("home/ec2-user", 0o700, (1000, 1000)),
                              ("usr", 0o755, None), ("usr/local", 0o755, None), ("usr/local/sbin", 0o755, None)):
        path = upper / name
        path.mkdir(mode=mode)
        path.chmod(mode)  # past the umask (tmp's sticky bit)
        if owner:
            os.chown(path, *owner)


def mount(image: Image, upper: Path, work: Path, mountpoint: Path) -> None:
    """Mount the instance's root: ``upper`` over the image's layers, at ``mountpoint``."""
    for path in (*image.lowerdir().split(":"), str(upper), str(work), str(mountpoint)):
        if any(c in path for c in _UNSAFE_IN_OPTIONS):
            raise ValueError(f"{path}: overlayfs cannot take a path with , : or \\ in it")
    options = f"lowerdir={image.lowerdir()},upperdir={upper},workdir={work},nosuid,nodev"
    done = subprocess.run(["mount", "-t", "overlay", "-o", options, "selfmaker-instance", str(mountpoint)],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if done.returncode != 0:
        raise OSError(f"mounting the instance's root failed: {(done.stderr or done.stdout).strip()}")
