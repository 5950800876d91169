"""The Cost Explorer operations over Selfmaker's meter: what the caller's account spent on notebook instances.

Amounts come from ``selfmaker.services.metering.report.usage`` — the numbers Budgets, the console and
``selfmaker usage`` show — so every client sees the same cents.
"""

from __future__ import annotations

from selfmaker.services.base import RequestContext, blocking, validation_error
from selfmaker.services.ce import forecast, metrics, paging, timespan
from selfmaker.services.ce.expression import GROUPABLE, RECORDED, compile_filter, dimension, group_keys
from selfmaker.services.metering import Bucket, Meter, Period, usage

# A page of GetCostAndUsage holds whole buckets, up to this many (bucket, group) cells: a year of DAILY
# totals is one page, a year of DAILY groups by a few values is two or more.
PAGE_CELLS = 1000
LIST_PAGE = 1000  # GetDimensionValues and GetTags, when no MaxResults is given
_COST_METRICS = ("AMORTIZED_COST", "BLENDED_COST", "NET_AMORTIZED_COST", "NET_UNBLENDED_COST", "UNBLENDED_COST")


class CostExplorerService:
    def __init__(self, meter: Meter):
        self.meter = meter

    # --- cost and usage -------------------------------------------------------------------------------

    @blocking  # a report over years of history: off the event loop
    def GetCostAndUsage(self, ctx: RequestContext, params: dict) -> dict:
        return self._cost_and_usage(ctx, params, GROUPABLE, recent_only=False)

    @blocking
    def GetCostAndUsageWithResources(self, ctx: RequestContext, params: dict) -> dict:
        # As on AWS: the last 14 days only, and RESOURCE_ID (the instance's ARN) among the groupings.
        return self._cost_and_usage(ctx, params, RECORDED, recent_only=True)

    def _cost_and_usage(self, ctx: RequestContext, params: dict, groupable: tuple[str, ...],
                        recent_only: bool) -> dict:
        granularity = params["Granularity"]
        names = metrics.check(params.get("Metrics") or [])
        now = self.meter.clock.now()
        start, end = timespan.usage_period(params["TimePeriod"], granularity, now, recent_only)
        definitions = params.get("GroupBy") or []
        keys = group_keys(definitions, groupable)
        where = compile_filter(params.get("Filter"))
        buckets = usage(self.meter, start, end, granularity, keys or None, where, ctx.account_id)
        first = paging.offset(params)
        page, cells = [], 0
        for bucket in buckets[first:]:
            if page and cells + max(1, len(bucket.groups)) > PAGE_CELLS:
                break
            page.append(bucket)
            cells += max(1, len(bucket.groups))
        following = first + len(page)
        results = [self._result(bucket, granularity, names, bool(keys), now) for bucket in page]
        return {
            "GroupDefinitions": [{"Type": item["Type"], "Key": item["Key"]} for item in definitions],
            "ResultsByTime": results,
            "DimensionValueAttributes": _account_attributes(definitions, page),
            "NextPageToken": paging.token(params, following) if following < len(buckets) else None,
        }

    @staticmethod
    def _result(bucket: Bucket, granularity: str, names: list[str], grouped: bool, now: float) -> dict:
        groups = [{"Keys": list(key), "Metrics": metrics.values(amount, names)}
                  for key, amount in sorted(bucket.groups.items())]
        return {
            "TimePeriod": {"Start": timespan.text(bucket.start, granularity),
                           "End": timespan.text(bucket.end, granularity)},
            "Total": {} if grouped else metrics.values(bucket.total, names),  # as AWS: no Total beside groups
            "Groups": groups,
            "Estimated": bucket.end > now,  # the bucket is not over: its amounts still grow
        }

    # --- forecast -------------------------------------------------------------------------------------

    @blocking
    def GetCostForecast(self, ctx: RequestContext, params: dict) -> dict:
        if params["Metric"] not in _COST_METRICS:
            raise validation_error(f"Metric {params['Metric']} is not supported by GetCostForecast. Valid values "
                                   f"are {', '.join(_COST_METRICS)}.")
        granularity = params["Granularity"]
        if granularity not in timespan.FORECAST_MONTHS:
            raise validation_error(f"Granularity {granularity} is not supported by GetCostForecast. Valid values "
                                   "are DAILY, MONTHLY.")
        now = self.meter.clock.now()
        start, end = timespan.forecast_period(params["TimePeriod"], granularity, now)
        where = compile_filter(params.get("Filter"))
        return forecast.forecast(self.meter, ctx.account_id, start, end, granularity, where,
                                 params.get("PredictionIntervalLevel"))

    # --- dimension values and tags --------------------------------------------------------------------

    def _periods(self, ctx: RequestContext, params: dict) -> list[Period]:
        now = self.meter.clock.now()
        start, end = timespan.usage_period(params["TimePeriod"], "DAILY", now)
        where = compile_filter(params.get("Filter"))
        return [period for period, _seconds in self.meter.clipped(start, end, ctx.account_id)
                if where is None or where(period)]

    @blocking
    def GetDimensionValues(self, ctx: RequestContext, params: dict) -> dict:
        key = params["Dimension"]
        # Only cost and usage is metered here: no reservations or savings plans to describe.
        periods = self._periods(ctx, params) if params.get("Context", "COST_AND_USAGE") == "COST_AND_USAGE" else []
        value = dimension(key)
        found = sorted({text for period in periods if (text := value(period)) is not None})
        found = _search(found, params.get("SearchString"))
        items, token = paging.page(found, params, params.get("MaxResults") or LIST_PAGE)
        return {
            "DimensionValues": [{"Value": item, "Attributes": _attributes(key, item)} for item in items],
            "ReturnSize": len(items), "TotalSize": len(found), "NextPageToken": token,
        }

    @blocking
    def GetTags(self, ctx: RequestContext, params: dict) -> dict:
        periods = self._periods(ctx, params)
        tag = params.get("TagKey")
        if tag:
            found = sorted({period.tags[tag] for period in periods if tag in period.tags})
        else:
            found = sorted({name for period in periods for name in period.tags})
        found = _search(found, params.get("SearchString"))
        items, token = paging.page(found, params, params.get("MaxResults") or LIST_PAGE)
        return {"Tags": items, "ReturnSize": len(items), "TotalSize": len(found), "NextPageToken": token}


def _search(values: list[str], text: str | None) -> list[str]:
    if not text:
        return values
    text = text.lower()
    return [value for value in values if text in value.lower()]


def _attributes(key: str, value: str) -> dict[str, str]:
    # A linked account's description is its name; accounts here have none but their id.
    return {"description": value} if key == "LINKED_ACCOUNT" else {}


def _account_attributes(definitions: list[dict], page: list[Bucket]) -> list[dict]:
    """Cost Explorer describes the accounts a LINKED_ACCOUNT grouping shows."""
    positions = [index for index, item in enumerate(definitions)
                 if item["Type"] == "DIMENSION" and item["Key"] == "LINKED_ACCOUNT"]
    if not positions:
        return []
    accounts = sorted({key[positions[0]] for bucket in page for key in bucket.groups})
    return [{"Value": account, "Attributes": _attributes("LINKED_ACCOUNT", account)} for account in accounts]
