"""What SageMaker asks before an instance would run: is the account within its notebook quotas?"""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from selfmaker.domain import notebook_states as st
from selfmaker.services.base import ServiceError
from selfmaker.services.quotas import records
from selfmaker.services.quotas.catalogue import SERVICE_CODE, Quota, QuotaBook, count_text
from selfmaker.store.tables import notebook_instances

# What counts as utilization: instances that run or are about to (Pending, InService) and those still
# stopping (their sandbox still holds the host). Stopped and Failed run nothing, Deleting is going away,
# and Updating is a stopped instance whose record changes (it returns to Stopped).
RUNNING = (st.PENDING, st.IN_SERVICE, st.STOPPING)


def check_notebook_quotas(engine: Engine, book: QuotaBook, account_id: str, region: str, instance_type: str,
                          total: bool = True) -> None:
    """Raise ResourceLimitExceeded when one more running ``instance_type`` instance breaks the type's quota or
    (with ``total``) the total; the caller checks before it records the change, so the instance itself is
    not yet counted."""
    checks: list[tuple[Quota, object]] = []
    kind = book.of_type(instance_type)
    if kind is not None:
        checks.append((kind, notebook_instances.c.instance_type == instance_type))
    if total:
        checks.append((book.total, None))
    with engine.connect() as conn:
        for quota, condition in checks:
            query = select(func.count()).select_from(notebook_instances).where(
                notebook_instances.c.account_id == account_id, notebook_instances.c.region == region,
                notebook_instances.c.status.in_(RUNNING),
            )
            if condition is not None:
                query = query.where(condition)
            used = conn.execute(query).scalar() or 0
            limit = records.current_value(conn, account_id, region, SERVICE_CODE, quota)
            if used + 1 > limit:
                raise limit_exceeded(quota, limit, used)


def limit_exceeded(quota: Quota, limit: float, used: int) -> ServiceError:
    # AWS's text, but for its last sentence: here the request goes to this server's administrator.
    return ServiceError(
        "ResourceLimitExceeded",
        f"The account-level service limit '{quota.name}' is {count_text(limit)} Instances, with current utilization "
        f"of {used} Instances and a request delta of 1 Instances. Please request an increase with Service Quotas "
        "(RequestServiceQuotaIncrease); your Selfmaker administrator decides.",
    )
