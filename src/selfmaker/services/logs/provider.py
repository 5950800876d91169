"""CloudWatch Logs: log groups, log streams and their events, kept in the store's log tables.

One method per operation, named as in botocore's ``logs`` model. Every resource is scoped by the
caller's account and region. Events are ordered by (timestamp, event_id) everywhere, so a pagination
position is exact even when many events share a millisecond.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import pairwise

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Row,
    Select,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError, OperationalError

from selfmaker.domain.partitions import partition_of
from selfmaker.patterns import Budget, BudgetExhausted, PatternBudgetError
from selfmaker.services.base import RequestContext, ServiceError, on_user_input
from selfmaker.services.logs.filter_pattern import FilterPatternError, compile_pattern
from selfmaker.services.logs.tokens import decode_token, encode_token, invalid_token
from selfmaker.store.functions import position_in
from selfmaker.store.tables import log_events, log_groups, log_streams, tags

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DEFAULT_DESCRIBE_LIMIT = 50
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576  # per PutLogEvents batch and per page of events returned
EVENT_OVERHEAD = 26  # bytes CloudWatch counts per event on top of its UTF-8 message
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
LOG_GROUP_CLASS = "STANDARD"  # the only class kept: the store has no column for another

_Position = tuple[int, int]  # (timestamp, event_id) of an event
_BEFORE_ALL: _Position = (-(2**63), 0)


def group_arn(region: str, account_id: str, group: str) -> str:
    return f"arn:{partition_of(region)}:logs:{region}:{account_id}:log-group:{group}"


def stream_arn(region: str, account_id: str, group: str, stream: str) -> str:
    return f"{group_arn(region, account_id, group)}:log-stream:{stream}"


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def _group_not_found() -> ServiceError:
    return ServiceError("ResourceNotFoundException", "The specified log group does not exist.")


def _stream_not_found() -> ServiceError:
    return ServiceError("ResourceNotFoundException", "The specified log stream does not exist.")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _event_size(message: str) -> int:
    return len(message.encode()) + EVENT_OVERHEAD


def _starts_with(column, prefix: str):
    # substr, not LIKE: LIKE is case-insensitive in SQLite and treats % and _ as wildcards.
    return func.substr(column, 1, len(prefix)) == prefix


_BUSY_RETRIES = 5  # attempts at storing a batch of instance log lines

class LogsService:
    def __init__(self, engine: Engine):
        self._engine = engine

    # --- log groups ------------------------------------------------------------------------------

    def CreateLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        name = params["logGroupName"]
        with self._engine.begin() as conn:
            row = {"account_id": ctx.account_id, "region": ctx.region, "name": name, "creation_time": _now_ms(),
                   "kms_key_id": params.get("kmsKeyId")}
            if not _insert_new(conn, log_groups, row):
                raise ServiceError("ResourceAlreadyExistsException", "The specified log group already exists")
            _set_tags(conn, group_arn(ctx.region, ctx.account_id, name), params.get("tags", {}))
        return {}

    def DeleteLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        name = params["logGroupName"]
        with self._engine.begin() as conn:
            _require_group(conn, ctx.account_id, ctx.region, name)
            for table in (log_events, log_streams):
                conn.execute(delete(table).where(_in_group(table, ctx.account_id, ctx.region, name)))
            conn.execute(delete(log_groups).where(_group_is(ctx.account_id, ctx.region, name)))
            conn.execute(delete(tags).where(tags.c.resource_arn == group_arn(ctx.region, ctx.account_id, name)))
        return {}

    def DescribeLogGroups(self, ctx: RequestContext, params: dict) -> dict:
        prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise _invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        limit = params.get("limit", DEFAULT_DESCRIBE_LIMIT)
        g, s = log_groups.c, log_streams.c
        stored = (
            # (cast: PostgreSQL's SUM of BIGINTs is a NUMERIC, which reaches Python as a Decimal)
            select(cast(func.coalesce(func.sum(s.stored_bytes), 0), BigInteger))
            .where(s.account_id == g.account_id, s.region == g.region, s.group_name == g.name)
            .scalar_subquery()
        )
        stmt = select(log_groups, stored.label("stored_bytes")).where(
            g.account_id == ctx.account_id, g.region == ctx.region
        )
        if prefix is not None:
            stmt = stmt.where(_starts_with(g.name, prefix))
        if pattern is not None:
            stmt = stmt.where(position_in(g.name, pattern) > 0)  # case-sensitive, as AWS matches
        if "logGroupIdentifiers" in params:
            names = [_group_name_in(ctx, ident) for ident in params["logGroupIdentifiers"]]
            stmt = stmt.where(g.name.in_([name for name in names if name is not None]))
        if params.get("logGroupClass", LOG_GROUP_CLASS) != LOG_GROUP_CLASS:
            stmt = stmt.where(false())
        if "nextToken" in params:
            (after,) = decode_token(params["nextToken"], "groups", str)
            stmt = stmt.where(g.name > after)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(g.name).limit(limit + 1)).all()
        result: dict = {"logGroups": [self._group_out(ctx, row, brief=pattern is not None) for row in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = encode_token("groups", rows[limit - 1].name)
        return result

    @staticmethod
    def _group_out(ctx: RequestContext, row: Row, brief: bool) -> dict:
        arn = group_arn(ctx.region, ctx.account_id, row.name)
        out = {"logGroupName": row.name, "creationTime": row.creation_time, "arn": f"{arn}:*"}
        if brief:  # AWS answers a logGroupNamePattern search with these three members only
            return out
        if row.retention_days is not None:
            out["retentionInDays"] = row.retention_days
        if row.kms_key_id is not None:
            out["kmsKeyId"] = row.kms_key_id
        out.update(metricFilterCount=0, storedBytes=row.stored_bytes, logGroupClass=LOG_GROUP_CLASS,
                   logGroupArn=arn)
        return out

    def PutRetentionPolicy(self, ctx: RequestContext, params: dict) -> dict:
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            allowed = ", ".join(map(str, RETENTION_DAYS))
            raise _invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                           f"constraint: Member must satisfy enum value set: [{allowed}]")
        self._set_retention(ctx, params["logGroupName"], days)
        return {}

    def DeleteRetentionPolicy(self, ctx: RequestContext, params: dict) -> dict:
        self._set_retention(ctx, params["logGroupName"], None)
        return {}

    def _set_retention(self, ctx: RequestContext, name: str, days: int | None) -> None:
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(log_groups).where(_group_is(ctx.account_id, ctx.region, name)).values(retention_days=days)
            ).rowcount
        if not changed:
            raise _group_not_found()

    # --- log streams -----------------------------------------------------------------------------

    def CreateLogStream(self, ctx: RequestContext, params: dict) -> dict:
        group, stream = params["logGroupName"], params["logStreamName"]
        with self._engine.begin() as conn:
            _require_group(conn, ctx.account_id, ctx.region, group)
            row = {"account_id": ctx.account_id, "region": ctx.region, "group_name": group, "name": stream,
                   "creation_time": _now_ms()}
            if not _insert_new(conn, log_streams, row):
                raise ServiceError("ResourceAlreadyExistsException", "The specified log stream already exists")
        return {}

    def DeleteLogStream(self, ctx: RequestContext, params: dict) -> dict:
        group, stream = params["logGroupName"], params["logStreamName"]
        with self._engine.begin() as conn:
            _require_group(conn, ctx.account_id, ctx.region, group)
            _require_stream(conn, ctx.account_id, ctx.region, group, stream)
            e = log_events.c
            conn.execute(delete(log_events).where(
                _in_group(log_events, ctx.account_id, ctx.region, group), e.stream_name == stream
            ))
            conn.execute(delete(log_streams).where(_stream_is(ctx.account_id, ctx.region, group, stream)))
        return {}

    def DescribeLogStreams(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_param(ctx, params)
        order = params.get("orderBy", "LogStreamName")
        descending = params.get("descending", False)
        prefix = params.get("logStreamNamePrefix")
        if order == "LastEventTime" and prefix is not None:
            raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = params.get("limit", DEFAULT_DESCRIBE_LIMIT)
        s = log_streams.c
        # Streams without events sort as if their last event were at the epoch.
        key = (s.name,) if order == "LogStreamName" else (func.coalesce(s.last_event_timestamp, 0), s.name)
        kind = f"streams/{order}/{int(descending)}"  # a token is only good for the listing that minted it
        stmt = select(log_streams).where(_in_group(log_streams, ctx.account_id, ctx.region, group))
        if prefix is not None:
            stmt = stmt.where(_starts_with(s.name, prefix))
        if "nextToken" in params:
            after = decode_token(params["nextToken"], kind, *((str,) if len(key) == 1 else (int, str)))
            stmt = stmt.where(tuple_(*key) < tuple_(*after) if descending else tuple_(*key) > tuple_(*after))
        stmt = stmt.order_by(*(column.desc() if descending else column for column in key)).limit(limit + 1)
        with self._engine.connect() as conn:
            _require_group(conn, ctx.account_id, ctx.region, group)
            rows = conn.execute(stmt).all()
        result: dict = {"logStreams": [self._stream_out(ctx, row) for row in rows[:limit]]}
        if len(rows) > limit:
            last = rows[limit - 1]
            position = (last.name,) if len(key) == 1 else (last.last_event_timestamp or 0, last.name)
            result["nextToken"] = encode_token(kind, *position)
        return result

    @staticmethod
    def _stream_out(ctx: RequestContext, row: Row) -> dict:
        out = {"logStreamName": row.name, "creationTime": row.creation_time}
        if row.first_event_timestamp is not None:
            out.update(firstEventTimestamp=row.first_event_timestamp, lastEventTimestamp=row.last_event_timestamp,
                       lastIngestionTime=row.last_ingestion_time)
        # AWS has reported storedBytes of streams as 0 since 2019; the group's total is the real figure.
        out.update(arn=stream_arn(ctx.region, ctx.account_id, row.group_name, row.name), storedBytes=0)
        return out

    # --- log events ------------------------------------------------------------------------------

    def PutLogEvents(self, ctx: RequestContext, params: dict) -> dict:
        group, stream, events = params["logGroupName"], params["logStreamName"], params["logEvents"]
        stamps = [event["timestamp"] for event in events]
        if any(later < earlier for earlier, later in pairwise(stamps)):
            raise _invalid("Log events in a single PutLogEvents request must be in chronological order.")
        size = sum(_event_size(event["message"]) for event in events)
        if size > MAX_BYTES:
            raise _invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BYTES}")
        now = _now_ms()
        with self._engine.begin() as conn:
            group_row = _require_group(conn, ctx.account_id, ctx.region, group)
            _require_stream(conn, ctx.account_id, ctx.region, group, stream)
            rejected, kept = _triage(stamps, now, group_row.retention_days)
            if kept.stop - kept.start > 1 and stamps[kept.stop - 1] - stamps[kept.start] > DAY_MS:
                raise _invalid("The batch of log events in a single PutLogEvents request cannot span more than "
                               "24 hours.")
            accepted = [(event["timestamp"], event["message"]) for event in events[kept]]
            _store_events(conn, ctx.account_id, ctx.region, group, stream, accepted, now)
        # Sequence tokens are ignored by AWS now; one is still returned, as AWS does.
        result: dict = {"nextSequenceToken": f"{now:056d}"}
        if rejected:
            result["rejectedLogEventsInfo"] = rejected
        return result

    def GetLogEvents(self, ctx: RequestContext, params: dict) -> dict:
        group, stream = self._group_param(ctx, params), params["logStreamName"]
        token = params.get("nextToken")
        if token is None:
            forward, after = params.get("startFromHead", False), None
        else:
            forward, after = _decode_stream_token(token)
        stmt = _events_of_stream(ctx.account_id, ctx.region, group, stream, params.get("startTime"),
                                 params.get("endTime"), after, forward)
        limit = params.get("limit", MAX_EVENTS)
        with self._engine.connect() as conn:
            _require_group(conn, ctx.account_id, ctx.region, group)
            _require_stream(conn, ctx.account_id, ctx.region, group, stream)
            page, _ = _page_of(conn.execute(stmt.limit(limit)), limit)
        if not forward:
            page.reverse()
        if page:
            first, last = (page[0].timestamp, page[0].event_id), (page[-1].timestamp, page[-1].event_id)
            forward_token, backward_token = _stream_token(True, last), _stream_token(False, first)
        else:
            # Nothing (more) in this direction: hand the caller's token back unchanged, which is how
            # AWS tells a client it has reached the end. With no events at all, both tokens point before
            # the first event, so following the forward token later picks up whatever arrives.
            here = after or _BEFORE_ALL
            forward_token, backward_token = _stream_token(True, here), _stream_token(False, here)
            if token is not None:
                forward_token, backward_token = (token, backward_token) if forward else (forward_token, token)
        return {
            "events": [
                {"timestamp": row.timestamp, "message": row.message, "ingestionTime": row.ingestion_time}
                for row in page
            ],
            "nextForwardToken": forward_token,
            "nextBackwardToken": backward_token,
        }

    @on_user_input  # a scan that matches user patterns: off the event loop, in the pool for such work
    def FilterLogEvents(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group_param(ctx, params)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise _invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        budget = Budget()
        try:
            matches = compile_pattern(params.get("filterPattern"), budget)
        except FilterPatternError:
            raise _invalid("Invalid filter pattern") from None
        except PatternBudgetError as err:
            raise _invalid(f"Invalid filter pattern: {err}") from None
        token = params.get("nextToken")
        if token is None:
            forward, after = params.get("startFromHead", True), None
        else:
            direction, timestamp, event_id = decode_token(token, "filter", str, int, int)
            if direction not in ("f", "b"):
                raise invalid_token()
            forward, after = direction == "f", (timestamp, event_id)
        end = params.get("endTime")
        s = log_streams.c
        streams_stmt = select(s.name).where(_in_group(log_streams, ctx.account_id, ctx.region, group))
        if names is not None:
            streams_stmt = streams_stmt.where(s.name.in_(names))
        if prefix is not None:
            streams_stmt = streams_stmt.where(_starts_with(s.name, prefix))
        limit = params.get("limit", MAX_EVENTS)
        with self._engine.connect() as conn:
            _require_group(conn, ctx.account_id, ctx.region, group)
            # One index-ordered cursor per stream, merged: the index is per stream, so this reads only
            # the events in range instead of sorting the whole group on every poll of `aws logs tail`.
            cursors = [
                conn.execute(_events_of_stream(ctx.account_id, ctx.region, group, stream, params.get("startTime"),
                                               None if end is None else end + 1, after, forward))
                for stream in conn.execute(streams_stmt).scalars().all()
            ]
            try:
                merged = heapq.merge(*cursors, key=lambda row: (row.timestamp, row.event_id), reverse=not forward)
                page, resume = _filtered_page(merged, limit, matches)
            except PatternBudgetError as err:
                raise _invalid(f"Invalid filter pattern: {err}") from None
            finally:
                for cursor in cursors:  # most are left unfinished
                    cursor.close()
        result: dict = {
            "events": [
                {"logStreamName": row.stream_name, "timestamp": row.timestamp, "message": row.message,
                 "ingestionTime": row.ingestion_time, "eventId": str(row.event_id)}
                for row in page
            ],
            "searchedLogStreams": [],  # deprecated by AWS, which answers with an empty list
        }
        if resume is not None:
            result["nextToken"] = encode_token("filter", "f" if forward else "b", resume.timestamp, resume.event_id)
        return result

    # --- tags ------------------------------------------------------------------------------------

    def TagResource(self, ctx: RequestContext, params: dict) -> dict:
        with self._engine.begin() as conn:
            arn = self._tagged_group(conn, ctx, params["resourceArn"])
            _set_tags(conn, arn, params["tags"])
        return {}

    def UntagResource(self, ctx: RequestContext, params: dict) -> dict:
        with self._engine.begin() as conn:
            arn = self._tagged_group(conn, ctx, params["resourceArn"])
            conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(params["tagKeys"])))
        return {}

    def ListTagsForResource(self, ctx: RequestContext, params: dict) -> dict:
        with self._engine.connect() as conn:
            return {"tags": _tags_of(conn, self._tagged_group(conn, ctx, params["resourceArn"]))}

    def TagLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        return self.TagResource(ctx, {"resourceArn": params["logGroupName"], "tags": params["tags"]})

    def UntagLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        return self.UntagResource(ctx, {"resourceArn": params["logGroupName"], "tagKeys": params["tags"]})

    def ListTagsLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        return self.ListTagsForResource(ctx, {"resourceArn": params["logGroupName"]})

    @staticmethod
    def _tagged_group(conn: Connection, ctx: RequestContext, identifier: str) -> str:
        """The ARN tags are kept under for the log group ``identifier`` (a name or an ARN) names."""
        name = _group_name_in(ctx, identifier)
        if name is None:
            raise _group_not_found()
        _require_group(conn, ctx.account_id, ctx.region, name)
        return group_arn(ctx.region, ctx.account_id, name)

    # --- for the runtime -------------------------------------------------------------------------

    async def append(self, account_id: str, region: str, group: str, stream: str,
                     events: list[tuple[int, str]]) -> None:
        """``append_events`` off the event loop: the store is synchronous."""
        await asyncio.to_thread(self.append_events, account_id, region, group, stream, events)

    def append_events(self, account_id: str, region: str, group: str, stream: str,
                      events: Sequence[tuple[int, str]]) -> None:
        """Store (timestamp ms, message) events, creating the group and stream if missing.

        Not an API operation: this is how lifecycle-script and Jupyter output reaches CloudWatch Logs,
        so none of PutLogEvents' checks (order, age, batch size) apply.
        """
        for attempt in range(_BUSY_RETRIES):
            try:
                return self._append_once(account_id, region, group, stream, events)
            except OperationalError as err:
                # SQLite refuses a read transaction's upgrade to a write at once (no busy wait) when another
                # writer committed meanwhile: with instances starting together, try again rather than lose lines.
                if "locked" not in str(err) or attempt == _BUSY_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _append_once(self, account_id: str, region: str, group: str, stream: str,
                     events: Sequence[tuple[int, str]]) -> None:
        now = _now_ms()
        with self._engine.begin() as conn:
            if _group_row(conn, account_id, region, group) is None:
                _insert_new(conn, log_groups, {"account_id": account_id, "region": region, "name": group,
                                               "creation_time": now})
            if _stream_row(conn, account_id, region, group, stream) is None:
                _insert_new(conn, log_streams, {"account_id": account_id, "region": region, "group_name": group,
                                                "name": stream, "creation_time": now})
            _store_events(conn, account_id, region, group, stream, events, now)

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _group_param(ctx: RequestContext, params: dict) -> str:
        """The group named by logGroupName or logGroupIdentifier (exactly one of which must be given)."""
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise _invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if name is not None:
            return name
        if identifier is None:
            raise _invalid("Either logGroupName or logGroupIdentifier must be specified.")
        resolved = _group_name_in(ctx, identifier)
        if resolved is None:
            raise _group_not_found()
        return resolved


# --- queries ---------------------------------------------------------------------------------------


def _group_is(account_id: str, region: str, name: str):
    g = log_groups.c
    return and_(g.account_id == account_id, g.region == region, g.name == name)


def _in_group(table, account_id: str, region: str, group: str):
    """Rows of log_streams or log_events that belong to a log group."""
    c = table.c
    return and_(c.account_id == account_id, c.region == region, c.group_name == group)


def _stream_is(account_id: str, region: str, group: str, stream: str):
    return and_(_in_group(log_streams, account_id, region, group), log_streams.c.name == stream)


def _group_row(conn: Connection, account_id: str, region: str, name: str) -> Row | None:
    return conn.execute(select(log_groups).where(_group_is(account_id, region, name))).first()


def _stream_row(conn: Connection, account_id: str, region: str, group: str, stream: str) -> Row | None:
    return conn.execute(select(log_streams).where(_stream_is(account_id, region, group, stream))).first()


def _require_group(conn: Connection, account_id: str, region: str, name: str) -> Row:
    row = _group_row(conn, account_id, region, name)
    if row is None:
        raise _group_not_found()
    return row


def _require_stream(conn: Connection, account_id: str, region: str, group: str, stream: str) -> Row:
    row = _stream_row(conn, account_id, region, group, stream)
    if row is None:
        raise _stream_not_found()
    return row


def _insert_new(conn: Connection, table, row: dict) -> bool:
    """Insert ``row``; False if its key exists already (perhaps inserted a moment ago by another writer).

    SQLite rolls back only the failed statement, so the surrounding transaction carries on; a failed statement
    aborts a PostgreSQL transaction, so there the insert skips a taken key instead (ON CONFLICT DO NOTHING).
    """
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(**row).on_conflict_do_nothing()
        # (psycopg reports no rowcount here: whether a row came back says whether it was inserted)
        return conn.execute(statement.returning(*table.primary_key.columns)).first() is not None
    try:
        conn.execute(table.insert().values(**row))
    except IntegrityError:
        return False
    return True


def _store_events(conn: Connection, account_id: str, region: str, group: str, stream: str,
                  events: Sequence[tuple[int, str]], now: int) -> None:
    """Insert events (one executemany) and fold them into the stream's first/last/size figures."""
    if not events:
        return
    conn.execute(
        log_events.insert(),
        [
            {"account_id": account_id, "region": region, "group_name": group, "stream_name": stream,
             "timestamp": timestamp, "ingestion_time": now, "message": message}
            for timestamp, message in events
        ],
    )
    first = min(timestamp for timestamp, _ in events)
    last = max(timestamp for timestamp, _ in events)
    s = log_streams.c
    # Computed in SQL so that concurrent writers to one stream cannot lose each other's updates.
    conn.execute(
        update(log_streams)
        .where(_stream_is(account_id, region, group, stream))
        .values(
            first_event_timestamp=case(
                (and_(s.first_event_timestamp.is_not(None), s.first_event_timestamp <= first),
                 s.first_event_timestamp),
                else_=first,
            ),
            last_event_timestamp=case(
                (and_(s.last_event_timestamp.is_not(None), s.last_event_timestamp >= last), s.last_event_timestamp),
                else_=last,
            ),
            last_ingestion_time=now,
            stored_bytes=s.stored_bytes + sum(len(message.encode()) for _, message in events),
        )
    )


def _events_of_stream(account_id: str, region: str, group: str, stream: str, start: int | None,
                      end: int | None, after: _Position | None, forward: bool) -> Select:
    """A stream's events with start <= timestamp < end, beyond ``after`` in the direction of reading.

    Ordered by (timestamp, event_id), which the stream index yields without sorting.
    """
    e = log_events.c
    stmt = select(e.event_id, e.stream_name, e.timestamp, e.message, e.ingestion_time).where(
        _in_group(log_events, account_id, region, group), e.stream_name == stream
    )
    if start is not None:
        stmt = stmt.where(e.timestamp >= start)
    if end is not None:
        stmt = stmt.where(e.timestamp < end)
    key = tuple_(e.timestamp, e.event_id)
    if after is not None:
        stmt = stmt.where(key > tuple_(*after) if forward else key < tuple_(*after))
    if forward:
        return stmt.order_by(e.timestamp, e.event_id)
    return stmt.order_by(e.timestamp.desc(), e.event_id.desc())


def _page_of(rows: Iterable[Row], limit: int) -> tuple[list[Row], bool]:
    """Up to ``limit`` events within the 1 MB response budget, and whether any were left over."""
    page: list[Row] = []
    size = 0
    for row in rows:
        size += _event_size(row.message)
        if len(page) == limit or (page and size > MAX_BYTES):
            return page, True
        page.append(row)
    return page, False


def _filtered_page(rows: Iterable[Row], limit: int, matches) -> tuple[list[Row], Row | None]:
    """Like ``_page_of`` over the events that match, with the event to resume after when more are left. When
    the request's pattern budget is spent, the page ends early at the last event examined (it may be empty),
    as AWS's FilterLogEvents does when it has searched for long enough."""
    page: list[Row] = []
    size = 0
    examined: Row | None = None
    for row in rows:
        try:
            hit = matches(row.message)
        except BudgetExhausted:
            if examined is None:  # cannot be: a budget's first match always has its full time
                raise
            return page, examined
        if hit:
            size += _event_size(row.message)
            if len(page) == limit or (page and size > MAX_BYTES):
                return page, page[-1]
            page.append(row)
        examined = row
    return page, None


def _triage(stamps: list[int], now: int, retention_days: int | None) -> tuple[dict, slice]:
    """Which events of a chronological batch are kept, and AWS's account of the rejected ones.

    AWS reports the index of the last too-old (or expired) event and of the first too-new one.
    """
    too_old = bisect_left(stamps, now - 14 * DAY_MS)  # number of events older than 14 days
    expired = bisect_left(stamps, now - retention_days * DAY_MS) if retention_days else 0
    too_new = bisect_right(stamps, now + 2 * HOUR_MS)  # index of the first event over 2 hours ahead
    rejected = {}
    if too_new < len(stamps):
        rejected["tooNewLogEventStartIndex"] = too_new
    if too_old:
        rejected["tooOldLogEventEndIndex"] = too_old - 1
    if expired:
        rejected["expiredLogEventEndIndex"] = expired - 1
    return rejected, slice(max(too_old, expired), too_new)


# --- identifiers and tokens ------------------------------------------------------------------------


def _group_name_in(ctx: RequestContext, identifier: str) -> str | None:
    """The name of the log group ``identifier`` (a name, or an ARN with or without ``:*``) refers to,
    or None when it is an ARN of something else or of another account or region."""
    if not identifier.startswith("arn:"):
        return identifier
    parts = identifier.split(":", 6)
    if len(parts) != 7 or parts[2:6] != ["logs", ctx.region, ctx.account_id, "log-group"]:
        return None
    return parts[6].removesuffix(":*")


def _stream_token(forward: bool, position: _Position) -> str:
    # AWS's tokens read f/… and b/…; some clients look at the prefix.
    return ("f/" if forward else "b/") + encode_token("events", *position)


def _decode_stream_token(token: str) -> tuple[bool, _Position]:
    direction, slash, rest = token.partition("/")
    if not slash or direction not in ("f", "b"):
        raise invalid_token()
    timestamp, event_id = decode_token(rest, "events", int, int)
    return direction == "f", (timestamp, event_id)


# --- tags ------------------------------------------------------------------------------------------


def _set_tags(conn: Connection, arn: str, new: dict[str, str]) -> None:
    if not new:
        return
    conn.execute(delete(tags).where(tags.c.resource_arn == arn, tags.c.key.in_(list(new))))
    conn.execute(tags.insert(), [{"resource_arn": arn, "key": key, "value": value} for key, value in new.items()])


def _tags_of(conn: Connection, arn: str) -> dict[str, str]:
    rows = conn.execute(select(tags.c.key, tags.c.value).where(tags.c.resource_arn == arn).order_by(tags.c.key))
    return {row.key: row.value for row in rows}
