"""Cost Explorer's Filter expressions and GroupBy definitions, turned into functions of a billed period.

What Selfmaker records of a period answers the dimensions SERVICE, USAGE_TYPE, LINKED_ACCOUNT, REGION,
INSTANCE_TYPE and RESOURCE_ID (the instance's ARN), and its tags. Any other dimension AWS names (AZ,
OPERATION …) has no value here: EQUALS never matches it, ABSENT always does. There are no cost categories.
"""

from __future__ import annotations

from collections.abc import Callable

from selfmaker.services.base import validation_error
from selfmaker.services.metering import DIMENSIONS, Period, tag_key

Predicate = Callable[[Period], bool]
Value = Callable[[Period], str | None]

RECORDED = ("SERVICE", "USAGE_TYPE", "LINKED_ACCOUNT", "REGION", "INSTANCE_TYPE", "RESOURCE_ID")
# What GetCostAndUsage groups by; RESOURCE_ID only GetCostAndUsageWithResources does, as on AWS.
GROUPABLE = RECORDED[:-1]
_ROOTS = ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories", "ProductAttributes")


def dimension(key: str) -> Value:
    value = DIMENSIONS.get(key) if key in RECORDED else None
    return value if value is not None else (lambda period: None)


def _tag(key: str) -> Value:
    return lambda period: period.tags.get(key)


def _matcher(spec: dict, what: str) -> Callable[[str | None], bool]:
    options = set(spec.get("MatchOptions") or ["EQUALS"])
    if "GREATER_THAN_OR_EQUAL" in options:
        raise validation_error(f"MatchOption GREATER_THAN_OR_EQUAL is not supported for {what}.")
    values = spec.get("Values") or []
    if "ABSENT" in options:
        return lambda value: value is None or value == ""
    fold = "CASE_INSENSITIVE" in options
    wanted = [item.lower() for item in values] if fold else list(values)
    if "STARTS_WITH" in options:
        test = str.startswith
    elif "ENDS_WITH" in options:
        test = str.endswith
    elif "CONTAINS" in options:
        test = str.__contains__
    else:
        chosen = set(wanted)
        return lambda value: value is not None and (value.lower() if fold else value) in chosen

    def match(value: str | None) -> bool:
        if value is None:
            return False
        value = value.lower() if fold else value
        return any(test(value, item) for item in wanted)

    return match


def compile_filter(expression: dict | None) -> Predicate | None:
    """A predicate for ``expression`` (None: every period), or ValidationException as AWS words it."""
    if not expression:
        return None
    roots = [name for name in _ROOTS if name in expression]
    if len(roots) != 1:
        raise validation_error("Expression must have exactly one of And, Or, Not, Dimensions, Tags, "
                               "CostCategories or ProductAttributes.")
    (root,) = roots
    body = expression[root]
    if root in ("And", "Or"):
        if len(body) < 2:
            raise validation_error(f"{root} expression must have at least 2 operands")
        parts = [compile_filter(item) or (lambda period: True) for item in body]
        if root == "And":
            return lambda period: all(part(period) for part in parts)
        return lambda period: any(part(period) for part in parts)
    if root == "Not":
        inner = compile_filter(body)
        if inner is None:
            raise validation_error("Not expression must have an operand")
        return lambda period: not inner(period)
    key = body.get("Key")
    if not key:
        raise validation_error(f"{root} expression must have a key")
    valued = bool(body.get("Values")) or "ABSENT" in (body.get("MatchOptions") or [])
    if root == "Tags":
        value = _tag(key)
        if not valued:  # the key alone: tagged with it, whatever the value
            return lambda period: value(period) is not None
    elif not valued:
        raise validation_error(f"{root} expression must have at least one value")
    elif root == "Dimensions":
        value = dimension(key)
    else:
        value = lambda period: None  # noqa: E731 - no cost categories or product attributes here
    match = _matcher(body, root)
    return lambda period: match(value(period))

def group_keys(definitions: list[dict], groupable: tuple[str, ...] = GROUPABLE) -> list[Callable[[Period], str]]:
    """The key functions of GroupBy (at most two), each giving a group's key as Cost Explorer writes it."""
    if len(definitions) > 2:
        raise validation_error("You can group by at most two dimensions, tags or cost categories.")
    keys = []
    for definition in definitions:
        kind, key = definition.get("Type"), definition.get("Key")
        if not kind or not key:
            raise validation_error("Group Definition is invalid. Both type an key need to be set to a "
                                   "non-empty value.")
        if kind == "DIMENSION":
            if key not in groupable:
                raise validation_error(f"Group Definition dimension is invalid. Valid values are "
                                       f"{', '.join(groupable)}.")
            keys.append(DIMENSIONS[key])
        elif kind == "TAG":
            keys.append(tag_key(key))
        else:
            raise validation_error(f"Cost category {key} does not exist.")
    return keys

