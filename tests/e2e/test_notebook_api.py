"""The SageMaker notebook-instance API: shapes, states, limits and error texts, through boto3."""

from __future__ import annotations

import base64
import time
import uuid

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
FAIL_FAST = base64.b64encode(b"#!/bin/bash\necho failing on purpose\nexit 3\n").decode()


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def _wait_status(sm, name: str, wanted: set[str], timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        described = sm.describe_notebook_instance(NotebookInstanceName=name)
        if described["NotebookInstanceStatus"] in wanted:
            return described
        time.sleep(0.2)
    raise AssertionError(f"{name} never reached {wanted}: {described['NotebookInstanceStatus']}")


@pytest.fixture(scope="module")
def failing_config(server) -> str:
    """A lifecycle config whose OnCreate fails at once: instances that need no Jupyter."""
    name = _unique("fail-fast")
    server.client("sagemaker").create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name, OnCreate=[{"Content": FAIL_FAST}]
    )
    return name


@pytest.fixture(scope="module")
def failed_instances(server, failing_config) -> list[str]:
    sm = server.client("sagemaker")
    names = [_unique(f"listed{i}") for i in range(3)]
    for name in names:
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    LifecycleConfigName=failing_config, Tags=[{"Key": "course", "Value": "fastai"}])
    for name in names:
        _wait_status(sm, name, {"Failed"})
    return names


def test_bad_names_fail_the_models_pattern_with_sagemakers_wording(server):
    sm = server.client("sagemaker", parameter_validation=False)  # the server must check, not boto3
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName="bad_name!", InstanceType="ml.t3.medium", RoleArn=ROLE)
    code, message = _error(exc)
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'bad_name!' at 'notebookInstanceName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
    )
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName="a" * 64, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    VolumeSizeInGB=4)
    code, message = _error(exc)
    assert message.startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 63" in message
    assert ("at 'volumeSizeInGB' failed to satisfy constraint: "
            "Member must have value greater than or equal to 5") in message


def test_unknown_and_unservable_instance_types_are_refused(server):
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName=_unique("t"), InstanceType="ml.t9.huge", RoleArn=ROLE)
    assert "Member must satisfy enum value set" in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName=_unique("t"), InstanceType="ml.inf2.xlarge", RoleArn=ROLE)
    assert _error(exc)[0] == "ResourceLimitExceeded"
    assert "needs 1 AWS Inferentia2 accelerator(s), but this Selfmaker host has 0" in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName=_unique("t"), InstanceType="ml.p3.2xlarge", RoleArn=ROLE)
    code, message = _error(exc)
    assert code == "ResourceLimitExceeded"
    assert "needs 1 GPU(s) (NVIDIA V100), but this Selfmaker host has 0" in message


def test_lifecycle_config_limits_and_errors(server):
    sm = server.client("sagemaker")
    name = _unique("lcc")
    too_long = base64.b64encode(b"x" * 13000).decode()  # 17336 base64 characters > 16384
    assert len(too_long) > 16384
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                     OnStart=[{"Content": too_long}])
    assert "Member must have length less than or equal to 16384" in _error(exc)[1]
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                     OnStart=[{"Content": "not base64 !!"}])
    assert "base64" in _error(exc)[1]
    two = [{"Content": FAIL_FAST}, {"Content": FAIL_FAST}]
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name, OnStart=two)
    assert "Member must have length less than or equal to 1" in _error(exc)[1]
    # nothing half-written by the refusals
    with pytest.raises(ClientError):
        sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                 OnStart=[{"Content": FAIL_FAST}])
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert "already exists" in _error(exc)[1]
    sm.update_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                 OnCreate=[{"Content": FAIL_FAST}])
    described = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert described["OnCreate"] == [{"Content": FAIL_FAST}]
    assert described["OnStart"] == [{"Content": FAIL_FAST}]
    sm.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    with pytest.raises(ClientError) as exc:
        sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert "RecordNotFound" in _error(exc)[1]


def test_unknown_instance_is_record_not_found(server):
    sm = server.client("sagemaker")
    for call in (sm.describe_notebook_instance, sm.stop_notebook_instance, sm.delete_notebook_instance):
        with pytest.raises(ClientError) as exc:
            call(NotebookInstanceName=_unique("missing"))
        assert _error(exc) == ("ValidationException", "RecordNotFound")


def test_duplicate_and_wrong_state_errors(server, failed_instances):
    sm = server.client("sagemaker")
    name = failed_instances[0]
    arn = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{server.account_id}:notebook-instance/{name.lower()}"
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    assert _error(exc)[1] == f"Cannot create a duplicate Notebook Instance ({arn})"
    with pytest.raises(ClientError) as exc:
        sm.stop_notebook_instance(NotebookInstanceName=name)
    assert _error(exc)[1] == (
        f"Status (Failed) not in ([InService]). Unable to transition to (Stopping) for Notebook Instance ({arn})"
    )
    with pytest.raises(ClientError) as exc:
        sm.update_notebook_instance(NotebookInstanceName=name, VolumeSizeInGB=10)
    assert _error(exc)[1] == (
        f"Status (Failed) not in ([Stopped]). Unable to transition to (Updating) for Notebook Instance ({arn})"
    )


def test_failed_instance_reports_reason_and_log(server, failed_instances):
    sm = server.client("sagemaker")
    described = sm.describe_notebook_instance(NotebookInstanceName=failed_instances[0])
    assert described["NotebookInstanceStatus"] == "Failed"
    assert "exit code 3" in described["FailureReason"]
    assert "Please check your CloudWatch logs" in described["FailureReason"]
    events = server.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/NotebookInstances",
        logStreamName=f"{failed_instances[0]}/LifecycleConfigOnCreate", startFromHead=True,
    )["events"]
    assert any("failing on purpose" in event["message"] for event in events)


def test_list_filters_sorting_and_pagination(server, failed_instances):
    sm = server.client("sagemaker")
    listed = sm.list_notebook_instances(NameContains="listed", SortBy="Name", SortOrder="Ascending")
    names = [item["NotebookInstanceName"] for item in listed["NotebookInstances"]]
    assert set(failed_instances) <= set(names)
    assert names == sorted(names)
    pages, token = [], None
    while True:
        kwargs = {"NameContains": "listed", "MaxResults": 1, "SortBy": "CreationTime"}
        if token:
            kwargs["NextToken"] = token
        reply = sm.list_notebook_instances(**kwargs)
        pages.append([item["NotebookInstanceName"] for item in reply["NotebookInstances"]])
        token = reply.get("NextToken")
        if not token:
            break
    assert all(len(p) == 1 for p in pages)
    assert sorted(sum(pages, [])) == sorted(names)
    failed = sm.list_notebook_instances(StatusEquals="Failed")["NotebookInstances"]
    assert all(item["NotebookInstanceStatus"] == "Failed" for item in failed)
    assert not sm.list_notebook_instances(StatusEquals="InService", NameContains="listed")["NotebookInstances"]
    paginated = sm.get_paginator("list_notebook_instances").paginate(NameContains="listed",
                                                                    PaginationConfig={"PageSize": 2})
    assert sorted(i["NotebookInstanceName"] for p in paginated for i in p["NotebookInstances"]) == sorted(names)
    with pytest.raises(ClientError) as exc:
        sm.list_notebook_instances(NextToken="garbage")
    assert _error(exc)[0] == "ValidationException"


def test_tags_add_list_delete(server, failed_instances):
    sm = server.client("sagemaker")
    arn = sm.describe_notebook_instance(NotebookInstanceName=failed_instances[1])["NotebookInstanceArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "course", "Value": "fastai"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "student"}, {"Key": "course", "Value": "part2"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "course", "Value": "part2"},
                                                     {"Key": "owner", "Value": "student"}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["course"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "student"}]
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert "at most 50 tags" in _error(exc)[1]
    assert len(sm.list_tags(ResourceArn=arn)["Tags"]) == 1  # the refused batch left nothing behind


def test_update_and_delete_from_failed_and_stopped(server, failed_instances):
    sm = server.client("sagemaker")
    name = failed_instances[2]
    sm.delete_notebook_instance(NotebookInstanceName=name)
    sm.get_waiter("notebook_instance_deleted").wait(NotebookInstanceName=name,
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    with pytest.raises(ClientError):
        sm.describe_notebook_instance(NotebookInstanceName=name)
