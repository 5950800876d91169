"""Slurm, through its own commands: submit a batch job, read the queue, cancel, and count the cluster's GPUs.

Every command runs with the server's environment (SLURM_CONF says which cluster) and a time limit, off the
event loop. State comes from ``squeue`` while a job is queued or running, and from ``scontrol show job`` for
one that ended (Slurm keeps ended jobs for MinJobAge seconds; no accounting database is needed).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from dataclasses import dataclass

COMMAND_TIMEOUT = 30.0
# Job states in which the job still holds (or waits for) its allocation.
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUED",
               "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}
# Ended states that are the scheduler's or an admin's doing rather than the instance's failure: Stopped.
STOPPED_STATES = {"CANCELLED", "COMPLETED", "PREEMPTED", "TIMEOUT", "DEADLINE"}
_GPU_GRES = re.compile(r"gpu(?::([^:(,]+))?:(\d+)")


class SlurmError(Exception):
    """A Slurm command failed; the message is Slurm's own."""


@dataclass(frozen=True)
class Job:
    job_id: str
    state: str  # PENDING, RUNNING, ... (Slurm's long names)
    reason: str  # why it waits or ended: Priority, Resources, ReqNodeNotAvail, ... ("None" when none)
    node: str = ""  # where it runs


@dataclass(frozen=True)
class Submission:
    script: str  # path of the batch script
    job_name: str
    output: str  # the job's stdout and stderr
    workdir: str
    cpus: int = 0
    memory_mib: int = 0
    gpus: int = 0
    partition: str = ""
    time_limit: str = ""  # Slurm's forms: minutes, HH:MM:SS, D-HH:MM:SS


class Slurm:
    def __init__(self) -> None:
        self.sbatch = shutil.which("sbatch") or "sbatch"
        self.squeue = shutil.which("squeue") or "squeue"
        self.scontrol = shutil.which("scontrol") or "scontrol"
        self.scancel = shutil.which("scancel") or "scancel"

    def unavailable(self) -> str | None:
        """Why Slurm cannot be used from this host, or None."""
        missing = [tool for tool in ("sbatch", "squeue", "scontrol", "scancel") if shutil.which(tool) is None]
        return f"the Slurm runtime needs {', '.join(missing)} (Debian: slurm-client)" if missing else None

    async def submit(self, job: Submission) -> str:
        argv = [self.sbatch, "--parsable", f"--job-name={job.job_name}", f"--output={job.output}",
                f"--chdir={job.workdir}", "--nodes=1", "--ntasks=1", "--export=NONE", "--signal=B:TERM@30"]
        if job.cpus:
            argv.append(f"--cpus-per-task={job.cpus}")
        if job.memory_mib:
            argv.append(f"--mem={job.memory_mib}M")
        if job.gpus:
            argv.append(f"--gres=gpu:{job.gpus}")
        if job.partition:
            argv.append(f"--partition={job.partition}")
        if job.time_limit:
            argv.append(f"--time={job.time_limit}")
        out = await self._run(argv + [job.script])
        return out.strip().split(";")[0]  # "<id>" or "<id>;<cluster>"

    async def jobs(self, job_ids: list[str]) -> dict[str, Job]:
        """The queued and running jobs among ``job_ids`` (an ended job is not listed)."""
        if not job_ids:
            return {}
        try:
            out = await self._run([self.squeue, "--noheader", "--states=all", f"--jobs={','.join(job_ids)}",
                                   "--format=%i|%T|%r|%N"])
        except SlurmError as err:
            if "Invalid job id" in str(err):  # every one of them ended long enough ago to be forgotten
                return {}
            raise  # the controller is unreachable: that says nothing about the jobs
        found = {}
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4 and parts[0] in job_ids:
                found[parts[0]] = Job(parts[0], parts[1], parts[2], parts[3])
        return found

    async def show(self, job_id: str) -> Job | None:
        """A job as ``scontrol`` knows it, also one that ended (None once Slurm forgot it)."""
        try:
            out = await self._run([self.scontrol, "--oneliner", "show", "job", job_id])
        except SlurmError:
            return None
        fields = _fields(out)
        return Job(job_id, fields.get("JobState", ""), fields.get("Reason", ""), fields.get("BatchHost", ""))

    async def cancel(self, job_id: str) -> None:
        """Ask the job to end: Slurm sends it SIGTERM (the node agent stops the sandbox), SIGKILL after KillWait."""
        await self._run([self.scancel, "--full", job_id], ok_codes=(0, 1))

    def gpus_per_node(self) -> dict[str, tuple[int, str]]:
        """Each node's GPUs: (count, model as gres.conf types them, or ""); blocks."""
        out = self._run_blocking([self.scontrol, "--oneliner", "show", "nodes"], (0,))
        nodes = {}
        for line in out.splitlines():
            fields = _fields(line)
            if "NodeName" in fields:
                count, model = 0, ""
                for found in _GPU_GRES.finditer(fields.get("Gres", "")):
                    count += int(found.group(2))
                    model = model or (found.group(1) or "")
                nodes[fields["NodeName"]] = (count, model)
        return nodes

    async def _run(self, argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> str:
        return await asyncio.to_thread(self._run_blocking, argv, ok_codes)

    @staticmethod
    def _run_blocking(argv: list[str], ok_codes: tuple[int, ...]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SlurmError(f"{argv[0]}: {err}") from None
        if done.returncode not in ok_codes:
            raise SlurmError((done.stderr or done.stdout).strip() or f"{argv[0]} exited {done.returncode}")
        return done.stdout


def _fields(line: str) -> dict[str, str]:
    """``Key=Value Key=Value`` as scontrol writes them (values without spaces, which is all we read)."""
    fields = {}
    for word in line.split():
        key, sep, value = word.partition("=")
        if sep and key not in fields:
            fields[key] = value
    return fields


def ended_reason(job: Job | None, job_id: str) -> tuple[bool, str]:
    """Whether an ended job means the instance failed, and the words for it."""
    if job is None:
        return False, f"Slurm job {job_id} ended"
    failed = job.state not in STOPPED_STATES
    detail = f" ({job.reason})" if job.reason and job.reason != "None" else ""
    return failed, f"Slurm job {job_id} ended: {job.state}{detail}"
