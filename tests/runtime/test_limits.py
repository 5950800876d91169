"""Per-instance cgroups on this host's real cgroup file system: memory, pids and CPU limits, kill, remove."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfmaker.runtime.sandbox.limits import CONTROLLERS, Cgroups, Limits

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are only writable by root")

ROOT = Path("/sys/fs/cgroup")
PARENT = "selfmaker-test"  # not the server's parent group, so a running server's groups are never touched
MiB = 1 << 20


@pytest.fixture
def cgroups() -> Iterator[Cgroups]:
    groups = Cgroups(parent=PARENT)
    yield groups
    # The parent groups the probe made: gone once the tests' own groups are.
    for base in [ROOT / PARENT] if groups.v2 else [ROOT / c / PARENT for c in (*CONTROLLERS, "freezer")]:
        with contextlib.suppress(OSError):
            base.rmdir()


@pytest.fixture
def name(cgroups: Cgroups) -> Iterator[str]:
    name = f"nb-{uuid.uuid4().hex[:12]}"
    yield name
    cgroups.remove(name)


def needs(cgroups: Cgroups, controller: str) -> None:
    if controller in cgroups.unenforced():
        pytest.skip(f"this host cannot enforce the {controller} controller")


def spawn(procs: list[str], code: str) -> subprocess.Popen[str]:
    """A child python that enters the groups before it runs, as the runtime's launcher does."""

    def enter() -> None:
        for path in procs:
            with open(path, "w") as f:
                f.write(str(os.getpid()))

    return subprocess.Popen([sys.executable, "-I", "-c", code], preexec_fn=enter, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def group_file(cgroups: Cgroups, controller: str, name: str, file: str) -> Path:
    if cgroups.v2:
        return ROOT / PARENT / name / file
    return ROOT / controller / PARENT / name / file


def test_over_memory_is_oom_killed_and_counted(cgroups: Cgroups, name: str) -> None:
    needs(cgroups, "memory")
    procs = cgroups.create(name, Limits(memory_bytes=32 * MiB, cpus=None, pids=None))
    assert cgroups.oom_kills(name) == 0
    # bytes * n writes every page, so the 64 MiB are really charged to the group.
    child = spawn(procs, "b = b'x' * (64 << 20); print('survived')")
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -9, out
    assert "survived" not in out
    assert cgroups.oom_kills(name) >= 1


def test_fork_loop_stops_at_pids_max(cgroups: Cgroups, name: str) -> None:
    needs(cgroups, "pids")
    procs = cgroups.create(name, Limits(memory_bytes=None, cpus=None, pids=20))
    # Each fork waits on a pipe, so they all live at once; the parent counts the forks that worked.
    code = """
import os
r, w = os.pipe()
n = 0
for _ in range(100):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    n += 1
os.close(w)
for _ in range(n):
    os.wait()
print(n)
"""
    child = spawn(procs, code)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert 0 < int(out) < 20


def test_kill_stops_a_fork_bomb(cgroups: Cgroups, name: str) -> None:
    needs(cgroups, "pids")
    procs = cgroups.create(name, Limits(memory_bytes=None, cpus=None, pids=20))
    code = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.001)
"""
    child = spawn(procs, code)
    try:
        assert wait_for(lambda: len(cgroups.members(name)) >= 10)
        cgroups.kill(name, timeout=10)
        assert cgroups.members(name) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(timeout=10)


def test_cpu_quota_and_share_written(cgroups: Cgroups, name: str) -> None:
    needs(cgroups, "cpu")
    cgroups.create(name, Limits(memory_bytes=None, cpus=1.5, pids=None))
    if cgroups.v2:
        assert group_file(cgroups, "cpu", name, "cpu.max").read_text().split() == ["150000", "100000"]
        assert group_file(cgroups, "cpu", name, "cpu.weight").read_text().strip() == "150"
    else:
        assert group_file(cgroups, "cpu", name, "cpu.cfs_period_us").read_text().strip() == "100000"
        assert group_file(cgroups, "cpu", name, "cpu.cfs_quota_us").read_text().strip() == "150000"
        assert group_file(cgroups, "cpu", name, "cpu.shares").read_text().strip() == "1536"
    # Reuse with no CPU limit lifts the quota again.
    cgroups.create(name, Limits(memory_bytes=None, cpus=None, pids=None))
    if not cgroups.v2:
        assert group_file(cgroups, "cpu", name, "cpu.cfs_quota_us").read_text().strip() == "-1"


def test_reuse_lowers_and_raises_memory(cgroups: Cgroups, name: str) -> None:
    needs(cgroups, "memory")
    file = "memory.max" if cgroups.v2 else "memory.limit_in_bytes"
    for size in (64 * MiB, 32 * MiB, 128 * MiB):
        cgroups.create(name, Limits(memory_bytes=size, cpus=None, pids=100))
        assert int(group_file(cgroups, "memory", name, file).read_text()) == size
        memsw = group_file(cgroups, "memory", name, "memory.memsw.limit_in_bytes")
        if not cgroups.v2 and memsw.exists():
            assert int(memsw.read_text()) == size


def test_remove_kills_members_and_leaves_no_directory(cgroups: Cgroups, name: str) -> None:
    procs = cgroups.create(name, Limits(memory_bytes=64 * MiB, cpus=1, pids=50))
    assert procs
    child = spawn(procs, "import time; time.sleep(600)")
    try:
        assert wait_for(lambda: child.pid in cgroups.members(name))
        cgroups.remove(name)
        assert child.wait(timeout=10) == -9
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait(timeout=10)
    assert not any(Path(path).parent.exists() for path in procs)
    assert cgroups.members(name) == []
    cgroups.remove(name)  # already gone: no error


def mounted_v1_controllers() -> set[str]:
    found = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, _, fstype, options, *_ = line.split()
        if fstype == "cgroup":
            found |= set(options.split(","))
    return found


def test_unenforced_reports_what_the_host_lacks(cgroups: Cgroups, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if cgroups.v2:
        available = set((ROOT / "cgroup.controllers").read_text().split())
        assert set(cgroups.unenforced()) >= {c for c in CONTROLLERS if c not in available}
    else:
        mounted = mounted_v1_controllers()
        assert cgroups.unenforced() == [c for c in CONTROLLERS if c not in mounted]
    # A root with no controllers mounted under it: nothing can be enforced, and create() asks nothing.
    empty = Cgroups(root=tmp_path)
    assert empty.unenforced() == list(CONTROLLERS)
    assert empty.create("nb-000000000000", Limits(None, None, None)) == [] or empty.v2
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert Cgroups(parent=PARENT).unenforced() == list(CONTROLLERS)


def test_names_are_never_paths(cgroups: Cgroups) -> None:
    for bad in ("../memory", "a/b", "", "NB-1", "nb 1", "."):
        with pytest.raises(ValueError):
            cgroups.create(bad, Limits(None, None, None))


def test_v2_hierarchy_tracks_and_kills_even_without_controllers() -> None:
    # Hybrid hosts mount a bare cgroup2 beside the v1 controllers: the v2 code path, minus the limits.
    unified = ROOT / "unified"
    if (ROOT / "cgroup.controllers").exists() or not (unified / "cgroup.controllers").exists():
        pytest.skip("needs a hybrid host with a cgroup2 at /sys/fs/cgroup/unified")
    cgroups = Cgroups(root=unified, parent=PARENT)
    assert cgroups.v2
    available = set((unified / "cgroup.controllers").read_text().split())
    assert cgroups.unenforced() == [c for c in CONTROLLERS if c not in available]
    name = f"nb-{uuid.uuid4().hex[:12]}"
    try:
        procs = cgroups.create(name, Limits(memory_bytes=None, cpus=None, pids=None))
        assert procs == [str(unified / PARENT / name / "cgroup.procs")]
        child = spawn(procs, "import time; time.sleep(600)")
        assert wait_for(lambda: cgroups.members(name) == [child.pid])
        cgroups.kill(name)
        assert child.wait(timeout=10) == -9
        assert cgroups.members(name) == []
    finally:
        cgroups.remove(name)
        with contextlib.suppress(OSError):
            (unified / PARENT).rmdir()
    assert not (unified / PARENT / name).exists()
