"""``selfmaker up --test-mode``: moto's server-mode reset empties the server between tests, and nothing
else may reset it."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import VENV_BIN, running_server

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
STACK = json.dumps({"Resources": {
    "Topic": {"Type": "AWS::SNS::Topic"},
    "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/stack/group"}},
}})


@pytest.fixture(scope="module")
def test_server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("test-mode"), SELFMAKER_TEST_MODE="1") as proc:
        yield proc


def _reset(server, **headers) -> httpx.Response:
    return httpx.post(f"{server.endpoint_url}/moto-api/reset", headers=headers, timeout=120)


def _fill(server) -> None:
    server.client("iam").create_user(UserName="student")
    server.client("sns").create_topic(Name="alerts")
    server.client("logs").create_log_group(logGroupName="/my/group")
    server.client("cloudformation").create_stack(StackName="stack", TemplateBody=STACK)
    server.client("cloudformation").get_waiter("stack_create_complete").wait(
        StackName="stack", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    # Reset while the instance is still starting: its start is cancelled and its sandbox and volume go.
    server.client("sagemaker").create_notebook_instance(
        NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=ROLE, VolumeSizeInGB=5)


def test_reset_empties_every_service_and_keeps_the_root(test_server):
    _fill(test_server)
    response = _reset(test_server)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})

    assert test_server.client("iam").list_users()["Users"] == []
    assert test_server.client("sns").list_topics()["Topics"] == []
    assert test_server.client("logs").describe_log_groups()["logGroups"] == []
    assert test_server.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert test_server.client("sagemaker").list_notebook_instances()["NotebookInstances"] == []
    assert list((test_server.data_dir / "volumes").glob("*")) == []
    assert list((test_server.data_dir / "run").glob("*")) == []
    # The root's key still signs, and the same names can be used again: nothing half-remembers them.
    _fill(test_server)
    assert [u["UserName"] for u in test_server.client("iam").list_users()["Users"]] == ["student"]
    assert _reset(test_server).status_code == 200


def test_keys_made_before_a_reset_stop_working(test_server):
    iam = test_server.client("iam")
    iam.create_user(UserName="keyholder")
    key = iam.create_access_key(UserName="keyholder")["AccessKey"]
    iam.put_user_policy(UserName="keyholder", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}]}))
    as_user = test_server.client("iam", aws_access_key_id=key["AccessKeyId"],
                                 aws_secret_access_key=key["SecretAccessKey"])
    as_user.list_users()
    assert _reset(test_server).status_code == 200
    with pytest.raises(ClientError) as exc:
        as_user.list_users()
    assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_a_web_page_cannot_reset_it(test_server):
    test_server.client("iam").create_user(UserName="survivor")
    response = _reset(test_server, Origin="https://evil.example")
    assert response.status_code == 403
    assert [u["UserName"] for u in test_server.client("iam").list_users()["Users"]] == ["survivor"]
    assert _reset(test_server, Origin=test_server.endpoint_url).status_code == 200


def test_without_test_mode_there_is_no_reset(server):
    server.client("iam").create_user(UserName="kept-without-test-mode")
    assert _reset(server).status_code in (403, 404, 405)
    names = [u["UserName"] for u in server.client("iam").list_users()["Users"]]
    assert "kept-without-test-mode" in names
    server.client("iam").delete_user(UserName="kept-without-test-mode")


def test_test_mode_refuses_a_public_address(tmp_path):
    result = subprocess.run(
        [str(VENV_BIN / "selfmaker"), "up", "--test-mode", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--test-mode" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="instances share the host's network without root")
def test_an_instance_cannot_reset_the_server(test_server):
    # A lifecycle script (root in its instance) reaches the server through the instance's API relay.
    test_server.client("iam").create_user(UserName="kept-from-instances")
    script = (f"python3 -c \"import urllib.request as u, urllib.error as e\ntry: "
              f"u.urlopen(u.Request('http://127.0.0.1:{test_server.port}/moto-api/reset', method='POST'))"
              f"; print('reset: done')\nexcept e.HTTPError as x: print('reset:', x.code)\"\n")
    sm = test_server.client("sagemaker")
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="resetter",
        OnStart=[{"Content": base64.b64encode(script.encode()).decode()}])
    sm.create_notebook_instance(NotebookInstanceName="resetter", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName="resetter")
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="resetter",
                                                       WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    events = test_server.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/NotebookInstances", logStreamName="resetter/LifecycleConfigOnStart")["events"]
    assert [event["message"] for event in events] == ["reset: 403"]
    assert "kept-from-instances" in [u["UserName"] for u in test_server.client("iam").list_users()["Users"]]
    assert _reset(test_server).status_code == 200  # the host still can
