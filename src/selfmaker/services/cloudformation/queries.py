"""The read-only operations: stacks, their events and resources, templates, exports."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select
from sqlalchemy.engine import Row

from selfmaker.domain.cfn.template import VERSION
from selfmaker.services.base import RequestContext
from selfmaker.services.cloudformation.exports import Exports
from selfmaker.services.cloudformation.lookup import find_change_set, page, require_stack
from selfmaker.services.cloudformation.prepare import invalid, parse_off_loop, shown_parameters
from selfmaker.services.cloudformation.resources.base import ResourceType
from selfmaker.services.cloudformation.tables import stack_events, stack_resources, stacks
from selfmaker.services.cloudformation.template_source import TemplateSource

EVENTS_PAGE = 100
STACKS_PAGE = 100
_NOT_CHECKED = {"StackDriftStatus": "NOT_CHECKED"}
_RESOURCE_NOT_CHECKED = {"StackResourceDriftStatus": "NOT_CHECKED"}


def stack_view(row: Row) -> dict:
    return {
        "StackId": row.stack_id, "StackName": row.name, "ChangeSetId": row.change_set_id,
        "Description": row.description, "Parameters": shown_parameters(row.template_body, row.parameters),
        "CreationTime": row.creation_time, "DeletionTime": row.deletion_time, "LastUpdatedTime": row.last_updated_time,
        "RollbackConfiguration": {}, "StackStatus": row.status, "StackStatusReason": row.status_reason,
        "DisableRollback": row.on_failure == "DO_NOTHING", "NotificationARNs": row.notification_arns,
        "TimeoutInMinutes": row.timeout_minutes, "Capabilities": row.capabilities, "Outputs": row.outputs or None,
        "RoleARN": row.role_arn, "Tags": row.tags, "EnableTerminationProtection": row.termination_protection,
        "DriftInformation": _NOT_CHECKED,
    }


def _resource_view(row: Row, stack: Row) -> dict:
    return {
        "StackName": stack.name, "StackId": stack.stack_id, "LogicalResourceId": row.logical_id,
        "PhysicalResourceId": row.physical_id, "ResourceType": row.type, "Timestamp": row.timestamp,
        "ResourceStatus": row.status, "ResourceStatusReason": row.status_reason,
        "DriftInformation": _RESOURCE_NOT_CHECKED,
    }


class Queries:
    engine: Engine
    exports: Exports
    source: TemplateSource
    types: dict[str, ResourceType]
    attributes: dict[str, frozenset[str]]

    def DescribeStacks(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("StackName"):
            return {"Stacks": [stack_view(require_stack(self.engine, ctx, params["StackName"]))]}
        with self.engine.connect() as conn:
            rows = conn.execute(select(stacks).where(
                stacks.c.account_id == ctx.account_id, stacks.c.region == ctx.region,
                stacks.c.status != "DELETE_COMPLETE",
            ).order_by(stacks.c.creation_time.desc())).all()
        items, token = page(rows, params.get("NextToken"), STACKS_PAGE)
        return {"Stacks": [stack_view(row) for row in items], "NextToken": token}

    def ListStacks(self, ctx: RequestContext, params: dict) -> dict:
        wanted = set(params.get("StackStatusFilter") or [])
        with self.engine.connect() as conn:
            rows = conn.execute(select(stacks).where(stacks.c.account_id == ctx.account_id,
                                                     stacks.c.region == ctx.region)
                                .order_by(stacks.c.creation_time.desc())).all()
        rows = [row for row in rows if not wanted or row.status in wanted]
        items, token = page(rows, params.get("NextToken"), STACKS_PAGE)
        return {"StackSummaries": [{
            "StackId": row.stack_id, "StackName": row.name, "TemplateDescription": row.description,
            "CreationTime": row.creation_time, "LastUpdatedTime": row.last_updated_time,
            "DeletionTime": row.deletion_time, "StackStatus": row.status, "StackStatusReason": row.status_reason,
            "DriftInformation": _NOT_CHECKED,
        } for row in items], "NextToken": token}

    def DescribeStackEvents(self, ctx: RequestContext, params: dict) -> dict:
        stack = require_stack(self.engine, ctx, params["StackName"])
        with self.engine.connect() as conn:
            rows = conn.execute(select(stack_events).where(stack_events.c.stack_id == stack.stack_id)
                                .order_by(stack_events.c.seq.desc())).all()
        items, token = page(rows, params.get("NextToken"), EVENTS_PAGE)
        return {"StackEvents": [{
            "StackId": row.stack_id, "EventId": row.event_id, "StackName": row.stack_name,
            "LogicalResourceId": row.logical_id, "PhysicalResourceId": row.physical_id, "ResourceType": row.type,
            "Timestamp": row.timestamp, "ResourceStatus": row.status, "ResourceStatusReason": row.reason,
            "ResourceProperties": row.properties, "ClientRequestToken": row.client_request_token,
        } for row in items], "NextToken": token}

    def _resources(self, stack: Row) -> list[Row]:
        with self.engine.connect() as conn:
            return conn.execute(select(stack_resources).where(stack_resources.c.stack_id == stack.stack_id)
                                .order_by(stack_resources.c.logical_id)).all()

    def DescribeStackResources(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("StackName"):
            stack = require_stack(self.engine, ctx, params["StackName"])
        elif params.get("PhysicalResourceId"):
            stack = self._stack_holding(ctx, params["PhysicalResourceId"])
        else:
            raise invalid("Either StackName or PhysicalResourceId must be specified.")
        rows = [row for row in self._resources(stack)
                if row.logical_id == params.get("LogicalResourceId", row.logical_id)
                and row.physical_id == params.get("PhysicalResourceId", row.physical_id)]
        return {"StackResources": [_resource_view(row, stack) for row in rows]}

    def _stack_holding(self, ctx: RequestContext, physical_id: str) -> Row:
        with self.engine.connect() as conn:
            stack_id = conn.execute(select(stack_resources.c.stack_id).join(
                stacks, stacks.c.stack_id == stack_resources.c.stack_id
            ).where(stack_resources.c.physical_id == physical_id, stacks.c.account_id == ctx.account_id,
                    stacks.c.region == ctx.region)).scalar()
        if stack_id is None:
            raise invalid(f"Stack for {physical_id} does not exist")
        return require_stack(self.engine, ctx, stack_id)

    def DescribeStackResource(self, ctx: RequestContext, params: dict) -> dict:
        stack = require_stack(self.engine, ctx, params["StackName"])
        row = next((r for r in self._resources(stack) if r.logical_id == params["LogicalResourceId"]), None)
        if row is None:
            raise invalid(f"Resource {params['LogicalResourceId']} does not exist for stack {stack.name}")
        view = _resource_view(row, stack)
        del view["Timestamp"]
        return {"StackResourceDetail": {
            **view, "LastUpdatedTimestamp": row.timestamp,
            "Metadata": None if row.metadata is None else json.dumps(row.metadata),
        }}

    def ListStackResources(self, ctx: RequestContext, params: dict) -> dict:
        stack = require_stack(self.engine, ctx, params["StackName"])
        items, token = page(self._resources(stack), params.get("NextToken"), STACKS_PAGE)
        return {"StackResourceSummaries": [{
            "LogicalResourceId": row.logical_id, "PhysicalResourceId": row.physical_id, "ResourceType": row.type,
            "LastUpdatedTimestamp": row.timestamp, "ResourceStatus": row.status,
            "ResourceStatusReason": row.status_reason, "DriftInformation": _RESOURCE_NOT_CHECKED,
        } for row in items], "NextToken": token}

    def GetTemplate(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("ChangeSetName"):
            body = find_change_set(self.engine, ctx, params["ChangeSetName"], params.get("StackName")).template_body
        else:
            body = require_stack(self.engine, ctx, params.get("StackName") or "").template_body
        return {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}

    async def ValidateTemplate(self, ctx: RequestContext, params: dict) -> dict:
        template = await parse_off_loop(await self.source.text(ctx, params), self.attributes)
        capabilities, reason = template.capabilities()
        return {
            "Parameters": [{"ParameterKey": p.name, "DefaultValue": p.default, "NoEcho": p.no_echo,
                            "Description": p.description} for p in template.parameters.values()],
            "Description": template.description, "Capabilities": capabilities, "CapabilitiesReason": reason,
            "DeclaredTransforms": [],
        }

    async def GetTemplateSummary(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("StackName"):
            body = require_stack(self.engine, ctx, params["StackName"]).template_body
        else:
            body = await self.source.text(ctx, params)
        template = await parse_off_loop(body, self.attributes)
        capabilities, reason = template.capabilities()
        by_type: dict[str, list[str]] = {}
        for resource in template.resources.values():
            by_type.setdefault(resource.type, []).append(resource.logical_id)
        return {
            "Parameters": [{
                "ParameterKey": p.name, "DefaultValue": p.default, "ParameterType": p.type, "NoEcho": p.no_echo,
                "Description": p.description,
                "ParameterConstraints": {"AllowedValues": list(p.allowed_values)} if p.allowed_values else {},
            } for p in template.parameters.values()],
            "Description": template.description, "Capabilities": capabilities, "CapabilitiesReason": reason,
            "ResourceTypes": list(by_type), "Version": VERSION,
            "Metadata": None if template.metadata is None else json.dumps(template.metadata),
            "DeclaredTransforms": [],
            "ResourceIdentifierSummaries": [{
                "ResourceType": kind, "LogicalResourceIds": logical_ids,
                "ResourceIdentifiers": [self.types[kind].name_property] if self.types[kind].name_property else [],
            } for kind, logical_ids in by_type.items()],
        }

    def ListExports(self, ctx: RequestContext, params: dict) -> dict:
        items, token = page(self.exports.listed(ctx.account_id, ctx.region), params.get("NextToken"), STACKS_PAGE)
        return {"Exports": items, "NextToken": token}
