"""Cost Explorer's metrics: the cost ones are all the same here (no blending, amortization or discounts: every
notebook hour is on demand), UsageQuantity is hours. Amounts are strings, as AWS sends them."""

from __future__ import annotations

from selfmaker.services.base import validation_error
from selfmaker.services.metering import Amount

COSTS = ("AmortizedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost", "UnblendedCost")
USAGE = "UsageQuantity"
NORMALIZED = "NormalizedUsageAmount"  # defined for EC2's size-normalized hours; none for notebooks
NAMES = (*COSTS, NORMALIZED, USAGE)


def check(metrics: list[str]) -> list[str]:
    if not metrics:
        raise validation_error("Metrics must be specified. Valid values are " + ", ".join(NAMES) + ".")
    unknown = [name for name in metrics if name not in NAMES]
    if unknown:
        raise validation_error(f"Invalid metrics: {', '.join(unknown)}. Valid values are "
                               f"{', '.join(NAMES)}.")
    return list(dict.fromkeys(metrics))


def number(value: float) -> str:
    """As AWS writes an amount: no exponent, no trailing zeros, "0" for nothing."""
    text = f"{round(value, 10):.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def values(amount: Amount, metrics: list[str]) -> dict[str, dict[str, str]]:
    shown = {}
    for name in metrics:
        if name == USAGE:
            shown[name] = {"Amount": number(amount.hours), "Unit": "Hrs"}
        elif name == NORMALIZED:
            shown[name] = {"Amount": "0", "Unit": "N/A"}
        else:
            shown[name] = {"Amount": number(amount.cost), "Unit": "USD"}
    return shown
