"""Validate parsed input against an operation's input shape, answering as AWS does.

AWS reports every constraint a request breaks in one message:
``2 validation errors detected: Value 'x' at 'notebookInstanceName' failed to satisfy constraint:
Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*; Value null at 'roleArn' failed to …``.
"""

from __future__ import annotations

import re
from functools import cache

from botocore.model import Shape, StructureShape

from selfmaker.services.base import ServiceError


@cache
def model_pattern(pattern: str) -> re.Pattern | None:
    # Model patterns are Java regexes; most are valid Python too, and Java's inline flags are made scoped ones
    # (``python_pattern``). A pattern Python still cannot compile (\p{…} classes) is skipped rather than
    # wrongly rejecting input.
    try:
        return re.compile(python_pattern(pattern), re.DOTALL)
    except re.error:
        return None


# A Java inline flag group, "(?i)" or "(?i-s)": from there to the end of its group. Python accepts one only at
# the very start of a pattern, so it becomes a scoped group, "(?i:…)". Other flags (Java's d, u, U, x) have no
# Python scoped equal: such a pattern is left as it is.
_INLINE_FLAGS = re.compile(r"\(\?(?=[-ims]*[ims]\))([ims]*)(?:-([ims]*))?\)")
_GROUP_OPENER = re.compile(r"\((?:\?(?:[:=!>]|<[=!]|<[A-Za-z][A-Za-z0-9]*>|[a-z]*(?:-[a-z]*)?:))?")


def python_pattern(pattern: str) -> str:
    """``pattern`` with each Java inline flag group turned into Python's scoped flags over what it governs: the
    rest of its alternative and the alternatives after it, up to the end of the group it is in."""
    if _INLINE_FLAGS.search(pattern) is None:
        return pattern
    alternatives, end = _alternatives(pattern, 0)
    return pattern if end != len(pattern) else "|".join(alternatives)


def _alternatives(pattern: str, at: int) -> tuple[list[str], int]:
    """The alternatives of the group whose body starts at ``at``, translated, and where the body ends (at its
    ")", or the pattern's end)."""
    done: list[str] = []
    current: list[str] = []
    while at < len(pattern) and pattern[at] != ")":
        char = pattern[at]
        if char == "\\":
            current.append(pattern[at:at + 2])
            at += 2
        elif char == "[":
            end = _class_end(pattern, at)
            current.append(pattern[at:end])
            at = end
        elif char == "|":
            done.append("".join(current))
            current = []
            at += 1
        elif char == "(" and (flags := _INLINE_FLAGS.match(pattern, at)) is not None:
            scope = f"(?{flags[1]}-{flags[2]}:" if flags[2] else f"(?{flags[1]}:"
            rest, at = _alternatives(pattern, flags.end())
            current.append(f"{scope}{rest[0]})")
            done.append("".join(current))
            return done + [f"{scope}{alternative})" for alternative in rest[1:]], at
        elif char == "(":
            opener = _GROUP_OPENER.match(pattern, at)[0]
            inner, at = _alternatives(pattern, at + len(opener))
            current.append(f"{opener}{'|'.join(inner)})")
            at += 1  # past its ")" (or the end of an unbalanced pattern, which then fails to compile)
        else:
            current.append(char)
            at += 1
    done.append("".join(current))
    return done, at


def _class_end(pattern: str, at: int) -> int:
    """Past the "]" closing the character class opened at ``at`` (a "]" first in it is one of its characters)."""
    at += 1
    if pattern.startswith("^", at):
        at += 1
    if pattern.startswith("]", at):
        at += 1
    while at < len(pattern) and pattern[at] != "]":
        at += 2 if pattern[at] == "\\" else 1
    return at + 1


def _member_path(prefix: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{prefix}.{name}" if prefix else name


# Services whose messages show a pattern anchored with ^ even where the model's has none (SageMaker's do:
# "pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"); the others (IAM, Logs, CloudFormation …) show it as it is.
_ANCHORED_PATTERNS = frozenset({"sagemaker"})


class _Problems(list):
    """The broken constraints found so far, and how this service words a pattern."""

    def __init__(self, anchored: bool):
        super().__init__()
        self.anchored = anchored


def validate(shape: StructureShape | None, params: dict, code: str = "ValidationException",
             service: str = "") -> None:
    """Raise ServiceError(code) naming every broken constraint; ``code`` is the service's word for it."""
    if shape is None:
        return
    problems = _Problems(service in _ANCHORED_PATTERNS)
    _check_structure(shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ServiceError(code, f"{count} validation {noun} detected: " + "; ".join(problems))


_SHOWN = 256  # characters of a value that a message repeats: an oversized one is cut, not echoed whole


def _fail(problems: _Problems, value, path: str, constraint: str) -> None:
    text = str(value)
    shown = "null" if value is None else f"'{text}'" if len(text) <= _SHOWN else f"'{text[:_SHOWN]}…'"
    problems.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")


def _check_structure(shape: StructureShape, value: dict, prefix: str, problems: _Problems) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            _fail(problems, None, _member_path(prefix, name), "Member must not be null")
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            _check(member, value[name], _member_path(prefix, name), problems)


def _check(shape: Shape, value, path: str, problems: _Problems) -> None:
    if value is None:  # a map entry with a key and no value (Query: Attributes.entry.1.key alone)
        _fail(problems, None, path, "Member must not be null")
        return
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        _check_structure(shape, value, path, problems)
        return
    if kind == "list":
        _check_size(meta, len(value), value, path, problems)
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", problems)
        return
    if kind == "map":
        _check_size(meta, len(value), value, path, problems)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems)
            _check(shape.value, item, f"{path}.{key}.value", problems)
        return
    if kind == "string":
        if not _check_size(meta, len(value), value, path, problems):
            return  # the pattern is not run over a value already too long: its time grows with the length
        enum = meta.get("enum")
        if enum and value not in enum:
            _fail(problems, value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = meta.get("pattern")
        if pattern and (compiled := model_pattern(pattern)) is not None and not compiled.fullmatch(value):
            shown = "^" + pattern if problems.anchored and not pattern.startswith("^") else pattern
            _fail(problems, value, path, f"Member must satisfy regular expression pattern: {shown}")
        return
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            _fail(problems, value, path, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            _fail(problems, value, path, f"Member must have value less than or equal to {meta['max']}")


def _check_size(meta: dict, size: int, value, path: str, problems: _Problems) -> bool:
    """Whether ``size`` is within the shape's bounds (a problem is noted for each bound broken)."""
    if "min" in meta and size < meta["min"]:
        _fail(problems, value, path, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        _fail(problems, value, path, f"Member must have length less than or equal to {meta['max']}")
        return False
    return True
