"""IAM policy grammar and evaluation, as pure functions."""

from __future__ import annotations

import json

import pytest

from selfmaker.domain.policy import Caller, PolicyError, compile_policy, evaluate, parse, trust_grant

ACCOUNT = "123456789012"
NOTEBOOK = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/fastai"
CONTEXT = {"aws:username": "alice", "aws:principalarn": f"arn:aws:iam::{ACCOUNT}:user/alice",
           "aws:requestedregion": "us-east-1"}


def policy(*statements: dict, arn: str | None = None):
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return compile_policy(parse(json.dumps(document)), arn)


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def outcome(policies, action="sagemaker:StopNotebookInstance", resource=NOTEBOOK, context=CONTEXT) -> str:
    return evaluate(policies, action, resource, context).outcome


# --- grammar ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "Syntax errors in policy."),
        ("[]", "Syntax errors in policy."),
        ('{"Version": "2012-10-17"}', "Syntax errors in policy."),
        ('{"Version": "2020-01-01", "Statement": []}', "The policy failed legacy parsing"),
        ('{"Statement": {"Action": "s3:*", "Resource": "*"}}', "Missing required field Effect"),
        ('{"Statement": {"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}}', "Invalid effect: Maybe"),
        ('{"Statement": {"Effect": "Allow", "Resource": "*"}}', "Policy statement must contain actions."),
        ('{"Statement": {"Effect": "Allow", "Action": "s3:*"}}', "Policy statement must contain resources."),
        ('{"Statement": {"Effect": "Allow", "Action": "GetObject", "Resource": "*"}}',
         "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        ('{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}}',
         'Resource bucket must be in ARN format or "*".'),
        ('{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}}',
         "Policy document should not specify a principal."),
        ('{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Colour": "red"}}',
         "Syntax errors in policy."),
    ],
)
def test_identity_policy_grammar(document, message):
    with pytest.raises(PolicyError) as exc:
        parse(document)
    assert exc.value.message.startswith(message)


def test_trust_policy_grammar():
    good = {"Statement": {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                          "Action": "sts:AssumeRole"}}
    assert parse(json.dumps(good), trust=True) == good
    with pytest.raises(PolicyError, match="Missing required field Principal"):
        parse('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}', trust=True)
    with pytest.raises(PolicyError, match="Invalid principal in policy"):
        parse('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "bob"}}}',
              trust=True)
    with pytest.raises(PolicyError, match="Has prohibited field Resource"):
        parse('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*", "Resource": "*"}}',
              trust=True)


# --- evaluation ------------------------------------------------------------------------------------


def test_implicit_deny_allow_and_explicit_deny_wins():
    readers = policy(allow(["sagemaker:List*", "sagemaker:Describe*"]))
    assert outcome([]) == "implicit"
    assert outcome([readers]) == "implicit"
    assert outcome([readers], "sagemaker:DescribeNotebookInstance") == "allow"
    everything = policy(allow("*"))
    no_stop = policy(deny("sagemaker:StopNotebookInstance"), arn="arn:aws:iam::123456789012:policy/NoStop")
    decision = evaluate([everything, no_stop], "sagemaker:StopNotebookInstance", NOTEBOOK, CONTEXT)
    assert decision.outcome == "deny"
    assert decision.policy.arn == "arn:aws:iam::123456789012:policy/NoStop"


def test_statement_may_be_a_single_object_and_actions_ignore_case():
    single = compile_policy(parse('{"Statement": {"Effect": "Allow", "Action": "SageMaker:stop*", '
                                  '"Resource": "*"}}'))
    assert outcome([single]) == "allow"


def test_resources_match_case_sensitively_with_wildcards():
    exact = policy(allow("sagemaker:*", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/fast??"))
    assert outcome([exact]) == "allow"
    assert outcome([exact], resource=NOTEBOOK.replace("fastai", "FASTAI")) == "implicit"
    assert outcome([exact], resource=NOTEBOOK + "x") == "implicit"
    some = policy(allow("sagemaker:*", [f"arn:aws:logs:*:{ACCOUNT}:*", "arn:aws:sagemaker:*:*:notebook-instance/*"]))
    assert outcome([some]) == "allow"


def test_not_action_and_not_resource():
    all_but_iam = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert outcome([all_but_iam]) == "allow"
    assert outcome([all_but_iam], "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x") == "implicit"
    not_fastai = policy({"Effect": "Allow", "Action": "sagemaker:*", "NotResource": NOTEBOOK})
    assert outcome([not_fastai]) == "implicit"
    assert outcome([not_fastai], resource=NOTEBOOK.replace("fastai", "other")) == "allow"
    deny_outside = policy(allow("*"), {"Effect": "Deny", "NotAction": ["sagemaker:Describe*"], "Resource": "*"})
    assert outcome([deny_outside]) == "deny"
    assert outcome([deny_outside], "sagemaker:DescribeNotebookInstance") == "allow"


def test_string_and_bool_conditions():
    own = policy(allow("iam:*", "*", Condition={"StringEquals": {"aws:username": "alice"}}))
    assert outcome([own], "iam:GetUser") == "allow"
    assert outcome([own], "iam:GetUser", context={**CONTEXT, "aws:username": "bob"}) == "implicit"
    assert outcome([own], "iam:GetUser", context={}) == "implicit"
    regions = policy(allow("*", "*", Condition={"StringLike": {"aws:RequestedRegion": ["us-*", "eu-west-?"]}}))
    assert outcome([regions]) == "allow"
    assert outcome([regions], context={**CONTEXT, "aws:requestedregion": "eu-west-1"}) == "allow"
    assert outcome([regions], context={**CONTEXT, "aws:requestedregion": "ap-south-1"}) == "implicit"
    not_bob = policy(allow("*", "*", Condition={"StringNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:user/bob"}}))
    assert outcome([not_bob]) == "allow"
    assert outcome([not_bob], context={}) == "allow"  # negated operators hold when the key is absent
    secure = policy(allow("*", "*", Condition={"Bool": {"aws:SecureTransport": True}}))
    assert outcome([secure], context={**CONTEXT, "aws:securetransport": "true"}) == "allow"
    assert outcome([secure], context={**CONTEXT, "aws:securetransport": "false"}) == "implicit"


def test_several_keys_and_operators_must_all_hold():
    both = policy(allow("*", "*", Condition={"StringEquals": {"aws:username": "alice", "aws:RequestedRegion":
                                                              "us-east-1"}, "StringLike": {"aws:PrincipalArn": "*"}}))
    assert outcome([both]) == "allow"
    assert outcome([both], context={**CONTEXT, "aws:requestedregion": "us-west-2"}) == "implicit"


def test_if_exists_and_null():
    maybe = policy(allow("*", "*", Condition={"StringEqualsIfExists": {"aws:username": "alice"}}))
    assert outcome([maybe], context={}) == "allow"
    assert outcome([maybe], context={"aws:username": "bob"}) == "implicit"
    no_user = policy(allow("*", "*", Condition={"Null": {"aws:username": "true"}}))
    assert outcome([no_user], context={}) == "allow"
    assert outcome([no_user]) == "implicit"


def test_unknown_condition_operators_never_match():
    odd = policy(allow("*", "*", Condition={"NumericWobbly": {"aws:username": "alice"}}))
    assert outcome([odd]) == "implicit"
    odd_deny = policy(allow("*"), deny("*", "*", Condition={"DateWobbly": {"aws:CurrentTime": "x"}}))
    assert outcome([odd_deny]) == "allow"


# --- trust -----------------------------------------------------------------------------------------


def trust(principal, effect="Allow"):
    return compile_policy(parse(json.dumps({"Statement": [
        {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}]}), trust=True))


ALICE = Caller("AWS", (f"arn:aws:iam::{ACCOUNT}:user/alice",), ACCOUNT)
SAGEMAKER = Caller("Service", ("sagemaker.amazonaws.com",))


def test_trust_names_callers_directly_by_account_or_not_at_all():
    assert trust_grant(trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}), "sts:AssumeRole", ALICE, {}) == "direct"
    assert trust_grant(trust({"AWS": ACCOUNT}), "sts:AssumeRole", ALICE, {}) == "account"
    assert trust_grant(trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), "sts:AssumeRole", ALICE, {}) == "account"
    assert trust_grant(trust({"AWS": "arn:aws:iam::999999999999:root"}), "sts:AssumeRole", ALICE, {}) == "none"
    assert trust_grant(trust("*"), "sts:AssumeRole", ALICE, {}) == "direct"
    assert trust_grant(trust({"AWS": "*"}), "sts:AssumeRole", SAGEMAKER, {}) == "none"
    assert trust_grant(trust({"Service": "sagemaker.amazonaws.com"}), "sts:AssumeRole", SAGEMAKER, {}) == "direct"
    assert trust_grant(trust({"Service": "sagemaker.amazonaws.com"}), "sts:AssumeRole", ALICE, {}) == "none"
    assert trust_grant(trust({"Service": "sagemaker.amazonaws.com"}), "sts:TagSession", SAGEMAKER, {}) == "none"
    assert trust_grant(trust("*", effect="Deny"), "sts:AssumeRole", ALICE, {}) == "deny"


def test_policy_variables_in_resources():
    own = policy(allow("iam:*AccessKey*", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))
    assert outcome([own], "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice") == "allow"
    assert outcome([own], "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/bob") == "implicit"
    assert outcome([own], "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/alice", context={}) == "implicit"
    literal = policy(allow("s3:*", "arn:aws:s3:::${aws:username}-${*}"))
    assert outcome([literal], "s3:GetObject", "arn:aws:s3:::alice-*") == "allow"
    assert outcome([literal], "s3:GetObject", "arn:aws:s3:::alice-x") == "implicit"
    fallback = policy(allow("s3:*", "arn:aws:s3:::${aws:userid, 'shared'}/*"))
    assert outcome([fallback], "s3:GetObject", "arn:aws:s3:::shared/x") == "allow"
    old = compile_policy(parse(json.dumps({"Version": "2008-10-17", "Statement": [
        allow("s3:*", "arn:aws:s3:::${aws:username}")]})))
    assert outcome([old], "s3:GetObject", "arn:aws:s3:::${aws:username}") == "allow"
