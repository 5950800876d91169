"""What a budget has spent in its period, and what it is forecast to spend, read from the meter.

CostFilters are AWS's legacy budget filters (``{"Service": ["Amazon SageMaker"], "TagKeyValue":
["user:team$nlp"]}``): values of one key are alternatives, keys must all match. A COST budget counts USD, a
USAGE budget notebook hours. The forecast assumes nothing changes: what is spent, plus what the instances
running now (within the filters) cost until the period ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selfmaker.services.base import ServiceError
from selfmaker.services.metering import DIMENSIONS, Meter, Period, tag_key

# CostFilters keys, as AWS Budgets writes them, to the meter's dimensions.
_FILTER_DIMENSIONS = {
    "Service": "SERVICE",
    "UsageType": "USAGE_TYPE",
    "LinkedAccount": "LINKED_ACCOUNT",
    "Region": "REGION",
    "InstanceType": "INSTANCE_TYPE",
}
_TAG_FILTER = "TagKeyValue"
FILTER_KEYS = (*_FILTER_DIMENSIONS, _TAG_FILTER)


@dataclass(frozen=True)
class Spend:
    actual: float
    forecast: float


def _tag_matcher(value: str) -> Callable[[Period], bool]:
    key, _, wanted = value.removeprefix("user:").partition("$")
    read = tag_key(key)
    return lambda period: read(period) == f"{key}${wanted}"


def check_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in FILTER_KEYS:
            raise ServiceError("InvalidParameterException",
                               f"Cost filter {key} is not supported. Supported filters: {', '.join(FILTER_KEYS)}.")
        if not values:
            raise ServiceError("InvalidParameterException", f"Cost filter {key} must have at least one value.")
        if key == _TAG_FILTER:
            for value in values:
                if not value.startswith("user:") or "$" not in value:
                    raise ServiceError("InvalidParameterException",
                                       f"Invalid TagKeyValue {value}: write it as user:<key>$<value>.")


def matcher(filters: dict[str, list[str]]) -> Callable[[Period], bool]:
    """A predicate on billed periods: every filter key matches one of its values (no filters: everything)."""
    tests: list[Callable[[Period], bool]] = []
    for key, values in filters.items():
        if key == _TAG_FILTER:
            alternatives = [_tag_matcher(value) for value in values]
            tests.append(lambda period, alts=alternatives: any(alt(period) for alt in alts))
        else:
            read, accepted = DIMENSIONS[_FILTER_DIMENSIONS[key]], set(values)
            tests.append(lambda period, read=read, accepted=accepted: read(period) in accepted)
    return lambda period: all(test(period) for test in tests)


def spend(meter: Meter, account_id: str, spec: dict, start: float, end: float) -> Spend:
    """Spend of the budget ``spec`` in its period [start, end), up to the metering clock's now."""
    now = min(max(meter.clock.now(), start), end)
    accepts = matcher(spec.get("CostFilters") or {})
    in_hours = spec["BudgetType"] == "USAGE"
    actual = running = 0.0
    for period in meter.periods(start, end, account_id):
        if not accepts(period) or period.started > now:
            continue
        seconds = meter.billed_seconds(period, start, now)
        actual += seconds / 3600.0 if in_hours else meter.cost(period, seconds)
        if period.ended is None:
            running += 1.0 if in_hours else meter.rate(period.instance_type)
    return Spend(actual, actual + running * (end - now) / 3600.0)


def running_instances(meter: Meter, account_id: str, spec: dict) -> list[Period]:
    """The billed periods running now that the budget's filters match: the budget's instances."""
    now = meter.clock.now()
    accepts = matcher(spec.get("CostFilters") or {})
    return [period for period in meter.periods(now, now + 1, account_id) if period.ended is None and accepts(period)]
