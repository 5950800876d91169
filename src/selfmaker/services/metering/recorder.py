"""Writing the meter: called inside the transaction that changes an instance's status, so the store never holds
a status without its history, nor a billed period without the status that opened it.

Billed, as AWS bills a notebook instance: from the moment it is InService until StopNotebookInstance is called
(AWS: "SageMaker stops charging you for the ML compute instance when you call StopNotebookInstance"), or it
fails or is deleted. Pending (the machine being prepared) and Stopping are not billed.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from selfmaker.domain import notebook_states as st
from selfmaker.services.metering.tables import notebook_owners, notebook_transitions, usage_periods
from selfmaker.store.tables import notebook_instances, tags

BILLED = st.IN_SERVICE


def record_owner(conn: Connection, instance_id: str, account_id: str, owner_arn: str) -> None:
    conn.execute(insert(notebook_owners).values(instance_id=instance_id, account_id=account_id, owner_arn=owner_arn))


def record_status(conn: Connection, instance_id: str, status: str, at: float) -> None:
    """Note that ``instance_id`` entered ``status`` at ``at``; open or close its billed period."""
    conn.execute(insert(notebook_transitions).values(instance_id=instance_id, status=status, at=at))
    open_period = usage_periods.c.instance_id == instance_id, usage_periods.c.ended.is_(None)
    # Whatever the new status, a period still open ends here (entering InService twice never bills twice).
    conn.execute(update(usage_periods).where(*open_period).values(ended=at))
    if status != BILLED:
        return
    row = conn.execute(select(notebook_instances).where(notebook_instances.c.instance_id == instance_id)).first()
    if row is None:
        return
    owner = conn.execute(select(notebook_owners.c.owner_arn)
                         .where(notebook_owners.c.instance_id == instance_id)).scalar()
    conn.execute(insert(usage_periods).values(
        instance_id=instance_id, account_id=row.account_id, region=row.region, instance_arn=row.arn,
        instance_name=row.name, instance_type=row.instance_type,
        owner_arn=owner or f"arn:aws:iam::{row.account_id}:root",  # instances created before owners were kept
        tags=_tags(conn, row.arn), started=at, ended=None,
    ))


def refresh_tags(conn: Connection, resource_arn: str) -> None:
    """After a tag change: the open period of that instance (if any) carries its tags as they are now."""
    conn.execute(update(usage_periods)
                 .where(usage_periods.c.instance_arn == resource_arn, usage_periods.c.ended.is_(None))
                 .values(tags=_tags(conn, resource_arn)))


def _tags(conn: Connection, resource_arn: str) -> dict[str, str]:
    rows = conn.execute(select(tags.c.key, tags.c.value).where(tags.c.resource_arn == resource_arn)).all()
    return {row.key: row.value for row in rows}
