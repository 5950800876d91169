"""Reading and writing the quota tables: applied values and increase requests, for the API and the CLI."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, Row, insert, select, update

from selfmaker.services.quotas.catalogue import Quota
from selfmaker.services.quotas.tables import quota_requests, quota_values

PENDING = "PENDING"
APPROVED = "APPROVED"
DENIED = "DENIED"
OPEN = (PENDING, "CASE_OPENED")  # requests still waiting for a decision


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
    """The administrator's decision cannot be made (no such request, or already decided)."""


def decide(engine: Engine, request_id: str, status: str, value: float | None = None) -> Row:
    """APPROVED (applying ``value``, else the desired value) or DENIED; only an open request."""
    with engine.begin() as conn:
        row = conn.execute(select(quota_requests).where(quota_requests.c.request_id == request_id)).first()
        if row is None:
            raise DecisionError(f"no quota increase request {request_id!r}")
        if row.status not in OPEN:
            raise DecisionError(f"request {request_id} is {row.status} already")
        if status == APPROVED:
            set_value(conn, row.account_id, row.region, row.service_code, row.quota_code,
                      row.desired_value if value is None else value)
        conn.execute(update(quota_requests).where(quota_requests.c.request_id == request_id)
                     .values(status=status, last_updated=time.time()))
        return conn.execute(select(quota_requests).where(quota_requests.c.request_id == request_id)).one()
