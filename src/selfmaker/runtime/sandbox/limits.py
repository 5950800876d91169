"""Per-instance cgroups: the memory, CPU and task limits of one sandbox, on cgroup v1 or v2.

Every call may block (file writes under /sys/fs/cgroup, a bounded kill loop); the runtime calls them from
worker threads. Each instance gets one group per controller (v1) or one group (v2) under a parent named
``selfmaker``; the runtime's launcher writes its own pid into each ``cgroup.procs`` file that
:meth:`Cgroups.create` returns, then execs the sandbox, so everything the sandbox starts stays inside.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "cpu", "pids")
# A file each controller has in every non-root v1 group: its presence in our parent proves we can use it.
_V1_PROBE = {"memory": "memory.limit_in_bytes", "cpu": "cpu.cfs_quota_us", "pids": "pids.max"}
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_CFS_PERIOD_US = 100_000
_KILL_TIMEOUT_S = 10.0


class CgroupError(Exception):
    """A cgroup could not be set up or emptied; the message says which file and why."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None  # hard limit on RAM (and swap, where the host lets us say so)
    cpus: float | None  # vCPUs: a CFS quota of cpus*period, and a proportional share/weight
    pids: int | None  # most tasks (processes and threads) at once


def _checked(name: str) -> str:
    # Names become directory names under /sys/fs/cgroup: never let one be a path.
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid cgroup name {name!r} (want [a-z0-9-]+)")
    return name


def _write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise CgroupError(f"cannot write {value!r} to {path}: {e.strerror or e}") from e


def _read_pids(path: Path) -> set[int]:
    try:
        return {int(line) for line in path.read_text().split()}
    except FileNotFoundError:
        return set()


class Cgroups:
    """Per-instance cgroups under a parent group named `selfmaker`: v1 (one hierarchy per controller) or v2
    (unified), whichever the host has."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), parent: str = "selfmaker") -> None:
        self.root = root
        self.parent = _checked(parent)
        # Pure v2 has the controllers file at the top; hybrid hosts keep their controllers on v1.
        self.v2 = (root / "cgroup.controllers").exists()
        self._lock = threading.Lock()
        self._unenforced: list[str] | None = None

    # -- what this host can do -------------------------------------------------------------------

    def unenforced(self) -> list[str]:
        """Which of "memory", "cpu", "pids" this host cannot enforce; probed once (it creates the parent)."""
        with self._lock:
            if self._unenforced is None:
                self._unenforced = self._probe()
            return list(self._unenforced)

    def _probe(self) -> list[str]:
        if os.geteuid() != 0:
            return list(CONTROLLERS)
        return self._probe_v2() if self.v2 else self._probe_v1()

    def _probe_v1(self) -> list[str]:
        missing = []
        for controller in CONTROLLERS:
            base = self.root / controller
            try:
                if not (base / "cgroup.procs").exists():
                    raise FileNotFoundError(base)
                (base / self.parent).mkdir(exist_ok=True)
                if not (base / self.parent / _V1_PROBE[controller]).exists():
                    raise FileNotFoundError(controller)
            except OSError:
                missing.append(controller)
        return missing

    def _probe_v2(self) -> list[str]:
        try:
            available = set((self.root / "cgroup.controllers").read_text().split())
            parent = self.root / self.parent
            parent.mkdir(exist_ok=True)
        except OSError:
            return list(CONTROLLERS)
        # One write per controller: a refusal of one (e.g. cpu with realtime tasks about) spares the rest.
        for group in (self.root, parent):
            for controller in CONTROLLERS:
                if controller in available:
                    with contextlib.suppress(CgroupError):
                        _write(group / "cgroup.subtree_control", f"+{controller}")
        try:
            enabled = set((parent / "cgroup.subtree_control").read_text().split())
        except OSError:
            enabled = set()
        return [c for c in CONTROLLERS if c not in enabled]

    # -- where an instance's groups are ----------------------------------------------------------

    def _groups(self, name: str) -> dict[str, Path]:
        """Controller (or "unified") -> the instance's group directory, one entry per distinct directory."""
        _checked(name)
        if os.geteuid() != 0:
            return {}
        if self.v2:
            return {"unified": self.root / self.parent / name}
        groups: dict[str, Path] = {}
        wanted = [c for c in CONTROLLERS if c not in self.unenforced()]
        # The freezer limits nothing; it lets kill() stop a fork loop before it signals it.
        if (self.root / "freezer" / "cgroup.procs").exists():
            wanted.append("freezer")
        seen: set[str] = set()
        for controller in wanted:
            # Co-mounted controllers (cpu,cpuacct) share one directory: join it once.
            real = os.path.realpath(self.root / controller)
            if real not in seen:
                seen.add(real)
                groups[controller] = self.root / controller / self.parent / name
        return groups

    # -- the calls the runtime makes -------------------------------------------------------------

    def create(self, name: str, limits: Limits) -> list[str]:
        """Create (or reuse) the instance's groups and write the limits; returns the cgroup.procs files."""
        groups = self._groups(name)
        for path in groups.values():
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise CgroupError(f"cannot create {path}: {e.strerror or e}") from e
        unenforced = self.unenforced()
        for controller, path in groups.items():
            if self.v2:
                self._limit_v2(path, limits, unenforced)
            elif controller == "memory":
                self._memory_v1(path, limits.memory_bytes)
            elif controller == "cpu":
                self._cpu_v1(path, limits.cpus)
            elif controller == "pids":
                _write(path / "pids.max", "max" if limits.pids is None else str(limits.pids))
        return [str(path / "cgroup.procs") for path in groups.values()]

    @staticmethod
    def _memory_v1(path: Path, memory_bytes: int | None) -> None:
        limit = "-1" if memory_bytes is None else str(memory_bytes)
        memsw = path / "memory.memsw.limit_in_bytes"
        has_memsw = memsw.exists()
        # The kernel wants memsw >= limit at every moment: lift memsw, set the limit, then bring memsw down.
        if has_memsw:
            _write(memsw, "-1")
        _write(path / "memory.limit_in_bytes", limit)
        if has_memsw:
            _write(memsw, limit)

    @staticmethod
    def _cpu_v1(path: Path, cpus: float | None) -> None:
        _write(path / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
        quota = "-1" if cpus is None else str(max(1000, round(cpus * _CFS_PERIOD_US)))
        _write(path / "cpu.cfs_quota_us", quota)
        _write(path / "cpu.shares", "1024" if cpus is None else str(max(2, round(1024 * cpus))))

    @staticmethod
    def _limit_v2(path: Path, limits: Limits, unenforced: list[str]) -> None:
        if "memory" not in unenforced:
            _write(path / "memory.max", "max" if limits.memory_bytes is None else str(limits.memory_bytes))
            if (path / "memory.swap.max").exists():
                _write(path / "memory.swap.max", "max" if limits.memory_bytes is None else "0")
        if "cpu" not in unenforced:
            quota = "max" if limits.cpus is None else str(max(1000, round(limits.cpus * _CFS_PERIOD_US)))
            _write(path / "cpu.max", f"{quota} {_CFS_PERIOD_US}")
            weight = 100 if limits.cpus is None else min(10000, max(1, round(100 * limits.cpus)))
            _write(path / "cpu.weight", str(weight))
        if "pids" not in unenforced:
            _write(path / "pids.max", "max" if limits.pids is None else str(limits.pids))

    def members(self, name: str) -> list[int]:
        """Pids in the instance's groups (and any groups below them)."""
        pids: set[int] = set()
        for path in self._groups(name).values():
            for directory, _, _ in os.walk(path):
                pids |= _read_pids(Path(directory) / "cgroup.procs")
        return sorted(pids)

    def kill(self, name: str, timeout: float = _KILL_TIMEOUT_S) -> None:
        """SIGKILL every member until none is left; raises CgroupError if some outlive ``timeout`` seconds."""
        groups = self._groups(name)
        deadline = time.monotonic() + timeout
        for path in groups.values():
            if (path / "cgroup.kill").exists():
                with contextlib.suppress(CgroupError):
                    _write(path / "cgroup.kill", "1")
        freezer = groups.get("freezer")
        frozen = freezer is not None and self._freeze(freezer, deadline)
        pause = 0.005
        while True:
            pids = self.members(name)
            if not pids:
                break
            if time.monotonic() > deadline:
                if frozen:
                    self._thaw(freezer)
                raise CgroupError(f"{len(pids)} tasks still in cgroup {name} after {timeout:.0f}s: {pids[:10]}")
            self._signal(name, pids)
            if frozen:
                # Frozen tasks take the SIGKILL as they thaw, before they can fork again.
                self._thaw(freezer)
                frozen = False
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        if frozen:
            self._thaw(freezer)

    def _signal(self, name: str, pids: list[int]) -> None:
        # A pid read from cgroup.procs may exit and be reused before we signal it: hold a pidfd, check the
        # pid is still a member, then signal through the pidfd, which can only reach the process it names.
        fds: dict[int, int] = {}
        try:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    fds[pid] = os.pidfd_open(pid)
            still = set(self.members(name))
            for pid, fd in fds.items():
                if pid in still:
                    with contextlib.suppress(ProcessLookupError):
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
        finally:
            for fd in fds.values():
                os.close(fd)

    @staticmethod
    def _freeze(path: Path, deadline: float) -> bool:
        state = path / "freezer.state"
        try:
            _write(state, "FROZEN")
        except CgroupError:
            return False
        # FREEZING becomes FROZEN once every task has stopped; wait for that a second at most.
        until = min(deadline, time.monotonic() + 1.0)
        with contextlib.suppress(OSError):
            while state.read_text().strip() != "FROZEN" and time.monotonic() < until:
                time.sleep(0.005)
        return True

    @staticmethod
    def _thaw(path: Path) -> None:
        with contextlib.suppress(CgroupError):
            _write(path / "freezer.state", "THAWED")

    def remove(self, name: str) -> None:
        """Kill what is left and remove the groups; idempotent."""
        groups = self._groups(name)
        if not any(path.exists() for path in groups.values()):
            return
        self.kill(name)
        for path in groups.values():
            # Deepest first: a group with children cannot go.
            for directory, _, _ in os.walk(path, topdown=False):
                try:
                    os.rmdir(directory)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    raise CgroupError(f"cannot remove {directory}: {e.strerror or e}") from e

    def oom_kills(self, name: str) -> int:
        """How many times the kernel's OOM killer killed a task in the instance's memory group."""
        group = self._groups(name).get("unified" if self.v2 else "memory")
        if group is None:
            return 0
        try:
            # v2 memory.events and v1 memory.oom_control both carry an "oom_kill N" line.
            text = (group / ("memory.events" if self.v2 else "memory.oom_control")).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            field, _, value = line.partition(" ")
            if field == "oom_kill":
                return int(value)
        return 0
