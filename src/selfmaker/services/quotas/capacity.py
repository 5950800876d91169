"""What this host can run, as a cap on the GPU and accelerator quotas: no approval makes a GPU appear.

The value GetServiceQuota and ListServiceQuotas answer, and the one SageMaker checks, is the applied value
(or the default) but never more than ``host GPUs // the type's GPUs`` instances (summed over the Slurm
cluster's nodes for a type that runs there) (Neuron devices for
Inferentia and Trainium types). CPU types and the total have no such cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selfmaker.runtime import gpus, neuron
from selfmaker.services.quotas.catalogue import Quota


@dataclass
class ClusterGpus:
    """The GPUs of the Slurm cluster, per node, for the types that run there (the Slurm runtime keeps it
    current): an instance gets GPUs of one node, so a type of N GPUs fits ``gpus // N`` times on each."""

    per_node: list[int] = field(default_factory=list)
    types: frozenset[str] = frozenset()

    def instances(self, gpus_each: int) -> int:
        return sum(count // gpus_each for count in self.per_node)

    def most_on_one_node(self) -> int:
        return max(self.per_node, default=0)


CLUSTER = ClusterGpus()


@dataclass(frozen=True)
class HostDevices:
    gpus: int
    accelerators: int

    def cap(self, quota: Quota) -> float | None:
        """How many instances of the quota's type this host (or, for a type that runs on the Slurm cluster,
        the cluster) can run at once; None: no device limit."""
        if quota.gpus and quota.instance_type in CLUSTER.types:
            return float(CLUSTER.instances(quota.gpus))
        if quota.gpus:
            return float(self.gpus // quota.gpus)
        if quota.accelerators:
            return float(self.accelerators // quota.accelerators)
        return None

    def capped(self, quota: Quota, value: float) -> float:
        cap = self.cap(quota)
        return value if cap is None else min(value, cap)


def host_devices() -> HostDevices:
    """Counted once per call (a listing asks for every type's cap): device nodes, or nvidia-smi without them."""
    return HostDevices(gpus.count_gpus(), neuron.count_devices())
