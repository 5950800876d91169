"""CloudFormation's tables, on the shared schema ``metadata``.

A stack's row says what the stack is meant to be (template, parameters) and where its current operation
stands (status); resource rows say what exists (physical ids), written before each provider call so that
a restart can clean up what an interrupted operation left.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from selfmaker.store.tables import metadata

stacks = Table(
    "cfn_stacks",
    metadata,
    Column("stack_id", String(512), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("status", String(64), nullable=False),
    Column("status_reason", Text),
    Column("template_body", Text, nullable=False),
    Column("parameters", JSON, nullable=False),  # {key: value as given or defaulted}
    Column("capabilities", JSON, nullable=False),
    Column("notification_arns", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),  # [{OutputKey, OutputValue, Description, ExportName}]
    Column("description", Text),
    Column("on_failure", String(16), nullable=False),  # ROLLBACK | DELETE | DO_NOTHING
    Column("timeout_minutes", Integer),
    Column("role_arn", String(2048)),
    Column("termination_protection", Boolean, nullable=False, default=False),
    Column("principal_arn", String(2048), nullable=False),  # who created it: resources are made as them
    Column("access_key_id", String(128), nullable=False),
    Column("change_set_id", String(512)),  # the change set being (or last) executed
    Column("client_request_token", String(128)),
    # During an update: what to return to on rollback ({template_body, parameters, outputs, resources}).
    Column("previous", JSON),
    # Physical resources to delete in the current cleanup phase ([{key, logical_id, type, physical_id, …}]).
    Column("cleanup", JSON, nullable=False),
    Column("operation_started", Float, nullable=False),  # for TimeoutInMinutes
    Column("creation_time", Float, nullable=False),
    Column("last_updated_time", Float),
    Column("deletion_time", Float),
)
# A name is unique among the stacks that are not deleted; deleted ones stay listed by id.
Index(
    "ux_cfn_stacks_live_name", stacks.c.account_id, stacks.c.region, stacks.c.name, unique=True,
    sqlite_where=stacks.c.status != "DELETE_COMPLETE", postgresql_where=stacks.c.status != "DELETE_COMPLETE",
)

stack_resources = Table(
    "cfn_stack_resources",
    metadata,
    Column("stack_id", String(512), primary_key=True),
    Column("logical_id", String(255), primary_key=True),
    Column("type", String(256), nullable=False),
    Column("physical_id", String(2048)),
    Column("physical_name", String(512)),  # the name it is created under, written before the create call
    Column("status", String(64), nullable=False),
    Column("status_reason", Text),
    Column("properties", JSON),  # as last applied, intrinsics resolved
    Column("attributes", JSON, nullable=False),  # {"Ref": …, attribute: …}
    Column("depends_on", JSON, nullable=False),
    Column("deletion_policy", String(32), nullable=False),
    Column("metadata", JSON),
    Column("timestamp", Float, nullable=False),
)

stack_events = Table(
    "cfn_stack_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    # "<logical id (255)>-<status>-<uuid>": longer than AWS's 256 for the longest logical ids.
    Column("event_id", String(512), nullable=False, unique=True),
    Column("stack_id", String(512), nullable=False, index=True),
    Column("stack_name", String(128), nullable=False),
    Column("logical_id", String(255), nullable=False),
    Column("physical_id", String(2048)),
    Column("type", String(256), nullable=False),
    Column("status", String(64), nullable=False),
    Column("reason", Text),
    Column("properties", Text),
    Column("client_request_token", String(128)),
    Column("timestamp", Float, nullable=False),
)

change_sets = Table(
    "cfn_change_sets",
    metadata,
    Column("change_set_id", String(512), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("stack_id", String(512), nullable=False, index=True),
    Column("type", String(16), nullable=False),  # CREATE | UPDATE
    Column("status", String(32), nullable=False),
    Column("execution_status", String(32), nullable=False),
    Column("status_reason", Text),
    Column("template_body", Text, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("capabilities", JSON, nullable=False),
    Column("notification_arns", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("description", Text),
    Column("changes", JSON, nullable=False),
    Column("on_failure", String(16)),
    Column("creation_time", Float, nullable=False),
    UniqueConstraint("stack_id", "name"),
)

exports = Table(
    "cfn_exports",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("stack_id", String(512), nullable=False, index=True),
)

imports = Table(
    "cfn_imports",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("export_name", String(255), primary_key=True),
    Column("stack_id", String(512), primary_key=True),  # the importing stack
)

wait_handles = Table(
    "cfn_wait_handles",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("stack_id", String(512), nullable=False),
    Column("logical_id", String(255), nullable=False),
)

wait_signals = Table(
    "cfn_wait_signals",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("unique_id", String(255), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("data", Text),
    Column("timestamp", Float, nullable=False),
)
