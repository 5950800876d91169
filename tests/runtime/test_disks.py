"""Disk images on real loop devices: create, grow, fill, migrate, scratch, unmount, remove."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfmaker.runtime.sandbox.disks import DiskError, DiskImages, _mounts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop mounts need root")

MiB = 1 << 20
OWNER = (12345, 12346)


@pytest.fixture
def disks() -> DiskImages:
    images = DiskImages()
    if not images.supported:
        pytest.skip("mkfs.ext4, mount, umount, resize2fs, e2fsck, losetup or cp missing")
    return images


@pytest.fixture
def area(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, with every mount left under it undone afterwards, whatever the test did."""
    yield tmp_path
    prefix = f"{os.path.realpath(tmp_path)}/"
    for mount in reversed(_mounts()):
        if mount.target.startswith(prefix):
            subprocess.run(["umount", "-l", mount.target], capture_output=True)


def mount_entries(mountpoint: Path) -> list[list[str]]:
    target = os.path.realpath(mountpoint)
    return [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4] == target]


def fs_bytes(mountpoint: Path) -> int:
    st = os.statvfs(mountpoint)
    return st.f_blocks * st.f_frsize


def loop_files() -> set[str]:
    return {p.read_text().strip() for p in Path("/sys/block").glob("loop*/loop/backing_file")}


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_ensure_creates_a_sparse_private_image_and_mounts_it(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "images" / "vol.img", area / "volumes" / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)
    assert disks.mounted(mountpoint)
    assert 48 * MiB < fs_bytes(mountpoint) <= 64 * MiB
    st = image.stat()
    assert st.st_size == 64 * MiB and st.st_blocks * 512 < 16 * MiB  # sparse
    assert st.st_mode & 0o777 == 0o600
    root = mountpoint.stat()
    assert (root.st_uid, root.st_gid) == OWNER


def test_ensure_is_idempotent(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)
    (mountpoint / "notes.txt").write_text("kept")
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)
    assert len(mount_entries(mountpoint)) == 1
    assert (mountpoint / "notes.txt").read_text() == "kept"
    disks.unmount(mountpoint)
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)
    assert (mountpoint / "notes.txt").read_text() == "kept"


def test_mount_is_nosuid_nodev_and_frees_its_loop_device(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, None)
    (entry,) = mount_entries(mountpoint)
    options = entry[5].split(",")
    assert "nosuid" in options and "nodev" in options
    assert str(image) in loop_files()
    disks.unmount(mountpoint)
    disks.unmount(mountpoint)  # idempotent
    assert not disks.mounted(mountpoint)
    assert wait_for(lambda: str(image) not in loop_files())


def test_grow_mounted_and_unmounted_keeps_data(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)
    (mountpoint / "data.bin").write_bytes(b"x" * MiB)
    before = fs_bytes(mountpoint)
    disks.ensure(image, mountpoint, 128 * MiB, OWNER)  # mounted: online, or offline when the host forbids that
    grown = fs_bytes(mountpoint)
    assert grown > before + 48 * MiB
    disks.unmount(mountpoint)
    disks.ensure(image, mountpoint, 192 * MiB, OWNER)  # unmounted: e2fsck + resize2fs
    assert fs_bytes(mountpoint) > grown + 48 * MiB
    assert (mountpoint / "data.bin").read_bytes() == b"x" * MiB
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)  # never shrinks
    assert image.stat().st_size == 192 * MiB


def test_filling_the_disk_gives_enospc_even_to_root(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, None)
    # No blocks reserved for root (-m 0): root with CAP_SYS_RESOURCE could otherwise write past the size.
    header = subprocess.run(["dumpe2fs", "-h", str(image)], capture_output=True, text=True, check=True).stdout
    assert "Reserved block count:     0\n" in header
    chunk = os.urandom(MiB)
    written = 0
    # The error comes from a write, or at the latest from the flush.
    with pytest.raises(OSError) as raised, open(mountpoint / "fill.bin", "wb", buffering=0) as f:
        while written < 96 * MiB:
            written += f.write(chunk)
        os.fsync(f.fileno())
    assert raised.value.errno == errno.ENOSPC
    assert written <= 64 * MiB


def test_plain_directory_from_before_images_moves_in(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    (mountpoint / "course" / "nbs").mkdir(parents=True)
    (mountpoint / "course" / "nbs" / "01.ipynb").write_text("{}")
    (mountpoint / ".condarc").write_text("envs_dirs: []")
    (mountpoint / "link").symlink_to("course/nbs/01.ipynb")
    os.chown(mountpoint / "course", *OWNER)
    disks.ensure(image, mountpoint, 64 * MiB, OWNER)
    assert disks.mounted(mountpoint)
    assert (mountpoint / "course" / "nbs" / "01.ipynb").read_text() == "{}"
    assert (mountpoint / ".condarc").read_text() == "envs_dirs: []"
    assert os.readlink(mountpoint / "link") == "course/nbs/01.ipynb"
    assert (mountpoint / "course").stat().st_uid == OWNER[0]
    assert sorted(p.name for p in area.iterdir()) == ["vol", "vol.img"]  # no aside, partial or staging left
    disks.unmount(mountpoint)
    assert list(mountpoint.iterdir()) == []  # the files live in the image now, not under it


def test_other_mount_from_before_images_moves_in(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mountpoint)], check=True)
    (mountpoint / "old.txt").write_text("from tmpfs")
    disks.ensure(image, mountpoint, 64 * MiB, None)
    (entry,) = mount_entries(mountpoint)  # the tmpfs is gone, the image is the only mount
    assert entry[entry.index("-") + 1] == "ext4"
    assert (mountpoint / "old.txt").read_text() == "from tmpfs"


def test_migration_that_does_not_fit_leaves_the_files_where_they_were(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    mountpoint.mkdir()
    (mountpoint / "big.bin").write_bytes(os.urandom(40 * MiB))
    with pytest.raises(DiskError, match="cp"):
        disks.ensure(image, mountpoint, 32 * MiB, None)
    assert not disks.mounted(mountpoint)
    assert (mountpoint / "big.bin").stat().st_size == 40 * MiB
    assert sorted(p.name for p in area.iterdir()) == ["vol"]


def test_fresh_gives_an_empty_file_system_each_time(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "tmp.img", area / "tmp"
    mountpoint.mkdir()
    (mountpoint / "stale").write_text("from a plain directory")
    disks.fresh(image, mountpoint, 64 * MiB, OWNER)
    assert disks.mounted(mountpoint)
    assert [p.name for p in mountpoint.iterdir()] == ["lost+found"]
    (mountpoint / "scratch").write_text("one start")
    disks.fresh(image, mountpoint, 64 * MiB, OWNER)
    assert [p.name for p in mountpoint.iterdir()] == ["lost+found"]
    assert len(mount_entries(mountpoint)) == 1
    assert (mountpoint.stat().st_uid, mountpoint.stat().st_gid) == OWNER
    disks.unmount(mountpoint)
    assert list(mountpoint.iterdir()) == []


def test_unmount_of_a_busy_mount_is_lazy(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, None)
    with open(mountpoint / "open.txt", "w") as busy:
        disks.unmount(mountpoint)
        assert not disks.mounted(mountpoint)
        busy.write("still writable through the open file")
    assert wait_for(lambda: str(image) not in loop_files())


def test_remove_cleans_up_and_is_idempotent(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, None)
    disks.remove(image, mountpoint)
    assert not disks.mounted(mountpoint)
    assert not image.exists() and not mountpoint.exists()
    assert wait_for(lambda: str(image) not in loop_files())
    disks.remove(image, mountpoint)


def test_mounted_matches_the_exact_path(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, None)
    (mountpoint / "sub").mkdir()
    assert disks.mounted(mountpoint)
    assert disks.mounted(area / "." / "vol")
    assert not disks.mounted(mountpoint / "sub")
    assert not disks.mounted(area)
    assert not disks.mounted(area / "vo")


def test_a_symlinked_mountpoint_is_refused(disks: DiskImages, area: Path) -> None:
    (area / "elsewhere").mkdir()
    (area / "vol").symlink_to(area / "elsewhere")
    with pytest.raises(DiskError, match="symbolic link"):
        disks.ensure(area / "vol.img", area / "vol", 64 * MiB, None)
    assert not (area / "vol.img").exists()


def test_an_image_still_held_after_a_lazy_unmount_is_not_touched(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    disks.ensure(image, mountpoint, 64 * MiB, None)
    with open(mountpoint / "open.txt", "w"):
        disks.unmount(mountpoint)
        with pytest.raises(DiskError, match="still in use"):
            disks.ensure(image, mountpoint, 128 * MiB, None)
    assert wait_for(lambda: str(image) not in loop_files())
    disks.ensure(image, mountpoint, 128 * MiB, None)
    assert (mountpoint / "open.txt").exists()


def test_a_migration_cut_short_is_finished_next_time(disks: DiskImages, area: Path) -> None:
    image, mountpoint = area / "vol.img", area / "vol"
    aside = area / ".vol.before-image"
    # As a crash leaves it: the old files moved aside, an empty mountpoint, half an image.
    (aside / "course").mkdir(parents=True)
    (aside / "course" / "lesson.ipynb").write_text("{}")
    mountpoint.mkdir()
    (area / "vol.img.partial").write_bytes(b"half")
    disks.ensure(image, mountpoint, 64 * MiB, None)
    assert (mountpoint / "course" / "lesson.ipynb").read_text() == "{}"
    assert sorted(p.name for p in area.iterdir()) == ["vol", "vol.img"]
    # And one cut short after the image was complete: only the clean-up is left to do.
    disks.unmount(mountpoint)
    (aside / "stale").mkdir(parents=True)
    disks.ensure(image, mountpoint, 64 * MiB, None)
    assert not aside.exists()
    assert (mountpoint / "course" / "lesson.ipynb").read_text() == "{}"
