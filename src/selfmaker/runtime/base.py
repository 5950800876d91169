"""The runtime interface: where notebook instances run.

The control plane (services/sagemaker) decides *what* should run; a runtime makes it so. A runtime is
small on purpose: start a sandbox (running lifecycle scripts, then Jupyter), stop it, say whether it is
still alive, and re-adopt sandboxes that outlived a restart of the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from selfmaker.runtime.sandbox.limits import Limits
from selfmaker.runtime.sandbox.network import GuestService

# Log stream suffixes, as SageMaker names them: <instance-name>/<suffix>.
ON_CREATE_STREAM = "LifecycleConfigOnCreate"
ON_START_STREAM = "LifecycleConfigOnStart"
JUPYTER_STREAM = "jupyter.log"

# (stream suffix, [(timestamp in ms, message), ...]); called from the event loop, must not block long.
LogSink = Callable[[str, list[tuple[int, str]]], Awaitable[None]]
# Called with the FailureReason when a running instance fails (e.g. it tampered with a file the server reads).
FailureSink = Callable[[str], Awaitable[None]]
# Called when a running instance ended without a Stop (a cluster scheduler cancelled or preempted it): whether
# that is a failure, and the scheduler's reason.
EndedSink = Callable[[bool, str], Awaitable[None]]


class LifecycleFailure(Exception):
    """Starting failed: a lifecycle script exited non-zero or overran, or Jupyter did not come up.

    ``reason`` is the FailureReason shown to the user, already in SageMaker's words.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class InstanceSpec:
    instance_id: str  # stable, short, filesystem-safe id (e.g. "nb-0123456789ab")
    name: str
    arn: str
    volume_dir: Path  # host directory mounted at /home/ec2-user/SageMaker
    base_url: str  # Jupyter's base URL behind the gateway, starts and ends with "/"
    on_create: str | None = None  # script text, run only when first_start
    on_start: str | None = None  # script text, run on every start
    first_start: bool = False
    lifecycle_arn: str = ""  # for the failure reason
    lifecycle_timeout: float = 300.0  # seconds, per script
    gpus: int = 0  # GPUs to bind (0 for CPU types)
    accelerators: int = 0  # AWS Neuron devices (Inferentia, Trainium) to bind
    env: dict[str, str] = field(default_factory=dict)  # extra environment for scripts and Jupyter
    metadata: dict = field(default_factory=dict)  # /opt/ml/metadata/resource-metadata.json
    volume_size_gb: int = 5
    limits: Limits = field(default_factory=lambda: Limits(None, None, None))
    internet: bool = True  # DirectInternetAccess
    root_access: bool = True  # RootAccess: whether ec2-user may sudo (as root: through the sudo broker)
    services: list[GuestService] = field(default_factory=list)  # what the host serves in the instance's network
    aws_config: str = ""  # ~/.aws/config of root and ec2-user (the API's endpoint_url)
    on_failure: FailureSink | None = None
    on_ended: EndedSink | None = None
    instance_type: str = ""  # ml.t3.medium, ...: which runtime and which cluster resources
    gpu_ids: list[int] | None = None  # which GPUs (None: the first `gpus`); a scheduler chose them


@dataclass
class Endpoint:
    """How the gateway reaches an instance's Jupyter: a Unix socket and a secret token."""

    socket_path: str
    token: str


class Runtime(Protocol):
    async def start(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint:
        """Start the sandbox, run the lifecycle scripts, start Jupyter; return once Jupyter answers.

        Raises LifecycleFailure (with the sandbox already torn down) when that fails.
        """

    async def stop(self, instance_id: str) -> None:
        """Stop every process of the instance and release what it held but its volume; idempotent."""

    async def delete(self, instance_id: str, volume_dir: Path) -> None:
        """Stop the instance and remove everything of it, its volume included; idempotent."""

    def volume_used(self, volume_dir: Path) -> int:
        """Bytes in use on an instance's volume (may block: call it off the event loop)."""

    def unenforced(self) -> list[str]:
        """What this runtime cannot enforce on this host (e.g. "memory limit"), for admins and the console."""

    async def adopt(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint | None:
        """After a server restart: re-attach to a sandbox still running for this instance, or None."""

    async def release(self, instance_id: str) -> None:
        """Let go of an instance another server took over (several servers on one store); it runs on."""

    def endpoint(self, instance_id: str) -> Endpoint | None:
        """The live endpoint of a running instance, also of one another server on this store runs, or None."""

    def alive(self, instance_id: str) -> bool:
        """Whether the instance's sandbox is still running."""

    async def close(self) -> None:
        """Release what the runtime holds in this process (tail tasks); sandboxes keep running."""
