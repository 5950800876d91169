"""Policy documents and tags checked as IAM checks them, through boto3 against a real server."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.domain.test_policy import MANAGED_ACCEPTED, MANAGED_REFUSED, doc, st

TAG_PATTERN = r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+"
DUPLICATE = "Duplicate tag keys found. Please note that Tag keys are case insensitive."


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def _trust(**statement) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole",
         **statement}]})


def _padded_document(characters: int) -> str:
    """A valid policy of exactly ``characters`` characters once white space is left out."""
    base = doc(st(Sid="", Resource="*"))
    return base.replace('"Sid": ""', '"Sid": "' + "x" * (characters - len("".join(base.split()))) + '"')


def test_create_policy_refuses_what_iam_refuses_in_iams_words(server):
    iam = server.client("iam")
    for document, message in MANAGED_REFUSED:
        with pytest.raises(ClientError) as exc:
            iam.create_policy(PolicyName=_unique("refused"), PolicyDocument=document)
        assert _error(exc) == ("MalformedPolicyDocument", message, 400), document


def test_create_policy_accepts_what_iam_accepts(server):
    iam = server.client("iam")
    for document in MANAGED_ACCEPTED:
        arn = iam.create_policy(PolicyName=_unique("accepted"), PolicyDocument=document)["Policy"]["Arn"]
        assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"] == \
            json.loads(document)
        iam.delete_policy(PolicyArn=arn)
    arn = iam.create_policy(PolicyName=_unique("versioned"), PolicyDocument=doc(st()))["Policy"]["Arn"]
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(st(), version="2008-10-17"))
    assert _error(exc) == ("MalformedPolicyDocument", "Policy document must be version 2012-10-17 or greater.", 400)


def test_inline_policies_have_the_same_grammar_but_any_version(server):
    iam = server.client("iam")
    user = _unique("inline")
    iam.create_user(UserName=user)
    for version in (None, "2008-10-17", "2012-10-17"):
        iam.put_user_policy(UserName=user, PolicyName=f"v-{version}", PolicyDocument=doc(st(), version=version))
    for document, message in [
        (doc(st(Action="s3:List:Bucket"), version=None), "Actions/Condition can contain only one colon."),
        (doc(st(Resource="bucket")), 'Resource bucket must be in ARN format or "*".'),
        (doc(st(Principal="*")), "Policy document should not specify a principal."),
        (doc(st(Sid="a"), st(Sid="a")), "Statement IDs (SID) in a single policy must be unique."),
    ]:
        with pytest.raises(ClientError) as exc:
            iam.put_user_policy(UserName=user, PolicyName="bad", PolicyDocument=document)
        assert _error(exc) == ("MalformedPolicyDocument", message, 400)
    role = _unique("inline")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust())
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=role, PolicyName="bad", PolicyDocument=doc(st(Effect="allow")))
    assert _error(exc) == ("MalformedPolicyDocument", "The policy failed legacy parsing", 400)


def test_trust_policies(server):
    iam = server.client("iam")
    older = json.dumps({"Version": "2008-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role = _unique("trusted")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=older)
    for document, message in [
        (_trust(Resource="*"), "Has prohibited field Resource"),
        (doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "Missing required field Principal"),
        (_trust(Action="AssumeRole"), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (_trust(Colour="red"), "Syntax errors in policy."),
    ]:
        with pytest.raises(ClientError) as exc:
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=document)
        assert _error(exc) == ("MalformedPolicyDocument", message, 400)
        with pytest.raises(ClientError) as exc:
            iam.create_role(RoleName=_unique("untrusted"), AssumeRolePolicyDocument=document)
        assert _error(exc)[0] == "MalformedPolicyDocument"


def test_document_sizes_are_counted_without_white_space(server):
    iam = server.client("iam")
    fits = _padded_document(6144)
    assert len(fits) > 6144  # its spaces are not counted
    arn = iam.create_policy(PolicyName=_unique("big"), PolicyDocument=fits)["Policy"]["Arn"]
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=_unique("too-big"), PolicyDocument=_padded_document(6145))
    assert _error(exc) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=_padded_document(6145))
    assert _error(exc)[:2] == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144")

    # A user's inline policies count together; putting one again counts it once.
    user = _unique("sized")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="a", PolicyDocument=_padded_document(1024))
    iam.put_user_policy(UserName=user, PolicyName="b", PolicyDocument=_padded_document(1024))
    iam.put_user_policy(UserName=user, PolicyName="b", PolicyDocument=_padded_document(1024))
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName=user, PolicyName="c", PolicyDocument=_padded_document(100))
    assert _error(exc) == ("LimitExceeded", f"Maximum policy size of 2048 bytes exceeded for user {user}", 409)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["a", "b"]

    role = _unique("sized")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=_trust())
    iam.put_role_policy(RoleName=role, PolicyName="a", PolicyDocument=_padded_document(10240))
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName=role, PolicyName="b", PolicyDocument=_padded_document(100))
    assert _error(exc)[:2] == ("LimitExceeded", f"Maximum policy size of 10240 bytes exceeded for role {role}")
    big_trust = json.loads(_trust())
    big_trust["Statement"][0]["Sid"] = "x" * 2048
    with pytest.raises(ClientError) as exc:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(big_trust))
    assert _error(exc)[:2] == ("LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")


def test_cloudformation_iam_resources_are_checked_the_same_way(server):
    cf = server.client("cloudformation")
    template = json.dumps({"Resources": {"Unversioned": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}}}}})
    stack_id = cf.create_stack(StackName=_unique("unversioned"), TemplateBody=template,
                               Capabilities=["CAPABILITY_IAM"])["StackId"]
    deadline = time.time() + 60
    while (status := cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]).endswith("_IN_PROGRESS"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert status == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in cf.describe_stack_events(StackName=stack_id)["StackEvents"]
               if e["ResourceStatus"] == "CREATE_FAILED"]
    assert any("Policy document must be version 2012-10-17 or greater." in reason for reason in reasons), reasons


# --- tags ------------------------------------------------------------------------------------------


def _tag_errors(call, *args) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(*args)
    return _error(exc)[:2]


@pytest.mark.parametrize("kind", ["user", "role", "policy"])
def test_tags_are_checked_and_merged_as_iam_does(server, kind):
    iam = server.client("iam")
    name = _unique(f"tagged-{kind}")
    if kind == "user":
        target = {"UserName": name}
        create = lambda **tags: iam.create_user(UserName=_unique("tagged"), **tags)  # noqa: E731
        iam.create_user(UserName=name, Tags=[{"Key": "Team", "Value": "ml"}])
        tag, untag, listed = iam.tag_user, iam.untag_user, iam.list_user_tags
    elif kind == "role":
        target = {"RoleName": name}
        create = lambda **tags: iam.create_role(  # noqa: E731
            RoleName=_unique("tagged"), AssumeRolePolicyDocument=_trust(), **tags)
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(), Tags=[{"Key": "Team", "Value": "ml"}])
        tag, untag, listed = iam.tag_role, iam.untag_role, iam.list_role_tags
    else:
        create = lambda **tags: iam.create_policy(  # noqa: E731
            PolicyName=_unique("tagged"), PolicyDocument=doc(st()), **tags)
        made = iam.create_policy(PolicyName=name, PolicyDocument=doc(st()), Tags=[{"Key": "Team", "Value": "ml"}])
        assert made["Policy"]["Tags"] == [{"Key": "Team", "Value": "ml"}]
        target = {"PolicyArn": made["Policy"]["Arn"]}
        tag, untag, listed = iam.tag_policy, iam.untag_policy, iam.list_policy_tags

    # A key differing only in case replaces the tag there; keys and values may be Unicode letters.
    tag(**target, Tags=[{"Key": "team", "Value": "data"}, {"Key": "Kostenstelle", "Value": "Zürich 12"},
                        {"Key": "비용", "Value": ""}])
    assert listed(**target)["Tags"] == [{"Key": "team", "Value": "data"}, {"Key": "Kostenstelle", "Value": "Zürich 12"},
                                        {"Key": "비용", "Value": ""}]
    page = listed(**target, MaxItems=2)
    assert (len(page["Tags"]), page["IsTruncated"]) == (2, True)
    assert listed(**target, Marker=page["Marker"])["Tags"] == [{"Key": "비용", "Value": ""}]
    untag(**target, TagKeys=["TEAM", "absent"])
    assert [t["Key"] for t in listed(**target)["Tags"]] == ["Kostenstelle", "비용"]

    for call in (lambda tags: tag(**target, Tags=tags), lambda tags: create(Tags=tags)):
        assert _tag_errors(call, [{"Key": "a", "Value": ""}, {"Key": "A", "Value": ""}]) == (
            "InvalidInput", DUPLICATE)
        code, message = _tag_errors(call, [{"Key": "NOWAY!", "Value": ""}])
        assert code == "ValidationError" and "'tags.1.member.key'" in message and TAG_PATTERN in message
        code, message = _tag_errors(call, [{"Key": "ok", "Value": "no#way"}])
        assert code == "ValidationError" and "'tags.1.member.value'" in message
        code, message = _tag_errors(call, [{"Key": "0" * 129, "Value": ""}])
        assert code == "ValidationError" and "Member must have length less than or equal to 128" in message
        code, message = _tag_errors(call, [{"Key": "0", "Value": "0" * 257}])
        assert code == "ValidationError" and "Member must have length less than or equal to 256" in message
        code, message = _tag_errors(call, [{"Key": str(n), "Value": ""} for n in range(51)])
        assert code == "ValidationError" and "Member must have length less than or equal to 50" in message
    code, message = _tag_errors(lambda: untag(**target, TagKeys=["NOWAY!"]))
    assert code == "ValidationError" and "tagKeys" in message and TAG_PATTERN in message

    # At most 50 on one resource, counted after the merge.
    tag(**target, Tags=[{"Key": f"k{n}", "Value": ""} for n in range(48)])
    assert _tag_errors(lambda: tag(**target, Tags=[{"Key": "one", "Value": ""}])) == (
        "LimitExceeded", "The number of tags has reached the maximum limit of 50.")
    tag(**target, Tags=[{"Key": "K0", "Value": "replaced"}])
    assert len(listed(**target)["Tags"]) == 50
