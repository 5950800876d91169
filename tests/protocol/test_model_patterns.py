"""Every string pattern of every model the server serves, as the shape validator compiles it: Java's inline flag
groups become Python's scoped ones (Budgets' BudgetName has one mid-way), and every other pattern compiles
exactly as before, or is skipped where Python cannot read it (\\p{…} classes)."""

from __future__ import annotations

import re

import pytest

from selfmaker.protocol.models import service_model
from selfmaker.protocol.validate import model_pattern, python_pattern

SERVED = ("sagemaker", "logs", "sns", "sts", "iam", "cloudformation", "service-quotas", "ce", "budgets")
BUDGET_NAME = r"^(?![^:\\]*/action/|(?i).*<script>.*</script>.*)[^:\\]+$"


def _patterns(service: str) -> dict[str, str]:
    model = service_model(service)
    found = {}
    for name in model.shape_names:
        pattern = model.shape_for(name).metadata.get("pattern")
        if pattern:
            found[name] = pattern
    return found


def _plain(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


@pytest.mark.parametrize("service", SERVED)
def test_every_pattern_compiles_as_before_but_inline_flags(service):
    patterns = _patterns(service)
    assert patterns, f"{service} has no patterns"
    for name, pattern in patterns.items():
        compiled = model_pattern(pattern)
        if (service, name) == ("budgets", "BudgetName"):
            assert pattern == BUDGET_NAME  # the model still has it: the translation is what is tested here
            assert _plain(pattern) is None and compiled is not None
            continue
        assert python_pattern(pattern) == pattern, (service, name)
        plain = _plain(pattern)
        assert (compiled is None) == (plain is None), (service, name)
        if plain is not None:
            assert (compiled.pattern, compiled.flags) == (plain.pattern, plain.flags), (service, name)


@pytest.mark.parametrize("name, accepted", [
    ("course", True), ("My budget (2030)", True), ("a.b-c_d", True), ("team/action", True), ("<script>x", True),
    ("a:b", False), ("a\\b", False), ("team/action/x", False), ("x<script>y</script>", False),
    ("x<SCRIPT>y</Script>z", False),  # the inline flag: case-insensitive to the end of its group
])
def test_the_budget_name_pattern(name, accepted):
    assert bool(model_pattern(BUDGET_NAME).fullmatch(name)) is accepted


@pytest.mark.parametrize("java, python", [
    (BUDGET_NAME, r"^(?![^:\\]*/action/|(?i:.*<script>.*</script>.*))[^:\\]+$"),
    ("(?i)abc", "(?i:abc)"),
    ("ab(?i)cd|ef", "ab(?i:cd)|(?i:ef)"),  # the later alternatives of its group too, the earlier ones not
    ("x(y(?i)z|w)v", "x(y(?i:z)|(?i:w))v"),  # to the end of its own group only
    ("a(?i-s)b", "a(?i-s:b)"),
    ("a(?-i)b", "a(?-i:b)"),
    (r"a\(?i)b", r"a\(?i)b"),  # no flag group: an escaped parenthesis
    ("[(?i)]x", "[(?i)]x"),  # nor in a character class
    ("[]()](?i)x", "[]()](?i:x)"),  # a "]" first in a class is one of its characters
    ("(?<name>a)(?i)b", "(?<name>a)(?i:b)"),
    ("a(?u)b", "a(?u)b"),  # a Java flag Python has no scoped form of: left, and skipped
])
def test_inline_flags_become_scoped_flags(java, python):
    assert python_pattern(java) == python
