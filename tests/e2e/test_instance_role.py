"""Notebook instances act as their role: lifecycle scripts' `aws` calls carry the role's permissions."""

from __future__ import annotations

import base64
import json
import textwrap
import time
import uuid

import boto3
import httpx
import pytest
from botocore.config import Config
from sqlalchemy import select

from selfmaker.config import Settings
from selfmaker.services.sts.instance_credentials import instance_env
from selfmaker.store.db import open_store
from selfmaker.store.tables import notebook_instances
from tests.conftest import ServerProcess, _stop_everything

ACCOUNT = "123456789012"
GROUP = "/aws/sagemaker/NotebookInstances"
WAIT = {"Delay": 1, "MaxAttempts": 180}
SAGEMAKER_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ON_START = textwrap.dedent("""\
    #!/bin/bash
    echo "identity: $(aws sts get-caller-identity --query Arn --output text)"
    if aws sagemaker list-notebook-instances > /tmp/list.out 2> /tmp/list.err; then
      echo "list: allowed"
    else
      echo "list: refused: $(cat /tmp/list.err)"
    fi
    if aws sns publish --topic-arn arn:aws:sns:us-east-1:123456789012:ready --message hi 2> /tmp/pub.err; then
      echo "publish: allowed"
    else
      echo "publish: refused: $(cat /tmp/pub.err)"
    fi
    echo "describe: $(aws sagemaker describe-notebook-instance --notebook-instance-name "$(
      python3 -c 'import json; print(json.load(open("/opt/ml/metadata/resource-metadata.json"))["ResourceName"])'
    )" --query NotebookInstanceStatus --output text)"
    """)
FAIL_FAST = "#!/bin/bash\nexit 1\n"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Two or three `aws` calls take a few seconds on a small host: more than the session server's 3 s.
    base = tmp_path_factory.mktemp("instance-role")
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=120).start()
    yield proc
    _stop_everything(proc)


@pytest.fixture(scope="module")
def role(server) -> dict:
    iam = server.client("iam")
    role = iam.create_role(RoleName="NotebookRole", AssumeRolePolicyDocument=SAGEMAKER_TRUST)["Role"]
    iam.put_role_policy(RoleName="NotebookRole", PolicyName="describe-only", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "sagemaker:DescribeNotebookInstance", "Resource": "*"}]}))
    return role


@pytest.fixture(scope="module")
def notebook(server, role):
    sm = server.client("sagemaker")
    name = f"as-role-{uuid.uuid4().hex[:6]}"
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                 OnStart=[{"Content": _b64(ON_START)}])
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role["Arn"],
                                LifecycleConfigName=name)
    try:
        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
        yield name
    finally:
        _delete(sm, name)


def _delete(sm, name: str) -> None:
    status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
    if status == "InService":
        sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
    sm.delete_notebook_instance(NotebookInstanceName=name)


def _stream(server, name: str, suffix: str) -> str:
    events = server.client("logs").get_log_events(logGroupName=GROUP, logStreamName=f"{name}/{suffix}",
                                                  startFromHead=True)["events"]
    return "\n".join(event["message"] for event in events)


def _token(server, instance_id: str) -> str:
    # Isolated instances (a root server) use the metadata service instead and have no token until asked.
    return instance_env(open_store(server.database), Settings(port=server.port),
                        instance_id)["AWS_CONTAINER_AUTHORIZATION_TOKEN"]


def _instance_ids(server) -> dict[str, str]:
    """Selfmaker's own instance ids (which the credentials URL names), by instance name."""
    with open_store(server.database).connect() as conn:
        return dict(conn.execute(select(notebook_instances.c.name, notebook_instances.c.instance_id)).all())


def test_lifecycle_script_acts_as_the_role(server, role, notebook):
    log = _stream(server, notebook, "LifecycleConfigOnStart")
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/NotebookRole/SageMaker"
    assert f"identity: {session_arn}" in log, log
    assert "list: refused:" in log and "(AccessDeniedException)" in log, log
    assert (f"User: {session_arn} is not authorized to perform: sagemaker:ListNotebookInstances on resource: * "
            "because no identity-based policy allows the sagemaker:ListNotebookInstances action") in log
    assert "publish: refused:" in log and "(AuthorizationError)" in log, log  # the role has no sns:Publish
    assert "is not authorized to perform: sns:Publish" in log, log
    assert "describe: Pending" in log, log  # the allowed call went through (OnStart runs while Pending)


def test_credentials_endpoint_needs_the_instance_token(server, notebook):
    instance_id = _instance_ids(server)[notebook]
    url = f"{server.endpoint_url}/_selfmaker/instance-credentials/{instance_id}"
    for headers in ({}, {"Authorization": "guess"}):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 403 and refused.json()["Code"] == "AccessDenied"
    token = _token(server, instance_id)
    first = httpx.get(url, headers={"Authorization": token})
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert body["AccessKeyId"].startswith("ASIA")
    assert httpx.get(url, headers={"Authorization": token}).json() == body  # one session while it is fresh
    sts = boto3.client("sts", endpoint_url=server.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=body["AccessKeyId"], aws_secret_access_key=body["SecretAccessKey"],
                       aws_session_token=body["Token"], config=Config(retries={"max_attempts": 1}))
    assert sts.get_caller_identity()["Arn"].endswith(":assumed-role/NotebookRole/SageMaker")


def test_credentials_are_refused_for_an_untrusting_or_missing_role(server):
    iam, sm = server.client("iam"), server.client("sagemaker")
    iam.create_role(RoleName="UserOnly", AssumeRolePolicyDocument=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))
    config = f"fail-{uuid.uuid4().hex[:6]}"
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=config,
                                                 OnCreate=[{"Content": _b64(FAIL_FAST)}])
    cases = {"untrusting": f"arn:aws:iam::{ACCOUNT}:role/UserOnly", "missing": f"arn:aws:iam::{ACCOUNT}:role/Nobody"}
    names = {case: f"{case}-{uuid.uuid4().hex[:6]}" for case in cases}
    for case, role_arn in cases.items():
        sm.create_notebook_instance(NotebookInstanceName=names[case], InstanceType="ml.t3.medium", RoleArn=role_arn,
                                    LifecycleConfigName=config)
    try:
        for name in names.values():
            _wait_failed(sm, name)
        ids = _instance_ids(server)
        answers = {}
        for case, name in names.items():
            url = f"{server.endpoint_url}/_selfmaker/instance-credentials/{ids[name]}"
            answers[case] = httpx.get(url, headers={"Authorization": _token(server, ids[name])})
        assert answers["untrusting"].status_code == 403
        assert "does not allow sagemaker.amazonaws.com to perform sts:AssumeRole" in \
            answers["untrusting"].json()["Message"]
        assert answers["missing"].status_code == 404
        assert answers["missing"].json()["Code"] == "NoSuchEntity"
        assert f"arn:aws:iam::{ACCOUNT}:role/Nobody does not exist" in answers["missing"].json()["Message"]
    finally:
        for name in names.values():
            sm.delete_notebook_instance(NotebookInstanceName=name)


def _wait_failed(sm, name: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"] == "Failed":
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} never failed")
