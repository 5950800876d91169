"""User-supplied patterns, compiled and matched within a budget, so that no pattern can stall the server.

Every pattern a caller writes (a template's ``AllowedPattern``, a Logs filter's ``%regex%`` term or ``*``
wildcard, an IAM ``StringLike`` value, action or resource) is compiled and matched here:

* regular expressions run on the ``regex`` engine, which takes a time limit per match and releases the GIL
  while it matches: a catastrophic pattern such as ``(a+)+$`` costs at most ``MATCH_TIMEOUT`` and never holds
  up other threads. Python's own ``re`` still decides what is a valid pattern, so the language accepted
  stays the one the callers were written for. Before compiling, the pattern's length, nesting and the size
  its fixed repetition counts expand to are bounded (compiling cannot be interrupted, so it must be small);
* wildcards (``*`` any run, ``?`` any one character) never become regular expressions: they are matched
  segment by segment, each one at its leftmost place, which is linear in the text for ``*`` alone and never
  backtracks.

A ``Budget`` shares one allowance among the many matches of one request (a Logs scan, a template's
parameters). Over-budget patterns and texts raise ``PatternBudgetError``; each caller turns it into its
service's own error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from functools import lru_cache

import regex

MAX_PATTERN_LENGTH = 4096  # characters of a pattern as a user writes it
MAX_COMPILED_LENGTH = 10_000  # … and as compiled (a translation, e.g. from Java's dialect, grows it)
MAX_NESTING = 64  # groups within groups
MAX_WEIGHT = 20_000  # what fixed repetition counts expand to: (?:a{100}){100} weighs 10,000
MAX_SUBJECT_LENGTH = 262_144  # characters of a text matched against a pattern (a Logs event's maximum)
MATCH_TIMEOUT = 0.05  # seconds one regular expression match may take
REQUEST_BUDGET = 1.0  # seconds all the matches of one request may take together
MAX_GLOB_WORK = 10_000_000  # text length × segment length for a wildcard segment with ``?`` in it

_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL
_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


class PatternError(ValueError):
    """Not a valid pattern."""


class PatternBudgetError(Exception):
    """A pattern, or a text to match against one, beyond what may run: too large, or too slow to match."""


class BudgetExhausted(PatternBudgetError):
    """The time a request's matches share is spent; the caller may stop and answer with what it has so far."""


# --- budgets ---------------------------------------------------------------------------------------


class Budget:
    """Time shared by the matches of one request: each match gets at most ``MATCH_TIMEOUT``, all of them
    together at most ``seconds``. The first match always gets its full time, so a caller resuming where the
    last budget ran out always makes progress."""

    def __init__(self, seconds: float | None = None):
        self._deadline = time.monotonic() + (REQUEST_BUDGET if seconds is None else seconds)
        self._first = True

    def next_limit(self) -> tuple[float, bool]:
        """How long the next match may take, and whether that is what is left of the budget."""
        if self._first:
            self._first = False
            return MATCH_TIMEOUT, False
        left = self._deadline - time.monotonic()
        if left >= MATCH_TIMEOUT:
            return MATCH_TIMEOUT, False
        if left <= 0:
            raise BudgetExhausted("the patterns take too long to evaluate together")
        return left, True


# --- regular expressions ---------------------------------------------------------------------------


def check_size(pattern: str) -> None:
    """Refuse a pattern, as a user wrote it, too long or too deeply nested to compile in a few milliseconds."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternBudgetError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    _check_depth(_shape(pattern)[0])


def _check_depth(depth: int) -> None:
    if depth > MAX_NESTING:
        raise PatternBudgetError(f"the pattern nests groups more than {MAX_NESTING} deep")


def _shape(pattern: str) -> tuple[int, int]:
    """(Nesting depth, weight) of a pattern in Python's syntax. The weight counts each atom once per time a
    fixed repetition count repeats it: ``regex`` expands those when it compiles, so it bounds compile time."""
    totals = [0]  # weight so far of each open group
    last = 0  # weight of what a quantifier here would repeat
    depth = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i, last = i + 2, 1
        elif c == "[":
            i, last = _class_end(pattern, i), 1
        elif c == "(":
            totals.append(0)
            depth = max(depth, len(totals) - 1)
            i, last = i + 1, 0
            continue
        elif c == ")":
            inner = totals.pop() if len(totals) > 1 else 0
            totals[-1] += inner
            i, last = i + 1, inner
            continue
        elif c == "{" and (count := _COUNT.match(pattern, i)) and (count.group(1) or count.group(2)):
            times = max(1, int(count.group(1) or 0))
            totals[-1] += last * (times - 1)
            i, last = count.end(), last * times
            continue
        elif c in "*+?|":
            i, last = i + 1, (0 if c == "|" else last)
            continue
        else:
            i, last = i + 1, 1
        totals[-1] += 1
    return depth, sum(totals)


def _class_end(pattern: str, start: int) -> int:
    """The index just past the character class opening at ``start`` (re's rules: a first ``]`` is literal)."""
    i, n = start + 1, len(pattern)
    if i < n and pattern[i] == "^":
        i += 1
    if i < n and pattern[i] == "]":
        i += 1
    while i < n and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


class Regex:
    """A compiled regular expression whose every match is bounded in time and runs without the GIL."""

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str, compiled: regex.Pattern):
        self.source = source
        self._compiled = compiled

    def fullmatch(self, subject: str, budget: Budget | None = None) -> bool:
        return self._run(self._compiled.fullmatch, subject, budget)

    def search(self, subject: str, budget: Budget | None = None) -> bool:
        return self._run(self._compiled.search, subject, budget)

    def _run(self, method, subject: str, budget: Budget | None) -> bool:
        if len(subject) > MAX_SUBJECT_LENGTH:
            raise PatternBudgetError(f"the text is longer than {MAX_SUBJECT_LENGTH} characters")
        limit, rest_of_budget = budget.next_limit() if budget is not None else (MATCH_TIMEOUT, False)
        try:
            return method(subject, timeout=limit, concurrent=True) is not None
        except TimeoutError:
            if rest_of_budget:
                raise BudgetExhausted("the patterns take too long to evaluate together") from None
            raise PatternBudgetError(
                f"the pattern takes longer than {int(MATCH_TIMEOUT * 1000)} ms to evaluate") from None


@lru_cache(maxsize=1024)
def compile_regex(pattern: str, flags: int = 0) -> Regex:
    """Compile a pattern in Python's syntax (flags: ``re.I``, ``re.M``, ``re.S``). Raises PatternError when it
    is not valid, PatternBudgetError when it is too large to compile quickly."""
    if flags & ~_FLAGS:
        raise ValueError(f"unsupported flags {flags!r}")
    if len(pattern) > MAX_COMPILED_LENGTH:
        raise PatternBudgetError(f"the pattern is too large: over {MAX_COMPILED_LENGTH} characters as compiled")
    depth, weight = _shape(pattern)
    _check_depth(depth)
    if weight > MAX_WEIGHT:
        raise PatternBudgetError(f"the pattern's repetition counts expand to more than {MAX_WEIGHT} elements")
    try:
        re.compile(pattern, flags)  # the language callers rely on; `regex` alone accepts more
        compiled = regex.compile(pattern, flags | regex.V0)
    except (re.error, regex.error) as err:
        raise PatternError(str(err)) from None
    except RecursionError:
        raise PatternBudgetError("the pattern nests too deeply") from None
    return Regex(pattern, compiled)


# --- wildcards -------------------------------------------------------------------------------------


class _Wildcard:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


STAR = _Wildcard("STAR")  # any run of characters, the empty one included
ONE = _Wildcard("ONE")  # any one character
Token = str | _Wildcard


def glob_tokens(pattern: str, single: bool = True) -> tuple[Token, ...]:
    """A wildcard pattern as tokens: literal text, ``STAR`` for ``*`` and (when ``single``) ``ONE`` for ``?``."""
    tokens: list[Token] = []
    literal: list[str] = []
    for ch in pattern:
        wildcard = STAR if ch == "*" else ONE if ch == "?" and single else None
        if wildcard is None:
            literal.append(ch)
            continue
        if literal:
            tokens.append("".join(literal))
            literal = []
        if not (wildcard is STAR and tokens and tokens[-1] is STAR):
            tokens.append(wildcard)
    if literal:
        tokens.append("".join(literal))
    return tuple(tokens)


class _Segment:
    """What lies between two ``*``: literal text and ``?``s, a fixed number of characters."""

    __slots__ = ("length", "literal", "regex")

    def __init__(self, tokens: Sequence[Token]):
        self.length = sum(1 if token is ONE else len(token) for token in tokens)
        if all(isinstance(token, str) for token in tokens):
            self.literal: str | None = "".join(tokens)  # type: ignore[arg-type]
            self.regex = None
        else:
            # No quantifier, no alternation: this cannot backtrack beyond its own length.
            self.literal = None
            self.regex = re.compile("".join("." if token is ONE else re.escape(token) for token in tokens), re.DOTALL)

    def at(self, text: str, pos: int) -> bool:
        if self.literal is not None:
            return text.startswith(self.literal, pos)
        return self.regex.match(text, pos) is not None

    def find(self, text: str, start: int, end: int) -> int:
        """Where the segment first lies whole within text[start:end], or -1."""
        if self.literal is not None:
            return text.find(self.literal, start, end)
        if (end - start) * self.length > MAX_GLOB_WORK:
            raise PatternBudgetError("the wildcard pattern and the text are too long to match together")
        found = self.regex.search(text, start, end)
        return -1 if found is None else found.start()


class Glob:
    """A wildcard pattern, matched against whole texts without backtracking: the first segment must start
    the text, the last end it, and each one between is taken at its leftmost place after the one before
    (if any placement fits, the leftmost ones do)."""

    __slots__ = ("_segments", "ignore_case", "wild")

    def __init__(self, tokens: Sequence[Token], ignore_case: bool = False):
        self.ignore_case = ignore_case
        if ignore_case:
            tokens = [token.lower() if isinstance(token, str) else token for token in tokens]
        segments: list[list[Token]] = [[]]
        for token in tokens:
            if token is STAR:
                segments.append([])
            else:
                segments[-1].append(token)
        self.wild = any(token is ONE or token is STAR for token in tokens)
        self._segments = tuple(_Segment(segment) for segment in segments)

    def matches(self, text: str) -> bool:
        if self.wild and len(text) > MAX_SUBJECT_LENGTH:
            raise PatternBudgetError(f"the text is longer than {MAX_SUBJECT_LENGTH} characters")
        if self.ignore_case:
            text = text.lower()
        segments = self._segments
        first = segments[0]
        if len(segments) == 1:
            return len(text) == first.length and first.at(text, 0)
        last = segments[-1]
        pos, end = first.length, len(text) - last.length
        if end < pos or not first.at(text, 0) or not last.at(text, end):
            return False
        for segment in segments[1:-1]:
            found = segment.find(text, pos, end)
            if found < 0:
                return False
            pos = found + segment.length
        return True


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, ignore_case: bool = False, single: bool = True) -> Glob:
    """A wildcard pattern: ``*`` any run of characters, ``?`` (when ``single``) any one; the rest is literal."""
    return Glob(glob_tokens(pattern, single), ignore_case)
