"""What SageMaker asks before an instance would run: is the account within its notebook quotas, and is the
instance's creator within the per-user limits of quotas.yaml?"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Engine, func, select

from selfmaker.domain import notebook_states as st
from selfmaker.services.base import ServiceError
from selfmaker.services.metering.tables import notebook_owners
from selfmaker.services.quotas import records
from selfmaker.services.quotas.capacity import host_devices
from selfmaker.services.quotas.catalogue import SERVICE_CODE, Quota, QuotaBook, count_text
from selfmaker.store.tables import notebook_instances

# What counts as utilization: instances that run or are about to (Pending, InService) and those still
# stopping (their sandbox still holds the host). Stopped and Failed run nothing, Deleting is going away,
# and Updating is a stopped instance whose record changes (it returns to Stopped).
RUNNING = (st.PENDING, st.IN_SERVICE, st.STOPPING)


def check_notebook_quotas(engine: Engine, book: QuotaBook, account_id: str, region: str, instance_type: str,
                          total: bool = True, owner_arn: str | None = None) -> None:
    """Raise ResourceLimitExceeded when one more running ``instance_type`` instance breaks the type's quota or
    (with ``total``) the total, in the account and region, or (with ``owner_arn``) a per-user limit of that
    creator; the caller checks before it records the change, so the instance itself is not yet counted."""
    quotas = [quota for quota in (book.of_type(instance_type), book.total if total else None) if quota is not None]
    devices = host_devices()
    with engine.connect() as conn:
        for quota in quotas:
            used = _running(conn, quota, notebook_instances.c.account_id == account_id,
                            notebook_instances.c.region == region)
            limit = devices.capped(quota, records.current_value(conn, account_id, region, SERVICE_CODE, quota))
            if used + 1 > limit:
                raise limit_exceeded(quota, limit, used)
        for quota in quotas:
            if owner_arn is None or quota.per_user is None:
                continue
            # Every region: one host runs them all, and a student has one place to look.
            used = _running(conn, quota, notebook_instances.c.account_id == account_id,
                            notebook_instances.c.instance_id.in_(
                                select(notebook_owners.c.instance_id).where(notebook_owners.c.owner_arn == owner_arn)))
            if used + 1 > quota.per_user:
                raise user_limit_exceeded(quota, owner_arn, quota.per_user, used)


def _running(conn: Connection, quota: Quota, *where: ColumnElement) -> int:
    query = select(func.count()).select_from(notebook_instances).where(
        *where, notebook_instances.c.status.in_(RUNNING))
    if quota.instance_type is not None:
        query = query.where(notebook_instances.c.instance_type == quota.instance_type)
    return conn.execute(query).scalar() or 0


def limit_exceeded(quota: Quota, limit: float, used: int) -> ServiceError:
    # AWS's text, but for its last sentence: here the request goes to this server's administrator.
    return ServiceError(
        "ResourceLimitExceeded",
        f"The account-level service limit '{quota.name}' is {count_text(limit)} Instances, with current utilization "
        f"of {used} Instances and a request delta of 1 Instances. Please request an increase with Service Quotas "
        "(RequestServiceQuotaIncrease); your Selfmaker administrator decides.",
    )


def user_limit_exceeded(quota: Quota, owner_arn: str, limit: float, used: int) -> ServiceError:
    # Worded like the account-level one; no Service Quotas request changes it, so it says what does.
    return ServiceError(
        "ResourceLimitExceeded",
        f"The user-level service limit '{quota.name}' for {owner_arn} is {count_text(limit)} Instances, with current "
        f"utilization of {used} Instances and a request delta of 1 Instances. Stop one of your running notebook "
        "instances, or ask your Selfmaker administrator to raise the per-user limit (per_user in quotas.yaml).",
    )
