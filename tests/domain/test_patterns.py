"""The pattern guard: catastrophic regular expressions, nested quantifiers and huge inputs cost a bounded
time, for each kind of user-supplied pattern (a template's AllowedPattern, IAM wildcards and conditions;
Logs filters are in tests/services/test_logs_patterns.py)."""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time

import pytest

from selfmaker import patterns
from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.java_regex import JavaRegexError, compile_java, full_match
from selfmaker.domain.cfn.loader import load
from selfmaker.domain.cfn.parameters import declare, resolve
from selfmaker.domain.policy import compile_policy, evaluate, parse
from selfmaker.patterns import (
    Budget,
    BudgetExhausted,
    PatternBudgetError,
    PatternError,
    compile_glob,
    compile_regex,
)

# Exponential for a backtracking engine: every split of the a's is tried before the "!" fails the match.
EVIL = "(a|aa)+$"
EVIL_TEXT = "a" * 40 + "!"
SLACK = 0.5  # seconds: what a loaded CI machine may add to a 50 ms limit


def timed(call):
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except Exception as err:  # noqa: BLE001 - the test looks at what was raised
        return err, time.monotonic() - started


# --- regular expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, text", [
    (EVIL, EVIL_TEXT),
    ("(a+)+$", "a" * 32 + "!"),  # the issue's example
    ("((a*)*b)", "a" * 5000),  # nested stars
    ("(x+x+)+y", "x" * 5000),
    (r"^(\w+\s?)*$", "word " * 3000 + "!"),
    (r"\w+\s\w+$", "a" * 100_000),  # quadratic over a long text
])
def test_catastrophic_patterns_end_within_the_match_limit(pattern, text):
    outcome, took = timed(lambda: compile_regex(pattern).search(text))
    assert outcome is False or isinstance(outcome, PatternBudgetError)
    assert took < patterns.MATCH_TIMEOUT + SLACK


def test_an_over_budget_match_says_so():
    with pytest.raises(PatternBudgetError, match="takes longer than 50 ms"):
        compile_regex(EVIL).fullmatch(EVIL_TEXT)


def test_matching_releases_the_gil_for_other_threads():
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.002)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        with pytest.raises(PatternBudgetError):
            compile_regex(EVIL).fullmatch(EVIL_TEXT)
    finally:
        stop.set()
        ticker.join()
    assert len(ticks) >= 5  # the other thread ran all along the 50 ms


@pytest.mark.parametrize("pattern, message", [
    ("(?:a{1000}){1000}", "repetition counts expand"),  # compiling this alone takes half a second
    ("((a{100}){100}){100}", "repetition counts expand"),
    ("(" * 100 + "a" + ")" * 100, "nests groups"),
    ("a" * (patterns.MAX_COMPILED_LENGTH + 1), "too large"),
])
def test_patterns_too_large_to_compile_quickly_are_refused(pattern, message):
    outcome, took = timed(lambda: compile_regex(pattern))
    assert isinstance(outcome, PatternBudgetError) and message in str(outcome)
    assert took < 0.1


def test_ordinary_patterns_and_repetitions_still_compile():
    assert compile_regex(r"(?:[a-z]{1,63}\.){0,126}[a-z]{2,}").fullmatch("www.example.com")
    assert compile_regex(r"\d{4}-\d{2}-\d{2}").search("on 2026-12-01")
    assert compile_regex(".{0,100000}").fullmatch("x" * 5000)
    assert compile_regex("(?i:abc)").fullmatch("ABC")


def test_invalid_patterns_are_pattern_errors_in_pythons_language():
    for pattern in ("[a-", "(a", "a{2,1}", "(?<=a+)b"):  # `regex` alone would take the variable look-behind
        with pytest.raises(PatternError):
            compile_regex(pattern)


def test_huge_texts_are_refused_before_matching():
    with pytest.raises(PatternBudgetError, match="text is longer"):
        compile_regex("a").search("b" * (patterns.MAX_SUBJECT_LENGTH + 1))


def test_a_budget_is_shared_by_many_matches():
    budget = Budget(0.12)
    evil = compile_regex(EVIL)
    with pytest.raises(PatternBudgetError) as first:
        evil.fullmatch(EVIL_TEXT, budget)
    assert not isinstance(first.value, BudgetExhausted)  # the first match has its own full 50 ms
    started = time.monotonic()
    with pytest.raises(BudgetExhausted):
        for _ in range(10):
            try:
                evil.fullmatch(EVIL_TEXT, budget)
            except BudgetExhausted:
                raise
            except PatternBudgetError:
                pass
    assert time.monotonic() - started < 0.12 + SLACK


# --- wildcards -------------------------------------------------------------------------------------


def _as_regex(pattern: str, single: bool) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" and single else re.escape(c) for c in pattern)


def test_wildcards_mean_what_the_regex_translation_meant():
    rnd = random.Random(9)
    for _ in range(5000):
        pattern = "".join(rnd.choice("ab*?") for _ in range(rnd.randint(0, 7)))
        text = "".join(rnd.choice("abAB\n") for _ in range(rnd.randint(0, 8)))
        for single in (True, False):
            for ignore_case in (False, True):
                flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
                expected = re.fullmatch(_as_regex(pattern, single), text, flags) is not None
                assert compile_glob(pattern, ignore_case, single).matches(text) is expected, (pattern, text)


@pytest.mark.parametrize("pattern, text", [
    ("*a" * 40 + "*b", "a" * 200_000),  # .*a.*a…b backtracks polynomially in a regex engine
    ("*" + "?" * 50 + "*b", "a" * 100_000),
    ("arn:aws:*:*:*:*:*:*:*:*:*:*x", "arn:aws:" + ":" * 100_000),
])
def test_wildcards_never_backtrack(pattern, text):
    outcome, took = timed(lambda: compile_glob(pattern).matches(text))
    assert outcome is False or isinstance(outcome, PatternBudgetError)
    assert took < 0.2


# --- CloudFormation: AllowedPattern ------------------------------------------------------------------


def _declared(pattern: str, **extra) -> dict:
    body = {"Type": "String", "AllowedPattern": pattern, **extra}
    return declare({"Evil": body})


def test_allowed_pattern_of_the_issue_answers_at_once():
    outcome, took = timed(lambda: resolve(_declared("(a+)+$"), [{"ParameterKey": "Evil",
                                                                "ParameterValue": "a" * 32 + "!"}]))
    assert str(outcome) == "Parameter 'Evil' must match pattern (a+)+$"
    assert took < patterns.MATCH_TIMEOUT + SLACK


def test_allowed_pattern_that_cannot_be_checked_in_time_names_the_parameter():
    declared = _declared(EVIL, ConstraintDescription="must be a's")
    outcome, took = timed(lambda: resolve(declared, [{"ParameterKey": "Evil", "ParameterValue": EVIL_TEXT}]))
    assert isinstance(outcome, ValueError)
    assert str(outcome).startswith(f"Parameter 'Evil' could not be checked against pattern {EVIL}: ")
    assert "takes longer than 50 ms" in str(outcome)
    assert took < patterns.MATCH_TIMEOUT + SLACK


def test_a_template_of_many_evil_patterns_shares_one_budget():
    declared = declare({f"P{i}": {"Type": "CommaDelimitedList", "AllowedPattern": "(a|aa)+$|b"}
                        for i in range(50)})
    value = ",".join(["b"] * 3 + [EVIL_TEXT])  # ordinary items first
    given = [{"ParameterKey": name, "ParameterValue": value} for name in declared]
    outcome, took = timed(lambda: resolve(declared, given))
    assert isinstance(outcome, ValueError) and "could not be checked against pattern" in str(outcome)
    assert took < patterns.REQUEST_BUDGET + SLACK


@pytest.mark.parametrize("pattern, message", [
    ("(?:a{1000}){1000}", "AllowedPattern of parameter Evil is too complex to evaluate"),
    ("(" * 300 + "a" + ")" * 300, "AllowedPattern of parameter Evil is too complex to evaluate"),
    ("." * 4000, "AllowedPattern of parameter Evil is too complex to evaluate"),  # grows when translated
    ("x" * 5000, "AllowedPattern of parameter Evil is too complex to evaluate"),
])
def test_allowed_patterns_too_large_are_template_errors(pattern, message):
    with pytest.raises(TemplateError) as caught:
        declare(load(json.dumps({"Parameters": {"Evil": {"Type": "String", "AllowedPattern": pattern}}}))
                ["Parameters"])
    assert message in str(caught.value)
    assert caught.value.path == ("Parameters", "Evil", "AllowedPattern")


def test_java_semantics_survive_the_guard():
    assert full_match(r"[a-c[x-z]]+", "axz")
    assert full_match(r"[\w&&[^_]]+", "ab1") and not full_match(r"[\w&&[^_]]+", "a_b")
    assert full_match(r"a(?i)b", "aB") and not full_match(r"a(?i)b", "AB")
    assert full_match(r"\Qa.b\E", "a.b") and not full_match(r"\Qa.b\E", "axb")
    assert full_match(r"(?<n>x)\k<n>", "xx")
    assert full_match(r"a++b", "aab")
    assert not full_match(".", "\n") and full_match("(?s).", "\n")
    with pytest.raises(JavaRegexError):
        compile_java("[a-")


# --- IAM: wildcards and StringLike -------------------------------------------------------------------


def _policy(*statements: dict):
    return compile_policy(parse(json.dumps({"Version": "2012-10-17", "Statement": list(statements)})))


def test_iam_wildcards_cost_little_on_hostile_texts():
    star_heavy = "arn:aws:s3:::" + "*a" * 200 + "*b"
    policy = _policy({"Effect": "Allow", "Action": "s3:*", "Resource": star_heavy},
                     {"Effect": "Allow", "Action": "s3:" + "*A" * 100 + "*B", "Resource": "*"})
    outcome, took = timed(lambda: evaluate([policy], "s3:" + "a" * 50_000, "arn:aws:s3:::" + "a" * 50_000, {}))
    assert outcome.outcome == "implicit"
    assert took < 0.2


def test_iam_string_like_on_a_huge_value_is_deny_safe(caplog):
    huge = "x" * (patterns.MAX_SUBJECT_LENGTH + 1)
    allow = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                     "Condition": {"StringLike": {"aws:UserAgent": "x*"}}})
    deny = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                   {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*",
                    "Condition": {"StringNotLike": {"aws:UserAgent": "x*"}}})
    with caplog.at_level(logging.WARNING, logger="selfmaker.domain.policy"):
        assert evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:useragent": huge}).outcome == "implicit"
        assert evaluate([deny], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:useragent": huge}).outcome == "deny"
    assert "not evaluated in budget" in caplog.text
    # The same conditions on ordinary values evaluate as before.
    assert evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:useragent": "xyz"}).allowed
    assert evaluate([deny], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:useragent": "xyz"}).allowed


def test_iam_policy_variables_are_literal_inside_wildcards():
    policy = _policy({"Effect": "Allow", "Action": "iam:GetUser",
                      "Resource": "arn:aws:iam::*:user/${aws:username}-*"})
    assert evaluate([policy], "iam:GetUser", "arn:aws:iam::1:user/a*b-x", {"aws:username": "a*b"}).allowed
    assert not evaluate([policy], "iam:GetUser", "arn:aws:iam::1:user/aXb-x", {"aws:username": "a*b"}).allowed
