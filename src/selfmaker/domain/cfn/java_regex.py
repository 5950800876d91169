"""Java regular expressions (what AllowedPattern speaks) translated to Python's ``re``.

What differs and is handled here:
- character classes: nesting (``[a-c[x-z]]``), intersection (``[\\w&&[^_]]``), and ``\\p{…}`` classes. A class
  that ``re`` cannot write as one ``[…]`` becomes a one-character pattern: a union is an alternation, an
  intersection is lookaheads (``(?=A)B``), a negation is ``(?!A)[\\s\\S]``;
- ``\\w \\d \\s \\h \\v \\R`` and ``.`` with Java's (ASCII, line-terminator) meanings;
- ``\\Q…\\E`` quoting, ``\\z \\Z``, ``\\0oct``, ``\\x{h…}``, ``\\cX``, ``\\e``, ``\\a``;
- named groups ``(?<n>…)`` and ``\\k<n>``; inline flags in mid-pattern (``a(?i)b``), scoped to the rest of
  their group as in Java.
Possessive quantifiers and atomic groups need no translation (Python 3.11 has them).

Patterns come from templates, so they are compiled and matched through ``selfmaker.patterns``: bounded in
size, and in time per match (``PatternBudgetError`` when over).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from selfmaker.patterns import Budget, PatternError, Regex, check_size, compile_regex


class JavaRegexError(ValueError):
    pass


_LINE_TERMINATORS = "\n\r\x85\u2028\u2029"
_ANY = r"[\s\S]"

# One-character classes, as ranges (Java's ASCII meanings).
_RANGES: dict[str, list[tuple[int, int]]] = {
    "d": [(0x30, 0x39)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "s": [(0x09, 0x0D), (0x20, 0x20)],
    "h": [(0x20, 0x20), (0x09, 0x09), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E), (0x2000, 0x200A),
          (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)],
    "v": [(0x0A, 0x0D), (0x85, 0x85), (0x2028, 0x2029)],
}
_POSIX: dict[str, list[tuple[int, int]]] = {
    "Lower": [(0x61, 0x7A)],
    "Upper": [(0x41, 0x5A)],
    "ASCII": [(0x00, 0x7F)],
    "Alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "Digit": [(0x30, 0x39)],
    "Alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "Punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "Graph": [(0x21, 0x7E)],
    "Print": [(0x20, 0x7E)],
    "Blank": [(0x20, 0x20), (0x09, 0x09)],
    "Cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "XDigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
    "Space": [(0x09, 0x0D), (0x20, 0x20)],
}
# Unicode categories Python's re can still express, as one-character patterns.
_UNICODE = {
    "L": r"[^\W\d_]", "IsL": r"[^\W\d_]", "IsAlphabetic": r"[^\W\d_]", "IsLetter": r"[^\W\d_]",
    "Nd": r"\d", "IsDigit": r"\d", "N": r"\d",
}


def _char(code: int) -> str:
    """A code point written so that it means itself anywhere in a Python pattern, in or out of a class."""
    ch = chr(code)
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


@dataclass
class _CharSet:
    """A one-character class: ranges, plus one-character patterns that cannot be written as ranges."""

    ranges: list[tuple[int, int]] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    negated: bool = False

    def pattern(self) -> str:
        inner = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in self.ranges)
        if not self.patterns:
            if not inner:
                return _ANY if self.negated else "(?!)"
            return f"[{'^' if self.negated else ''}{inner}]"
        options = ([f"[{inner}]"] if inner else []) + self.patterns
        union = options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"
        return f"(?:(?!{union}){_ANY})" if self.negated else union


def _intersection(operands: list[str]) -> str:
    # Every operand matches one character: look ahead with all but the last, then consume with it.
    if len(operands) == 1:
        return operands[0]
    return "(?:" + "".join(f"(?={p})" for p in operands[:-1]) + operands[-1] + ")"


class _Translator:
    def __init__(self, pattern: str):
        self.src = pattern
        self.pos = 0
        self.dotall = [False]  # per open group: whether (?s) is in force

    # --- reading ---------------------------------------------------------------------------------

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.src[index] if index < len(self.src) else ""

    def _take(self) -> str:
        if self.pos >= len(self.src):
            raise JavaRegexError("unexpected end of pattern")
        ch = self.src[self.pos]
        self.pos += 1
        return ch

    def _until(self, end: str) -> str:
        stop = self.src.find(end, self.pos)
        if stop < 0:
            raise JavaRegexError(f"missing '{end}'")
        text, self.pos = self.src[self.pos:stop], stop + len(end)
        return text

    # --- outside classes -------------------------------------------------------------------------

    def translate(self) -> str:
        out = self._sequence()
        if self.pos < len(self.src):
            raise JavaRegexError("unmatched ')'")
        return out

    def _sequence(self) -> str:
        """Until ')' or the end; a mid-sequence inline flag group scopes the rest, as Java's does."""
        out: list[str] = []
        while self.pos < len(self.src) and self._peek() != ")":
            flags = self._inline_flags()
            if flags is not None:
                self.dotall.append(_dotall_after(flags, self.dotall[-1]))
                rest = self._sequence()
                self.dotall.pop()
                self.dotall[-1] = _dotall_after(flags, self.dotall[-1])
                out.append(f"(?{flags}:{rest})")
                break
            out.append(self._atom())
        return "".join(out)

    def _inline_flags(self) -> str | None:
        match = re.compile(r"\(\?([a-zA-Z]*(?:-[a-zA-Z]*)?)\)").match(self.src, self.pos)
        if not match:
            return None
        flags = match.group(1)
        unsupported = set(flags) - set("ims-u")
        if unsupported:
            raise JavaRegexError(f"inline flag(s) {''.join(sorted(unsupported))} are not supported")
        self.pos = match.end()
        return _python_flags(flags)

    def _atom(self) -> str:
        ch = self._take()
        if ch == "\\":
            return self._escape()
        if ch == "[":
            return self._class().pattern()
        if ch == "(":
            return self._group()
        if ch == ".":
            return _ANY if self.dotall[-1] else f"[^{''.join(_char(ord(c)) for c in _LINE_TERMINATORS)}]"
        if ch == "{" and not re.compile(r"\d+(,\d*)?}").match(self.src, self.pos):
            return r"\{"
        return ch

    def _group(self) -> str:
        if self._peek() == "?":
            self.pos += 1
            if self._peek() == "<" and self._peek(1) not in ("=", "!"):
                self.pos += 1
                head = f"(?P<{self._until('>')}>"
            else:
                lead = next((s for s in (":", "=", "!", ">", "<=", "<!") if self.src.startswith(s, self.pos)), None)
                if lead is None:
                    return self._flag_group()
                self.pos += len(lead)
                head = "(?" + lead
        else:
            head = "("
        self.dotall.append(self.dotall[-1])
        body = self._sequence()
        self.dotall.pop()
        self._close()
        return f"{head}{body})"

    def _flag_group(self) -> str:
        """After '(?': a scoped flag group such as (?i:…)."""
        match = re.compile(r"([a-zA-Z]*(?:-[a-zA-Z]*)?):").match(self.src, self.pos)
        if not match or set(match.group(1)) - set("ims-u"):
            raise JavaRegexError(f"unsupported group construct at position {self.pos}")
        self.pos = match.end()
        flags = _python_flags(match.group(1))
        self.dotall.append(_dotall_after(flags, self.dotall[-1]))
        body = self._sequence()
        self.dotall.pop()
        self._close()
        return f"(?{flags}:{body})"

    def _close(self) -> None:
        if self._take() != ")":
            raise JavaRegexError("missing ')'")

    def _escape(self) -> str:
        ch = self._take()
        if ch == "Q":  # quoted to \E, or to the end when there is none
            end = self.src.find("\\E", self.pos)
            text = self.src[self.pos:] if end < 0 else self.src[self.pos:end]
            self.pos = len(self.src) if end < 0 else end + 2
            return "".join(_char(ord(c)) for c in text)
        if ch == "z":
            return r"\Z"
        if ch == "Z":
            return r"(?=(?:\r\n|[\n\r\x85\u2028\u2029])?\Z)"
        if ch in "AbB":
            return "\\" + ch
        if ch == "R":
            return r"(?:\r\n|[\n\x0b\x0c\r\x85\u2028\u2029])"
        if ch == "k":
            if self._take() != "<":
                raise JavaRegexError("\\k must be followed by <name>")
            return f"(?P={self._until('>')})"
        if ch.isdigit() and ch != "0":
            digits = ch
            while self._peek().isdigit():
                digits += self._take()
            return f"(?:\\{digits})"
        charset = self._class_escape(ch)
        if charset is not None:
            return charset.pattern()
        return _char(self._literal_escape(ch))

    # --- classes ---------------------------------------------------------------------------------

    def _class(self) -> _CharSet:
        """After '['; Java's grammar: [^ … ] where … is unions joined by && (the loosest binding)."""
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        operands: list[_CharSet] = []
        current = _CharSet()
        first = True
        while True:
            ch = self._take()
            if ch == "]" and not first:
                break
            first = False
            if ch == "&" and self._peek() == "&":
                self.pos += 1
                operands.append(current)
                current = _CharSet()
                continue
            if ch == "[":
                current.patterns.append(self._class().pattern())
                continue
            if ch == "\\":
                escaped = self._take()
                if escaped == "Q":
                    for c in self._until("\\E"):
                        current.ranges.append((ord(c), ord(c)))
                    continue
                charset = self._class_escape(escaped)
                if charset is not None:
                    if charset.negated or charset.patterns:
                        current.patterns.append(charset.pattern())
                    else:
                        current.ranges.extend(charset.ranges)
                    continue
                low = self._literal_escape(escaped)
            else:
                low = ord(ch)
            if self._peek() == "-" and self._peek(1) not in ("]", "[", ""):
                self.pos += 1
                high_ch = self._take()
                high = self._literal_escape(self._take()) if high_ch == "\\" else ord(high_ch)
                if high < low:
                    raise JavaRegexError(f"illegal character range {chr(low)}-{chr(high)}")
                current.ranges.append((low, high))
            else:
                current.ranges.append((low, low))
        operands.append(current)
        operands = [op for op in operands if op.ranges or op.patterns] or [_CharSet()]
        if len(operands) == 1:
            operands[0].negated = negated
            return operands[0]
        return _CharSet(patterns=[_intersection([op.pattern() for op in operands])], negated=negated)

    def _class_escape(self, ch: str) -> _CharSet | None:
        if ch.lower() in _RANGES:
            return _CharSet(ranges=list(_RANGES[ch.lower()]), negated=ch.isupper())
        if ch in "pP":
            name = self._until("}") if self._take() == "{" else self.src[self.pos - 1]
            name = name.removeprefix("Is") if name.removeprefix("Is") in _POSIX else name
            if name in _POSIX:
                return _CharSet(ranges=list(_POSIX[name]), negated=ch == "P")
            if name in _UNICODE:
                return _CharSet(patterns=[_UNICODE[name]], negated=ch == "P")
            raise JavaRegexError(f"unsupported character class \\{ch}{{{name}}}")
        return None

    def _literal_escape(self, ch: str) -> int:
        simple = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "a": 0x07, "e": 0x1B}
        if ch in simple:
            return simple[ch]
        if ch == "0":
            digits = ""
            while len(digits) < 3 and self._peek() in "01234567" and self._peek():
                if len(digits) == 2 and digits[0] > "3":
                    break
                digits += self._take()
            if not digits:
                raise JavaRegexError("illegal octal escape \\0")
            return int(digits, 8)
        if ch == "x":
            if self._peek() == "{":
                self.pos += 1
                return _hex(self._until("}"))
            return _hex(self._take() + self._take())
        if ch == "u":
            return _hex("".join(self._take() for _ in range(4)))
        if ch == "c":
            return ord(self._take()) ^ 64
        if ch.isalnum():
            raise JavaRegexError(f"illegal escape sequence \\{ch}")
        return ord(ch)


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise JavaRegexError(f"illegal hexadecimal escape {text!r}") from None


def _python_flags(java: str) -> str:
    # Java's u (Unicode case folding) is what Python does anyway; an empty flag set is a plain group.
    on, dash, off = java.replace("u", "").partition("-")
    return on + (dash + off if off else "")


def _dotall_after(flags: str, current: bool) -> bool:
    on, _, off = flags.partition("-")
    if "s" in off:
        return False
    return True if "s" in on else current


@lru_cache(maxsize=512)
def compile_java(pattern: str) -> Regex:
    """Compile a Java regex as Python; raises JavaRegexError for what cannot be translated, PatternBudgetError
    for a pattern too large to compile quickly."""
    check_size(pattern)  # before translating: the translator recurses once per nested group
    try:
        return compile_regex(_Translator(pattern).translate())
    except PatternError as err:
        raise JavaRegexError(str(err)) from None


def full_match(pattern: str, value: str, budget: Budget | None = None) -> bool:
    """Java's ``String.matches``: the whole value must match. Raises PatternBudgetError when that takes too
    long to tell (or ``budget`` is spent)."""
    return compile_java(pattern).fullmatch(value, budget)
