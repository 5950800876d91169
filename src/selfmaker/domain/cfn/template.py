"""A parsed template: its sections, checked for what can be checked without parameter values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from selfmaker.domain.cfn import graph, intrinsics, loader
from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.parameters import Parameter, declare, text

VERSION = "2010-09-09"
_SECTIONS = {
    "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions",
    "Transform", "Resources", "Outputs",
}
_RESOURCE_ATTRIBUTES = {
    "Type", "Properties", "DependsOn", "Condition", "DeletionPolicy", "UpdateReplacePolicy", "Metadata",
    "CreationPolicy", "UpdatePolicy",
}
_POLICIES = {"Delete", "Retain", "Snapshot", "RetainExceptOnCreate"}
_OUTPUT_ATTRIBUTES = {"Value", "Description", "Export", "Condition"}
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")
# CloudFormation's quota on resource and output names; the store's columns are sized to it (PostgreSQL
# enforces their lengths).
MAX_NAME = 255
MAX_DESCRIPTION = 1024

# Resource types that make a template need CAPABILITY_IAM, and the property that names each one
# (a name needs CAPABILITY_NAMED_IAM: it could overwrite a role or user of the same name).
IAM_TYPES = {
    "AWS::IAM::AccessKey": None, "AWS::IAM::Group": "GroupName", "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::Policy": None, "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName", "AWS::IAM::UserToGroupAddition": None,
}


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict
    depends_on: tuple[str, ...]
    condition: str | None
    deletion_policy: str
    metadata: dict | None


@dataclass(frozen=True)
class Output:
    name: str
    value: object
    description: object
    export_name: object  # None when not exported
    condition: str | None


class Template:
    def __init__(self, body: str):
        self.body = body
        self.document = loader.load(body)
        try:
            self._read_sections()
        except TemplateError as err:
            raise self.locate(err) from None

    def locate(self, err: TemplateError) -> TemplateError:
        """The error, with the YAML line of its place when the template is YAML."""
        if err.line is None and err.path:
            err.line = loader.line_at(self.document, err.path)
        return err

    # --- sections -----------------------------------------------------------------------------------

    def _read_sections(self) -> None:
        doc = self.document
        unknown = [key for key in doc if key not in _SECTIONS]
        if unknown:
            raise TemplateError(f"Invalid template property or properties [{', '.join(unknown)}]", (unknown[0],))
        version = doc.get("AWSTemplateFormatVersion")
        if version is not None and text(version) != VERSION:
            raise TemplateError(f"'{text(version)}' is not a valid template version; use {VERSION}",
                                ("AWSTemplateFormatVersion",))
        if "Transform" in doc:
            raise TemplateError("Transforms (macros such as AWS::Serverless-2016-10-31) are not supported by "
                                "Selfmaker", ("Transform",))
        description = doc.get("Description")
        if description is not None and not isinstance(description, str):
            raise TemplateError("Every Description member must be a string", ("Description",))
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise TemplateError(f"Template description must be at most {MAX_DESCRIPTION} characters",
                                ("Description",))
        self.description: str | None = description
        self.metadata = doc.get("Metadata")
        self.parameters: dict[str, Parameter] = declare(doc.get("Parameters"))
        self.mappings: dict = self._mappings(doc.get("Mappings"))
        self.conditions: dict = self._mapping_section("Conditions")
        self.resources: dict[str, Resource] = self._resources(doc.get("Resources"))
        self.outputs: dict[str, Output] = self._outputs(doc.get("Outputs"))

    def _mapping_section(self, name: str) -> dict:
        section = self.document.get(name) or {}
        if not isinstance(section, dict):
            raise TemplateError(f"{name} must be a mapping", (name,))
        return section

    def _mappings(self, section) -> dict:
        section = section or {}
        if not isinstance(section, dict):
            raise TemplateError("Mappings must be a mapping", ("Mappings",))
        for name, top in section.items():
            if not isinstance(top, dict) or not all(isinstance(second, dict) for second in top.values()):
                raise TemplateError(f"Every Mappings member {name} must be a map of maps", ("Mappings", name))
        return section

    def _resources(self, section) -> dict[str, Resource]:
        if not section or not isinstance(section, dict):
            raise TemplateError("At least one Resources member must be defined.", ("Resources",))
        resources = {}
        for logical_id, body in section.items():
            path = ("Resources", logical_id)
            if not _LOGICAL_ID.fullmatch(logical_id):
                raise TemplateError(f"Resource name {logical_id} is non alphanumeric.", path)
            if len(logical_id) > MAX_NAME:
                raise TemplateError(f"Resource name {logical_id} exceeds the maximum length of {MAX_NAME}.", path)
            if not isinstance(body, dict):
                raise TemplateError(f"Resource {logical_id} must be a mapping", path)
            unknown = [key for key in body if key not in _RESOURCE_ATTRIBUTES]
            if unknown:
                raise TemplateError(f"Invalid template resource property '{unknown[0]}'", (*path, unknown[0]))
            if not isinstance(body.get("Type"), str):
                raise TemplateError("Every Resources object must contain a Type member.", path)
            properties = body.get("Properties", {})
            if properties is None:
                properties = {}
            if not isinstance(properties, dict):
                raise TemplateError("Properties must be a mapping", (*path, "Properties"))
            depends_on = body.get("DependsOn", [])
            if isinstance(depends_on, str):
                depends_on = [depends_on]
            if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
                raise TemplateError("DependsOn must be a resource name or a list of them", (*path, "DependsOn"))
            policy = body.get("DeletionPolicy", "Delete")
            if not isinstance(policy, str):  # a mapping (an intrinsic) is not hashable, nor allowed here
                raise TemplateError("Every DeletionPolicy member must be a string", (*path, "DeletionPolicy"))
            if policy not in _POLICIES:
                raise TemplateError(f"Unrecognized DeletionPolicy {policy} for resource {logical_id}",
                                    (*path, "DeletionPolicy"))
            condition = body.get("Condition")
            if condition is not None and not isinstance(condition, str):
                raise TemplateError("Every Condition member must be a string", (*path, "Condition"))
            resources[logical_id] = Resource(
                logical_id, body["Type"], properties, tuple(depends_on), condition, policy, body.get("Metadata")
            )
        return resources

    def _outputs(self, section) -> dict[str, Output]:
        section = section or {}
        if not isinstance(section, dict):
            raise TemplateError("Outputs must be a mapping", ("Outputs",))
        outputs = {}
        for name, body in section.items():
            path = ("Outputs", name)
            if not _LOGICAL_ID.fullmatch(name):
                raise TemplateError(f"Output name {name} is non alphanumeric.", path)
            if len(name) > MAX_NAME:
                raise TemplateError(f"Output name {name} exceeds the maximum length of {MAX_NAME}.", path)
            if not isinstance(body, dict) or "Value" not in body:
                raise TemplateError("Every Outputs member must contain a Value object", path)
            unknown = [key for key in body if key not in _OUTPUT_ATTRIBUTES]
            if unknown:
                raise TemplateError(f"Invalid outputs property : [{', '.join(unknown)}]", (*path, unknown[0]))
            export = body.get("Export")
            if export is not None and (not isinstance(export, dict) or "Name" not in export):
                raise TemplateError(f"Output {name} is malformed. The Export property must contain a Name",
                                    (*path, "Export"))
            outputs[name] = Output(name, body["Value"], body.get("Description"),
                                   export["Name"] if export else None, body.get("Condition"))
        return outputs

    # --- checks -------------------------------------------------------------------------------------

    def check(self, attributes: Mapping[str, frozenset[str]]) -> None:
        """Everything that holds whatever the parameters: known types, references, conditions, no cycle.
        ``attributes`` maps each supported resource type to its Fn::GetAtt attribute names."""
        try:
            self._check(attributes)
        except TemplateError as err:
            raise self.locate(err) from None

    def _check(self, attributes: Mapping[str, frozenset[str]]) -> None:
        unknown_types = list(dict.fromkeys(r.type for r in self.resources.values() if r.type not in attributes))
        if unknown_types:
            raise TemplateError(f"Unrecognized resource types: [{', '.join(unknown_types)}]")
        self._check_conditions()
        names = set(self.parameters) | intrinsics.PSEUDO_PARAMETERS | set(self.resources)
        for resource in self.resources.values():
            path = ("Resources", resource.logical_id)
            self._check_references(resource.properties, (*path, "Properties"), names, attributes, "Resources")
            for index, needed in enumerate(resource.depends_on):
                if needed not in self.resources:
                    raise TemplateError(
                        f"Unresolved resource dependencies [{needed}] in the Resources block of the template",
                        (*path, "DependsOn", index) if len(resource.depends_on) > 1 else (*path, "DependsOn"),
                    )
            self._check_condition_name(resource.condition, (*path, "Condition"), "Resources")
        for output in self.outputs.values():
            path = ("Outputs", output.name)
            for part, value in (("Value", output.value), ("Export", output.export_name)):
                self._check_references(value, (*path, part), names, attributes, "Outputs")
            self._check_condition_name(output.condition, (*path, "Condition"), "Outputs")
        found = graph.cycles(self.dependencies())
        if found:
            raise TemplateError(f"Circular dependency between resources: [{', '.join(found[0])}]")

    def _check_condition_name(self, name: str | None, path, block: str) -> None:
        if name is not None and name not in self.conditions:
            raise TemplateError(f"Unresolved condition dependencies [{name}] in the {block} block of the template",
                                path)

    def _check_conditions(self) -> None:
        allowed = set(self.parameters) | intrinsics.PSEUDO_PARAMETERS
        for name, body in self.conditions.items():
            path = ("Conditions", name)
            for reference in intrinsics.references(body, path):
                if reference.name not in allowed:
                    raise TemplateError(f"Unresolved dependencies [{reference.name}]. Cannot reference resources "
                                        "in the Conditions block of the template", reference.path)
            for condition, where in intrinsics.condition_names(body, path, in_condition=True):
                if condition not in self.conditions:
                    raise TemplateError(f"Unresolved condition dependencies [{condition}] in the Conditions block "
                                        "of the template", where)

    def _check_references(self, value, path, names: set[str], attributes, block: str) -> None:
        for reference in intrinsics.references(value, path):
            if reference.attribute is None and reference.name not in names:
                raise TemplateError(
                    f"Unresolved resource dependencies [{reference.name}] in the {block} block of the template",
                    reference.path,
                )
            if reference.attribute is not None:
                resource = self.resources.get(reference.name)
                if resource is None:
                    raise TemplateError(f"instance of Fn::GetAtt references undefined resource {reference.name}",
                                        reference.path, "Template error")
                if reference.attribute not in attributes.get(resource.type, frozenset()):
                    raise TemplateError(f"resource {reference.name} does not support attribute type "
                                        f"{reference.attribute} in Fn::GetAtt", reference.path, "Template error")
        for condition, where in intrinsics.condition_names(value, path):
            self._check_condition_name(condition, where, block)

    # --- derived facts ------------------------------------------------------------------------------

    def dependencies(self, conditions: dict[str, bool] | None = None, only: set[str] | None = None
                     ) -> dict[str, set[str]]:
        """For each resource (of ``only`` when given), the resources it needs first: DependsOn, Ref,
        GetAtt and Sub; with ``conditions``, only through the branches Fn::If takes."""
        out: dict[str, set[str]] = {}
        for logical_id, resource in self.resources.items():
            if only is not None and logical_id not in only:
                continue
            needs = set(resource.depends_on)
            for reference in intrinsics.references(resource.properties, (), conditions):
                if reference.name in self.resources:
                    needs.add(reference.name)
            out[logical_id] = needs
        return out

    def capabilities(self) -> tuple[list[str], str | None]:
        """The capabilities this template needs, and AWS's CapabilitiesReason."""
        iam = [r for r in self.resources.values() if r.type in IAM_TYPES]
        if not iam:
            return [], None
        named = any(IAM_TYPES[r.type] and IAM_TYPES[r.type] in r.properties for r in iam)
        kinds = list(dict.fromkeys(r.type for r in iam))
        reason = f"The following resource(s) require capabilities: [{', '.join(kinds)}]"
        return (["CAPABILITY_NAMED_IAM"] if named else ["CAPABILITY_IAM"]), reason
