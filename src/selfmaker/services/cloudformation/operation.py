"""One stack operation's view of the stack: its plan, the calls it makes as the principal that started it,
and the Ref and Fn::GetAtt values of the resources as they come to exist."""

from __future__ import annotations

from sqlalchemy.engine import Row

from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.parameters import NO_ECHO_MASK, text
from selfmaker.domain.cfn.plan import Plan
from selfmaker.domain.cfn.template import MAX_NAME
from selfmaker.services.cloudformation.calls import ProviderCalls, ResourceFailure
from selfmaker.services.cloudformation.exports import Exports
from selfmaker.services.cloudformation.resources.base import ResourceRequest


class Run:
    def __init__(self, stack: Row, plan: Plan, calls: ProviderCalls, exports: Exports, live: dict[str, dict]):
        self.stack = stack
        self.plan = plan
        self.calls = calls
        self.exports = exports
        self.live = live  # logical id -> {"Ref": …, attribute: …}
        self.imported: set[str] = set()

    def request(self, logical_id: str, properties: dict, physical_name: str | None) -> ResourceRequest:
        return ResourceRequest(self.stack.name, self.stack.stack_id, logical_id, properties, self.stack.account_id,
                               self.stack.region, physical_name)

    def properties(self, logical_id: str) -> dict:
        """The resource's Properties with every intrinsic evaluated; a fault is the resource's failure."""
        resource = self.plan.resources[logical_id]
        try:
            return self._evaluator().evaluate(resource.properties, ("Resources", logical_id, "Properties"))
        except TemplateError as err:
            raise ResourceFailure(str(self.plan.template.locate(err))) from None

    def shown(self, properties: dict) -> dict:
        """Properties as stack events show them: NoEcho parameter values and passwords masked, so that
        cloudformation:DescribeStackEvents does not hand out what the template hid."""
        hidden = {value for name, value in self.plan.parameters.items()
                  if value and self.plan.template.parameters.get(name) is not None
                  and self.plan.template.parameters[name].no_echo}
        return masked(properties, hidden)

    def outputs(self) -> tuple[list[dict], dict[str, str]]:
        """The stack's Outputs, and the exports among them (name -> value)."""
        evaluator = self._evaluator()
        outputs, exported = [], {}
        try:
            for name, output in self.plan.outputs.items():
                path = ("Outputs", name)
                value = _output_text(evaluator.evaluate(output.value, (*path, "Value")), name)
                item = {"OutputKey": name, "OutputValue": value}
                if output.description is not None:
                    item["Description"] = text(evaluator.evaluate(output.description, (*path, "Description")))
                if output.export_name is not None:
                    export = _output_text(evaluator.evaluate(output.export_name, (*path, "Export", "Name")), name)
                    if export in exported:
                        raise ResourceFailure(f"Template format error: duplicate Export names {export}")
                    if len(export) > MAX_NAME:  # cfn_exports' key, whose length PostgreSQL enforces
                        raise ResourceFailure(f"Template format error: Export name {export} exceeds the maximum "
                                              f"length of {MAX_NAME}.")
                    exported[export] = value
                    item["ExportName"] = export
                outputs.append(item)
        except TemplateError as err:
            raise ResourceFailure(str(self.plan.template.locate(err))) from None
        return outputs, exported

    def _evaluator(self):
        return self.plan.evaluator(resource_ref=self._ref, resource_att=self._att, import_value=self._import)

    def _ref(self, name: str):
        if name not in self.plan.resources:
            return None
        if name not in self.live:
            raise ResourceFailure(f"Resource {name} has no value for Ref yet")
        return self.live[name]["Ref"]

    def _att(self, name: str, attribute: str):
        if name not in self.plan.resources:
            return None
        value = self.live.get(name, {}).get(attribute)
        if value is None:
            raise ResourceFailure(f"Resource {name} has no value for attribute {attribute} yet")
        return value

    def _import(self, name: str) -> str:
        value = self.exports.value(self.stack.account_id, self.stack.region, name)
        self.imported.add(name)
        return value


def _output_text(value, name: str) -> str:
    if isinstance(value, list):  # CloudFormation shows a list output as its comma-joined items
        return ",".join(text(item) for item in value)
    if isinstance(value, dict):
        raise ResourceFailure(f"Template format error: Output {name} is malformed. Its value must be a string or a "
                              "list of strings")
    return text(value)


def masked(value, hidden: frozenset[str] | set[str] = frozenset(), key: str = ""):
    if isinstance(value, dict):
        return {k: masked(v, hidden, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item, hidden) for item in value]
    if key == "Password" or (isinstance(value, str) and value in hidden):
        return NO_ECHO_MASK
    return value
