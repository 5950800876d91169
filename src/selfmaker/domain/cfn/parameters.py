"""Template parameters: their declarations, and the values a stack operation gives them.

Values are kept as the text the caller sent (what DescribeStacks echoes); ``ref_value`` turns one into
what ``Ref`` yields: a string, or a list of strings for the list types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.java_regex import JavaRegexError, compile_java, full_match
from selfmaker.patterns import Budget, PatternBudgetError

_PLAIN = {"String", "Number", "List<Number>", "CommaDelimitedList", "AWS::SSM::Parameter::Name"}
# AWS-specific types: values are checked by AWS against the account's EC2/Route 53 resources; here they
# are plain text, as the brief for this server's scope allows.
_AWS_SPECIFIC = {
    "AWS::EC2::AvailabilityZone::Name", "AWS::EC2::Image::Id", "AWS::EC2::Instance::Id",
    "AWS::EC2::KeyPair::KeyName", "AWS::EC2::SecurityGroup::GroupName", "AWS::EC2::SecurityGroup::Id",
    "AWS::EC2::Subnet::Id", "AWS::EC2::Volume::Id", "AWS::EC2::VPC::Id", "AWS::Route53::HostedZone::Id",
}
_LIST_OF_AWS = {f"List<{name}>" for name in _AWS_SPECIFIC}
_PROPERTIES = {
    "Type", "Default", "AllowedValues", "AllowedPattern", "MinLength", "MaxLength", "MinValue", "MaxValue",
    "Description", "ConstraintDescription", "NoEcho",
}
_NAME = re.compile(r"[A-Za-z0-9]+")
NO_ECHO_MASK = "****"


def text(value) -> str:
    """A template scalar as CloudFormation reads it: every scalar is text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str | None
    allowed_values: tuple[str, ...] | None
    allowed_pattern: str | None
    min_length: int | None
    max_length: int | None
    min_value: float | None
    max_value: float | None
    description: str | None
    constraint_description: str | None
    no_echo: bool

    @property
    def is_list(self) -> bool:
        return self.type.startswith("List<") or self.type == "CommaDelimitedList"

    def ref_value(self, raw: str) -> str | list[str]:
        return raw.split(",") if self.is_list else raw

    def check(self, raw: str, budget: Budget | None = None) -> None:
        """Raise ValueError with AWS's message when ``raw`` breaks a constraint; ``budget``: the time its
        AllowedPattern may take to check (shared with the other parameters of one request)."""
        items = raw.split(",") if self.is_list else [raw]
        for item in items:
            self._check_one(item, budget)

    def _check_one(self, value: str, budget: Budget | None) -> None:
        numeric = self.type in ("Number", "List<Number>")
        if numeric and _number(value) is None:
            self._fail(f"Parameter '{self.name}' must be a number.")
        if self.allowed_values is not None and value not in self.allowed_values:
            self._fail(f"Parameter '{self.name}' must be one of AllowedValues")
        if self.allowed_pattern is not None and not self._matches_pattern(value, budget):
            self._fail(f"Parameter '{self.name}' must match pattern {self.allowed_pattern}")
        if self.min_length is not None and len(value) < self.min_length:
            self._fail(f"Parameter '{self.name}' must contain at least {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            self._fail(f"Parameter '{self.name}' must contain at most {self.max_length} characters")
        if numeric:
            number = _number(value)
            if self.min_value is not None and number < self.min_value:
                self._fail(f"Parameter '{self.name}' must be a number not less than {_shown(self.min_value)}")
            if self.max_value is not None and number > self.max_value:
                self._fail(f"Parameter '{self.name}' must be a number not greater than {_shown(self.max_value)}")

    def _matches_pattern(self, value: str, budget: Budget | None) -> bool:
        try:
            return full_match(self.allowed_pattern or "", value, budget)
        except PatternBudgetError as err:
            # Not the value's fault, so not the ConstraintDescription's words: say what happened.
            raise ValueError(f"Parameter '{self.name}' could not be checked against pattern {self.allowed_pattern}: "
                             f"{err}") from None

    def _fail(self, message: str) -> None:
        # The template author's ConstraintDescription, when given, replaces the generic wording.
        if self.constraint_description:
            message = f"Parameter '{self.name}' failed to satisfy constraint: {self.constraint_description}"
        raise ValueError(message)


def _shown(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def declare(section) -> dict[str, Parameter]:
    """Read the Parameters section, refusing malformed declarations."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise TemplateError("Parameters must be a mapping of parameter names to declarations", ("Parameters",))
    return {name: _declare_one(name, body) for name, body in section.items()}


def _declare_one(name: str, body) -> Parameter:
    path = ("Parameters", name)
    if not _NAME.fullmatch(name):
        raise TemplateError(f"Parameter name {name} is non alphanumeric.", path)
    if not isinstance(body, dict):
        raise TemplateError(f"Parameter {name} must be a mapping", path)
    unknown = sorted(set(body) - _PROPERTIES)
    if unknown:
        raise TemplateError(f"Invalid template parameter property '{unknown[0]}'", (*path, unknown[0]))
    if "Type" not in body:
        raise TemplateError("Every Parameters object must contain a Type member.", path)
    kind = text(body["Type"])
    if kind.startswith("AWS::SSM::Parameter::Value<"):
        raise TemplateError(
            f"Parameter type {kind} reads from SSM Parameter Store, which Selfmaker does not offer", (*path, "Type")
        )
    if kind not in _PLAIN | _AWS_SPECIFIC | _LIST_OF_AWS:
        raise TemplateError(f"Unrecognized parameter type: {kind}", (*path, "Type"))
    allowed = body.get("AllowedValues")
    if allowed is not None and not isinstance(allowed, list):
        raise TemplateError(f"AllowedValues of parameter {name} must be a list", (*path, "AllowedValues"))
    pattern = body.get("AllowedPattern")
    if pattern is not None:
        try:
            compile_java(text(pattern))
        except JavaRegexError as err:
            raise TemplateError(
                f"AllowedPattern of parameter {name} is not a valid pattern: {err}", (*path, "AllowedPattern")
            ) from None
        except PatternBudgetError as err:
            raise TemplateError(
                f"AllowedPattern of parameter {name} is too complex to evaluate: {err}", (*path, "AllowedPattern")
            ) from None
    default = body.get("Default")
    if isinstance(default, list):  # a list default is the comma-joined text
        default = ",".join(text(item) for item in default)
    return Parameter(
        name=name,
        type=kind,
        default=None if default is None else text(default),
        allowed_values=None if allowed is None else tuple(text(v) for v in allowed),
        allowed_pattern=None if pattern is None else text(pattern),
        min_length=_int_property(body, "MinLength", path),
        max_length=_int_property(body, "MaxLength", path),
        min_value=_float_property(body, "MinValue", path),
        max_value=_float_property(body, "MaxValue", path),
        description=None if body.get("Description") is None else text(body["Description"]),
        constraint_description=(
            None if body.get("ConstraintDescription") is None else text(body["ConstraintDescription"])
        ),
        no_echo=text(body.get("NoEcho", False)).lower() == "true",
    )


def _int_property(body: dict, key: str, path) -> int | None:
    if key not in body:
        return None
    try:
        return int(text(body[key]))
    except ValueError:
        raise TemplateError(f"{key} of parameter {path[-1]} must be an integer", (*path, key)) from None


def _float_property(body: dict, key: str, path) -> float | None:
    if key not in body:
        return None
    number = _number(text(body[key]))
    if number is None:
        raise TemplateError(f"{key} of parameter {path[-1]} must be a number", (*path, key))
    return number


def resolve(
    declared: dict[str, Parameter],
    given: list[dict],
    previous: dict[str, str] | None = None,
) -> dict[str, str]:
    """The value of every declared parameter, from ``given`` ([{ParameterKey, ParameterValue,
    UsePreviousValue}]), the previous values (on update) and the defaults. Raises ValueError with
    AWS's message for the first problem."""
    values: dict[str, str] = {}
    if any(not p.get("ParameterKey") for p in given):  # the API model leaves it optional; CloudFormation does not
        raise ValueError("Every member of Parameters needs a ParameterKey.")
    unknown = [p["ParameterKey"] for p in given if p["ParameterKey"] not in declared]
    if unknown:
        raise ValueError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    for item in given:
        key = item["ParameterKey"]
        if item.get("UsePreviousValue"):
            if previous is None or key not in previous:
                raise ValueError(f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as "
                                 "true for a parameter key not in the previous template")
            values[key] = previous[key]
        elif "ParameterValue" in item:
            values[key] = text(item["ParameterValue"])
    missing = []
    for name, parameter in declared.items():
        if name not in values:
            if parameter.default is None:
                missing.append(name)
            else:
                values[name] = parameter.default
    if missing:
        raise ValueError(f"Parameters: [{', '.join(missing)}] must have values")
    budget = Budget()  # all the patterns of one request together
    for name, parameter in declared.items():
        parameter.check(values[name], budget)
    return values
