"""Checking what callers hand in (a budget, a notification, subscribers) and writing amounts as Budgets does."""

from __future__ import annotations

import math
import re

from selfmaker.services.budgets.errors import duplicate, invalid, over_limit
from selfmaker.services.budgets.periods import NO_END, current_period
from selfmaker.services.budgets.spend import check_filters

MAX_NOTIFICATIONS = 10
MAX_SUBSCRIBERS = 11  # one SNS topic and up to ten addresses
MAX_EMAILS = 10

_MISSING_LIMIT = ("Unable to create/update budget - please provide one of the followings: Budget Limit/ "
                  "Planned Budget Limit/ Auto Adjust Data")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
# Members a caller may send but that Budgets computes itself (or that Selfmaker has no data for).
_COMPUTED = ("CalculatedSpend", "LastUpdatedTime", "HealthStatus")
_COST_TYPES = {
    "IncludeTax": True, "IncludeSubscription": True, "UseBlended": False, "IncludeRefund": True,
    "IncludeCredit": True, "IncludeUpfront": True, "IncludeRecurring": True, "IncludeOtherSubscription": True,
    "IncludeSupport": True, "IncludeDiscount": True, "UseAmortized": False,
}


def amount_text(value: float) -> str:
    """A NumericValue as Budgets writes one: plain decimals, no exponent (the model's pattern has none)."""
    text = f"{round(value, 6):.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _amount(spend: dict, what: str) -> float:
    try:
        value = float(spend["Amount"])
    except ValueError:
        raise invalid(f"{what} amount {spend['Amount']} is not a number.") from None
    if not math.isfinite(value) or value <= 0:
        raise invalid(f"{what} amount must be greater than 0.")
    return value


def checked_budget(given: dict, now: float) -> dict:
    """The budget to store: checked, with AWS's defaults filled in (TimePeriod from the current period on,
    CostTypes for a COST budget), without the members Budgets computes."""
    spec = {key: value for key, value in given.items() if key not in _COMPUTED}
    kind = spec["BudgetType"]
    if kind not in ("COST", "USAGE"):
        raise invalid(f"BudgetType {kind} is not supported: Selfmaker meters notebook instances, so its budgets "
                      "are COST or USAGE budgets.")
    for member in ("PlannedBudgetLimits", "AutoAdjustData", "FilterExpression", "Metrics", "BillingViewArn"):
        if spec.get(member):
            raise invalid(f"{member} is not supported here: give a BudgetLimit and CostFilters.")
    if "BudgetLimit" not in spec:
        raise invalid(_MISSING_LIMIT)
    limit = spec["BudgetLimit"]
    _amount(limit, "Budget limit")
    if kind == "COST" and limit["Unit"] != "USD":
        raise invalid(f"Budget limit unit {limit['Unit']} is not supported for a COST budget: use USD.")
    check_filters(spec.get("CostFilters") or {})
    window = dict(spec.get("TimePeriod") or {})
    if spec["TimeUnit"] == "CUSTOM" and ("Start" not in window or "End" not in window):
        raise invalid("A budget with TimeUnit CUSTOM needs a TimePeriod with a Start and an End.")
    if spec["TimeUnit"] != "CUSTOM":
        window.setdefault("Start", current_period({"TimeUnit": spec["TimeUnit"]}, now)[0])
    window.setdefault("End", NO_END)
    if window["End"] <= window["Start"]:
        raise invalid("The budget's TimePeriod must end after it starts.")
    spec["TimePeriod"] = window
    if kind == "COST":
        spec["CostTypes"] = {**_COST_TYPES, **(spec.get("CostTypes") or {})}
    return spec


def notification_key(notification: dict) -> tuple[str, str, float, str]:
    """What names a notification (its state is not part of it)."""
    return (notification["NotificationType"], notification["ComparisonOperator"], float(notification["Threshold"]),
            notification.get("ThresholdType") or "PERCENTAGE")


def check_notification(notification: dict) -> None:
    threshold = notification["Threshold"]
    if not math.isfinite(threshold) or threshold <= 0:
        raise invalid("The notification threshold must be greater than 0.")
    if (notification.get("ThresholdType") or "PERCENTAGE") == "PERCENTAGE" and threshold > 1000:
        raise invalid("A PERCENTAGE notification threshold must be at most 1000.")


def check_subscriber(subscriber: dict) -> dict:
    kind, address = subscriber["SubscriptionType"], subscriber["Address"].strip()
    if kind == "EMAIL" and not _EMAIL.match(address):
        raise invalid(f"Invalid email address {address}.")
    if kind == "SNS" and not _TOPIC_ARN.match(address):
        raise invalid(f"Invalid SNS topic ARN {address}.")
    return {"SubscriptionType": kind, "Address": address}


def check_subscribers(subscribers: list[dict]) -> list[dict]:
    """Subscribers of one notification: each valid, none twice, one SNS topic and ten addresses at most."""
    checked: list[dict] = []
    for subscriber in subscribers:
        one = check_subscriber(subscriber)
        if one in checked:
            raise duplicate(f"Error creating subscriber: {one['Address']} - the subscriber already exists.")
        checked.append(one)
    kinds = [one["SubscriptionType"] for one in checked]
    if len(checked) > MAX_SUBSCRIBERS or kinds.count("SNS") > 1 or kinds.count("EMAIL") > MAX_EMAILS:
        raise over_limit()
    return checked


def budget_shape(spec: dict, last_updated: float, actual: float, forecast: float) -> dict:
    unit = spec["BudgetLimit"]["Unit"]
    return {**spec, "LastUpdatedTime": last_updated, "CalculatedSpend": {
        "ActualSpend": {"Amount": amount_text(actual), "Unit": unit},
        "ForecastedSpend": {"Amount": amount_text(forecast), "Unit": unit},
    }}
