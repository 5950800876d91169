"""The ml.* instance-type catalogue: what each type is on AWS, what it costs there, what it needs here.

Prices are AWS's on-demand list prices per hour for notebook instances in us-east-1 (USD), the figure a
student would have paid; Selfmaker shows them so people see what they save and remember to Stop.
An admin may override or add types in ``<data-dir>/instance-types.yaml`` (same keys as below).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu_model: str = ""
    price_per_hour: float = 0.0
    # Most tasks (processes and threads) at once: a fork bomb stops here, not at the host's limit.
    pids: int = 4096


_CATALOGUE = [
    InstanceType("ml.t2.medium", 2, 4, price_per_hour=0.0464),
    InstanceType("ml.t2.large", 2, 8, price_per_hour=0.0928),
    InstanceType("ml.t2.xlarge", 4, 16, price_per_hour=0.1856),
    InstanceType("ml.t3.medium", 2, 4, price_per_hour=0.05),
    InstanceType("ml.t3.large", 2, 8, price_per_hour=0.10),
    InstanceType("ml.t3.xlarge", 4, 16, price_per_hour=0.20),
    InstanceType("ml.t3.2xlarge", 8, 32, price_per_hour=0.399),
    InstanceType("ml.m5.xlarge", 4, 16, price_per_hour=0.23),
    InstanceType("ml.m5.2xlarge", 8, 32, price_per_hour=0.461),
    InstanceType("ml.m5.4xlarge", 16, 64, price_per_hour=0.922),
    InstanceType("ml.c5.xlarge", 4, 8, price_per_hour=0.204),
    InstanceType("ml.c5.2xlarge", 8, 16, price_per_hour=0.408),
    InstanceType("ml.r5.large", 2, 16, price_per_hour=0.151),
    InstanceType("ml.p2.xlarge", 4, 61, 1, "NVIDIA K80", 1.125),
    InstanceType("ml.p3.2xlarge", 8, 61, 1, "NVIDIA V100", 3.825),
    InstanceType("ml.p3.8xlarge", 32, 244, 4, "NVIDIA V100", 14.688),
    InstanceType("ml.g4dn.xlarge", 4, 16, 1, "NVIDIA T4", 0.7364),
    InstanceType("ml.g4dn.2xlarge", 8, 32, 1, "NVIDIA T4", 1.0528),
    InstanceType("ml.g5.xlarge", 4, 16, 1, "NVIDIA A10G", 1.41),
    InstanceType("ml.g5.2xlarge", 8, 32, 1, "NVIDIA A10G", 1.515),
    InstanceType("ml.g6.xlarge", 4, 16, 1, "NVIDIA L4", 1.0098),
    InstanceType("ml.p4d.24xlarge", 96, 1152, 8, "NVIDIA A100", 37.688),
    InstanceType("ml.p5.48xlarge", 192, 2048, 8, "NVIDIA H100", 113.07),
]


def load_catalogue(data_dir: Path | None = None) -> dict[str, InstanceType]:
    catalogue = {item.name: item for item in _CATALOGUE}
    override = data_dir / "instance-types.yaml" if data_dir else None
    if override and override.exists():
        for name, fields in (yaml.safe_load(override.read_text()) or {}).items():
            base = catalogue.get(name, InstanceType(name, 1, 1))
            catalogue[name] = InstanceType(**{**base.__dict__, **fields, "name": name})
    return catalogue
