"""CloudWatch Logs pages: log groups, a group's streams, a stream's events (search and live tail).

Events read oldest to newest, newest last, as in the AWS console; the live tail appends below. Without a
search, a stream's newest page comes from GetLogEvents and the tail follows its nextForwardToken; with a
search (FilterLogEvents' filterPattern, over one stream or the whole group), the tail asks for events from
the last one's timestamp on and skips those it has shown.
"""

from __future__ import annotations

from starlette.responses import Response

from selfmaker.console.web import Console, View
from selfmaker.services.base import ServiceError

PAGE_EVENTS = 500  # events a page shows at once
TAIL_EVENTS = 200  # events one live-tail poll adds at most
STREAM_PAGE = 50
PREFIX_PAGES = 10  # pages of streams read (and sorted here) when a name prefix is given


def log_group_url(view: View, group: str, prefix: str | None = None) -> str:
    return view.url("/cloudwatch/log-group", group=group, prefix=prefix or None)


def log_events_url(view: View, group: str, stream: str | None = None, **query) -> str:
    return view.url("/cloudwatch/log-events", group=group, stream=stream, **query)


async def streams_of(view: View, group: str, prefix: str | None) -> tuple[list[dict], str | None]:
    """A group's streams, newest (by last event) first, and the token of the next page (None: no more).

    CloudWatch cannot order by LastEventTime within a name prefix, so a prefix listing reads up to
    PREFIX_PAGES pages by name and sorts them here.
    """
    if not prefix:
        params = {"logGroupName": group, "orderBy": "LastEventTime", "descending": True, "limit": STREAM_PAGE}
        token = view.request.query_params.get("token")
        page = await view.call("logs", "DescribeLogStreams", {**params, **({"nextToken": token} if token else {})})
        return page.get("logStreams", []), page.get("nextToken")
    found: list[dict] = []
    token = None
    for _ in range(PREFIX_PAGES):
        page = await view.call("logs", "DescribeLogStreams", {
            "logGroupName": group, "logStreamNamePrefix": prefix, "limit": STREAM_PAGE,
            **({"nextToken": token} if token else {})})
        found += page.get("logStreams", [])
        token = page.get("nextToken")
        if not token:
            break
    found.sort(key=lambda s: s.get("lastEventTimestamp") or s.get("creationTime") or 0, reverse=True)
    return found, None


def _seconds(milliseconds: int | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _now_ms(view: View) -> int:
    return int(view.now * 1000)


def _after_key(value: str | None) -> tuple[int, int] | None:
    """The tail's position in search mode: '<timestamp ms>:<event id>' of the last event shown."""
    try:
        stamp, _, event_id = (value or "").partition(":")
        return int(stamp), int(event_id)
    except ValueError:
        return None


def routes(console: Console) -> list:
    async def log_groups(view: View) -> Response:
        prefix = view.request.query_params.get("prefix", "").strip()
        token = view.request.query_params.get("token")
        params: dict = {"limit": 50}
        if prefix:
            params["logGroupNamePrefix"] = prefix
        if token:
            params["nextToken"] = token
        page = await view.call("logs", "DescribeLogGroups", params)
        next_url = view.url("/cloudwatch/log-groups", prefix=prefix or None, token=page["nextToken"]) \
            if page.get("nextToken") else None
        return view.render("logs/log_groups.html", groups=page.get("logGroups", []), prefix=prefix,
                           next_url=next_url, seconds=_seconds, log_group_url=lambda g: log_group_url(view, g))

    async def log_group(view: View) -> Response:
        group = view.request.query_params.get("group", "")
        if not group:
            return view.redirect(view.url("/cloudwatch/log-groups"))
        prefix = view.request.query_params.get("prefix", "").strip()
        streams, token = await streams_of(view, group, prefix)
        next_url = view.url("/cloudwatch/log-group", group=group, token=token) if token else None
        return view.render(
            "logs/log_group.html", group=group, prefix=prefix, streams=streams, next_url=next_url, seconds=_seconds,
            events_url=lambda stream=None: log_events_url(view, group, stream),
        )

    async def stream_events(view: View, group: str, stream: str) -> dict:
        """The newest page of a stream (or an older one, with ?older=token), oldest first."""
        older = view.request.query_params.get("older")
        params = {"logGroupName": group, "logStreamName": stream, "limit": PAGE_EVENTS,
                  **({"nextToken": older} if older else {"startFromHead": False})}
        page = await view.call("logs", "GetLogEvents", params)
        events = page.get("events", [])
        return {
            "events": events,
            # A page that is not full is the stream's start: nothing older.
            "older_url": log_events_url(view, group, stream, older=page["nextBackwardToken"])
            if len(events) >= PAGE_EVENTS else None,
            "tail_token": page.get("nextForwardToken") if not older else None,
        }

    async def search_events(view: View, group: str, stream: str | None, pattern: str) -> dict:
        token = view.request.query_params.get("more")
        params = {"logGroupName": group, "limit": PAGE_EVENTS, **({"filterPattern": pattern} if pattern else {}),
                  **({"logStreamNames": [stream]} if stream else {}), **({"nextToken": token} if token else {})}
        page = await view.call("logs", "FilterLogEvents", params)
        events = page.get("events", [])
        more = page.get("nextToken")
        last = f"{events[-1]['timestamp']}:{events[-1]['eventId']}" if events else f"{_now_ms(view)}:0"
        return {
            "events": events,
            "more_url": log_events_url(view, group, stream, filter=pattern or None, more=more) if more else None,
            "tail_after": None if more else last,
        }

    async def log_events(view: View) -> Response:
        query = view.request.query_params
        group, stream = query.get("group", ""), query.get("stream") or None
        pattern = query.get("filter", "").strip()
        if not group:
            return view.redirect(view.url("/cloudwatch/log-groups"))
        if view.fragment == "tail":
            return await tail(view, group, stream, pattern)
        searching = bool(pattern) or stream is None
        try:
            found = await (search_events(view, group, stream, pattern) if searching
                           else stream_events(view, group, stream))
        except ServiceError as err:
            if err.code != "InvalidParameterException" or not pattern:
                raise
            found, error = {"events": []}, view.t("This filter pattern is not valid: %(reason)s", reason=err.message)
        else:
            error = None
        tailing = query.get("tail") == "1"
        return view.render(
            "logs/log_events.html", status=400 if error else 200, group=group, stream=stream, pattern=pattern,
            error=error, tailing=tailing, seconds=_seconds, group_url=log_group_url(view, group),
            tail_url=tail_url(view, group, stream, pattern, found) if tailing else None,
            toggle_url=log_events_url(view, group, stream, filter=pattern or None, tail=None if tailing else "1"),
            events_url=lambda s: log_events_url(view, group, s), **found,
        )

    def tail_url(view: View, group: str, stream: str | None, pattern: str, found: dict) -> str | None:
        if found.get("tail_token"):
            return log_events_url(view, group, stream, fragment="tail", token=found["tail_token"])
        if found.get("tail_after"):
            return log_events_url(view, group, stream, fragment="tail", filter=pattern or None,
                                  after=found["tail_after"])
        return None

    async def tail(view: View, group: str, stream: str | None, pattern: str) -> Response:
        """New events since the last poll, as rows to append (204 when there are none: htmx then keeps polling)."""
        query = view.request.query_params
        if query.get("token") and stream:
            page = await view.call("logs", "GetLogEvents", {
                "logGroupName": group, "logStreamName": stream, "nextToken": query["token"], "limit": TAIL_EVENTS})
            events, found = page.get("events", []), {"tail_token": page.get("nextForwardToken")}
        else:
            after = _after_key(query.get("after"))
            if after is None:
                return Response(status_code=204)
            page = await view.call("logs", "FilterLogEvents", {
                "logGroupName": group, "startTime": after[0], "limit": TAIL_EVENTS,
                **({"filterPattern": pattern} if pattern else {}), **({"logStreamNames": [stream]} if stream else {})})
            events = [e for e in page.get("events", []) if (e["timestamp"], int(e["eventId"])) > after]
            found = {"tail_after": f"{events[-1]['timestamp']}:{events[-1]['eventId']}" if events else None}
        if not events:
            return Response(status_code=204)
        return view.render("logs/_tail.html", events=events, stream=stream, seconds=_seconds,
                           tail_url=tail_url(view, group, stream, pattern, found),
                           events_url=lambda s: log_events_url(view, group, s))

    return [
        console.route("/cloudwatch/log-groups", log_groups),
        console.route("/cloudwatch/log-group", log_group),
        console.route("/cloudwatch/log-events", log_events),
    ]
