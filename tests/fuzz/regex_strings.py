"""Strings that match a model's ``pattern``, so that generated requests get past validation into providers.

Walks the parse tree of Python's own regex parser (``re._parser``). Java-only syntax (``\\p{…}``) does not
parse here: the caller then falls back to plain text.
"""

from __future__ import annotations

import random
import re
import re._constants as c
import re._parser as parser
import string
from functools import cache

_UNBOUNDED_EXTRA = 6  # how many repeats past the minimum an unbounded repeat (*, +) may make
_CATEGORIES = {
    c.CATEGORY_DIGIT: string.digits,
    c.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    c.CATEGORY_SPACE: " ",
    c.CATEGORY_NOT_DIGIT: string.ascii_letters,
    c.CATEGORY_NOT_WORD: "-.:/ ",
    c.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
}
_PLAIN = string.ascii_letters + string.digits + "-_."


@cache
def _tree(pattern: str):
    try:
        return parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def matching(pattern: str, rng: random.Random) -> str | None:
    """A string matching ``pattern`` (anchors ignored), or None where the pattern is beyond this walker."""
    tree = _tree(pattern)
    if tree is None:
        return None
    out: list[str] = []
    groups: dict[int, str] = {}
    try:
        _emit(tree, rng, out, groups)
    except (KeyError, ValueError):
        return None
    return "".join(out)


def _emit(items, rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
    for op, arg in items:
        if op == c.LITERAL:
            out.append(chr(arg))
        elif op == c.NOT_LITERAL:
            out.append(rng.choice([ch for ch in _PLAIN if ord(ch) != arg]))
        elif op == c.ANY:
            out.append(rng.choice(_PLAIN))
        elif op == c.IN:
            out.append(_from_set(arg, rng))
        elif op == c.BRANCH:
            _emit(rng.choice(arg[1]), rng, out, groups)
        elif op in (c.SUBPATTERN, c.ATOMIC_GROUP):
            number, body = (arg[0], arg[3]) if op == c.SUBPATTERN else (None, arg)
            start = len(out)
            _emit(body, rng, out, groups)
            if number is not None:
                groups[number] = "".join(out[start:])
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, high, body = arg
            high = low + _UNBOUNDED_EXTRA if high == c.MAXREPEAT else high
            for _ in range(rng.randint(low, min(high, low + _UNBOUNDED_EXTRA))):
                _emit(body, rng, out, groups)
        elif op == c.GROUPREF:
            out.append(groups[arg])
        elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue  # anchors and look-arounds: the caller checks the result with the real pattern
        else:
            raise ValueError(op)


def _from_set(items, rng: random.Random) -> str:
    if items and items[0][0] == c.NEGATE:
        excluded = {chr(code) for code in _codes(items[1:])}
        choices = [ch for ch in _PLAIN if ch not in excluded]
        return rng.choice(choices or ["~"])
    codes = _codes(items)
    readable = [code for code in codes if chr(code) in _PLAIN]
    # Mostly readable characters; now and then any the set allows (unicode ranges included).
    pool = readable if readable and rng.random() < 0.9 else codes
    return chr(rng.choice(pool))


def _codes(items) -> list[int]:
    codes: list[int] = []
    for op, arg in items:
        if op == c.LITERAL:
            codes.append(arg)
        elif op == c.RANGE:
            low, high = arg
            codes.extend(range(low, min(high, low + 200) + 1))  # a sample of a wide range is enough
        elif op == c.CATEGORY:
            codes.extend(ord(ch) for ch in _CATEGORIES.get(arg, _PLAIN))
        else:
            raise ValueError(op)
    return codes
