"""Which runtimes a server runs notebook instances on, from its settings and the instance-type catalogue."""

from __future__ import annotations

from selfmaker.config import Settings
from selfmaker.domain.instance_types import InstanceType
from selfmaker.runtime.base import Runtime
from selfmaker.runtime.local import LocalRuntime
from selfmaker.runtime.router import RuntimeRouter
from selfmaker.services.quotas.capacity import CLUSTER

RUNTIMES = ("local", "slurm")


class RuntimeConfigError(Exception):
    pass


def build_runtime(settings: Settings, catalogue: dict[str, InstanceType]) -> RuntimeRouter:
    if settings.runtime not in RUNTIMES:
        raise RuntimeConfigError(f"--runtime must be one of {', '.join(RUNTIMES)}, not {settings.runtime!r}")
    for kind in catalogue.values():
        if kind.runtime and kind.runtime not in RUNTIMES:
            raise RuntimeConfigError(f"instance-types.yaml: {kind.name}: runtime must be one of "
                                     f"{', '.join(RUNTIMES)}, not {kind.runtime!r}")
    runtimes: dict[str, Runtime] = {"local": LocalRuntime(settings.data_dir)}
    on_cluster = frozenset(name for name, kind in catalogue.items() if (kind.runtime or settings.runtime) == "slurm")
    if on_cluster:
        runtimes["slurm"] = slurm_runtime(settings, catalogue, on_cluster)
    return RuntimeRouter(runtimes, settings.runtime, catalogue)


def slurm_runtime(settings: Settings, catalogue: dict[str, InstanceType], on_cluster: frozenset[str]) -> Runtime:
    """The Slurm runtime; the quotas' GPU cap of the types in ``on_cluster`` follows the cluster's GPUs."""
    from selfmaker.runtime.slurm import SlurmRuntime, SlurmSettings

    host, _, port = settings.slurm_gateway.rpartition(":") if ":" in settings.slurm_gateway else (
        settings.slurm_gateway, "", "0")
    if not port.isdigit() or int(port) > 65535:
        raise RuntimeConfigError(f"--slurm-gateway must be HOST or HOST:PORT, not {settings.slurm_gateway!r}")
    shared = settings.slurm_dir or settings.data_dir / "slurm"
    return SlurmRuntime(settings.data_dir, SlurmSettings(
        shared_dir=shared, gateway_host=host.strip("[]") or "0.0.0.0", gateway_port=int(port),
        partition=settings.slurm_partition, time_limit=settings.slurm_time_limit,
        partitions={kind.name: kind.partition for kind in catalogue.values() if kind.partition}),
        on_gpus=lambda per_node: _cluster_gpus(per_node, on_cluster))


def _cluster_gpus(per_node: list[int], on_cluster: frozenset[str]) -> None:
    CLUSTER.per_node, CLUSTER.types = per_node, on_cluster
