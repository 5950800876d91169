"""Intrinsic functions: evaluating them, and finding what a value refers to.

A value is intrinsic when it is a mapping with exactly one key naming a function (``{"Ref": "X"}``).
Evaluation needs an ``Evaluator`` that knows the stack: parameters, pseudo parameters, conditions,
mappings, and — at run time — the resources' Ref and GetAtt values and the region's exports.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from selfmaker.domain.cfn.errors import EVALUATION, Path, TemplateError
from selfmaker.domain.cfn.parameters import text


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()  # what Ref AWS::NoValue yields: the enclosing property or item is dropped

CONDITION_FUNCTIONS = {"Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"}
FUNCTIONS = {
    "Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Base64", "Fn::If",
    "Fn::FindInMap", "Fn::GetAZs", "Fn::ImportValue", "Fn::Cidr", *CONDITION_FUNCTIONS,
}
# {"Condition": name} is a function only inside a condition: elsewhere (an IAM policy statement) it is data.
_CONDITION_REFERENCE = "Condition"
# Functions of the AWS::LanguageExtensions transform, which Selfmaker does not run.
_TRANSFORM_FUNCTIONS = {"Fn::Transform", "Fn::Length", "Fn::ToJsonString", "Fn::ForEach"}
PSEUDO_PARAMETERS = {
    "AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix",
    "AWS::NotificationARNs", "AWS::NoValue",
}
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_.:]+")


def function_of(value) -> str | None:
    """The function a value calls, if it is an intrinsic."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in FUNCTIONS or key in _TRANSFORM_FUNCTIONS:
            return key
    return None


def _error(message: str, path: Path) -> TemplateError:
    return TemplateError(message, path, EVALUATION)


# --- Fn::Sub ----------------------------------------------------------------------------------------


def sub_parts(template: str, path: Path) -> list[tuple[str, bool]]:
    """Split a Sub string into (text, False) and (variable name, True) parts; ``${!x}`` is literal."""
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _SUB_VARIABLE.finditer(template):
        parts.append((template[position:match.start()], False))
        name = match.group(1)
        if name.startswith("!"):
            parts.append(("${" + name[1:] + "}", False))
        else:
            name = name.strip()
            if not _VARIABLE_NAME.fullmatch(name):
                raise _error(
                    "variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores, "
                    "periods, and colons", path,
                )
            parts.append((name, True))
        position = match.end()
    parts.append((template[position:], False))
    return [part for part in parts if part[0] or part[1]]


def _sub_arguments(argument, path: Path) -> tuple[str, dict]:
    if isinstance(argument, str):
        return argument, {}
    if (
        isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    ):
        return argument[0], argument[1]
    raise _error("One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string "
                 "as first argument, and an optional second argument to specify a mapping of values to "
                 "replace in the string", path)


# --- references -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    name: str  # a parameter, pseudo parameter or resource
    attribute: str | None  # set for Fn::GetAtt (and ${X.Attr} in Fn::Sub)
    path: Path


def references(value, path: Path = (), conditions: dict[str, bool] | None = None) -> Iterator[Reference]:
    """Every Ref, GetAtt and Sub variable in ``value``. With ``conditions``, only Fn::If's chosen branches."""
    function = function_of(value)
    if function is None:
        if isinstance(value, dict):
            for key, item in value.items():
                yield from references(item, (*path, key), conditions)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from references(item, (*path, index), conditions)
        return
    argument = value[function]
    here = (*path, function)
    if function == "Ref" and isinstance(argument, str):
        yield Reference(argument, None, here)
    elif function == "Fn::GetAtt":
        if isinstance(argument, str) and "." in argument:
            resource, _, attribute = argument.partition(".")
            yield Reference(resource, attribute, here)
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            attribute = argument[1] if isinstance(argument[1], str) else None
            yield Reference(argument[0], attribute, here)
            yield from references(argument[1], (*here, 1), conditions)
        else:
            raise _error("Fn::GetAtt requires a list of two elements: a resource and an attribute", here)
    elif function == "Fn::Sub":
        template, variables = _sub_arguments(argument, here)
        for name, is_variable in sub_parts(template, here):
            if is_variable and name not in variables:
                resource, dot, attribute = name.partition(".")
                yield Reference(resource, attribute if dot else None, here)
        for key, item in variables.items():
            yield from references(item, (*here, 1, key), conditions)
    elif function == "Fn::If" and conditions is not None and _is_if(argument) and argument[0] in conditions:
        branch = 1 if conditions[argument[0]] else 2
        yield from references(argument[branch], (*here, branch), conditions)
    else:
        yield from references(argument, here, conditions)


def _is_if(argument) -> bool:
    return isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)


def condition_names(value, path: Path = (), in_condition: bool = False) -> Iterator[tuple[str, Path]]:
    """The conditions named by Fn::If (and, when ``in_condition``, by {Condition: …}) inside ``value``."""
    if isinstance(value, dict):
        function = function_of(value)
        if function == "Fn::If" and _is_if(value[function]):
            yield value[function][0], (*path, "Fn::If")
        elif in_condition and list(value) == [_CONDITION_REFERENCE] and isinstance(value[_CONDITION_REFERENCE], str):
            yield value[_CONDITION_REFERENCE], (*path, _CONDITION_REFERENCE)
        for key, item in value.items():
            yield from condition_names(item, (*path, key), in_condition)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from condition_names(item, (*path, index), in_condition)


# --- evaluation -------------------------------------------------------------------------------------


def unavailable(*_args) -> None:
    return None


@dataclass
class Evaluator:
    """Evaluates intrinsics against one stack. ``resource_ref``/``resource_att`` return None when the
    resource is not known (which is an error), and raise when it is known but has no such value yet."""

    parameters: dict[str, str | list[str]]
    pseudo: dict[str, object]
    mappings: dict = field(default_factory=dict)
    conditions: Mapping[str, bool] = field(default_factory=dict)
    resource_ref: Callable[[str], object | None] = unavailable
    resource_att: Callable[[str, str], object | None] = unavailable
    import_value: Callable[[str], str] | None = None

    def evaluate(self, value, path: Path = ()):
        """The value with every intrinsic replaced by its result and AWS::NoValue dropped."""
        function = function_of(value)
        if function is not None:
            return self._call(function, value[function], (*path, function))
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                result = self.evaluate(item, (*path, key))
                if result is not NO_VALUE:
                    out[key] = result
            return out
        if isinstance(value, list):
            items = (self.evaluate(item, (*path, index)) for index, item in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        return value

    def _string(self, value, path: Path, function: str) -> str:
        result = self.evaluate(value, path)
        if isinstance(result, dict | list) or result is NO_VALUE:
            raise _error(f"{function} needs a string here, but got {_describe(result)}", path)
        return text(result)

    def _list(self, value, path: Path, function: str) -> list:
        result = self.evaluate(value, path)
        if not isinstance(result, list):
            raise _error(f"{function} needs a list here, but got {_describe(result)}", path)
        return result

    def _call(self, function: str, argument, path: Path):
        if function in _TRANSFORM_FUNCTIONS:
            raise _error(f"{function} needs the AWS::LanguageExtensions transform, which Selfmaker does not run",
                         path)
        if function in CONDITION_FUNCTIONS:
            return self.condition(argument, function, path)
        return getattr(self, "_" + function.removeprefix("Fn::").lower())(argument, path)

    def _ref(self, name, path: Path):
        if not isinstance(name, str):
            raise _error("Ref requires a string: the name of a parameter, pseudo parameter or resource", path)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        value = self.resource_ref(name)
        if value is None:
            raise TemplateError(f"Unresolved resource dependencies [{name}] in the Resources block of the template",
                                path)
        return value

    def _getatt(self, argument, path: Path):
        if isinstance(argument, str) and "." in argument:
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
            raise _error("Fn::GetAtt requires a list of two elements: a resource and an attribute", path)
        attribute = self._string(argument[1], (*path, 1), "Fn::GetAtt")
        value = self.resource_att(argument[0], attribute)
        if value is None:
            raise _error(f"instance of Fn::GetAtt references undefined resource {argument[0]}", path)
        return value

    def _sub(self, argument, path: Path) -> str:
        template, variables = _sub_arguments(argument, path)
        values = {key: self.evaluate(item, (*path, 1, key)) for key, item in variables.items()}
        out = []
        for name, is_variable in sub_parts(template, path):
            if not is_variable:
                out.append(name)
                continue
            if name in values:
                value = values[name]
            elif "." in name and name.split(".", 1)[0] not in self.pseudo:
                value = self._getatt(name.split(".", 1), path)
            else:
                value = self._ref(name, path)
            if isinstance(value, dict | list) or value is NO_VALUE:
                raise _error(f"variable {name} in Fn::Sub expression does not resolve to a string", path)
            out.append(text(value))
        return "".join(out)

    def _join(self, argument, path: Path) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise _error(_JOIN_USAGE, path)
        delimiter = self._string(argument[0], (*path, 0), "Fn::Join")
        items = self.evaluate(argument[1], (*path, 1))
        if not isinstance(items, list) or any(isinstance(item, dict | list) for item in items):
            raise _error(_JOIN_USAGE, path)
        return delimiter.join(text(item) for item in items)

    def _select(self, argument, path: Path):
        if not (isinstance(argument, list) and len(argument) == 2):
            raise _error("Fn::Select requires a list of two elements: an index and a list", path)
        index_text = self._string(argument[0], (*path, 0), "Fn::Select")
        items = self._list(argument[1], (*path, 1), "Fn::Select")
        try:
            index = int(index_text)
        except ValueError:
            raise _error(f"Fn::Select requires an integer index, not '{index_text}'", path) from None
        if not 0 <= index < len(items):
            raise _error(f"Fn::Select cannot select nonexistent value at index {index}", path)
        return items[index]

    def _split(self, argument, path: Path) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise _error("Fn::Split requires a list of two elements: a delimiter and a string", path)
        delimiter = self._string(argument[0], (*path, 0), "Fn::Split")
        source = self._string(argument[1], (*path, 1), "Fn::Split")
        if not delimiter:
            raise _error("Fn::Split requires a non-empty delimiter", path)
        return source.split(delimiter)

    def _base64(self, argument, path: Path) -> str:
        return base64.b64encode(self._string(argument, path, "Fn::Base64").encode()).decode()

    def _if(self, argument, path: Path):
        if not _is_if(argument):
            raise _error("Fn::If requires a list of three elements: a condition name and two values", path)
        name = argument[0]
        if name not in self.conditions:
            raise TemplateError(f"Unresolved condition dependency {name} in Fn::If", path)
        branch = 1 if self.conditions[name] else 2
        return self.evaluate(argument[branch], (*path, branch))

    def _findinmap(self, argument, path: Path):
        if not (isinstance(argument, list) and len(argument) == 3):
            raise _error("Fn::FindInMap requires a list of three elements: a map, a top-level key and a "
                         "second-level key", path)
        keys = [self._string(item, (*path, index), "Fn::FindInMap") for index, item in enumerate(argument)]
        try:
            value = self.mappings[keys[0]][keys[1]][keys[2]]
        except (KeyError, TypeError):
            raise _error(f"Unable to get mapping for {'::'.join(keys)}", path) from None
        return value

    def _getazs(self, argument, path: Path) -> list[str]:
        region = self._string(argument, path, "Fn::GetAZs") or text(self.pseudo["AWS::Region"])
        return [f"{region}{zone}" for zone in "abc"]

    def _importvalue(self, argument, path: Path) -> str:
        name = self._string(argument, path, "Fn::ImportValue")
        if self.import_value is None:
            raise _error("Fn::ImportValue can only be used in Resources and Outputs", path)
        return self.import_value(name)

    def _cidr(self, argument, path: Path) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise _error("Fn::Cidr requires a list of three elements: an IP block, a count and CIDR bits", path)
        block, count, bits = (self._string(item, (*path, i), "Fn::Cidr") for i, item in enumerate(argument))
        try:
            network = ipaddress.ip_network(block, strict=False)
            count_number, bits_number = int(count), int(bits)
            prefix = network.max_prefixlen - bits_number
            subnets = network.subnets(new_prefix=prefix)
            result = [str(next(subnets)) for _ in range(count_number)]
        except (ValueError, StopIteration):
            raise _error(f"Fn::Cidr cannot make {count} subnets of {bits} bits from {block}", path) from None
        return result

    # --- conditions ---------------------------------------------------------------------------------

    def condition(self, argument, function: str, path: Path) -> bool:
        if function == _CONDITION_REFERENCE:
            if not isinstance(argument, str) or argument not in self.conditions:
                raise TemplateError(f"Unresolved condition dependency {argument}", path)
            return self.conditions[argument]
        if function == "Fn::Equals":
            if not (isinstance(argument, list) and len(argument) == 2):
                raise _error("Fn::Equals requires a list of two values", path)
            left, right = (self.evaluate(item, (*path, index)) for index, item in enumerate(argument))
            return _comparable(left) == _comparable(right)
        if function == "Fn::Not":
            if not (isinstance(argument, list) and len(argument) == 1):
                raise _error("Fn::Not requires a list of one condition", path)
            return not self.condition_value(argument[0], (*path, 0))
        if not (isinstance(argument, list) and 2 <= len(argument) <= 10):
            raise _error(f"{function} requires a list of 2 to 10 conditions", path)
        values = (self.condition_value(item, (*path, index)) for index, item in enumerate(argument))
        return all(values) if function == "Fn::And" else any(values)

    def condition_value(self, value, path: Path) -> bool:
        """A condition: a condition function, or {Condition: name}."""
        function = _CONDITION_REFERENCE if isinstance(value, dict) and list(value) == [_CONDITION_REFERENCE] \
            else function_of(value)
        if function not in CONDITION_FUNCTIONS and function != _CONDITION_REFERENCE:
            raise _error("Conditions can only be made of Fn::Equals, Fn::And, Fn::Or, Fn::Not and Condition",
                         path)
        return self.condition(value[function], function, (*path, function))


def evaluate_conditions(section: dict, evaluator: Evaluator) -> dict[str, bool]:
    """Evaluate the Conditions section (conditions may name each other; a loop is an error)."""
    results: dict[str, bool] = {}
    evaluating: list[str] = []

    class _Lazy(Mapping):
        # Solves a condition when another one first names it.
        def __getitem__(self, name: str) -> bool:
            if name not in section:
                raise KeyError(name)
            return solve(name)

        def __iter__(self):
            return iter(section)

        def __len__(self) -> int:
            return len(section)

    def solve(name: str) -> bool:
        if name in results:
            return results[name]
        if name in evaluating:
            cycle = evaluating[evaluating.index(name):]
            raise TemplateError(f"Circular dependency between conditions: [{', '.join(cycle)}]", ("Conditions",))
        evaluating.append(name)
        results[name] = evaluator.condition_value(section[name], ("Conditions", name))
        evaluating.pop()
        return results[name]

    evaluator.conditions = _Lazy()
    for name in section:
        solve(name)
    evaluator.conditions = results
    return results


def _comparable(value):
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value if isinstance(value, dict) else text(value)


def _describe(value) -> str:
    if value is NO_VALUE:
        return "AWS::NoValue"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"'{value}'"


_JOIN_USAGE = (
    "every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be "
    "joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."
)
