"""What this host can run, as a cap on the GPU and accelerator quotas: no approval makes a GPU appear.

The value GetServiceQuota and ListServiceQuotas answer, and the one SageMaker checks, is the applied value
(or the default) but never more than ``host GPUs // the type's GPUs`` instances (Neuron devices for
Inferentia and Trainium types). CPU types and the total have no such cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfmaker.runtime import gpus, neuron
from selfmaker.services.quotas.catalogue import Quota


@dataclass(frozen=True)
class HostDevices:
    gpus: int
    accelerators: int

    def cap(self, quota: Quota) -> float | None:
        """How many instances of the quota's type this host can run at once; None: no device limit."""
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
