"""Template text → Python data: JSON, or YAML with CloudFormation's short-form tags (``!Ref``, ``!Sub``…).

YAML mappings and sequences come back as ``MarkedDict`` / ``MarkedList``, plain dicts and lists that also
remember the line of each key and item, so that an error found later can name its line.
"""

from __future__ import annotations

import json

import yaml

from selfmaker import bounded_json
from selfmaker.domain.cfn.errors import TemplateError

# Far deeper than any template needs, and shallow enough for everything that walks a template recursively
# (YAML's composer, intrinsic functions) to stay within the interpreter's stack.
MAX_DEPTH = bounded_json.MAX_DEPTH

# Short-form tag → the long form's key.
_TAGS = {
    "Ref": "Ref", "Condition": "Condition",
    **{name: f"Fn::{name}" for name in (
        "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
        "Transform", "If", "Equals", "And", "Or", "Not", "Length", "ToJsonString",
    )},
}


class MarkedDict(dict):
    key_lines: dict  # key -> line


class MarkedList(list):
    item_lines: list  # index -> line


class _Loader(yaml.SafeLoader):
    """SafeLoader, plus line marks and short-form tags; no aliases and no timestamps, as in CloudFormation."""

    depth = 0  # collections open around the node being composed

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _not_well_formed("aliases (*name) are not supported in templates", event.start_mark)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise _not_well_formed(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise _not_well_formed("expected a mapping", node.start_mark)
        self.flatten_mapping(node)
        out = MarkedDict()
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = _text_key(key, key_node)
            if key in out:
                raise _not_well_formed(f"duplicate key '{key}'", key_node.start_mark)
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node, deep=False):
        if not isinstance(node, yaml.SequenceNode):
            raise _not_well_formed("expected a sequence", node.start_mark)
        out = MarkedList(self.construct_object(child, deep=True) for child in node.value)
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


def _text_key(key, node) -> str:
    # YAML reads `2010-09-09:` or `true:` as non-strings; CloudFormation keys are always text.
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return str(key)
    raise _not_well_formed("mapping keys must be strings", node.start_mark)


def _short_form(loader: _Loader, suffix: str, node) -> MarkedDict:
    name = _TAGS.get(suffix)
    if name is None:
        raise _not_well_formed(f"unknown tag !{suffix}", node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            resource, _, attribute = value.partition(".")
            value = MarkedList([resource, attribute])
            value.item_lines = [node.start_mark.line + 1] * 2
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    out = MarkedDict({name: value})
    out.key_lines = {name: node.start_mark.line + 1}
    return out


def _timestamp_as_text(loader: _Loader, node) -> str:
    return loader.construct_scalar(node)


def _bounded_int(loader: _Loader, node) -> int:
    # Python refuses to read an int of more than 4,300 digits (ValueError); refuse long ones first, by line.
    if len(node.value) > bounded_json.MAX_NUMBER_LENGTH:
        raise _not_well_formed(f"a number longer than {bounded_json.MAX_NUMBER_LENGTH} characters", node.start_mark)
    return loader.construct_yaml_int(node)


_Loader.add_multi_constructor("!", _short_form)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)
_Loader.add_constructor("tag:yaml.org,2002:int", _bounded_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def _not_well_formed(what: str, mark) -> TemplateError:
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return TemplateError(f"YAML not well-formed: {what}{where}")


def load(text: str) -> dict:
    """Parse a template body; anything but a mapping at the top is refused as AWS refuses it."""
    if text.lstrip().startswith("{"):
        try:
            data = bounded_json.loads(text, MAX_DEPTH)
        except json.JSONDecodeError as err:
            raise TemplateError(f"JSON not well-formed. (line {err.lineno}, column {err.colno})") from None
        except bounded_json.JSONLimitError as err:
            raise TemplateError(f"JSON not well-formed: {err}") from None
    else:
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 — _Loader is a SafeLoader
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            raise _not_well_formed(err.problem or "invalid YAML", mark) from None
        except yaml.YAMLError as err:
            raise TemplateError(f"YAML not well-formed: {err}") from None
    if not isinstance(data, dict):
        raise TemplateError("unsupported structure.")
    return data


def line_at(document, path) -> int | None:
    """The YAML line of the deepest part of ``path`` that the document marks (None for JSON)."""
    line, node = None, document
    for part in path:
        if isinstance(node, MarkedDict) and part in node:
            line = node.key_lines.get(part, line)
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
        else:
            break
        node = node[part]
    return line
