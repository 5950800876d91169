"""What a new template and parameters would change in a stack: the Changes of a change set, and whether
there is anything to do at all ("No updates are to be performed.")."""

from __future__ import annotations

from collections.abc import Mapping

from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.plan import Plan
from selfmaker.domain.cfn.template import Template
from selfmaker.services.cloudformation.calls import ResourceFailure
from selfmaker.services.cloudformation.exports import Exports
from selfmaker.services.cloudformation.records import ResourceState
from selfmaker.services.cloudformation.resources.base import ResourceType

_GONE = ("DELETE_COMPLETE", "DELETE_SKIPPED")


def nothing_to_do(old_body: str, old_parameters: dict, new: Plan) -> bool:
    """Same template (whatever its layout) and same parameter values: CloudFormation has no update."""
    return new.parameters == old_parameters and new.template.document == Template(old_body).document


def resource_changes(plan: Plan, rows: Mapping[str, ResourceState], types: Mapping[str, ResourceType],
                     exports: Exports, account_id: str, region: str) -> list[dict]:
    live = {logical: state for logical, state in rows.items() if state.status not in _GONE}

    def ref(name: str):
        state = live.get(name)
        return None if state is None else state.attributes.get("Ref", state.physical_id or "")

    def att(name: str, attribute: str):
        state = live.get(name)
        return None if state is None else state.attributes.get(attribute, "")

    evaluator = plan.evaluator(resource_ref=ref, resource_att=att,
                               import_value=lambda name: exports.value(account_id, region, name))
    changes = []
    for logical, resource in plan.resources.items():
        state = live.get(logical)
        if state is None:
            changes.append(_change("Add", logical, resource.type, None))
            continue
        try:
            new = evaluator.evaluate(resource.properties, ("Resources", logical, "Properties"))
            dynamic = False
        except (TemplateError, ResourceFailure):
            new, dynamic = None, True  # depends on values known only once other resources change
        if state.type != resource.type:
            changes.append(_change("Modify", logical, resource.type, state.physical_id, "True"))
            continue
        if not dynamic and new == state.properties:
            continue
        handler = types[resource.type]
        if dynamic:
            changes.append(_change("Modify", logical, resource.type, state.physical_id, "Conditional"))
            continue
        names = sorted(key for key in set(new) | set(state.properties) if new.get(key) != state.properties.get(key))
        replace = handler.needs_replacement(state.properties, new)
        details = [{
            "Target": {"Attribute": "Properties", "Name": name,
                       "RequiresRecreation": "Always" if name in handler.replace_on else "Never"},
            "Evaluation": "Static", "ChangeSource": "DirectModification",
        } for name in names]
        changes.append(_change("Modify", logical, resource.type, state.physical_id, "True" if replace else "False",
                               details))
    for logical, state in live.items():
        if logical not in plan.resources:
            changes.append(_change("Remove", logical, state.type, state.physical_id))
    return changes


def _change(action: str, logical: str, kind: str, physical_id: str | None, replacement: str | None = None,
            details: list | None = None) -> dict:
    change: dict = {"Action": action, "LogicalResourceId": logical, "ResourceType": kind}
    if physical_id:
        change["PhysicalResourceId"] = physical_id
    if action == "Modify":
        change.update(Replacement=replacement, Scope=["Properties"], Details=details or [])
    return {"Type": "Resource", "ResourceChange": change}
