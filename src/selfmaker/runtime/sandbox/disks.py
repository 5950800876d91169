"""Size-bounded file systems: sparse ext4 image files, loop-mounted on the host with nosuid,nodev.

A notebook instance's volume (and its scratch disks: /tmp, /home/ec2-user, /root) is an image file, so
its size is enforced by the file system itself: a writer that fills it gets ENOSPC, root included (no
reserved blocks). The mounts are nosuid,nodev because the sandbox's root owns the files inside: a setuid
binary planted there must not run as root for a host user. Every call may block; the runtime calls them
from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_TOOLS = ("mkfs.ext4", "mount", "umount", "resize2fs", "e2fsck", "losetup", "cp")
# The e2fsprogs live in sbin, which a service's PATH may lack.
_SEARCH_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
_MOUNT_OPTIONS = "loop,nosuid,nodev"
_TOOL_TIMEOUT_S = 600.0
_MAX_STACKED_MOUNTS = 16


class DiskError(Exception):
    """A disk image could not be made, grown, mounted or removed; the message carries the tool's stderr."""


@dataclass(frozen=True)
class _Mount:
    target: str
    source: str


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def _mounts() -> list[_Mount]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        # "<id> <parent> <maj:min> <root> <target> <options> [optional...] - <fstype> <source> <super options>"
        tail = fields.index("-")
        mounts.append(_Mount(_unescape(fields[4]), _unescape(fields[tail + 2])))
    return mounts


def unmount_below(path: Path) -> None:
    """Detach every mount under ``path`` (deepest first): what an interrupted build left in a tree that
    is about to be deleted, which must never delete through them."""
    prefix = str(_canonical(path)) + "/"
    for target in sorted({m.target for m in _mounts() if m.target.startswith(prefix)}, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, timeout=60)


def _canonical(path: Path) -> Path:
    # Mount targets in mountinfo are resolved paths; compare like with like.
    return Path(os.path.realpath(path))


def _top_mount(mountpoint: Path) -> _Mount | None:
    target = str(_canonical(mountpoint))
    on_it = [m for m in _mounts() if m.target == target]
    return on_it[-1] if on_it else None  # the last one listed is the one on top


def _backing_file(device: str) -> str | None:
    match = re.fullmatch(r"/dev/(loop\d+)", device)
    if not match:
        return None
    try:
        return Path(f"/sys/block/{match[1]}/loop/backing_file").read_text().strip()
    except OSError:
        return None


def _loop_devices_of(image: Path) -> list[str]:
    path = str(_canonical(image))
    devices = (f"/dev/{entry.name}" for entry in Path("/sys/block").glob("loop*"))
    return sorted(device for device in devices if _backing_file(device) == path)


def _holders_after_wait(image: Path, wait_s: float = 2.0) -> list[str]:
    """The loop devices still holding ``image`` after a short wait (a detach may trail the umount)."""
    deadline = time.monotonic() + wait_s
    while (holders := _loop_devices_of(image)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return holders


def _fs_size(image: Path) -> tuple[int, int]:
    """(bytes, bytes per block group) of the ext4 file system in ``image``, from its superblock."""
    with open(image, "rb") as f:
        f.seek(1024)
        sb = f.read(1024)
    if len(sb) < 1024 or sb[0x38:0x3A] != b"\x53\xef":
        raise DiskError(f"{image} holds no ext4 file system")
    (blocks_lo,) = struct.unpack_from("<I", sb, 0x04)
    (log_block_size,) = struct.unpack_from("<I", sb, 0x18)
    (blocks_per_group,) = struct.unpack_from("<I", sb, 0x20)
    (incompat,) = struct.unpack_from("<I", sb, 0x60)
    blocks_hi = struct.unpack_from("<I", sb, 0x150)[0] if incompat & 0x80 else 0  # the 64bit feature
    block_size = 1024 << log_block_size
    return (blocks_hi << 32 | blocks_lo) * block_size, blocks_per_group * block_size


def _is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


class DiskImages:
    """Make, grow, mount and remove ext4 image files (root only; see ``supported``)."""

    def __init__(self, timeout: float = _TOOL_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._tools = {tool: shutil.which(tool, path=f"{os.environ.get('PATH', '')}:{_SEARCH_PATH}")
                       for tool in _TOOLS}
        self.supported: bool = os.geteuid() == 0 and all(self._tools.values())

    # -- the calls the runtime makes -------------------------------------------------------------

    def ensure(self, image: Path, mountpoint: Path, size_bytes: int, owner: tuple[int, int] | None) -> None:
        """The persistent volume: create the image if missing, grow it to ``size_bytes``, mount it (idempotent).

        A mountpoint that is a non-empty directory, or has another file system mounted on it, holds a volume
        from before images: its files move into the new image first.
        """
        image, mountpoint = self._checked(image, mountpoint, size_bytes)
        aside = mountpoint.with_name(f".{mountpoint.name}.before-image")
        device = self._our_device(image, mountpoint)
        if device:
            self._grow_online(image, mountpoint, device, size_bytes)
        else:
            if not image.exists():
                self._migrate_into_new(image, mountpoint, aside, size_bytes, owner)
            elif aside.exists():
                shutil.rmtree(aside)  # a migration that stopped after its copy was complete
            if self.mounted(mountpoint):
                self.unmount(mountpoint)  # the pre-image volume, already copied into the image
            mountpoint.mkdir(parents=True, exist_ok=True)
            if not _is_empty_dir(mountpoint):
                raise DiskError(f"{mountpoint} is not empty and {image} exists: refusing to hide its files")
            holders = _holders_after_wait(image)
            if holders:
                # Still attached after a lazy unmount (or mounted in another namespace): a check, resize or
                # second mount now would corrupt it.
                raise DiskError(f"{image} is still in use by {', '.join(holders)}; retry once it is let go")
            self._grow_offline(image, size_bytes)
            self._mount(image, mountpoint)
        self._chown(mountpoint, owner)

    def fresh(self, image: Path, mountpoint: Path, size_bytes: int, owner: tuple[int, int] | None) -> None:
        """A scratch disk made anew: whatever was mounted or stored at ``mountpoint`` is gone afterwards."""
        image, mountpoint = self._checked(image, mountpoint, size_bytes)
        self.unmount(mountpoint)
        if mountpoint.is_dir() and not _is_empty_dir(mountpoint):
            self._clear(mountpoint)
        image.unlink(missing_ok=True)
        self._make(image, size_bytes, owner)
        mountpoint.mkdir(parents=True, exist_ok=True)
        self._mount(image, mountpoint)
        self._chown(mountpoint, owner)

    def unmount(self, mountpoint: Path) -> None:
        """Unmount everything on ``mountpoint`` (lazily when busy); the loop devices free themselves."""
        for _ in range(_MAX_STACKED_MOUNTS):
            if not self.mounted(mountpoint):
                return
            target = str(_canonical(mountpoint))
            try:
                self._run("umount", target)
            except DiskError:
                # Busy (a shell's cwd inside, say): detach now; the kernel lets go when the last user does.
                self._run("umount", "-l", target)
        raise DiskError(f"{mountpoint}: still mounted after {_MAX_STACKED_MOUNTS} unmounts")

    def remove(self, image: Path, mountpoint: Path) -> None:
        """Unmount, delete the image, remove the mountpoint directory; idempotent."""
        image, mountpoint = Path(os.path.abspath(image)), Path(os.path.abspath(mountpoint))
        if mountpoint.is_symlink():
            raise DiskError(f"{mountpoint} is a symbolic link")
        self.unmount(mountpoint)
        image.unlink(missing_ok=True)
        self._partial(image).unlink(missing_ok=True)
        aside = mountpoint.with_name(f".{mountpoint.name}.before-image")
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        try:
            mountpoint.rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise DiskError(f"cannot remove {mountpoint}: {e.strerror or e}") from e

    def mounted(self, mountpoint: Path) -> bool:
        """Whether something is mounted exactly at ``mountpoint`` (per /proc/self/mountinfo)."""
        return _top_mount(mountpoint) is not None

    # -- steps -----------------------------------------------------------------------------------

    def _checked(self, image: Path, mountpoint: Path, size_bytes: int) -> tuple[Path, Path]:
        if not self.supported:
            missing = [tool for tool, path in self._tools.items() if not path]
            raise DiskError("disk images need root and " + ", ".join(missing or ["root"]))
        if size_bytes <= 0:
            raise DiskError(f"invalid disk size {size_bytes}")
        image, mountpoint = Path(os.path.abspath(image)), Path(os.path.abspath(mountpoint))
        # mount and umount follow links: a link planted at the mountpoint would aim them elsewhere.
        if mountpoint.is_symlink():
            raise DiskError(f"{mountpoint} is a symbolic link")
        return image, mountpoint

    def _our_device(self, image: Path, mountpoint: Path) -> str | None:
        """The loop device when ``mountpoint`` has ``image`` itself mounted on top."""
        top = _top_mount(mountpoint)
        if top and _backing_file(top.source) == str(_canonical(image)):
            return top.source
        return None

    @staticmethod
    def _partial(image: Path) -> Path:
        return image.with_name(f"{image.name}.partial")

    def _make(self, image: Path, size_bytes: int, owner: tuple[int, int] | None) -> None:
        image.parent.mkdir(parents=True, exist_ok=True)
        # 0600: the image holds the instance's files; host users read them only through the mount.
        fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, size_bytes)  # sparse: blocks are taken from the host only as they are written
        finally:
            os.close(fd)
        uid, gid = owner or (0, 0)
        # -m 0: no blocks reserved for root, so the size is the size for everyone; lazy init keeps mkfs fast.
        extended = f"lazy_itable_init=1,lazy_journal_init=1,root_owner={uid}:{gid}"
        try:
            self._run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", extended, str(image))
        except DiskError:
            image.unlink(missing_ok=True)
            raise

    def _migrate_into_new(self, image: Path, mountpoint: Path, aside: Path, size_bytes: int,
                          owner: tuple[int, int] | None) -> None:
        """Make ``image``; first copy in the files of a volume from before images, if there is one.

        Crash-safe: a plain directory is moved aside before the copy and deleted only after the image is
        renamed into place, so a later ensure() either redoes the copy or finishes the clean-up; a copy
        that fails (the files do not fit, say) puts the directory back.
        """
        source: Path | None = None
        if aside.exists():
            source = aside  # an earlier migration stopped before the image was complete
        elif self.mounted(mountpoint):
            source = mountpoint
        elif mountpoint.is_dir() and not _is_empty_dir(mountpoint):
            mountpoint.rename(aside)
            mountpoint.mkdir()
            source = aside
        partial = self._partial(image)
        partial.unlink(missing_ok=True)
        self._make(partial, size_bytes, owner)
        if source is not None:
            staging = image.with_name(f"{image.name}.staging")
            staging.mkdir(exist_ok=True)
            self.unmount(staging)
            try:
                self._mount(partial, staging)
                try:
                    # cp -a keeps owners, modes, links, hard links and times; "src/." takes dotfiles too.
                    self._run("cp", "-a", "--", os.path.join(source, "."), str(staging), timeout=None)
                finally:
                    self.unmount(staging)
            except DiskError:
                partial.unlink(missing_ok=True)
                if source == aside and _is_empty_dir(mountpoint):
                    # Put the old volume back as it was, so the instance keeps its files meanwhile.
                    mountpoint.rmdir()
                    aside.rename(mountpoint)
                raise
            finally:
                with contextlib.suppress(OSError):
                    staging.rmdir()
        partial.rename(image)
        if source == aside:
            shutil.rmtree(aside)

    def _grow_offline(self, image: Path, size_bytes: int) -> None:
        file_bytes = image.stat().st_size
        fs_bytes, group_bytes = _fs_size(image)
        # Grow when asked for more, or when an earlier grow stopped between the truncate and resize2fs (the
        # file system is then short of its file by a whole block group or more). Never shrink: AWS does not.
        if size_bytes <= file_bytes and fs_bytes + group_bytes > file_bytes:
            return
        # resize2fs wants a freshly checked file system; e2fsck exits 1 when it fixed something, fine here.
        self._run("e2fsck", "-f", "-p", str(image), ok=(0, 1))
        os.truncate(image, max(size_bytes, file_bytes))
        self._run("resize2fs", str(image))

    def _grow_online(self, image: Path, mountpoint: Path, device: str, size_bytes: int) -> None:
        file_bytes = image.stat().st_size
        if size_bytes <= file_bytes:
            return
        os.truncate(image, size_bytes)
        try:
            self._run("losetup", "-c", device)  # the loop device learns the file's new size
            self._run("resize2fs", device)
            return
        except DiskError as online:
            # Online resizing needs CAP_SYS_RESOURCE, which a container's root may lack. The new blocks are
            # unused: give them back, then grow offline if nothing holds the mount.
            os.truncate(image, file_bytes)
            with contextlib.suppress(DiskError):
                self._run("losetup", "-c", device)
            try:
                self._run("umount", str(_canonical(mountpoint)))
            except DiskError as busy:
                raise DiskError(f"cannot grow {image} online ({online}) nor unmount it ({busy})") from online
        self._grow_offline(image, size_bytes)
        self._mount(image, mountpoint)

    def _mount(self, image: Path, mountpoint: Path) -> None:
        # util-linux sets autoclear on the loop device it sets up: unmounting frees it.
        self._run("mount", "-t", "ext4", "-o", _MOUNT_OPTIONS, str(image), str(_canonical(mountpoint)))

    @staticmethod
    def _chown(mountpoint: Path, owner: tuple[int, int] | None) -> None:
        if owner is None:
            return
        st = os.stat(mountpoint)
        if (st.st_uid, st.st_gid) != owner:
            os.chown(mountpoint, *owner)

    @staticmethod
    def _clear(directory: Path) -> None:
        prefix = f"{_canonical(directory)}/"
        # rmtree would descend into a file system mounted below: refuse rather than empty someone's mount.
        below = [m.target for m in _mounts() if m.target.startswith(prefix)]
        if below:
            raise DiskError(f"{directory} has file systems mounted below it: {below[:5]}")
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)

    def _run(self, tool: str, *args: str, ok: tuple[int, ...] = (0,),
             timeout: float | None = _TOOL_TIMEOUT_S) -> None:
        argv = [self._tools[tool] or tool, *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env={"PATH": _SEARCH_PATH, "LC_ALL": "C"},
                                  timeout=None if timeout is None else min(timeout, self.timeout))
        except subprocess.TimeoutExpired as e:
            raise DiskError(f"{tool} {' '.join(args)}: timed out after {e.timeout:.0f}s") from e
        except OSError as e:
            raise DiskError(f"{tool}: {e.strerror or e}") from e
        if done.returncode not in ok:
            detail = (done.stderr or done.stdout).strip()
            raise DiskError(f"{tool} {' '.join(args)}: exit {done.returncode}: {detail}")
