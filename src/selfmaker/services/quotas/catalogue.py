"""Which SageMaker notebook quotas exist, their codes and names, their defaults (with the admin's
``<data-dir>/quotas.yaml`` on top) and the per-IAM-user limits that file may add."""

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
    per_user: float | None = None  # Selfmaker's own: running instances one creator (by ARN) may have
    gpus: int = 0  # what one instance of the type takes from the host (the host capacity caps the quota)
    accelerators: int = 0


@dataclass(frozen=True)
class QuotaSettings:
    """What quotas.yaml says: ``defaults`` and ``per_user``, each {instance type or 'total': number}."""
    defaults: dict[str, float]
    per_user: dict[str, float]


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

    def __init__(self, catalogue: dict[str, InstanceType], settings: QuotaSettings | None = None):
        overrides = settings.defaults if settings else {}
        per_user = settings.per_user if settings else {}
        quotas = [Quota(TOTAL_CODE, TOTAL_NAME, None, overrides.get(TOTAL_KEY, TOTAL_DEFAULT), per_user.get(TOTAL_KEY))]
        for name, kind in catalogue.items():
            default = DEVICE_DEFAULT if kind.gpus or kind.accelerators else CPU_DEFAULT
            quotas.append(Quota(quota_code(name), quota_name(name), name, overrides.get(name, default),
                                per_user.get(name), kind.gpus, kind.accelerators))
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


def _numbers(path: Path, section: str, mapping: object, catalogue: dict[str, InstanceType]) -> dict[str, float]:
    if not isinstance(mapping, dict):
        raise QuotaConfigError(f"{path}: '{section}' must map instance types (or 'total') to numbers")
    numbers: dict[str, float] = {}
    what = "default" if section == "defaults" else "per-user limit"
    for key, value in mapping.items():
        if key != TOTAL_KEY and key not in catalogue:
            raise QuotaConfigError(f"{path}: {key!r} is not a notebook instance type (nor 'total')")
        # bool is an int to Python, but 'true' is no quota
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_VALUE:
            raise QuotaConfigError(f"{path}: the {what} of {key} must be a number from 0 to {MAX_VALUE}, "
                                   f"not {value!r}")
        numbers[key] = float(value)
    return numbers


def read_settings(path: Path, catalogue: dict[str, InstanceType]) -> QuotaSettings:
    """quotas.yaml: ``defaults: {ml.g4dn.xlarge: 2, total: 50}`` and ``per_user: {ml.g4dn.xlarge: 1, total: 2}``,
    both optional; nothing without the file."""
    if not path.exists():
        return QuotaSettings({}, {})
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise QuotaConfigError(f"{path}: cannot be read as YAML: {' '.join(str(err).split())}") from None
    if document is None:
        return QuotaSettings({}, {})
    if not isinstance(document, dict) or set(document) - {"defaults", "per_user"}:
        raise QuotaConfigError(f"{path}: must be a mapping with the keys 'defaults' and 'per_user' (both optional), "
                               "as in: defaults: {ml.g4dn.xlarge: 2, total: 50}")
    return QuotaSettings(_numbers(path, "defaults", document.get("defaults") or {}, catalogue),
                         _numbers(path, "per_user", document.get("per_user") or {}, catalogue))


def load_quota_book(data_dir: Path, catalogue: dict[str, InstanceType]) -> QuotaBook:
    """Read once at start: a change to quotas.yaml takes a restart."""
    return QuotaBook(catalogue, read_settings(data_dir / "quotas.yaml", catalogue))
