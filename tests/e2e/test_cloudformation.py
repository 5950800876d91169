"""CloudFormation end to end, through boto3 and the AWS CLI against a real server: stacks of log groups,
wait conditions, IAM roles and notebook instances; exports; rollback; updates; change sets; restarts."""

from __future__ import annotations

import base64
import http.server
import json
import textwrap
import threading
import time

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ServerProcess


def wait_stack(cf, name: str, timeout: float = 90) -> dict:
    """Poll until the stack's operation is over; returns the stack."""
    deadline = time.time() + timeout
    while True:
        stack = cf.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        assert time.time() < deadline, f"{name} still {stack['StackStatus']}"
        time.sleep(0.2)


def events(cf, name: str) -> list[tuple[str, str, str]]:
    """(logical id, status, reason) of every event, oldest first."""
    listed = cf.describe_stack_events(StackName=name)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")) for e in reversed(listed)]


def group_names(server, prefix: str) -> list[str]:
    groups = server.client("logs").describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    return [group["logGroupName"] for group in groups]


def body(text: str) -> str:
    return textwrap.dedent(text)


EXPORTER = body("""\
    Description: A log group and a wait condition handle, exported
    Parameters:
      Prefix:
        Type: String
        Default: /cfn-e2e
        AllowedPattern: "/[\\\\w&&[^_]][-\\\\w/]*"
        ConstraintDescription: a log group path such as /team
      Secret:
        Type: String
        NoEcho: true
        Default: hush
    Resources:
      Group:
        Type: AWS::Logs::LogGroup
        Properties:
          LogGroupName: !Sub "${Prefix}/${AWS::StackName}"
          RetentionInDays: 7
      Handle:
        Type: AWS::CloudFormation::WaitConditionHandle
    Outputs:
      GroupName:
        Description: the group
        Value: !Ref Group
        Export:
          Name: !Sub "${AWS::StackName}-group"
      GroupArn:
        Value: !GetAtt Group.Arn
      HandleUrl:
        Value: !Ref Handle
    """)

IMPORTER = body("""\
    Parameters:
      Exporter:
        Type: String
    Resources:
      Child:
        Type: AWS::Logs::LogGroup
        Properties:
          LogGroupName: !Join ["", [!ImportValue {"Fn::Sub": "${Exporter}-group"}, "/child"]]
    Outputs:
      ChildName:
        Value: !Ref Child
    """)


@pytest.fixture(scope="module")
def exporter(server):
    cf = server.client("cloudformation")
    stack_id = cf.create_stack(StackName="exporter", TemplateBody=EXPORTER)["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/exporter/")
    assert wait_stack(cf, "exporter")["StackStatus"] == "CREATE_COMPLETE"
    return stack_id


def test_create_stack_makes_the_resources_through_their_services(server, exporter):
    cf = server.client("cloudformation")
    stack = cf.describe_stacks(StackName="exporter")["Stacks"][0]
    assert stack["StackId"] == exporter
    assert stack["Description"] == "A log group and a wait condition handle, exported"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "Prefix": "/cfn-e2e", "Secret": "****"}
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert outputs["GroupName"]["OutputValue"] == "/cfn-e2e/exporter"
    assert outputs["GroupName"]["ExportName"] == "exporter-group"
    assert outputs["GroupName"]["Description"] == "the group"
    assert outputs["GroupArn"]["OutputValue"] == "arn:aws:logs:us-east-1:123456789012:log-group:/cfn-e2e/exporter:*"
    assert outputs["HandleUrl"]["OutputValue"].startswith(server.endpoint_url + "/")
    group = server.client("logs").describe_log_groups(logGroupNamePrefix="/cfn-e2e/exporter")["logGroups"][0]
    assert group["retentionInDays"] == 7
    resources = {r["LogicalResourceId"]: r for r in cf.list_stack_resources(StackName="exporter")
                 ["StackResourceSummaries"]}
    assert resources["Group"]["PhysicalResourceId"] == "/cfn-e2e/exporter"
    assert resources["Group"]["ResourceStatus"] == "CREATE_COMPLETE"
    detail = cf.describe_stack_resource(StackName="exporter", LogicalResourceId="Handle")["StackResourceDetail"]
    assert detail["ResourceType"] == "AWS::CloudFormation::WaitConditionHandle"
    assert cf.get_template(StackName="exporter")["TemplateBody"] == EXPORTER
    exports = {e["Name"]: e for e in cf.list_exports()["Exports"]}
    assert exports["exporter-group"] == {"ExportingStackId": exporter, "Name": "exporter-group",
                                         "Value": "/cfn-e2e/exporter"}
    with pytest.raises(ClientError) as caught:
        cf.create_stack(StackName="exporter", TemplateBody=EXPORTER)
    assert caught.value.response["Error"]["Code"] == "AlreadyExistsException"
    assert caught.value.response["Error"]["Message"] == "Stack [exporter] already exists"


def test_stack_events_tell_the_story_in_order(server, exporter):
    cf = server.client("cloudformation")
    listed = cf.describe_stack_events(StackName="exporter")["StackEvents"]
    for event in listed:
        assert {"EventId", "StackId", "StackName", "LogicalResourceId", "ResourceType", "ResourceStatus",
                "Timestamp"} <= set(event)
    times = [e["Timestamp"] for e in listed]
    assert times == sorted(times, reverse=True)  # newest first
    story = events(cf, "exporter")
    assert story[0] == ("exporter", "CREATE_IN_PROGRESS", "User Initiated")
    assert story[-1] == ("exporter", "CREATE_COMPLETE", "")
    group = [(status, reason) for logical, status, reason in story if logical == "Group"]
    assert group == [("CREATE_IN_PROGRESS", ""), ("CREATE_IN_PROGRESS", "Resource creation Initiated"),
                     ("CREATE_COMPLETE", "")]
    first = next(e for e in reversed(listed) if e["LogicalResourceId"] == "Group")
    assert json.loads(first["ResourceProperties"]) == {"LogGroupName": "/cfn-e2e/exporter", "RetentionInDays": 7}
    complete = next(e for e in listed if e["LogicalResourceId"] == "Group" and e["ResourceStatus"] == "CREATE_COMPLETE")
    assert complete["PhysicalResourceId"] == "/cfn-e2e/exporter"
    assert complete["ResourceType"] == "AWS::Logs::LogGroup"


def test_an_import_holds_the_export_until_the_importer_goes(server, exporter):
    cf = server.client("cloudformation")
    importer_id = cf.create_stack(StackName="importer", TemplateBody=IMPORTER,
                                  Parameters=[{"ParameterKey": "Exporter", "ParameterValue": "exporter"}])["StackId"]
    importer = wait_stack(cf, "importer")
    assert importer["StackStatus"] == "CREATE_COMPLETE"
    assert importer["Outputs"][0]["OutputValue"] == "/cfn-e2e/exporter/child"
    assert group_names(server, "/cfn-e2e/exporter/child") == ["/cfn-e2e/exporter/child"]

    cf.create_stack(StackName="second-exporter", TemplateBody=EXPORTER.replace("${AWS::StackName}-group",
                                                                               "exporter-group"))
    clash = wait_stack(cf, "second-exporter")
    assert clash["StackStatus"] == "ROLLBACK_COMPLETE"
    assert clash["StackStatusReason"] == ("Export with name exporter-group is already exported by stack exporter. "
                                          "Rollback requested by user.")
    assert group_names(server, "/cfn-e2e/second-exporter") == []

    cf.delete_stack(StackName="exporter")
    held = wait_stack(cf, exporter)
    assert held["StackStatus"] == "DELETE_FAILED"
    assert held["StackStatusReason"] == "Export exporter-group cannot be deleted as it is in use by importer"
    assert group_names(server, "/cfn-e2e/exporter") == ["/cfn-e2e/exporter", "/cfn-e2e/exporter/child"]

    cf.delete_stack(StackName="importer")
    wait_stack(cf, importer_id)
    cf.delete_stack(StackName="exporter")
    assert wait_stack(cf, exporter)["StackStatus"] == "DELETE_COMPLETE"
    assert group_names(server, "/cfn-e2e/exporter") == []
    assert "exporter-group" not in [e["Name"] for e in cf.list_exports()["Exports"]]
    with pytest.raises(ClientError) as caught:
        cf.describe_stacks(StackName="exporter")
    assert caught.value.response["Error"]["Message"] == "Stack with id exporter does not exist"


@pytest.mark.parametrize("template, extra, code, message", [
    (EXPORTER, {"Parameters": [{"ParameterKey": "Prefix", "ParameterValue": "/_bad"}]}, "ValidationError",
     "Parameter 'Prefix' failed to satisfy constraint: a log group path such as /team"),
    (body("""\
        Parameters:
          Size:
            Type: String
            AllowedValues: [small, large]
        Resources:
          Group:
            Type: AWS::Logs::LogGroup
        """), {"Parameters": [{"ParameterKey": "Size", "ParameterValue": "huge"}]}, "ValidationError",
     "Parameter 'Size' must be one of AllowedValues"),
    (body("""\
        Parameters:
          Name:
            Type: String
            AllowedPattern: "[\\\\w&&[^_]]+"
        Resources:
          Group:
            Type: AWS::Logs::LogGroup
        """), {"Parameters": [{"ParameterKey": "Name", "ParameterValue": "no_underscores"}]}, "ValidationError",
     "Parameter 'Name' must match pattern [\\w&&[^_]]+"),
    (EXPORTER.replace("    Default: /cfn-e2e\n", ""), {}, "ValidationError", "Parameters: [Prefix] must have values"),
    (body("""\
        Resources:
          Group:
            Type: AWS::Logs::LogGroup
          Role:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument: {}
        """), {}, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"),
    (body("""\
        Resources:
          Role:
            Type: AWS::IAM::Role
            Properties:
              RoleName: named
              AssumeRolePolicyDocument: {}
        """), {"Capabilities": ["CAPABILITY_IAM"]}, "InsufficientCapabilitiesException",
     "Requires capabilities : [CAPABILITY_NAMED_IAM]"),
    (body("""\
        Resources:
          Group:
            Type: AWS::Logs::LogGroup
          Bar:
            Type: AWS::Foo::Bar
        """), {}, "ValidationError", "Template format error: Unrecognized resource types: [AWS::Foo::Bar]"),
    (body("""\
        Resources:
          Group:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: !Ref Nowhere
        """), {}, "ValidationError",
     "Template format error: [/Resources/Group/Properties/LogGroupName/Ref] Unresolved resource dependencies "
     "[Nowhere] in the Resources block of the template (line 5)"),
])
def test_bad_input_is_refused_with_aws_errors_and_nothing_is_created(server, template, extra, code, message):
    cf = server.client("cloudformation")
    with pytest.raises(ClientError) as caught:
        cf.create_stack(StackName="refused", TemplateBody=template, **extra)
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (code, message)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "refused" not in [s["StackName"] for s in cf.list_stacks()["StackSummaries"]]
    assert group_names(server, "/cfn-e2e/refused") == []


def test_validate_and_summarize_templates(server, tmp_path):
    cf = server.client("cloudformation")
    validated = cf.validate_template(TemplateBody=EXPORTER)
    assert validated["Description"] == "A log group and a wait condition handle, exported"
    assert {p["ParameterKey"]: p.get("DefaultValue") for p in validated["Parameters"]} == {
        "Prefix": "/cfn-e2e", "Secret": "hush"}
    with pytest.raises(ClientError) as caught:
        cf.validate_template(TemplateBody="Resources:\n  A:\n    Type: AWS::Logs::LogGroup\n    Oops: 1\n")
    assert caught.value.response["Error"]["Message"] == (
        "Template format error: [/Resources/A/Oops] Invalid template resource property 'Oops' (line 4)")
    # Bundled templates by name, and the host's files (for root)
    summary = cf.get_template_summary(TemplateURL="selfmaker://fastai.yaml")
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]
    assert "AWS::SageMaker::NotebookInstance" in summary["ResourceTypes"]
    assert cf.get_template_summary(TemplateURL="fastai")["Version"] == "2010-09-09"
    path = tmp_path / "template.json"
    path.write_text(json.dumps({"Resources": {"G": {"Type": "AWS::Logs::LogGroup"}}}))
    assert cf.validate_template(TemplateURL=f"file://{path}")["Parameters"] == []
    with pytest.raises(ClientError) as caught:
        cf.validate_template(TemplateURL=f"{server.endpoint_url}/_selfmaker/health")
    assert "is this Selfmaker server itself" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        cf.validate_template(TemplateURL="http://169.254.169.254/latest/meta-data")
    assert "SELFMAKER_TEMPLATE_ALLOW_PRIVATE_URLS=1" in caught.value.response["Error"]["Message"]


WAITING = body("""\
    Parameters:
      Timeout:
        Type: Number
        Default: 60
    Resources:
      Handle:
        Type: AWS::CloudFormation::WaitConditionHandle
      Wait:
        Type: AWS::CloudFormation::WaitCondition
        Properties:
          Handle: !Ref Handle
          Timeout: !Ref Timeout
          Count: 2
      Group:
        Type: AWS::Logs::LogGroup
        DependsOn: Wait
        Properties:
          LogGroupName: !Sub "/cfn-e2e/${AWS::StackName}"
    Outputs:
      Data:
        Value: !GetAtt Wait.Data
    """)


def _signal(url: str, status: str, unique_id: str, data: str = "") -> None:
    response = httpx.put(url, content=json.dumps({"Status": status, "Reason": f"{unique_id} says {status}",
                                                  "UniqueId": unique_id, "Data": data}))
    assert response.status_code == 200, response.text


def _handle_url(cf, name: str) -> str:
    """The handle's URL, once the wait condition is waiting on it."""
    deadline = time.time() + 30
    while time.time() < deadline:
        resources = {r["LogicalResourceId"]: r for r in cf.describe_stack_resources(StackName=name)["StackResources"]}
        if resources.get("Wait", {}).get("PhysicalResourceId"):
            return resources["Handle"]["PhysicalResourceId"]
        time.sleep(0.1)
    raise AssertionError("the wait condition did not start")


def test_wait_condition_waits_for_its_signals(server):
    cf = server.client("cloudformation")
    cf.create_stack(StackName="waiting", TemplateBody=WAITING)
    url = _handle_url(cf, "waiting")
    _signal(url, "SUCCESS", "first", "one")
    assert cf.describe_stacks(StackName="waiting")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
    assert httpx.put(url + "x", content="{}").status_code == 403
    _signal(url, "SUCCESS", "second", "two")
    stack = wait_stack(cf, "waiting")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert json.loads(stack["Outputs"][0]["OutputValue"]) == {"first": "one", "second": "two"}
    cf.delete_stack(StackName="waiting")
    wait_stack(cf, stack["StackId"])
    assert httpx.put(url, content="{}").status_code == 403  # the handle went with its stack


def test_a_failure_signal_rolls_back_what_was_created(server):
    cf = server.client("cloudformation")
    cf.create_stack(StackName="signalled-failure", TemplateBody=WAITING)
    _signal(_handle_url(cf, "signalled-failure"), "FAILURE", "setup", "")
    stack = wait_stack(cf, "signalled-failure")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"] == ("The following resource(s) failed to create: [Wait]. "
                                          "Rollback requested by user.")
    story = events(cf, "signalled-failure")
    assert ("Wait", "CREATE_FAILED", "WaitCondition received failed message: 'setup says FAILURE' for uniqueId: "
                                     "setup") in story
    assert story[-3:] == [("Handle", "DELETE_IN_PROGRESS", ""), ("Handle", "DELETE_COMPLETE", ""),
                          ("signalled-failure", "ROLLBACK_COMPLETE", "")]
    assert "Group" not in [logical for logical, _, _ in story]  # never started: it waited on Wait


@pytest.mark.parametrize("options, status", [
    ({"OnFailure": "DO_NOTHING"}, "CREATE_FAILED"),
    ({"DisableRollback": True}, "CREATE_FAILED"),
    ({"OnFailure": "DELETE"}, "DELETE_COMPLETE"),
])
def test_on_failure_decides_what_a_failed_create_leaves(server, options, status):
    cf = server.client("cloudformation")
    name = f"on-failure-{status.lower().replace('_', '-')}-{len(options)}{sorted(options)[0][0].lower()}"
    template = WAITING.replace("DependsOn: Wait", "DependsOn: Handle")
    stack_id = cf.create_stack(StackName=name, TemplateBody=template, **options,
                               Parameters=[{"ParameterKey": "Timeout", "ParameterValue": "1"}])["StackId"]
    stack = wait_stack(cf, stack_id)
    assert stack["StackStatus"] == status
    story = events(cf, stack_id)
    decided = {status: reason for logical, status, reason in story if logical == name and reason}
    expected = "The following resource(s) failed to create: [Wait]. "
    assert decided == ({"CREATE_IN_PROGRESS": "User Initiated", "CREATE_FAILED": expected} if status == "CREATE_FAILED"
                       else {"CREATE_IN_PROGRESS": "User Initiated",
                             "DELETE_IN_PROGRESS": expected + "Delete requested by user."})
    reasons = [reason for logical, _, reason in story if logical == "Wait"]
    assert "WaitCondition timed out. Received 0 conditions when expecting 2" in reasons
    kept = group_names(server, f"/cfn-e2e/{name}")
    assert kept == ([f"/cfn-e2e/{name}"] if status == "CREATE_FAILED" else [])
    if status == "CREATE_FAILED":
        cf.delete_stack(StackName=name)
        assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
        assert group_names(server, f"/cfn-e2e/{name}") == []


def test_deletion_policy_retain_keeps_the_resource(server):
    cf = server.client("cloudformation")
    template = body("""\
        Resources:
          Kept:
            Type: AWS::Logs::LogGroup
            DeletionPolicy: Retain
            Properties:
              LogGroupName: /cfn-e2e/retained
          Dropped:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: /cfn-e2e/dropped
        """)
    stack_id = cf.create_stack(StackName="retaining", TemplateBody=template)["StackId"]
    wait_stack(cf, "retaining")
    cf.delete_stack(StackName="retaining")
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert ("Kept", "DELETE_SKIPPED", "") in events(cf, stack_id)
    assert group_names(server, "/cfn-e2e/retained") == ["/cfn-e2e/retained"]
    assert group_names(server, "/cfn-e2e/dropped") == []
    listed = {s["StackId"]: s for s in cf.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]}
    assert listed[stack_id]["StackName"] == "retaining"
    assert "DeletionTime" in listed[stack_id]
    server.client("logs").delete_log_group(logGroupName="/cfn-e2e/retained")


UPDATABLE = body("""\
    Parameters:
      Days:
        Type: Number
        Default: 7
      Suffix:
        Type: String
        Default: a
    Resources:
      Group:
        Type: AWS::Logs::LogGroup
        Properties:
          LogGroupName: !Sub "/cfn-e2e/updating-${Suffix}"
          RetentionInDays: !Ref Days
    Outputs:
      Name:
        Value: !Ref Group
    """)


def test_update_in_place_replacement_no_op_and_rollback(server):
    cf = server.client("cloudformation")
    stack_id = cf.create_stack(StackName="updating", TemplateBody=UPDATABLE)["StackId"]
    wait_stack(cf, "updating")
    with pytest.raises(ClientError) as caught:
        cf.update_stack(StackName="updating", TemplateBody=UPDATABLE.replace("Days:", "Days: ") + "\n")
    assert caught.value.response["Error"]["Message"] == "No updates are to be performed."

    # in place: the same log group, another retention
    cf.update_stack(StackName="updating", UsePreviousTemplate=True,
                    Parameters=[{"ParameterKey": "Days", "ParameterValue": "14"}])
    assert wait_stack(cf, "updating")["StackStatus"] == "UPDATE_COMPLETE"
    group = server.client("logs").describe_log_groups(logGroupNamePrefix="/cfn-e2e/updating-")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in group] == [("/cfn-e2e/updating-a", 14)]

    # replacement: a new name makes a new group; the old one goes in the cleanup phase
    cf.update_stack(StackName="updating", UsePreviousTemplate=True,
                    Parameters=[{"ParameterKey": "Days", "UsePreviousValue": True},
                                {"ParameterKey": "Suffix", "ParameterValue": "b"}])
    stack = wait_stack(cf, "updating")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["Outputs"][0]["OutputValue"] == "/cfn-e2e/updating-b"
    assert group_names(server, "/cfn-e2e/updating-") == ["/cfn-e2e/updating-b"]
    story = events(cf, "updating")
    assert ("Group", "UPDATE_IN_PROGRESS",
            "Requested update requires the creation of a new physical resource; hence creating one.") in story
    assert ("updating", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "") in story

    # a failing update rolls back: the new resources (a wait condition, a replacement group) go, the old
    # group comes back as it was
    failing = UPDATABLE.replace("Resources:\n", body("""\
        Resources:
          Handle:
            Type: AWS::CloudFormation::WaitConditionHandle
          Wait:
            Type: AWS::CloudFormation::WaitCondition
            Properties:
              Handle: !Ref Handle
              Timeout: 1
        """))
    cf.update_stack(StackName="updating", TemplateBody=failing,
                    Parameters=[{"ParameterKey": "Days", "ParameterValue": "30"},
                                {"ParameterKey": "Suffix", "ParameterValue": "c"}])
    stack = wait_stack(cf, "updating")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"] == "The following resource(s) failed to create: [Wait]. "
    replaced = [(e["ResourceStatus"], e["PhysicalResourceId"]) for e in cf.describe_stack_events(
        StackName="updating")["StackEvents"] if e["LogicalResourceId"] == "Group"]
    assert replaced[:2] == [("DELETE_COMPLETE", "/cfn-e2e/updating-c"), ("DELETE_IN_PROGRESS", "/cfn-e2e/updating-c")]
    group = server.client("logs").describe_log_groups(logGroupNamePrefix="/cfn-e2e/updating-")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in group] == [("/cfn-e2e/updating-b", 14)]
    assert sorted(r["LogicalResourceId"] for r in cf.describe_stack_resources(StackName="updating")
                  ["StackResources"]) == ["Group"]
    assert cf.get_template(StackName="updating")["TemplateBody"] == UPDATABLE
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"Days": "14", "Suffix": "b"}

    cf.delete_stack(StackName="updating")
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert group_names(server, "/cfn-e2e/updating-") == []


def test_change_sets_describe_what_an_update_would_do(server):
    cf = server.client("cloudformation")
    created = cf.create_change_set(StackName="changing", ChangeSetName="first", ChangeSetType="CREATE",
                                   TemplateBody=UPDATABLE.replace("updating", "changing"))
    assert cf.describe_stacks(StackName="changing")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    described = cf.describe_change_set(ChangeSetName="first", StackName="changing")
    assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert described["Changes"][0]["ResourceChange"]["Action"] == "Add"
    cf.execute_change_set(ChangeSetName=created["Id"])
    assert wait_stack(cf, "changing")["StackStatus"] == "CREATE_COMPLETE"
    assert cf.describe_change_set(ChangeSetName=created["Id"])["ExecutionStatus"] == "EXECUTE_COMPLETE"

    cf.create_change_set(StackName="changing", ChangeSetName="rename", UsePreviousTemplate=True,
                         Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "z"}])
    change = cf.describe_change_set(ChangeSetName="rename", StackName="changing")["Changes"][0]["ResourceChange"]
    assert (change["Action"], change["Replacement"], change["PhysicalResourceId"]) == (
        "Modify", "True", "/cfn-e2e/changing-a")
    assert change["Details"][0]["Target"] == {"Attribute": "Properties", "Name": "LogGroupName",
                                              "RequiresRecreation": "Always"}
    cf.create_change_set(StackName="changing", ChangeSetName="same", UsePreviousTemplate=True)
    same = cf.describe_change_set(ChangeSetName="same", StackName="changing")
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert same["StatusReason"].startswith("The submitted information didn't contain changes.")
    with pytest.raises(ClientError) as caught:
        cf.execute_change_set(ChangeSetName="same", StackName="changing")
    assert caught.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    names = [s["ChangeSetName"] for s in cf.list_change_sets(StackName="changing")["Summaries"]]
    assert names == ["first", "rename", "same"]
    cf.delete_change_set(ChangeSetName="rename", StackName="changing")
    with pytest.raises(ClientError) as caught:
        cf.describe_change_set(ChangeSetName="rename", StackName="changing")
    assert caught.value.response["Error"]["Code"] == "ChangeSetNotFound"
    cf.delete_stack(StackName="changing")
    wait_stack(cf, created["StackId"])


DEPLOYED = body("""\
    Parameters:
      Days:
        Type: Number
        Default: 7
    Resources:
      Role:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {Service: sagemaker.amazonaws.com}
                Action: sts:AssumeRole
      Group:
        Type: AWS::Logs::LogGroup
        Properties:
          LogGroupName: /cfn-e2e/deployed
          RetentionInDays: !Ref Days
    Outputs:
      RoleArn:
        Value: !GetAtt Role.Arn
    """)


def test_aws_cloudformation_deploy_creates_then_updates(server, tmp_path):
    template = tmp_path / "deployed.yaml"
    template.write_text(DEPLOYED)
    deploy = ["cloudformation", "deploy", "--template-file", str(template), "--stack-name", "deployed"]
    refused = server.aws(*deploy, check=False)
    assert refused.returncode != 0
    assert "Requires capabilities : [CAPABILITY_IAM]" in refused.stderr
    server.aws(*deploy, "--capabilities", "CAPABILITY_IAM")
    stack = server.aws_json("cloudformation", "describe-stacks", "--stack-name", "deployed")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    role_name = server.aws_json("cloudformation", "describe-stack-resource", "--stack-name", "deployed",
                                "--logical-resource-id", "Role")["StackResourceDetail"]["PhysicalResourceId"]
    assert role_name.startswith("deployed-Role-")
    role = server.client("iam").get_role(RoleName=role_name)["Role"]
    assert stack["Outputs"][0]["OutputValue"] == role["Arn"]

    server.aws(*deploy, "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Days=30")
    stack = server.aws_json("cloudformation", "describe-stacks", "--stack-name", "deployed")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    group = server.client("logs").describe_log_groups(logGroupNamePrefix="/cfn-e2e/deployed")["logGroups"][0]
    assert group["retentionInDays"] == 30

    unchanged = server.aws(*deploy, "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Days=30",
                           "--no-fail-on-empty-changeset")
    assert "No changes to deploy" in unchanged.stdout
    server.aws("cloudformation", "delete-stack", "--stack-name", "deployed")
    server.aws("cloudformation", "wait", "stack-delete-complete", "--stack-name", "deployed")
    assert group_names(server, "/cfn-e2e/deployed") == []
    with pytest.raises(ClientError):
        server.client("iam").get_role(RoleName=role_name)


def _script(text: str) -> str:
    return base64.b64encode(textwrap.dedent(text).encode()).decode()


NOTEBOOK = body("""\
    Parameters:
      OnCreate:
        Type: String
      Size:
        Type: Number
        Default: 5
    Resources:
      Config:
        Type: AWS::SageMaker::NotebookInstanceLifecycleConfig
        Properties:
          OnCreate:
            - Content: !Ref OnCreate
      Notebook:
        Type: AWS::SageMaker::NotebookInstance
        Properties:
          InstanceType: ml.t3.medium
          RoleArn: arn:aws:iam::123456789012:role/SageMakerRole
          VolumeSizeInGB: !Ref Size
          LifecycleConfigName: !GetAtt Config.NotebookInstanceLifecycleConfigName
      Group:
        Type: AWS::Logs::LogGroup
        Properties:
          LogGroupName: !Sub "/cfn-e2e/${AWS::StackName}"
    Outputs:
      Name:
        Value: !GetAtt Notebook.NotebookInstanceName
      Arn:
        Value: !Ref Notebook
    """)


def test_a_notebook_whose_lifecycle_script_fails_rolls_the_stack_back(server):
    cf, sm = server.client("cloudformation"), server.client("sagemaker")
    failing = _script("#!/bin/bash\necho 'cannot install the course' >&2\nexit 1\n")
    stack_id = cf.create_stack(StackName="broken-notebook", TemplateBody=NOTEBOOK,
                               Parameters=[{"ParameterKey": "OnCreate", "ParameterValue": failing}])["StackId"]
    stack = wait_stack(cf, "broken-notebook", timeout=120)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"] == ("The following resource(s) failed to create: [Notebook]. "
                                          "Rollback requested by user.")
    failed = next(reason for logical, status, reason in events(cf, stack_id)
                  if logical == "Notebook" and status == "CREATE_FAILED")
    assert failed.startswith("Notebook instance broken-notebook-Notebook-")
    assert "did not reach InService" in failed and "exit" in failed.lower()
    statuses = {(logical, status) for logical, status, _ in events(cf, stack_id)}
    assert {("Notebook", "DELETE_COMPLETE"), ("Config", "DELETE_COMPLETE"), ("Group", "DELETE_COMPLETE")} <= statuses
    left = [nb["NotebookInstanceName"] for nb in sm.list_notebook_instances()["NotebookInstances"]]
    assert not [name for name in left if name.startswith("broken-notebook")]
    configs = sm.list_notebook_instance_lifecycle_configs()["NotebookInstanceLifecycleConfigs"]
    assert not [c for c in configs if c["NotebookInstanceLifecycleConfigName"].startswith("broken-notebook")]
    assert group_names(server, "/cfn-e2e/broken-notebook") == []
    resources = cf.list_stack_resources(StackName=stack_id)["StackResourceSummaries"]
    assert {r["ResourceStatus"] for r in resources} == {"DELETE_COMPLETE"}


def test_a_notebook_stack_is_created_updated_and_deleted(server):
    cf, sm = server.client("cloudformation"), server.client("sagemaker")
    ok = _script("#!/bin/bash\necho set up\n")
    stack_id = cf.create_stack(StackName="notebook", TemplateBody=NOTEBOOK,
                               Parameters=[{"ParameterKey": "OnCreate", "ParameterValue": ok}])["StackId"]
    stack = wait_stack(cf, "notebook", timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cf, "notebook")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    described = sm.describe_notebook_instance(NotebookInstanceName=outputs["Name"])
    assert described["NotebookInstanceStatus"] == "InService"
    assert outputs["Arn"] == described["NotebookInstanceArn"]

    # VolumeSizeInGB can only change while Stopped: CloudFormation stops, updates and starts the instance
    cf.update_stack(StackName="notebook", UsePreviousTemplate=True,
                    Parameters=[{"ParameterKey": "OnCreate", "UsePreviousValue": True},
                                {"ParameterKey": "Size", "ParameterValue": "10"}])
    assert wait_stack(cf, "notebook", timeout=120)["StackStatus"] == "UPDATE_COMPLETE", events(cf, "notebook")
    described = sm.describe_notebook_instance(NotebookInstanceName=outputs["Name"])
    assert (described["NotebookInstanceStatus"], described["VolumeSizeInGB"]) == ("InService", 10)

    cf.delete_stack(StackName="notebook")
    assert wait_stack(cf, stack_id, timeout=120)["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError):
        sm.describe_notebook_instance(NotebookInstanceName=outputs["Name"])


def test_a_stack_interrupted_by_a_restart_is_rolled_back(fresh_server):
    cf = fresh_server.client("cloudformation")
    stack_id = cf.create_stack(StackName="interrupted", TemplateBody=WAITING)["StackId"]
    url = _handle_url(cf, "interrupted")
    fresh_server.kill()
    fresh_server.start()
    cf = fresh_server.client("cloudformation")
    stack = wait_stack(cf, stack_id)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert stack["StackStatusReason"] == ("Stack creation was interrupted: the Selfmaker server stopped while it "
                                          "was under way. Rollback requested by user.")
    story = events(cf, stack_id)
    assert ("Wait", "CREATE_FAILED", "Resource creation cancelled") in story
    assert ("Handle", "DELETE_COMPLETE", "") in story
    assert httpx.put(url, content="{}").status_code == 403


IAM_AND_SNS = body("""\
    Resources:
      Topic:
        Type: AWS::SNS::Topic
        Properties:
          DisplayName: course news
          Subscription:
            - Protocol: email
              Endpoint: student@example.com
      Publish:
        Type: AWS::IAM::ManagedPolicy
        Properties:
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: sns:Publish
                Resource: !Ref Topic
      Role:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {Service: sagemaker.amazonaws.com}
                Action: sts:AssumeRole
          ManagedPolicyArns: [!Ref Publish]
          Policies:
            - PolicyName: read-logs
              PolicyDocument:
                Version: "2012-10-17"
                Statement:
                  - {Effect: Allow, Action: "logs:Get*", Resource: "*"}
      Teacher:
        Type: AWS::SNS::Subscription
        Properties:
          TopicArn: !Ref Topic
          Protocol: email
          Endpoint: teacher@example.com
      Repository:
        Type: AWS::SageMaker::CodeRepository
        Properties:
          GitConfig:
            RepositoryUrl: https://github.com/fastai/course22
            Branch: master
      Extra:
        Type: AWS::IAM::Policy
        Properties:
          PolicyName: describe
          Roles: [!Ref Role]
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: "sagemaker:Describe*", Resource: "*"}
    Outputs:
      TopicName:
        Value: !GetAtt Topic.TopicName
      RoleId:
        Value: !GetAtt Role.RoleId
      RepositoryName:
        Value: !GetAtt Repository.CodeRepositoryName
    """)


def test_iam_and_sns_resources_come_and_go_with_their_stack(server):
    cf, iam, sns = server.client("cloudformation"), server.client("iam"), server.client("sns")
    stack_id = cf.create_stack(StackName="iam-sns", TemplateBody=IAM_AND_SNS, Capabilities=["CAPABILITY_IAM"])[
        "StackId"]
    stack = wait_stack(cf, "iam-sns")
    assert stack["StackStatus"] == "CREATE_COMPLETE", events(cf, "iam-sns")
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cf.describe_stack_resources(StackName="iam-sns")["StackResources"]}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert physical["Topic"].endswith(f":{outputs['TopicName']}")
    assert sns.get_topic_attributes(TopicArn=physical["Topic"])["Attributes"]["DisplayName"] == "course news"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=physical["Topic"])["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == [
        ("email", "student@example.com"), ("email", "teacher@example.com")]
    repository = server.client("sagemaker").describe_code_repository(CodeRepositoryName=outputs["RepositoryName"])
    assert repository["CodeRepositoryArn"] == physical["Repository"]
    assert repository["GitConfig"] == {"RepositoryUrl": "https://github.com/fastai/course22", "Branch": "master"}
    role = iam.get_role(RoleName=physical["Role"])["Role"]
    assert role["RoleId"] == outputs["RoleId"]
    attached = iam.list_attached_role_policies(RoleName=physical["Role"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [physical["Publish"]]
    assert sorted(iam.list_role_policies(RoleName=physical["Role"])["PolicyNames"]) == ["describe", "read-logs"]

    cf.delete_stack(StackName="iam-sns")
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cf, stack_id)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=physical["Role"])
    with pytest.raises(ClientError):
        iam.get_policy(PolicyArn=physical["Publish"])
    with pytest.raises(ClientError):
        sns.get_topic_attributes(TopicArn=physical["Topic"])
    with pytest.raises(ClientError):
        server.client("sagemaker").describe_code_repository(CodeRepositoryName=outputs["RepositoryName"])


def test_cancel_update_and_delete_during_create(server):
    cf = server.client("cloudformation")
    stack_id = cf.create_stack(StackName="cancelling", TemplateBody=UPDATABLE.replace("updating", "cancelling"))[
        "StackId"]
    wait_stack(cf, "cancelling")
    with pytest.raises(ClientError) as caught:
        cf.cancel_update_stack(StackName="cancelling")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    slow = WAITING.replace("/cfn-e2e/${AWS::StackName}", "/cfn-e2e/cancelling-late")
    cf.update_stack(StackName="cancelling", TemplateBody=slow)
    _handle_url(cf, "cancelling")
    cf.cancel_update_stack(StackName="cancelling")
    stack = wait_stack(cf, "cancelling")
    assert (stack["StackStatus"], stack["StackStatusReason"]) == ("UPDATE_ROLLBACK_COMPLETE", "Stack update cancelled")
    assert ("Wait", "CREATE_FAILED", "Resource creation cancelled") in events(cf, "cancelling")
    assert group_names(server, "/cfn-e2e/cancelling") == ["/cfn-e2e/cancelling-a"]
    cf.delete_stack(StackName="cancelling")
    wait_stack(cf, stack_id)

    stack_id = cf.create_stack(StackName="abandoned", TemplateBody=WAITING)["StackId"]
    _handle_url(cf, "abandoned")
    cf.delete_stack(StackName="abandoned")
    assert wait_stack(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    story = events(cf, stack_id)
    assert ("Wait", "CREATE_FAILED", "Resource creation cancelled") in story
    assert ("Handle", "DELETE_COMPLETE", "") in story


@pytest.mark.parametrize("name, properties, reason", [
    ("bad-retention", {"LogGroupName": "/cfn-e2e/refused-retention", "RetentionInDays": 8},
     'Resource handler returned message: "1 validation error detected: Value \'8\' at \'retentionInDays\''),
    ("bad-property", {"LogGroupName": "/cfn-e2e/refused-colour", "Colour": "blue"},
     "Properties validation failed for resource Bad with message: #: extraneous key [Colour] is not permitted"),
])
def test_a_resource_its_service_refuses_fails_with_the_reason_and_is_rolled_back(server, name, properties, reason):
    cf = server.client("cloudformation")
    template = json.dumps({"Resources": {"Bad": {"Type": "AWS::Logs::LogGroup", "Properties": properties}}})
    stack_id = cf.create_stack(StackName=name, TemplateBody=template)["StackId"]
    assert wait_stack(cf, stack_id)["StackStatus"] == "ROLLBACK_COMPLETE"
    failure = next(r for logical, status, r in events(cf, stack_id) if status == "CREATE_FAILED")
    assert failure.startswith(reason)
    if "Resource handler" in reason:
        assert "(Service: CloudWatchLogs, Status Code: 400, Request ID: " in failure
        assert failure.endswith("(HandlerErrorCode: InvalidRequest)")
    assert group_names(server, properties["LogGroupName"]) == []


def test_stack_resources_are_made_with_the_callers_permissions(server):
    iam = server.client("iam")
    iam.create_user(UserName="stack-author")
    iam.put_user_policy(UserName="stack-author", PolicyName="stacks-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="stack-author")["AccessKey"]
    cf = server.client("cloudformation", aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    template = json.dumps({"Resources": {"Group": {"Type": "AWS::Logs::LogGroup",
                                                   "Properties": {"LogGroupName": "/cfn-e2e/not-allowed"}}}})
    stack_id = cf.create_stack(StackName="not-allowed", TemplateBody=template)["StackId"]
    assert wait_stack(cf, stack_id)["StackStatus"] == "ROLLBACK_COMPLETE"
    failure = next(r for logical, status, r in events(cf, stack_id) if status == "CREATE_FAILED")
    assert ("User: arn:aws:iam::123456789012:user/stack-author is not authorized to perform: logs:CreateLogGroup"
            in failure)
    assert group_names(server, "/cfn-e2e/not-allowed") == []


class _Templates(http.server.BaseHTTPRequestHandler):
    """Serves one template, a redirect to it, and something too large."""

    def do_GET(self):  # noqa: N802 — the name http.server calls
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/template.json")
            self.end_headers()
            return
        payload = (json.dumps({"Resources": {"H": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})
                   if self.path == "/template.json" else " " * 2_000_000)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


def test_template_urls_on_private_addresses_when_the_administrator_allows_them(tmp_path):
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Templates)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    server = ServerProcess(tmp_path / "data", tmp_path / "home")
    server.env["SELFMAKER_TEMPLATE_ALLOW_PRIVATE_URLS"] = "1"
    server.start()
    try:
        cf = server.client("cloudformation")
        base = f"http://127.0.0.1:{web.server_address[1]}"
        stack_id = cf.create_stack(StackName="fetched", TemplateURL=f"{base}/moved")["StackId"]
        assert wait_stack(cf, stack_id)["StackStatus"] == "CREATE_COMPLETE"
        with pytest.raises(ClientError) as caught:
            cf.validate_template(TemplateURL=f"{base}/huge")
        assert "is larger than 1048576 bytes" in caught.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as caught:
            cf.validate_template(TemplateURL=f"{server.endpoint_url}/")
        assert "is this Selfmaker server itself" in caught.value.response["Error"]["Message"]
    finally:
        server.kill()  # it ran no notebook instance
        web.shutdown()
