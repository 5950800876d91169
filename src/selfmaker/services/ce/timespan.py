"""Cost Explorer's time periods: "YYYY-MM-DD" (or "YYYY-MM-DDThh:mm:ssZ" for HOURLY), Start inclusive, End
exclusive, in UTC, checked as AWS checks them against the metering clock's now.

The limits are AWS's: hourly data for the last 14 days, history for the last 38 months (what AWS keeps with
multi-year data turned on), no End past the beginning of next month; forecasts from today, up to 3 months
DAILY and 18 months MONTHLY. They also bound every answer to about a thousand buckets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selfmaker.services.base import validation_error

HOURLY_DAYS = 14
HISTORY_MONTHS = 38
FORECAST_MONTHS = {"DAILY": 3, "MONTHLY": 18}


def _moment(value: str, name: str) -> datetime:
    text = value[:-1] if value.endswith("Z") else value
    for form in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise validation_error(f"{name} date {value} is not a valid date.")


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _months_later(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return _day(moment).replace(year=index // 12, month=index % 12 + 1, day=1)


def _today(now: float) -> datetime:
    return _day(datetime.fromtimestamp(now, UTC))


def usage_period(time_period: dict, granularity: str, now: float, recent_only: bool = False) -> tuple[float, float]:
    """(start, end) in epoch seconds for GetCostAndUsage. DAILY and MONTHLY periods are whole days: a time given
    with them is dropped, as their buckets start at midnight UTC. ``recent_only``: the 14-day limit for every
    granularity (GetCostAndUsageWithResources)."""
    start, end = _moment(time_period["Start"], "Start"), _moment(time_period["End"], "End")
    if granularity != "HOURLY":
        start, end = _day(start), _day(end)
    if start >= end:
        raise validation_error("Start date (and hour) should be before end date (and hour)")
    today = _today(now)
    if start >= today + timedelta(days=1):
        raise validation_error("Start date must be equal to or no later than the current date.")
    if end > _months_later(today, 1):
        raise validation_error("end date past the beginning of next month")
    if (granularity == "HOURLY" or recent_only) and start < today - timedelta(days=HOURLY_DAYS):
        raise validation_error(f"Start date is more than {HOURLY_DAYS} days ago for hourly granularity. Please adjust "
                               f"start date as we support only {HOURLY_DAYS} days of data at hourly granularity.")
    if start < _months_later(today, -HISTORY_MONTHS):
        raise validation_error(f"Start date is more than {HISTORY_MONTHS} months ago: Cost Explorer keeps "
                               f"{HISTORY_MONTHS} months of data.")
    return start.timestamp(), end.timestamp()


def forecast_period(time_period: dict, granularity: str, now: float) -> tuple[float, float]:
    """(start, end) for GetCostForecast: whole days, from today on."""
    start, end = _day(_moment(time_period["Start"], "Start")), _day(_moment(time_period["End"], "End"))
    if start >= end:
        raise validation_error(f"Requested Start: {time_period['Start']} must be before requested End: "
                               f"{time_period['End']}")
    today = _today(now)
    if start < today:
        raise validation_error(f"Start date {time_period['Start']} must be equal to or later than the current date "
                               f"{today:%Y-%m-%d}.")
    months = FORECAST_MONTHS[granularity]
    if end > _months_later(today, months) + timedelta(days=today.day - 1):
        raise validation_error(f"End date must be within {months} months of the current date for {granularity} "
                               "granularity.")
    return start.timestamp(), end.timestamp()


def text(at: float, granularity: str) -> str:
    """A bucket edge as AWS writes it: a date, or a date and hour for HOURLY."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if granularity == "HOURLY" else "%Y-%m-%d")

