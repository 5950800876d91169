"""A private single-node Slurm cluster for the test session: Debian's munged, slurmctld and slurmd, each with its
configuration, key, socket, state and log in one temporary directory (nothing in /etc, no well-known socket or
port), so that it never meets a host's own Slurm. Commands find it by SLURM_CONF alone. Stopped and removed at the
end. Skips where Slurm is not installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
_TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
# What the node declares (SlurmdParameters=config_overrides lets it claim more than the host has): room for
# several instances' CPUs and memory, and two GPUs.
NODE_CPUS = 16
NODE_MEMORY_MB = 65536
NODE_GPUS = 2
# Job states after which a job holds nothing (squeue --states=all shows them until MinJobAge has passed).
ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
                   "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"})


def _tool(name: str) -> str:
    found = shutil.which(name, path=_SBIN_PATH)
    if found is None:
        raise FileNotFoundError(name)
    return found


class SlurmCluster:
    """One controller and one node (this host, under its short host name), partitions `cpu` (the default) and
    `gpu`. Jobs run as the submitting user (root, as the server)."""

    def __init__(self) -> None:
        from tests.conftest import free_port  # here: conftest imports this module for its fixture

        self.base = Path(tempfile.mkdtemp(prefix="selfmaker-slurm-"))
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.base / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}  # to merge into the environment of anything that runs Slurm
        self._munge_socket = self.base / "munge" / "munge.socket"
        self._ports = (free_port(), free_port())  # slurmctld's, slurmd's
        self._daemons: dict[str, subprocess.Popen] = {}

    # -- start and stop -----------------------------------------------------------------------------------

    def start(self) -> SlurmCluster:
        self._write_config()
        key = self.base / "munge" / "munge.key"
        subprocess.run([_tool("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True,
                       timeout=30)
        # In the foreground munged logs to stderr (our log file), not to --log-file.
        self._spawn("munged", "--foreground", "--force", f"--socket={self._munge_socket}", f"--key-file={key}",
                    f"--pid-file={self.base}/munge/munged.pid", f"--seed-file={self.base}/munge/munged.seed")
        self._wait(self._munge_socket.exists, "munged's socket")
        # -D: in the foreground, so that these processes are ours to stop; -i: a fresh state directory anyway.
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._spawn("slurmd", "-D", "-f", str(self.conf), "-N", self.node)
        self._wait(lambda: self.node_state() == "idle", "the node to be idle")
        return self

    def _write_config(self) -> None:
        base = self.base
        for folder in ("munge", "state", "spool", "log", "dev"):
            (base / folder).mkdir(mode=0o711)
        # No GPU needed: the node's GPUs are stand-ins, links to /dev/null (Slurm wants character devices). Slurm
        # only hands their indices to jobs (SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES); with task/none it confines
        # nothing, so no job opens them.
        for index in range(NODE_GPUS):
            (base / "dev" / f"nvidia{index}").symlink_to("/dev/null")
        (base / "gres.conf").write_text(f"Name=gpu File={base}/dev/nvidia[0-{NODE_GPUS - 1}]\n")
        # No SlurmctldLogFile/SlurmdLogFile: in the foreground the daemons then log to stderr, our log files.
        self.conf.write_text(f"""\
ClusterName=selfmaker-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self._ports[0]}
SlurmdPort={self._ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self._munge_socket}
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Ended jobs stay visible to squeue/scontrol for two minutes (the runtime reads why they ended), not forever.
MinJobAge=120
KillWait=15
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{NODE_GPUS} \
State=UNKNOWN
PartitionName=cpu Nodes={self.node} Default=YES MaxTime=UNLIMITED State=UP
PartitionName=gpu Nodes={self.node} MaxTime=UNLIMITED State=UP
""")

    def _spawn(self, name: str, *args: str) -> None:
        with open(self.base / "log" / f"{name}.log", "ab") as log:
            self._daemons[name] = subprocess.Popen([_tool(name), *args], stdin=subprocess.DEVNULL, stdout=log,
                                                   stderr=log, cwd=self.base, env={**os.environ, **self.env},
                                                   start_new_session=True)

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, proc in self._daemons.items() if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"Slurm: gave up waiting for {what} (daemons exited: {', '.join(dead) or 'none'})\n"
                                   + self.log_tails())
            time.sleep(0.2)

    def log_tails(self, lines: int = 20) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                         for log in sorted((self.base / "log").glob("*.log")))

    def stop(self) -> None:
        if self._running("slurmctld"):
            try:  # jobs first: their processes outlive slurmd
                self.cancel_all()
                self._wait(lambda: not self._active(), "the jobs to end", timeout=30)
            except (RuntimeError, subprocess.SubprocessError):
                pass  # stopping anyway
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._daemons.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    def _running(self, name: str) -> bool:
        return name in self._daemons and self._daemons[name].poll() is None

    # -- use ----------------------------------------------------------------------------------------------

    def run(self, *argv: str, timeout: float = 30) -> str:
        """A Slurm command against this cluster; its stdout, stripped. CalledProcessError (with stderr) on failure."""
        result = subprocess.run([_tool(argv[0]), *argv[1:]], capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **self.env}, check=False)
        if result.returncode:
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
        return result.stdout.strip()

    def submit(self, script: str, *options: str) -> str:
        """sbatch --wrap: the new job's id."""
        return self.run("sbatch", "--parsable", *options, "--wrap", script).split(";")[0]

    def jobs(self) -> list[tuple[str, str, str]]:
        """(job id, state, reason) of every job the controller knows, ended ones included."""
        out = self.run("squeue", "--noheader", "--all", "--states=all", "--format=%i|%T|%r")
        return [(job, state, reason) for job, state, reason in (line.split("|", 2) for line in out.splitlines())]

    def job(self, job_id: str) -> tuple[str, str]:
        """(state, reason) of one job; LookupError once the controller has forgotten it (MinJobAge after its end)."""
        for job, state, reason in self.jobs():
            if job == job_id:
                return state, reason
        raise LookupError(f"no job {job_id}")

    def wait_for(self, job_id: str, accept: Callable[[str, str], bool], timeout: float = 30.0) -> tuple[str, str]:
        """Polls the job's (state, reason) until `accept` takes it; the accepted pair."""
        deadline = time.monotonic() + timeout
        while not accept(*(seen := self.job(job_id))):
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {seen} after {timeout:.0f} s\n{self.log_tails()}")
            time.sleep(0.1)
        return seen

    def node_state(self) -> str:
        """sinfo's state of the node (idle, mixed, allocated, draining, drained, ...; `*`: not responding)."""
        try:
            return self.run("sinfo", "--noheader", f"--nodes={self.node}", "--format=%T").splitlines()[0]
        except (subprocess.SubprocessError, IndexError):
            return ""

    def drain(self, reason: str) -> None:
        self.run("scontrol", "update", f"NodeName={self.node}", "State=DRAIN", f"Reason={reason}")

    def resume(self) -> None:
        self.run("scontrol", "update", f"NodeName={self.node}", "State=RESUME")

    def cancel_all(self) -> None:
        self.run("scancel", "--full", f"--user={os.getuid()}")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Cancels every job and waits until none holds anything and the node is idle: a clean slate."""
        if self._active():
            self.cancel_all()
        self._wait(lambda: not self._active() and self.node_state() == "idle", "the node to be idle", timeout)

    def _active(self) -> bool:
        return any(state not in ENDED for _, state, _ in self.jobs())


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    if not all(shutil.which(tool, path=_SBIN_PATH) for tool in _TOOLS):
        pytest.skip("Slurm is not installed (scripts/setup.sh installs slurm-wlm and munge with SELFMAKER_EXTRAS=test)")
    if os.geteuid() != 0:
        pytest.skip("the test Slurm cluster runs as root (SlurmUser=root), as the server does")
    cluster = SlurmCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()
