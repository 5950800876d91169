"""The ml.* instance-type catalogue: what each type is on AWS, what it costs there, what it needs here.

Offered are exactly the values of botocore's ``InstanceType`` enum for CreateNotebookInstance: the protocol
layer refuses any other name before a provider runs, so a newer botocore brings its new types along. Their
specs come from the table in ``instance_types.yaml`` (next to this module); an enum value the table lacks is
still offered, with specs estimated from its family and size (:func:`estimate`) and ``estimated`` set.

Prices are AWS's on-demand list prices per hour for notebook instances in us-east-1 (USD), the figure a
student would have paid, or None where unknown; Selfmaker shows them so people see what they save and
remember to Stop.

An admin may override a type's fields in ``<data-dir>/instance-types.yaml`` (same keys as the table). It
cannot add a type: an entry for a name outside the enum is ignored with a warning, since the protocol
layer would refuse that name anyway.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import yaml

from selfmaker.protocol.models import operation_model

log = logging.getLogger(__name__)

_TABLE = "instance_types.yaml"
_XLARGE = re.compile(r"(\d*)xlarge")
# GiB of memory per vCPU of a family none of whose sizes is in the table, by its class letter.
_MEMORY_PER_VCPU = {"c": 2, "m": 4, "r": 8, "x": 16}
_DEFAULT_MEMORY_PER_VCPU = 4


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0  # NVIDIA GPUs (CUDA)
    gpu_model: str = ""
    # AWS's own ML chips (Inferentia, Trainium): Neuron devices, not CUDA GPUs.
    accelerators: int = 0
    accelerator_model: str = ""
    price_per_hour: float | None = None  # None: AWS's price is not known here
    estimated: bool = False  # specs from the family-and-size rule, not from AWS's published specs
    # Most tasks (processes and threads) at once: a fork bomb stops here, not at the host's limit.
    pids: int = 4096
    # Where instances of the type run: "local" or "slurm" ("": the server's --runtime), and for Slurm the
    # partition to submit to ("": the server's --slurm-partition, else Slurm's default).
    runtime: str = ""
    partition: str = ""


def offered_names() -> list[str]:
    """The notebook instance types CreateNotebookInstance accepts: botocore's enum."""
    return list(operation_model("sagemaker", "CreateNotebookInstance").input_shape.members["InstanceType"].enum)


def read_table(text: str) -> dict[str, InstanceType]:
    return {name: InstanceType(name, **fields) for name, fields in (yaml.safe_load(text) or {}).items()}


def _family_and_size(name: str) -> tuple[str, str]:
    parts = name.split(".")
    return (parts[1], parts[2]) if len(parts) == 3 else (name, "")


def _vcpus(size: str) -> int:
    # AWS's sizes: medium and large have 2 vCPUs, xlarge 4, Nxlarge 4N; anything else counts as the smallest.
    match = _XLARGE.fullmatch(size)
    return 4 * int(match.group(1) or 1) if match else 2


def estimate(name: str, table: dict[str, InstanceType]) -> InstanceType:
    """Specs for a type the table lacks, from its family and size.

    vCPUs follow the size. With other sizes of the family in the table, memory, GPUs and accelerators scale
    from the size nearest in vCPUs (same models; a device count rounds, and stays at least 1). Without,
    memory is 2/4/8/16 GiB a vCPU for c/m/r/x families (else 4), and a g/p family gets one NVIDIA GPU, an
    inf/trn family one Inferentia/Trainium chip. No price: it would be a guess.
    """
    family, size = _family_and_size(name)
    vcpus = _vcpus(size)
    relatives = [kind for kind in table.values() if _family_and_size(kind.name)[0] == family]
    if relatives:
        nearest = min(relatives, key=lambda kind: (abs(kind.vcpus - vcpus), kind.vcpus))
        ratio = vcpus / nearest.vcpus

        def scaled(count: int) -> int:
            return max(1, round(count * ratio)) if count else 0

        return InstanceType(name, vcpus, nearest.memory_gib * ratio, scaled(nearest.gpus), nearest.gpu_model,
                            scaled(nearest.accelerators), nearest.accelerator_model, estimated=True)
    kind = InstanceType(name, vcpus, vcpus * _MEMORY_PER_VCPU.get(family[:1], _DEFAULT_MEMORY_PER_VCPU),
                        estimated=True)
    if re.match(r"(inf|trn)\d", family):
        return replace(kind, accelerators=1, accelerator_model="AWS Inferentia" if family.startswith("inf")
                       else "AWS Trainium")
    if re.match(r"[gp]\d", family):
        return replace(kind, gpus=1, gpu_model="NVIDIA")
    return kind


def build_catalogue(offered: Iterable[str], table: dict[str, InstanceType]) -> dict[str, InstanceType]:
    """Every offered name, with the table's specs or estimated ones; table rows not offered are left out."""
    return {name: table.get(name) or estimate(name, table) for name in offered}


def load_catalogue(data_dir: Path | None = None) -> dict[str, InstanceType]:
    table = read_table(resources.files(__package__).joinpath(_TABLE).read_text())
    catalogue = build_catalogue(offered_names(), table)
    override = data_dir / "instance-types.yaml" if data_dir else None
    if override and override.exists():
        for name, fields in (yaml.safe_load(override.read_text()) or {}).items():
            if name not in catalogue:
                log.warning("%s: %s is not a notebook instance type CreateNotebookInstance accepts; ignored",
                            override, name)
                continue
            catalogue[name] = replace(catalogue[name], **{key: value for key, value in fields.items()
                                                         if key != "name"})
    return catalogue
