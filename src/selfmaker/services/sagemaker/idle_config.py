"""How long a notebook instance may sit idle before it is stopped: its tag, else the admin's default.

The tag ``selfmaker:idle-stop-minutes`` on the instance (whole minutes; 0 or ``off``: never) wins; without it,
``<data-dir>/idle.yaml`` may give defaults, one for CPU types and one for GPU and accelerator types:

    defaults: {cpu: 120, gpu: 60}

Without a default (or the file) an untagged instance is never stopped for being idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from selfmaker.domain.instance_types import InstanceType

TAG = "selfmaker:idle-stop-minutes"
MAX_MINUTES = 525_600  # a year: beyond it a limit means nothing
_KINDS = ("cpu", "gpu")


class IdleConfigError(ValueError):
    """idle.yaml is not what it must be; the message says where and why."""


@dataclass(frozen=True)
class Limit:
    minutes: int  # more than 0
    source: str  # where it came from, in words for the log


@dataclass(frozen=True)
class IdleDefaults:
    cpu: int | None = None  # minutes; None or 0: no idle stop
    gpu: int | None = None  # for GPU and accelerator types; None: the cpu default applies to them too

    def for_type(self, kind: InstanceType | None) -> Limit | None:
        if kind is not None and (kind.gpus or kind.accelerators) and self.gpu is not None:
            return Limit(self.gpu, "the gpu default of idle.yaml") if self.gpu else None
        return Limit(self.cpu, "the cpu default of idle.yaml") if self.cpu else None


def parse_tag(value: str) -> int | None:
    """The tag's minutes (0 for ``off``), or None when the value is no such thing."""
    text = value.strip().lower()
    if text == "off":
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_MINUTES)):
        return None
    minutes = int(text)
    return minutes if minutes <= MAX_MINUTES else None


def resolve(tag_value: str | None, kind: InstanceType | None, defaults: IdleDefaults) -> tuple[Limit | None, bool]:
    """(the limit that applies, or None for none; whether the tag's value was unusable and so ignored)."""
    if tag_value is not None:
        minutes = parse_tag(tag_value)
        if minutes is not None:
            return (Limit(minutes, f"the tag {TAG}") if minutes else None), False
    return defaults.for_type(kind), tag_value is not None


def read_defaults(path: Path) -> IdleDefaults:
    """The ``defaults`` of idle.yaml; none without the file."""
    if not path.exists():
        return IdleDefaults()
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise IdleConfigError(f"{path}: cannot be read as YAML: {' '.join(str(err).split())}") from None
    if document is None:
        return IdleDefaults()
    if not isinstance(document, dict) or set(document) - {"defaults"}:
        raise IdleConfigError(f"{path}: must be a mapping with the one key 'defaults', "
                              "as in: defaults: {cpu: 120, gpu: 60}")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise IdleConfigError(f"{path}: 'defaults' must map 'cpu' and 'gpu' to minutes")
    minutes: dict[str, int] = {}
    for key, value in defaults.items():
        if key not in _KINDS:
            raise IdleConfigError(f"{path}: {key!r} is neither 'cpu' nor 'gpu' (GPU and accelerator types)")
        # bool is an int to Python, but 'true' is no number of minutes
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MINUTES:
            raise IdleConfigError(f"{path}: the default for {key} must be whole minutes from 0 (never) to "
                                  f"{MAX_MINUTES}, not {value!r}")
        minutes[key] = value
    return IdleDefaults(**minutes)


def load_idle_defaults(data_dir: Path) -> IdleDefaults:
    """Read once at start: a change to idle.yaml takes a restart."""
    return read_defaults(data_dir / "idle.yaml")
