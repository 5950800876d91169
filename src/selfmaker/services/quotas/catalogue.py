"""Which SageMaker notebook quotas exist, their codes and names, and their defaults (with the admin's
``<data-dir>/quotas.yaml`` on top)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from selfmaker.domain.instance_types import InstanceType

SERVICE_CODE = "sagemaker"
SERVICE_NAME = "Amazon SageMaker"
TOTAL_CODE = "L-04CE2E67"  # AWS's own code for it
TOTAL_NAME = "Total number of notebook instances"
TOTAL_KEY = "total"  # its key in quotas.yaml
MAX_VALUE = 10_000_000_000  # the model's QuotaValue maximum

# As for a new AWS account: no GPU or accelerator instances until asked for; CPU types generously.
DEVICE_DEFAULT = 0.0
CPU_DEFAULT = 20.0
TOTAL_DEFAULT = 100.0


class QuotaConfigError(ValueError):
    """quotas.yaml is not what it must be; the message says where and why."""


@dataclass(frozen=True)
class Quota:
    code: str
    name: str
    instance_type: str | None  # None: the total
    default: float


def quota_code(instance_type: str) -> str:
    """A type's quota code: stable across servers and releases, since it depends on the name alone."""
    return "L-" + hashlib.sha256(instance_type.encode()).hexdigest()[:8].upper()


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for notebook instance usage"


def count_text(value: float) -> str:
    """3.0 as 3, 2.5 as 2.5: how a count of instances reads."""
    return str(int(value)) if float(value).is_integer() else str(value)


class QuotaBook:
    """Every notebook quota by code, sorted by name (the order listings answer in)."""

    def __init__(self, catalogue: dict[str, InstanceType], overrides: dict[str, float] | None = None):
        overrides = overrides or {}
        quotas = [Quota(TOTAL_CODE, TOTAL_NAME, None, overrides.get(TOTAL_KEY, TOTAL_DEFAULT))]
        for name, kind in catalogue.items():
            default = DEVICE_DEFAULT if kind.gpus or kind.accelerators else CPU_DEFAULT
            quotas.append(Quota(quota_code(name), quota_name(name), name, overrides.get(name, default)))
        quotas.sort(key=lambda quota: quota.name)
        self.by_code = {quota.code: quota for quota in quotas}
        if len(self.by_code) != len(quotas):  # two names hashing alike: make it loud, never silently merge
            raise QuotaConfigError("two notebook quotas share a quota code")
        self.by_type = {quota.instance_type: quota for quota in quotas if quota.instance_type}

    def get(self, code: str) -> Quota | None:
        return self.by_code.get(code)

    def of_type(self, instance_type: str) -> Quota | None:
        return self.by_type.get(instance_type)

    @property
    def total(self) -> Quota:
        return self.by_code[TOTAL_CODE]

    def all(self) -> list[Quota]:
        return list(self.by_code.values())


def read_overrides(path: Path, catalogue: dict[str, InstanceType]) -> dict[str, float]:
    """The ``defaults`` of quotas.yaml: ``{ml.g4dn.xlarge: 2, total: 50}``; {} without the file."""
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise QuotaConfigError(f"{path}: cannot be read as YAML: {' '.join(str(err).split())}") from None
    if document is None:
        return {}
    if not isinstance(document, dict) or set(document) - {"defaults"}:
        raise QuotaConfigError(f"{path}: must be a mapping with the one key 'defaults', "
                               "as in: defaults: {ml.g4dn.xlarge: 2, total: 50}")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise QuotaConfigError(f"{path}: 'defaults' must map instance types (or 'total') to numbers")
    overrides: dict[str, float] = {}
    for key, value in defaults.items():
        if key != TOTAL_KEY and key not in catalogue:
            raise QuotaConfigError(f"{path}: {key!r} is not a notebook instance type (nor 'total')")
        # bool is an int to Python, but 'true' is no quota
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_VALUE:
            raise QuotaConfigError(f"{path}: the default of {key} must be a number from 0 to {MAX_VALUE}, "
                                   f"not {value!r}")
        overrides[key] = float(value)
    return overrides


def load_quota_book(data_dir: Path, catalogue: dict[str, InstanceType]) -> QuotaBook:
    """Read once at start: a change to quotas.yaml takes a restart."""
    return QuotaBook(catalogue, read_overrides(data_dir / "quotas.yaml", catalogue))
