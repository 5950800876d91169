"""The Billing page: a month's notebook cost so far and its forecast, by day, instance type, user and tag, and the
account's budgets; and each notebook instance's cost this month, for the instance list.

The figures are the meter's (``services.metering.report.usage``, the one computation Cost Explorer and Budgets
use) for the signed-in reader's account, in UTC months and days, by the metering clock. Reading them takes what
Cost Explorer's GetCostAndUsage takes (``ce:GetCostAndUsage``), as AWS's billing console does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass

from babel.dates import format_skeleton
from babel.numbers import format_currency, format_decimal
from starlette.responses import Response

from selfmaker.console.charts import Bar, bar_chart
from selfmaker.console.web import Console, View
from selfmaker.services.base import ServiceError
from selfmaker.services.metering import DIMENSIONS, Amount, Meter, tag_key, usage
from selfmaker.services.metering.forecast import HISTORY_DAYS

MONTHS_BACK = 12  # previous months the picker offers, besides this one
MAX_PAGES = 20  # of budgets read for the table
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass
class MonthCost:
    """One month of the account's notebook usage, as the page shows it."""

    start: dt.datetime
    end: dt.datetime  # the next month's start
    now: float  # the metering clock when read
    total: Amount
    days: list[tuple[dt.date, Amount]]  # every day of the month up to today (the whole month when it is over)
    by_type: list[tuple[str, Amount]]
    by_owner: list[tuple[str, Amount]]  # owner ARN
    tag: str | None  # the tag key by_tag is for (None: the month's instances had no tags)
    by_tag: list[tuple[str, Amount]]  # tag value ("" untagged)
    tag_keys: list[str]  # the keys the month's instances had, for the picker

    @property
    def current(self) -> bool:
        return self.start.timestamp() <= self.now < self.end.timestamp()

    @property
    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.now, dt.UTC).date()

    @property
    def complete_days_cost(self) -> float:
        """The cost of the month's days before today."""
        return sum(amount.cost for day, amount in self.days if day < self.today)


def month_start(moment: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(moment, dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def recent_months(now: float) -> list[dt.datetime]:
    """This month and the MONTHS_BACK before it, newest first."""
    months = [month_start(now)]
    for _ in range(MONTHS_BACK):
        first = months[-1]
        months.append(first.replace(year=first.year - 1, month=12) if first.month == 1
                      else first.replace(month=first.month - 1))
    return months


def _by(groups: dict[tuple[str, ...], Amount], position: int) -> list[tuple[str, Amount]]:
    """The groups' amounts summed by one part of their key, costliest first."""
    summed: dict[str, Amount] = {}
    for key, amount in groups.items():
        into = summed.setdefault(key[position], Amount())
        into.hours += amount.hours
        into.cost += amount.cost
    return sorted(summed.items(), key=lambda item: (-item[1].cost, -item[1].hours, item[0]))


def month_cost(meter: Meter, account_id: str, start: dt.datetime, tag: str | None) -> MonthCost:
    """The month from ``start``, grouped by instance type, owner and the value of tag ``tag`` (when the month's
    instances had no such tag, of the first key they had)."""
    now = meter.clock.now()
    end = next_month(start)
    # Days up to the end of today: a day not yet begun has no cost to draw.
    today_end = (dt.datetime.fromtimestamp(now, dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                 + dt.timedelta(days=1))
    stop = min(end, today_end).timestamp()
    periods = meter.periods(start.timestamp(), stop, account_id)
    keys = sorted({key for period in periods for key in period.tags})
    if tag not in keys:
        tag = keys[0] if keys else None
    by_tag = tag_key(tag) if tag else (lambda period: "")
    buckets = usage(meter, start.timestamp(), stop, "DAILY",
                    group_by=[DIMENSIONS["INSTANCE_TYPE"], DIMENSIONS["OWNER"], by_tag], account_id=account_id)
    total, groups = Amount(), {}
    for bucket in buckets:
        total.hours += bucket.total.hours
        total.cost += bucket.total.cost
        for key, amount in bucket.groups.items():
            into = groups.setdefault(key, Amount())
            into.hours += amount.hours
            into.cost += amount.cost
    days = [(dt.datetime.fromtimestamp(bucket.start, dt.UTC).date(), bucket.total) for bucket in buckets]
    tags = [(value[len(tag) + 1:], amount) for value, amount in _by(groups, 2)] if tag else []  # "key$value"
    return MonthCost(start, end, now, total, days, _by(groups, 0), _by(groups, 1), tag, tags, keys)


def instance_costs(meter: Meter, account_id: str) -> dict[str, float]:
    """Each notebook instance's cost this month (by the metering clock), by its ARN."""
    now = meter.clock.now()
    buckets = usage(meter, month_start(now).timestamp(), now, "MONTHLY", group_by=[DIMENSIONS["RESOURCE_ID"]],
                    account_id=account_id)
    return {key[0]: amount.cost for bucket in buckets for key, amount in bucket.groups.items()}


def usd(value: float | None, language: str) -> str:
    """Dollars and cents, as the reader's language writes them ("$1.20", "US$1.20")."""
    return "—" if value is None else format_currency(value, "USD", locale=language)


def user_name(arn: str) -> str:
    """The name an owner ARN shows as: an IAM user's name, a role session's "role/session", "" for root."""
    resource = arn.split(":", 5)[-1]
    if resource == "root":
        return ""
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        return rest
    return rest.rsplit("/", 1)[-1] if rest else resource


def _amount(value: dict | None) -> float | None:
    try:
        return float(value["Amount"]) if value else None
    except (KeyError, TypeError, ValueError):
        return None


def routes(console: Console) -> list:
    def allowed(view: View) -> None:
        """Raises AccessDeniedException unless the reader may read cost and usage."""
        if console.api.authorize is not None:
            console.api.authorize(view.context(), "ce", "GetCostAndUsage", {})

    def chosen_month(view: View, months: list[dt.datetime]) -> dt.datetime:
        asked = view.request.query_params.get("month")
        if not asked:
            return months[0]
        found = _MONTH.fullmatch(asked)
        picked = next((m for m in months if found and (m.year, m.month) == (int(found[1]), int(found[2]))), None)
        if picked is None:
            raise ServiceError("ValidationException", view.t(
                "Choose a month from %(first)s to %(last)s, written YYYY-MM.",
                first=f"{months[-1]:%Y-%m}", last=f"{months[0]:%Y-%m}"))
        return picked

    async def budgets(view: View) -> list[dict] | None:
        """The account's budgets with their alert state (None where Budgets is not served)."""
        if "budgets" not in console.api.services:
            return None
        account = view.session.account_id
        found: list[dict] = []
        token = None
        for _ in range(MAX_PAGES):
            page = await view.call("budgets", "DescribeBudgets",
                                   {"AccountId": account, "MaxResults": 100, **({"NextToken": token} if token else {})})
            found += page.get("Budgets", [])
            token = page.get("NextToken")
            if not token:
                break
        rows = []
        for budget in found:
            notes = await view.call("budgets", "DescribeNotificationsForBudget",
                                    {"AccountId": account, "BudgetName": budget["BudgetName"], "MaxResults": 100})
            states = {note.get("NotificationState", "OK") for note in notes.get("Notifications", [])}
            spend = budget.get("CalculatedSpend") or {}
            rows.append({"name": budget["BudgetName"], "period": budget.get("TimeUnit", ""),
                         "limit": _amount(budget.get("BudgetLimit")),
                         "actual": _amount(spend.get("ActualSpend")),
                         "forecast": _amount(spend.get("ForecastedSpend")),
                         "state": "ALARM" if "ALARM" in states else "OK"})
        return rows

    async def forecast(view: View, cost: MonthCost) -> float | None:
        """The month's cost as AWS's billing console forecasts it: the complete days so far, plus Cost Explorer's
        GetCostForecast from today to the month's end (None for a month that is over, or where Cost Explorer is
        not served or the reader may not ask it)."""
        if not cost.current or "ce" not in console.api.services:
            return None
        try:
            answer = await view.call("ce", "GetCostForecast", {
                "TimePeriod": {"Start": cost.today.isoformat(), "End": f"{cost.end:%Y-%m-%d}"},
                "Metric": "UNBLENDED_COST", "Granularity": "MONTHLY"})
        except ServiceError:
            return None
        return cost.complete_days_cost + float(answer["Total"]["Amount"])

    async def billing(view: View) -> Response:
        allowed(view)
        months = recent_months(console.meter.clock.now())
        start = chosen_month(view, months)
        cost = await asyncio.to_thread(month_cost, console.meter, view.session.account_id, start,
                                       view.request.query_params.get("tag") or None)

        def dollars(value: float | None) -> str:
            return usd(value, view.language)

        def hours(value: float) -> str:
            return format_decimal(value, "#,##0.00", locale=view.language)

        def day(value: dt.date) -> str:
            return format_skeleton("MMMd", value, locale=view.language)

        try:
            budget_rows, budgets_error = await budgets(view), None
        except ServiceError as err:  # not allowed, most likely: the rest of the page still stands
            budget_rows, budgets_error = None, err.message
        month_name = format_skeleton("yMMMM", start, locale=view.language)
        top = max((amount.cost for _day, amount in cost.days), default=0.0)
        chart = bar_chart(
            [Bar(str(d.day), amount.cost, f"{day(d)}: {dollars(amount.cost)}") for d, amount in cost.days],
            title=view.t("Cost by day, %(month)s", month=month_name),
            description=view.t("One bar per day; the highest is %(cost)s.", cost=dollars(top)),
            chart_id="daily-cost", scale_text=dollars(top) if top > 0 else "")
        return view.render(
            "billing.html", cost=cost, chart=chart, month_name=month_name, dollars=dollars, hours=hours, day=day,
            months=[(f"{m:%Y-%m}", format_skeleton("yMMMM", m, locale=view.language)) for m in months],
            month=f"{start:%Y-%m}", forecast=await forecast(view, cost), history_days=HISTORY_DAYS,
            user_name=user_name, budgets=budget_rows, budgets_error=budgets_error,
        )

    return [console.route("/console/billing", billing)]
