"""IAM policy grammar and evaluation, as pure functions."""

from __future__ import annotations

import json

import pytest

from selfmaker.domain.policy import Caller, PolicyError, compile_policy, evaluate, parse, trust_grant
from selfmaker.domain.policy_grammar import size

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


V = "2012-10-17"
BUCKET = "arn:aws:s3:::example_bucket"


def doc(*statements: dict, version: str | None = V, **top) -> str:
    document = {"Statement": statements[0] if len(statements) == 1 else list(statements), **top}
    if version is not None:
        document = {"Version": version, **document}
    return json.dumps(document)


def st(**fields) -> dict:
    """A statement: Allow s3:ListBucket on the example bucket, with ``fields`` changed (None: left out)."""
    statement = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET, **fields}
    return {key: value for key, value in statement.items() if value is not None}


def when(condition) -> dict:
    return st(Condition=condition)


SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
VERSION = "Policy document must be version 2012-10-17 or greater."
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
IAM_PATHS = ('IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, '
             "instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, "
             "report/, access-report/.")

# What IAM answers CreatePolicy for each document (the cases and messages of moto's IAM policy tests, which
# were taken from AWS's answers).
MANAGED_REFUSED = [
    ("This is not a json document", SYNTAX),
    ("[]", SYNTAX),
    (doc(st(), version=None), VERSION),
    (doc(st(), version="2008-10-17"), VERSION),
    (doc(st(), version="2013-10-17"), SYNTAX),
    (json.dumps({"Version": V}), SYNTAX),
    (json.dumps({"Version": V, "Statement": ["afd"]}), SYNTAX),
    (json.dumps({"Version": V, "Statement": []}), SYNTAX),
    (doc(st(), **{"Extra field": "value"}), SYNTAX),
    (doc(st(**{"Extra field": "value"})), SYNTAX),
    (doc(st(), Id=["cd3a324d2343d942772346-34234234423404-4c2242343242349d1642ee"]), SYNTAX),
    (doc(st(), Id={}), SYNTAX),
    (doc(st(Effect="invalid")), SYNTAX),
    (doc(st(Effect=None)), SYNTAX),
    (doc(st(Action="invalid")), NO_VENDOR),
    (doc(st(Action=None, NotAction="")), NO_VENDOR),
    (doc(st(Action="a a:ListBucket")), "Vendor a a is not valid"),
    (doc(st(Action="s3:List:Bucket")), ONE_COLON),
    (doc(st(Action="s3s:ListBucket"), st(Action="s:3s:ListBucket")), ONE_COLON),
    (doc(st(Resource="invalid resource")), 'Resource invalid resource must be in ARN format or "*".'),
    (doc(st(Sid="EnableDisableHongKong", Action=["account:EnableRegion", "account:DisableRegion"], Resource="",
            Condition={"StringEquals": {"account:TargetRegion": "ap-east-1"}}),
         st(Sid="ViewConsole", Action=["aws-portal:ViewAccount", "account:ListRegions"], Resource="")),
     'Resource  must be in ARN format or "*".'),
    (doc(st(Action="s:3:ListBucket", Resource="sdfsadf")), 'Resource sdfsadf must be in ARN format or "*".'),
    (doc(st(Resource=["adf"])), 'Resource adf must be in ARN format or "*".'),
    (doc(st(Resource="")), 'Resource  must be in ARN format or "*".'),
    (doc(st(Action=None, NotAction="s3s:ListBucket", Resource="a:bsdfdsafsad")),
     'Partition "bsdfdsafsad" is not valid for resource "arn:bsdfdsafsad:*:*:*:*".'),
    (doc(st(Action=None, NotAction="s3s:ListBucket", Resource="a:b:cadfsdf")),
     'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    (doc(st(Action=None, NotAction="s3s:ListBucket", Resource="a:b:c:d:e:f:g:h")),
     'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
    (doc(st(Resource="aws:s3:::example_bucket")),
     'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    (doc(st(Resource=["arn:error:s3:::example_bucket", "arn:error:s3::example_bucket"])),
     'Partition "error" is not valid for resource "arn:error:s3:::example_bucket".'),
    (doc(st(Resource=None)), "Policy statement must contain resources."),
    (doc(st(Resource=[])), "Policy statement must contain resources."),
    (doc(st(Action="invalid", Resource=None)), NO_VENDOR),
    (doc(st(Action=None)), "Policy statement must contain actions."),
    (doc(st(Action=None, Resource=None)), "Policy statement must contain actions."),
    (doc(st(Action=[])), "Policy statement must contain actions."),
    (doc({"Effect": "Deny"}, st()), "Policy statement must contain actions."),
    (doc(st(Resource="arn:aws:iam:::example_bucket")), IAM_PATHS),
    (doc(st(Resource="arn:aws:s3::example_bucket")), LEGACY),
    (doc(st(Action=None, Resource="arn:aws:s3::example_bucket")), LEGACY),
    (doc(st(Resource="arn:aws")), "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc(st(Resource={"a": BUCKET})), SYNTAX),
    (doc(st(Effect="Deny", Resource=["adfdf", {}])), SYNTAX),
    (doc(st(Action=None, NotAction="s3:ListBucket", NotResource=[])), SYNTAX),
    (doc(st(Effect="Deny", Action=[[]])), SYNTAX),
    (doc(st(NotAction="s3s:ListBucket", Action=[])), SYNTAX),
    (doc(st(Action={})), SYNTAX),
    (doc(when([])), SYNTAX),
    (doc(when("a")), SYNTAX),
    (doc(when({"a": "b"})), SYNTAX),
    (doc(when({"DateGreaterThan": "b"})), SYNTAX),
    (doc(when({"DateGreaterThan": []})), SYNTAX),
    (doc(when({"DateGreaterThan": {"a": {}}})), SYNTAX),
    (doc(st(Action=None, Condition={"DateGreaterThan": {"a": {}}})), SYNTAX),
    (doc(when({"x": {"a": "1"}})), SYNTAX),
    (doc(when({"ForAnyValue::StringEqualsIfExists": {"a": "asf"}})), SYNTAX),
    (doc(when([{"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}}])), SYNTAX),
    (doc(st(Resource="arn:aws:iam:us-east-1::example_bucket")),
     "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."),
    (doc(st(Resource="arn:aws:s3:us-east-1::example_bucket")),
     "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
    (doc(st(Sid={})), SYNTAX),
    (doc(st(Sid=[])), SYNTAX),
    (doc(st(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}), "Statement IDs (SID) in a single policy must be unique."),
    (doc(st(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}, version=None), VERSION),
    (doc(st(NotAction="s3:ListBucket", Action="iam:dsf")), SYNTAX),
    (doc(st(NotResource="*")), SYNTAX),
    (doc(st(Effect="denY")), LEGACY),
    (doc(when({"DateGreaterThan": {"a": "sdfdsf"}})), LEGACY),
    (doc(when({"DateGreaterThan": {"a": "sdfdsf"}}), version=None), VERSION),
    (doc(st(Effect="denY"), version=None), VERSION),
    (doc(st(Action=None, Resource=None, Condition={"DateGreaterThan": {"a": "sdfdsf"}})), LEGACY),
    (doc(st(Action=None, NotAction="s3:ListBucket", Resource="arn:aws::::example_bucket")), LEGACY),
    (doc(st(Effect="allow", Action=None, Resource="arn:aws:s3:us-east-1::example_bucket")), LEGACY),
    (doc(st(Sid="sdf", Effect="aLLow"), {"Sid": "sdf", "Effect": "Allow"}), LEGACY),
    (doc(st(Resource=None, NotResource="arn:aws:s3::example_bucket")), LEGACY),
    (doc(when({"DateLessThanEquals": {"a": "234-13"}})), LEGACY),
    (doc(when({"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}})), LEGACY),
    (doc(when({"DateLessThanEquals": {"a": "2016-12-13t2:00:00.1999999999+10:59"}})), LEGACY),
    (doc(when({"DateLessThan": {"a": "9223372036854775808"}})), LEGACY),
    (doc(st(Resource="arn:error:s3:::example_bucket", Condition={"DateGreaterThan": {"a": "sdfdsf"}})), LEGACY),
    (doc(st(Resource="arn:aws::fdsasf")), LEGACY),
    (doc(st(Resource="*", Principal="*")), "Policy document should not specify a principal."),
]

MANAGED_ACCEPTED = [
    doc(st(Resource=[BUCKET])),
    doc(st(Action="iam: asdf safdsf af ")),
    doc(st(Resource=[BUCKET, "*"])),
    doc(st(Action="*")),
    doc(st(), st()),
    doc(st(Action="service-prefix:action-name", Resource="*",
           Condition={"DateGreaterThan": {"aws:CurrentTime": "2017-07-01T00:00:00Z"},
                      "DateLessThan": {"aws:CurrentTime": "2017-12-31T23:59:59Z"}})),
    doc(st(Action="fsx:ListBucket")),
    doc(st(Resource="arn:aws:iam:::user/example_bucket")),
    doc(st(Resource="arn:aws:s33:::example_bucket")),
    doc(st(Resource="arn:aws:fdsasf")),
    doc(when({})),
    doc(when({"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}})),
    doc(st(Resource="arn:aws:cloudwatch:us-east-1::example_bucket")),
    doc(st(Resource="arn:aws:ec2:us-east-1::example_bucket")),
    doc(st(Resource="arn:aws:invalid-service:::example_bucket")),
    doc(st(Resource="arn:aws:invalid-service:us-east-1::example_bucket")),
    doc(when({"DateGreaterThan": {}})),
    doc(when({"DateGreaterThan": {"a": []}})),
    doc(when({"a": {}})),
    doc(when({"x": {}, "y": {}})),
    doc(st(Sid="dsfsdfsdfsdfsdfsadfsd")),
    doc(st(Action=None, NotAction="s3:ListBucket")),
    doc(st(Effect="Deny", Action="s3:*", Resource=None,
           NotResource=["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"])),
    doc(st(Action=None, NotAction="s3:ListBucket"), Id="sdfsdfsdf"),
    doc(st(Action="aaaaaadsfdsafsadfsadfaaaaa:ListBucket")),
    doc(st(Action="s3-s:ListBucket")),
    doc(st(Action="s3.s:ListBucket")),
    doc(st(Action=None, NotAction="s3:ListBucket", Resource=None, NotResource="*")),
    doc(st(Sid="sdf"), st()),
    doc(st(Sid=""), st(Sid="")),
    doc(when({"DateGreaterThan": {"a": "01T"}})),
    doc(when({"StringEqualsIfExists": {"a": "asf"}})),
    doc(when({"ForAnyValue:StringEqualsIfExists": {"a": "asf"}})),
    doc(when({"DateLessThanEquals": {"a": "2019-07-01T13:20:15Z"}})),
    doc(when({"DateLessThanEquals": {"a": "2016-12-13T21:20:37.593194+00:00"}})),
    doc(when({"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+23"}})),
    doc(when({"DateLessThan": {"a": "-292275054"}})),
    doc(when({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
        st(Resource="arn:aws:iam::*:user/${aws:username}")),
    doc(st(Action="dynamodb:Get*", Resource="arn:aws:dynamodb:*:*:table/MyTable")),
    doc(st(Action="ec2:AttachVolume", Resource=["arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:instance/*"],
           Condition={"ArnEquals": {"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/instance-id"}})),
    doc(st(Action="ec2:StartInstances", Resource="arn:aws:ec2:region:account-id:instance/*")),
    doc(st(Resource="arn:aws:s3:::bucket-name/cognito/application-name/${cognito-identity.amazonaws.com:sub}")),
    doc(st(Action="rds:*", Resource=["arn:aws:rds:region:*:*"]), st(Action=["rds:Describe*"], Resource=["*"])),
    doc(st(Action=["s3:*"], Resource=["arn:aws:s3:us-west-2:123456789012:accesspoint/my-access-point",
                                      "arn:aws:s3:us-west-2:123456789012:accesspoint/my-access-point/object/*"])),
    doc(when({"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}})),
    doc(st(Resource="arn:aws-cn:s3:::example_bucket")),
]


@pytest.mark.parametrize(("document", "message"), MANAGED_REFUSED)
def test_managed_policy_grammar(document, message):
    with pytest.raises(PolicyError) as exc:
        parse(document, "managed")
    assert exc.value.message == message


@pytest.mark.parametrize("document", MANAGED_ACCEPTED)
def test_managed_policies_iam_accepts(document):
    assert parse(document, "managed") == json.loads(document)


def test_inline_policies_may_be_older_or_unversioned():
    for document in (doc(st(), version=None), doc(st(), version="2008-10-17")):
        assert parse(document) == json.loads(document)
    with pytest.raises(PolicyError, match="^Syntax errors in policy.$"):
        parse(doc(st(), version="2013-10-17"))
    with pytest.raises(PolicyError, match="^Statement IDs"):
        parse(doc(st(Sid="a"), st(Sid="a"), version=None))


def test_size_leaves_out_white_space():
    assert size('{ "Version" : "2012-10-17" }\n\t') == len('{"Version":"2012-10-17"}')


def test_trust_policy_grammar():
    good = {"Statement": {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                          "Action": "sts:AssumeRole"}}
    assert parse(json.dumps(good), "trust") == good
    with pytest.raises(PolicyError, match="Missing required field Principal"):
        parse('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}', "trust")
    with pytest.raises(PolicyError, match="Invalid principal in policy"):
        parse('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "bob"}}}',
              "trust")
    with pytest.raises(PolicyError, match="Has prohibited field Resource"):
        parse('{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "*", "Resource": "*"}}',
              "trust")


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
    odd = policy(allow("*", "*", Condition={"NumericLessThan": {"aws:username": "1"}}))
    assert outcome([odd]) == "implicit"
    later = {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
    odd_deny = policy(allow("*"), deny("*", "*", Condition=later))
    assert outcome([odd_deny]) == "allow"


# --- trust -----------------------------------------------------------------------------------------


def trust(principal, effect="Allow"):
    return compile_policy(parse(json.dumps({"Statement": [
        {"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"}]}), "trust"))


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
