"""Where the host keeps its instance images, and how a missing piece gets built (once, under a lock).

``SELFMAKER_IMAGE_DIR`` (default ``/var/lib/selfmaker/images``) holds, each in a directory named by its
digest and never changed once made::

    rootfs-<digest>/        the Debian root (rootfs.py)
    conda-<digest>/         anaconda3 with conda's commands (the base environment)
    env-<name>-<digest>/    one environment, laid over the two above
    pip-cache/              wheels, so that rebuilding an environment downloads nothing twice

Every data directory of the host shares them: the digests tell apart what differs (the admin's package
list, the environments). A build goes to a ``.partial`` directory renamed into place when complete, so an
interrupted one is never mistaken for an image.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from selfmaker.runtime.image import environments, rootfs
from selfmaker.runtime.image.environments import Environment, LayerBuilder
from selfmaker.runtime.sandbox.disks import unmount_below

log = logging.getLogger(__name__)
DEFAULT_DIR = "/var/lib/selfmaker/images"


@dataclass(frozen=True)
class Image:
    rootfs: Path
    layers: tuple[Path, ...]  # bottom to top: conda, then one per environment
    environments: tuple[str, ...]

    def lowerdir(self) -> str:
        """overlayfs's lowerdir: the topmost layer first."""
        return ":".join(str(p) for p in (*reversed(self.layers), self.rootfs))

    @property
    def python_minor(self) -> str:
        found = sorted(p.name for p in (self.rootfs / "usr" / "bin").glob("python3.*") if p.name[8:].isdigit())
        return found[-1].removeprefix("python") if found else "3"


def image_dir() -> Path:
    return Path(os.environ.get("SELFMAKER_IMAGE_DIR") or DEFAULT_DIR)


class ImageStore:
    def __init__(self, root: Path, bwrap: str):
        self.root, self.bwrap = root, bwrap

    def plan(self, data_dir: Path) -> tuple[rootfs.RootfsSpec, list[tuple[Environment, Path]], Path, Path]:
        root_spec = rootfs.spec(data_dir)
        rootfs_dir = self.root / f"rootfs-{root_spec.digest}"
        conda_digest = _conda_digest(root_spec.digest)
        conda_dir = self.root / f"conda-{conda_digest}"
        # An environment depends on the Python it is built with, not on conda's commands: changing those
        # must not rebuild PyTorch.
        envs = [(env, self.root / f"env-{env.name}-{env.digest(root_spec.digest)}")
                for env in environments.environments(data_dir)]
        return root_spec, envs, rootfs_dir, conda_dir

    def ready(self, data_dir: Path) -> Image | None:
        """The image of ``data_dir`` if all of it is built, else None."""
        _, envs, rootfs_dir, conda_dir = self.plan(data_dir)
        if all(p.is_dir() for p in (rootfs_dir, conda_dir, *(d for _, d in envs))):
            return _image(rootfs_dir, conda_dir, envs)
        return None

    def ensure(self, data_dir: Path, progress: Callable[[str], None] | None = None) -> Image:
        """The image of ``data_dir``, building what is missing (minutes the first time). Blocks."""
        say = progress or log.info
        root_spec, envs, rootfs_dir, conda_dir = self.plan(data_dir)
        if (image := self.ready(data_dir)) is not None:
            return image
        self.root.mkdir(parents=True, exist_ok=True, mode=0o755)
        with self._locked():
            if not rootfs_dir.is_dir():
                with self._partial(rootfs_dir) as partial:
                    rootfs.build(partial, root_spec, say, self.bwrap)
            builder = LayerBuilder(self.bwrap, rootfs_dir, self.root / "pip-cache", say)
            if not conda_dir.is_dir():
                with self._partial(conda_dir, create=True) as partial:
                    say("image: anaconda3 (conda's commands, the base environment)")
                    builder.conda(partial)
            for env, env_dir in envs:
                if not env_dir.is_dir():
                    with self._partial(env_dir, create=True) as partial:
                        builder.environment(partial, env)
                        say(f"image: environment {env.name} built")
        return _image(rootfs_dir, conda_dir, envs)

    def unused(self, data_dir: Path) -> list[Path]:
        """Image directories ``data_dir``'s image does not use (another data dir's may)."""
        _, envs, rootfs_dir, conda_dir = self.plan(data_dir)
        used = {rootfs_dir, conda_dir, *(d for _, d in envs), self.root / "pip-cache", self.root / "lock"}
        return sorted(p for p in self.root.iterdir() if p not in used) if self.root.is_dir() else []

    def remove(self, path: Path) -> None:
        with self._locked():
            _remove(path) if path.is_dir() else path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another server may be building the same: wait for it
            yield

    @contextlib.contextmanager
    def _partial(self, final: Path, create: bool = False) -> Iterator[Path]:
        partial = final.with_name(final.name + ".partial")
        _remove(partial)  # what an interrupted build left
        if create:
            partial.mkdir(mode=0o755)
        try:
            yield partial
        except BaseException:
            _remove(partial)
            raise
        partial.chmod(0o755)
        partial.rename(final)


def _remove(partial: Path) -> None:
    if partial.exists():
        unmount_below(partial)  # mmdebstrap's /proc, /sys and /dev of a build that was killed
        shutil.rmtree(partial, ignore_errors=True)


def _image(rootfs_dir: Path, conda_dir: Path, envs: list[tuple[Environment, Path]]) -> Image:
    return Image(rootfs_dir, (conda_dir, *(d for _, d in envs)), tuple(env.name for env, _ in envs))


def _conda_digest(below: str) -> str:
    text = "".join(p.read_text() for p in sorted(environments.ASSETS.iterdir()) if p.is_file())
    return hashlib.sha256(f"{environments.CONDA_FORMAT}:{below}:{text}".encode()).hexdigest()[:16]
