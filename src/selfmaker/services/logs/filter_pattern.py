"""CloudWatch Logs filter patterns, compiled once per request into a predicate over messages.

Two of the three syntaxes are understood:

* text: terms separated by spaces must all occur (``ERROR Exception``); ``"a phrase"`` is one term;
  ``?term`` terms are alternatives, at least one of which must occur; ``-term`` must not occur;
  ``%regex%`` is a regular expression term. Matching is case-sensitive substring matching.
* JSON: ``{ $.level = "error" && ($.latency > 100 || $.retry IS TRUE) }``, with ``=`` and ``!=`` on
  strings (``*`` is a wildcard) and numbers, ``<``, ``<=``, ``>``, ``>=`` on numbers, ``IS TRUE``,
  ``IS FALSE``, ``IS NULL``, ``NOT EXISTS``.

Space-delimited patterns (``[ip, user, ...]``) are rejected as invalid.

Regular expressions and wildcards come from callers, so they go through ``selfmaker.patterns``: a regex term
matches within a time limit (``PatternBudgetError`` when over; ``BudgetExhausted`` when the request's
``Budget`` is spent), a wildcard never backtracks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from selfmaker.patterns import Budget, PatternError, compile_glob, compile_regex

Matcher = Callable[[str], bool]
_Json = Callable[[object], bool]  # a JSON condition, evaluated on the decoded message

_MISSING = object()


class FilterPatternError(ValueError):
    """The pattern is not one this module can compile."""


def compile_pattern(pattern: str | None, budget: Budget | None = None) -> Matcher:
    """The predicate; ``budget``: the time its regex terms may take over all the messages of one request.
    Raises FilterPatternError for a pattern it cannot compile, PatternBudgetError for one too complex."""
    text = (pattern or "").strip()
    if not text:
        return _everything
    if text.startswith("{"):
        return _compile_json(text)
    if text.startswith("["):
        raise FilterPatternError("space-delimited filter patterns are not supported")
    return _compile_text(text, budget)


def _everything(_message: str) -> bool:
    return True


# --- text patterns -------------------------------------------------------------------------------

_TEXT_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|%([^%]+)%|([^\s"]+))')
_ESCAPE = re.compile(r"\\(.)")


def _compile_text(text: str, budget: Budget | None) -> Matcher:
    required: list[Matcher] = []
    optional: list[Matcher] = []
    excluded: list[Matcher] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        found = _TEXT_TERM.match(text, position)
        if found is None:
            raise FilterPatternError(f"cannot parse the pattern at {text[position:]!r}")
        position = found.end()
        modifier, phrase, regex, word = found.groups()
        if phrase is not None:
            phrase = _ESCAPE.sub(r"\1", phrase)
            # AWS documents `" "` as the pattern that matches every event.
            term = _everything if not phrase.strip() else _contains(phrase)
        elif regex is not None:
            term = _regex(regex, budget)
        else:
            term = _contains(word)
        {"": required, "?": optional, "-": excluded}[modifier].append(term)

    def matches(message: str) -> bool:
        return (
            all(term(message) for term in required)
            and not any(term(message) for term in excluded)
            and (not optional or any(term(message) for term in optional))
        )

    return matches


def _contains(needle: str) -> Matcher:
    return lambda message: needle in message


def _regex(source: str, budget: Budget | None) -> Matcher:
    try:
        compiled = compile_regex(source)
    except PatternError as exc:
        raise FilterPatternError(f"invalid regular expression {source!r}: {exc}") from None
    return lambda message: compiled.search(message, budget)


# --- JSON patterns -------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(
    r"""\s*(?:
        (?P<selector>\$(?:\.[^\s.\[\]=!<>&|()"]+|\[\d+\])*)
      | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | "(?P<string>(?:[^"\\]|\\.)*)"
      | (?P<word>[^\s=!<>&|()"]+)
    )""",
    re.VERBOSE,
)
_SELECTOR_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_KEYWORDS = {"IS", "NOT", "EXISTS", "TRUE", "FALSE", "NULL"}


def _compile_json(text: str) -> Matcher:
    if not text.endswith("}"):
        raise FilterPatternError("a JSON filter pattern must end with }")
    condition = _JsonParser(text[1:-1]).parse()

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return isinstance(document, dict | list) and condition(document)

    return matches


class _JsonParser:
    """Recursive descent over: or := and ('||' and)*; and := atom ('&&' atom)*; atom := '(' or ')' | test."""

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while text[position:].strip():
            found = _JSON_TOKEN.match(text, position)
            if found is None or found.end() == position:
                raise FilterPatternError(f"cannot parse the pattern at {text[position:]!r}")
            kind = found.lastgroup or ""
            self.tokens.append((kind, found.group(kind)))
            position = found.end()
        self.index = 0

    def parse(self) -> _Json:
        condition = self._or()
        if self.index != len(self.tokens):
            raise FilterPatternError(f"unexpected {self.tokens[self.index][1]!r}")
        return condition

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterPatternError("the pattern ends too early")
        self.index += 1
        return token

    def _accept(self, kind: str, value: str) -> bool:
        if self._peek() == (kind, value):
            self.index += 1
            return True
        return False

    def _or(self) -> _Json:
        parts = [self._and()]
        while self._accept("op", "||"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda doc: any(part(doc) for part in parts)

    def _and(self) -> _Json:
        parts = [self._atom()]
        while self._accept("op", "&&"):
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else lambda doc: all(part(doc) for part in parts)

    def _atom(self) -> _Json:
        if self._accept("op", "("):
            inner = self._or()
            if not self._accept("op", ")"):
                raise FilterPatternError("missing )")
            return inner
        kind, selector = self._next()
        if kind != "selector":
            raise FilterPatternError(f"expected a $ selector, not {selector!r}")
        select = _selector(selector)
        if self._accept("word", "IS"):
            return _is_test(select, self._next())
        if self._accept("word", "NOT"):
            if not self._accept("word", "EXISTS"):
                raise FilterPatternError("expected EXISTS after NOT")
            return lambda doc: select(doc) is _MISSING
        kind, op = self._next()
        if kind != "op" or op in ("&&", "||", "(", ")"):
            raise FilterPatternError(f"expected a comparison operator, not {op!r}")
        return _comparison(select, op, self._next())


def _selector(text: str) -> Callable[[object], object]:
    steps: list[str | int] = [key if key else int(index) for key, index in _SELECTOR_STEP.findall(text[1:])]

    def select(document: object) -> object:
        value = document
        for step in steps:
            if isinstance(step, int):
                present = isinstance(value, list) and step < len(value)
            else:
                present = isinstance(value, dict) and step in value
            if not present:
                return _MISSING
            value = value[step]
        return value

    return select


def _is_test(select: Callable[[object], object], token: tuple[str, str]) -> _Json:
    expected = {"TRUE": True, "FALSE": False, "NULL": None}
    kind, word = token
    if kind != "word" or word not in expected:
        raise FilterPatternError(f"expected TRUE, FALSE or NULL after IS, not {word!r}")
    want = expected[word]
    return lambda doc: select(doc) is want


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparison(select: Callable[[object], object], op: str, token: tuple[str, str]) -> _Json:
    kind, literal = token
    if kind not in ("string", "word") or (kind == "word" and literal in _KEYWORDS):
        raise FilterPatternError(f"expected a value after {op}, not {literal!r}")
    number = _number(literal) if kind == "word" else None
    if number is None and op not in ("=", "!="):
        raise FilterPatternError(f"{op} compares numbers only")
    if number is not None:
        compare = {
            "=": lambda v: v == number,
            "!=": lambda v: v != number,
            "<": lambda v: v < number,
            "<=": lambda v: v <= number,
            ">": lambda v: v > number,
            ">=": lambda v: v >= number,
        }[op]
        return lambda doc: _is_number(value := select(doc)) and compare(value)
    text = _ESCAPE.sub(r"\1", literal) if kind == "string" else literal
    # `*` is a wildcard in string values; everything else is literal.
    wildcard = compile_glob(text, single=False)
    if op == "=":
        return lambda doc: isinstance(value := select(doc), str) and wildcard.matches(value)
    return lambda doc: isinstance(value := select(doc), str) and not wildcard.matches(value)
