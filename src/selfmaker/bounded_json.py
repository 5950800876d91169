"""JSON text from clients, parsed within bounds, so that a hostile document is a client error, never a crash.

Bounds: nesting at most ``MAX_DEPTH`` containers deep, numbers at most ``MAX_NUMBER_LENGTH`` characters (as
Jackson, the reader behind AWS's services, limits them; Python's own int parsing gives up past 4,300 digits
with a ValueError nobody expects), and no ``NaN``/``Infinity``, which are not JSON. Every fault is a
``ValueError``, as json's own are, so callers that already refuse bad JSON go on doing so.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 100
MAX_NUMBER_LENGTH = 1000


class JSONLimitError(ValueError):
    """A document beyond the bounds; ``str()`` says which."""


def loads(text: str | bytes, max_depth: int = MAX_DEPTH, check_depth: bool = True):
    """``json.loads`` within the bounds. ``check_depth=False`` trusts the interpreter's recursion limit alone
    (about 1,000 levels), for callers that only walk the result as deep as a model allows."""
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise JSONLimitError(f"JSON nested deeper than {max_depth} levels") from None
    if check_depth:
        ensure_depth(value, max_depth)
    return value


def ensure_depth(value, max_depth: int = MAX_DEPTH) -> None:
    """Raise JSONLimitError when ``value`` (dicts and lists) nests deeper than ``max_depth``; iterative, so a
    deep value cannot exhaust the stack here."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > max_depth:
            raise JSONLimitError(f"JSON nested deeper than {max_depth} levels")
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _checked_length(text: str) -> str:
    if len(text) > MAX_NUMBER_LENGTH:
        raise JSONLimitError(f"a number longer than {MAX_NUMBER_LENGTH} characters")
    return text


def _int(text: str) -> int:
    return int(_checked_length(text))


def _float(text: str) -> float:
    value = float(_checked_length(text))
    if not math.isfinite(value):
        raise JSONLimitError(f"the number {text[:40]} is out of range")
    return value


def _constant(name: str):
    raise JSONLimitError(f"{name} is not a JSON value")
