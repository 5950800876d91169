"""A template with its parameter values: conditions decided, the resources and outputs that exist,
and the order they depend on each other in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selfmaker.domain.cfn import intrinsics
from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.template import Output, Resource, Template


@dataclass
class Plan:
    template: Template
    parameters: dict[str, str]  # raw values, as DescribeStacks shows them
    pseudo: dict[str, object]
    conditions: dict[str, bool]
    resources: dict[str, Resource]  # those whose Condition holds
    outputs: dict[str, Output]
    dependencies: dict[str, set[str]]  # among ``resources``

    def evaluator(
        self,
        resource_ref: Callable[[str], object | None] = intrinsics.unavailable,
        resource_att: Callable[[str, str], object | None] = intrinsics.unavailable,
        import_value: Callable[[str], str] | None = None,
    ) -> intrinsics.Evaluator:
        return intrinsics.Evaluator(
            parameters={name: p.ref_value(self.parameters[name]) for name, p in self.template.parameters.items()},
            pseudo=self.pseudo,
            mappings=self.template.mappings,
            conditions=self.conditions,
            resource_ref=resource_ref,
            resource_att=resource_att,
            import_value=import_value,
        )


def pseudo_parameters(account_id: str, region: str, stack_id: str, stack_name: str,
                      notification_arns: list[str]) -> dict[str, object]:
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::StackId": stack_id,
        "AWS::StackName": stack_name,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": list(notification_arns),
    }


def make_plan(template: Template, parameters: dict[str, str], pseudo: dict[str, object]) -> Plan:
    """Decide the conditions; refuse a resource that needs one whose condition is false."""
    try:
        return _make_plan(template, parameters, pseudo)
    except TemplateError as err:
        raise template.locate(err) from None


def _make_plan(template: Template, parameters: dict[str, str], pseudo: dict[str, object]) -> Plan:
    plan = Plan(template, parameters, pseudo, {}, {}, {}, {})
    plan.conditions = intrinsics.evaluate_conditions(template.conditions, plan.evaluator())
    plan.resources = {
        name: resource for name, resource in template.resources.items()
        if resource.condition is None or plan.conditions[resource.condition]
    }
    plan.outputs = {
        name: output for name, output in template.outputs.items()
        if output.condition is None or plan.conditions[output.condition]
    }
    plan.dependencies = template.dependencies(plan.conditions, set(plan.resources))
    for name, needs in plan.dependencies.items():
        missing = sorted(need for need in needs if need not in plan.resources)
        if missing:
            raise TemplateError(
                f"Unresolved resource dependencies [{', '.join(missing)}] in the Resources block of the template",
                ("Resources", name),
            )
    for output in plan.outputs.values():
        for part in (output.value, output.export_name):
            for reference in intrinsics.references(part, ("Outputs", output.name), plan.conditions):
                if reference.name in template.resources and reference.name not in plan.resources:
                    raise TemplateError(f"Unresolved resource dependencies [{reference.name}] in the Outputs "
                                        "block of the template", reference.path)
    return plan
