"""Reading and writing the quota tables: applied values and increase requests, for the API and the CLI.

A request's life, as on AWS: PENDING → CASE_OPENED (the administrator took it up) → APPROVED or DENIED, or
CASE_CLOSED (closed without a decision). The administrator may decide or close a PENDING request directly.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, Row, insert, select, update

from selfmaker.services.quotas.catalogue import Quota
from selfmaker.services.quotas.tables import quota_requests, quota_values

PENDING = "PENDING"
CASE_OPENED = "CASE_OPENED"
APPROVED = "APPROVED"
DENIED = "DENIED"
CASE_CLOSED = "CASE_CLOSED"
OPEN = (PENDING, CASE_OPENED)  # requests still waiting for a decision
# The statuses each change may leave from.
_FROM = {CASE_OPENED: (PENDING,), APPROVED: OPEN, DENIED: OPEN, CASE_CLOSED: OPEN}


def applied_values(conn: Connection, account_id: str, region: str, service_code: str) -> dict[str, float]:
    rows = conn.execute(select(quota_values.c.quota_code, quota_values.c.value).where(
        quota_values.c.account_id == account_id, quota_values.c.region == region,
        quota_values.c.service_code == service_code,
    )).all()
    return {row.quota_code: row.value for row in rows}


def current_value(conn: Connection, account_id: str, region: str, service_code: str, quota: Quota) -> float:
    """The applied value of an account's quota in a region, else its default."""
    value = conn.execute(select(quota_values.c.value).where(
        quota_values.c.account_id == account_id, quota_values.c.region == region,
        quota_values.c.service_code == service_code, quota_values.c.quota_code == quota.code,
    )).scalar()
    return quota.default if value is None else value


def set_value(conn: Connection, account_id: str, region: str, service_code: str, quota_code: str,
              value: float) -> None:
    keys = (quota_values.c.account_id == account_id, quota_values.c.region == region,
            quota_values.c.service_code == service_code, quota_values.c.quota_code == quota_code)
    changed = conn.execute(update(quota_values).where(*keys).values(value=value, last_updated=time.time()))
    if changed.rowcount == 0:
        conn.execute(insert(quota_values).values(account_id=account_id, region=region, service_code=service_code,
                                                 quota_code=quota_code, value=value, last_updated=time.time()))


def request(engine: Engine, request_id: str) -> Row | None:
    with engine.connect() as conn:
        return conn.execute(select(quota_requests).where(quota_requests.c.request_id == request_id)).first()


def all_requests(engine: Engine) -> list[Row]:
    """Every account's requests, oldest first (what the administrator goes through)."""
    with engine.connect() as conn:
        return conn.execute(select(quota_requests).order_by(quota_requests.c.created,
                                                            quota_requests.c.request_id)).all()


class DecisionError(Exception):
    """The administrator's change cannot be made: no such request (``status`` None), or it is past that already."""

    def __init__(self, request_id: str, status: str | None = None):
        super().__init__(f"request {request_id} is {status} already" if status
                         else f"no quota increase request {request_id!r}")
        self.request_id = request_id
        self.status = status


def change(engine: Engine, request_id: str, status: str, value: float | None = None) -> Row:
    """Move a request to ``status`` (CASE_OPENED, APPROVED, DENIED or CASE_CLOSED); APPROVED applies ``value``
    (the caller's, already capped) to the account's quota in the request's region. Returns the changed row."""
    with engine.begin() as conn:
        row = conn.execute(select(quota_requests).where(quota_requests.c.request_id == request_id)).first()
        if row is None:
            raise DecisionError(request_id)
        if row.status not in _FROM[status]:
            raise DecisionError(request_id, row.status)
        if status == APPROVED:
            set_value(conn, row.account_id, row.region, row.service_code, row.quota_code,
                      row.desired_value if value is None else value)
        conn.execute(update(quota_requests).where(quota_requests.c.request_id == request_id)
                     .values(status=status, last_updated=time.time()))
        return conn.execute(select(quota_requests).where(quota_requests.c.request_id == request_id)).one()
