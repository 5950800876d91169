"""IAM policy documents: compile them once (after ``policy_grammar`` accepted them), evaluate requests.

Pure functions, no I/O. Evaluation follows IAM's order: an explicit Deny in any policy wins, else an
Allow in any policy, else the request is implicitly denied. Actions match case-insensitively and
resources case-sensitively, both with ``*`` and ``?`` wildcards; condition keys are case-insensitive.
Resources may use policy variables (``arn:aws:iam::*:user/${aws:username}``), filled in per request.
A statement with a condition operator we do not know never matches (for an Allow that errs towards
denying; for a Deny towards allowing, which is why the set below covers what policies commonly use).
Wildcards are matched by ``selfmaker.patterns``, which never backtracks; a text too long to match in
budget makes its statement deny-safe (an Allow does not apply, a Deny does) and is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

# The grammar is re-exported: callers have always found parse and PolicyError here.
from selfmaker.domain.policy_grammar import PolicyError as PolicyError
from selfmaker.domain.policy_grammar import parse as parse
from selfmaker.domain.policy_grammar import statements
from selfmaker.patterns import Glob, PatternBudgetError, Token, compile_glob, glob_tokens

log = logging.getLogger(__name__)

# --- compiled form ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wildcards:
    """Any of several IAM patterns (``*`` any run of characters, ``?`` any one)."""

    globs: tuple[Glob, ...]

    def matches(self, text: str) -> bool:
        return any(glob.matches(text) for glob in self.globs)


@lru_cache(maxsize=4096)
def _wildcards(patterns: tuple[str, ...], ignore_case: bool) -> Wildcards:
    return Wildcards(tuple(compile_glob(pattern, ignore_case) for pattern in patterns))


def _listed(value) -> tuple[str, ...]:
    return tuple([value] if isinstance(value, str) else value)


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _with_variables(pattern: str, context: Mapping[str, str]) -> Glob | None:
    """A Resource pattern with its policy variables (``${aws:username}``) filled in from the request, as
    literal text; None when a variable has no value (the pattern then matches nothing, as in IAM)."""
    tokens: list[Token] = []
    start = 0
    for match in _VARIABLE.finditer(pattern):
        tokens.extend(glob_tokens(pattern[start:match.start()]))
        inner = match.group(1).strip()
        if inner in ("*", "?", "$"):
            value = inner  # ${*} is a literal asterisk
        else:
            key, has_default, default = inner.partition(",")
            value = context.get(key.strip().lower())
            if value is None and has_default:
                value = default.strip().strip("'")
            if value is None:
                return None
        tokens.append(value)
        start = match.end()
    tokens.extend(glob_tokens(pattern[start:]))
    return Glob(tokens)


# A condition test: (request's value or None when the key is absent, the policy's values) -> bool.
Test = Callable[[str | None, tuple[str, ...]], bool]


def _equals(ignore_case: bool) -> Test:
    def test(actual: str | None, wanted: tuple[str, ...]) -> bool:
        if actual is None:
            return False
        if ignore_case:
            return actual.lower() in (w.lower() for w in wanted)
        return actual in wanted

    return test


def _like(actual: str | None, wanted: tuple[str, ...]) -> bool:
    return actual is not None and _wildcards(wanted, False).matches(actual)


def _bool(actual: str | None, wanted: tuple[str, ...]) -> bool:
    return actual is not None and actual.lower() in (w.lower() for w in wanted)


def _negated(test: Test) -> Test:
    # Negated operators match when the key is absent, as IAM's do.
    return lambda actual, wanted: actual is None or not test(actual, wanted)


def _null(actual: str | None, wanted: tuple[str, ...]) -> bool:
    # "Null": {"key": "true"} holds when the key is absent; "false" when present.
    return ("true" if actual is None else "false") in (w.lower() for w in wanted)


_OPERATORS: dict[str, Test] = {
    "StringEquals": _equals(False),
    "StringNotEquals": _negated(_equals(False)),
    "StringEqualsIgnoreCase": _equals(True),
    "StringNotEqualsIgnoreCase": _negated(_equals(True)),
    "StringLike": _like,
    "StringNotLike": _negated(_like),
    # IAM's ArnEquals takes wildcards just as ArnLike does.
    "ArnEquals": _like,
    "ArnLike": _like,
    "ArnNotEquals": _negated(_like),
    "ArnNotLike": _negated(_like),
    "Bool": _bool,
}


@dataclass(frozen=True)
class Condition:
    test: Test
    key: str  # lower case
    values: tuple[str, ...]
    if_exists: bool

    def holds(self, context: Mapping[str, str]) -> bool:
        actual = context.get(self.key)
        if actual is None and self.if_exists:
            return True
        return self.test(actual, self.values)


@dataclass(frozen=True)
class Statement:
    allow: bool
    actions: Wildcards
    not_action: bool
    resources: Wildcards | None  # None in trust policies
    not_resource: bool
    # Resource patterns with policy variables, filled in per request (None: there are none).
    variable_resources: tuple[str, ...] | None
    principal: object  # trust policies: "*" or {"AWS": [...], "Service": [...]}
    conditions: tuple[Condition, ...] | None  # None: an operator we do not know, never matches

    def applies(self, action: str, resource: str | None, context: Mapping[str, str]) -> bool:
        if self.conditions is None:
            return False
        try:
            return self._applies(action, resource, context)
        except PatternBudgetError as err:
            # Deny-safe: a statement we cannot evaluate in budget never grants, and never lifts a Deny.
            log.warning("IAM statement (%s) not evaluated in budget for %.200s on %.200s: %s",
                        "Allow" if self.allow else "Deny", action, resource, err)
            return not self.allow

    def _applies(self, action: str, resource: str | None, context: Mapping[str, str]) -> bool:
        if self.actions.matches(action) == self.not_action:
            return False
        resources = self.resources
        if self.variable_resources is not None:
            filled = (_with_variables(pattern, context) for pattern in self.variable_resources)
            resources = Wildcards(tuple(glob for glob in filled if glob is not None))
        if resources is not None and resources.matches(resource or "") == self.not_resource:
            return False
        return all(condition.holds(context) for condition in self.conditions)


@dataclass(frozen=True)
class Policy:
    arn: str | None  # a managed policy's ARN; None for an inline policy
    statements: tuple[Statement, ...]


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _conditions(block: dict) -> tuple[Condition, ...] | None:
    conditions = []
    for operator, tests in block.items():
        if operator == "Null":
            test, if_exists = _null, False
        else:
            if_exists = operator.endswith("IfExists")
            test = _OPERATORS.get(operator.removesuffix("IfExists"))
            if test is None:
                return None
        for key, value in tests.items():
            values = tuple(_value_text(v) for v in (value if isinstance(value, list) else [value]))
            conditions.append(Condition(test, key.lower(), values, if_exists))
    return tuple(conditions)


def compile_policy(document: dict, arn: str | None = None) -> Policy:
    """The evaluable form of a document that ``parse`` accepted."""
    compiled = []
    # Policy variables exist in version 2012-10-17 only; in older documents "${" is plain text.
    variables = document.get("Version") == "2012-10-17"
    for raw in statements(document):
        resource = raw.get("Resource", raw.get("NotResource"))
        patterns = None if resource is None else _listed(resource)
        variable = variables and patterns is not None and any("${" in pattern for pattern in patterns)
        compiled.append(
            Statement(
                allow=raw["Effect"] == "Allow",
                actions=_wildcards(_listed(raw.get("Action", raw.get("NotAction"))), ignore_case=True),
                not_action="NotAction" in raw,
                resources=None if patterns is None or variable else _wildcards(patterns, ignore_case=False),
                not_resource="NotResource" in raw,
                variable_resources=patterns if variable else None,
                principal=raw.get("Principal"),
                conditions=_conditions(raw.get("Condition", {})),
            )
        )
    return Policy(arn, tuple(compiled))


# --- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    outcome: Literal["allow", "deny", "implicit"]
    policy: Policy | None = None  # the policy whose Deny decided, for the error message

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"


ALLOW = Decision("allow")
IMPLICIT_DENY = Decision("implicit")


def evaluate(policies: Iterable[Policy], action: str, resource: str, context: Mapping[str, str]) -> Decision:
    """Explicit Deny > Allow > implicit deny, over every statement of every policy."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if statement.applies(action, resource, context):
                if not statement.allow:
                    return Decision("deny", policy)
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


# --- trust policies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who asks to assume a role, as a trust policy's Principal may name them."""

    kind: Literal["AWS", "Service"]
    names: tuple[str, ...]  # ARNs that name this caller exactly (user; role and session), or the service
    account_id: str = ""


Grant = Literal["deny", "direct", "account", "none"]


def _names(principal, kind: str) -> list[str]:
    if principal == "*":
        return ["*"]
    value = principal.get(kind, [])
    return [value] if isinstance(value, str) else value


def trust_grant(policy: Policy, action: str, caller: Caller, context: Mapping[str, str]) -> Grant:
    """What a trust policy says of a caller: ``direct`` when it names them (or "*"); ``account`` when it
    names only their account (their own identity policies must then allow too); ``deny`` or ``none``."""
    grant: Grant = "none"
    account_names = {caller.account_id, f"arn:aws:iam::{caller.account_id}:root"} if caller.kind == "AWS" else set()
    for statement in policy.statements:
        if not statement.applies(action, None, context):
            continue
        names = _names(statement.principal, caller.kind)
        if "*" in names or any(name in caller.names for name in names):
            found: Grant = "direct"
        elif any(name in account_names for name in names):
            found = "account"
        else:
            continue
        if not statement.allow:
            return "deny"
        if grant != "direct":
            grant = found
    return grant
