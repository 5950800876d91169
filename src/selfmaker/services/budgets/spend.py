"""What a budget has spent in its period, and what it is forecast to spend, read from the meter.

CostFilters are AWS's legacy budget filters (``{"Service": ["Amazon SageMaker"], "TagKeyValue":
["user:team$nlp"]}``): values of one key are alternatives, keys must all match. A COST budget counts USD, a
USAGE budget notebook hours. The forecast is the period's days before today as they cost, then Cost Explorer's
rule (``services.metering.forecast``): every day from today on at the larger of the mean daily cost of the last
7 complete days and what today will cost if the instances running now run until midnight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selfmaker.services.base import ServiceError
from selfmaker.services.metering import DIMENSIONS, Meter, Period, tag_key, usage
from selfmaker.services.metering.forecast import Unit, day_start, forecast, in_unit

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


def _spent(meter: Meter, account_id: str, accepts: Callable[[Period], bool], unit: Unit, start: float,
           end: float) -> float:
    if end <= start:
        return 0.0
    buckets = usage(meter, start, end, "MONTHLY", where=accepts, account_id=account_id)
    return sum(in_unit(bucket.total, unit) for bucket in buckets)


def spend(meter: Meter, account_id: str, spec: dict, start: float, end: float) -> Spend:
    """Spend of the budget ``spec`` in its period [start, end), up to the metering clock's now, and its forecast."""
    now = meter.clock.now()
    accepts = matcher(spec.get("CostFilters") or {})
    unit: Unit = "hours" if spec["BudgetType"] == "USAGE" else "cost"
    ahead = min(max(day_start(now), start), end)  # where the forecast takes over from what was spent
    actual = _spent(meter, account_id, accepts, unit, start, min(max(now, start), end))
    predicted = forecast(meter, account_id, accepts, unit, ahead, end).total if ahead < end else 0.0
    return Spend(actual, _spent(meter, account_id, accepts, unit, start, ahead) + predicted)


def running_instances(meter: Meter, account_id: str, spec: dict) -> list[Period]:
    """The billed periods running now that the budget's filters match: the budget's instances."""
    now = meter.clock.now()
    accepts = matcher(spec.get("CostFilters") or {})
    return [period for period in meter.periods(now, now + 1, account_id) if period.ended is None and accepts(period)]
