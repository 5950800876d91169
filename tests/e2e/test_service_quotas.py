"""Service Quotas for SageMaker notebook instances, through boto3, the AWS CLI and `selfmaker quota`: the
quotas and their defaults, increase requests through their life (PENDING, CASE_OPENED, APPROVED, DENIED,
CASE_CLOSED) with a mail to the requester at each change, SageMaker refusing an instance over its quota with
AWS's ResourceLimitExceeded, the per-IAM-user limits of quotas.yaml, and the host's devices capping GPU quotas.

The test hosts have no GPUs: the servers here that need some *simulate* them (``simulated_devices``)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from selfmaker.domain.instance_types import load_catalogue
from selfmaker.mail import Outbox, body_text
from selfmaker.services.quotas.catalogue import QuotaConfigError, quota_code, read_settings
from tests.conftest import ACCOUNT, REGION, VENV_BIN, ServerProcess, _stop_everything

ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"
TOTAL = "L-04CE2E67"
# OnCreate outlives the quota server's 3 s lifecycle limit: the instance stays Pending (counted) that long,
# then goes Failed, without Jupyter ever starting.
SLOW_FAIL = base64.b64encode(b"#!/bin/bash\nsleep 60\n").decode()
WAIT = {"Delay": 1, "MaxAttempts": 180}
LIMIT_TAIL = ("Please request an increase with Service Quotas (RequestServiceQuotaIncrease); your Selfmaker "
              "administrator decides.")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(exc: pytest.ExceptionInfo) -> tuple[str, str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def _limit_message(quota_name: str, limit: int, used: int) -> str:
    return (f"The account-level service limit '{quota_name}' is {limit} Instances, with current utilization of "
            f"{used} Instances and a request delta of 1 Instances. {LIMIT_TAIL}")


def _quota_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "selfmaker"), "quota", *args, "--data-dir", str(server.data_dir),
                           *server.database_args()],
                          env=server.env, capture_output=True, text=True, timeout=60)


def simulated_devices(base: Path, gpus: int = 0, neuron: int = 0) -> dict[str, str]:
    """The environment of a server that *simulates* ``gpus`` NVIDIA GPUs and ``neuron`` Neuron devices, for hosts
    without them: empty files named like the device nodes, in a directory that a sitecustomize module (which
    the server's Python loads at start) makes selfmaker.runtime.gpus and .neuron look in instead of /dev."""
    dev, site = base / "simulated-dev", base / "simulated-site"
    dev.mkdir(parents=True)
    site.mkdir()
    for index in range(gpus):
        (dev / f"nvidia{index}").touch()
    for index in range(neuron):
        (dev / f"neuron{index}").touch()
    (site / "sitecustomize.py").write_text(
        "import pathlib\nfrom selfmaker.runtime import gpus, neuron\n"
        f"gpus._DEV = neuron._DEV = pathlib.Path({str(dev)!r})  # simulated devices (a test)\n")
    return {"PYTHONPATH": str(site)}


def _outbox_mail(server: ServerProcess, subject_contains: str):
    """The one outbox message whose subject contains the text: (entry, its body)."""
    outbox = Outbox(server.data_dir / "outbox")
    found = [entry for entry in outbox.list() if subject_contains in entry.subject]
    assert len(found) == 1, [entry.subject for entry in outbox.list()]
    return found[0], body_text(outbox.get(found[0].id))


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory):
    """A server of its own whose quotas.yaml makes small quotas (tests here change its applied values), on a
    host with 4 simulated GPUs and no Neuron devices."""
    base = tmp_path_factory.mktemp("quotas")
    (base / "data").mkdir()
    (base / "data" / "quotas.yaml").write_text(
        "defaults: {ml.t3.large: 0, ml.t3.xlarge: 0, ml.t3.medium: 1, ml.g4dn.xlarge: 2, ml.inf1.xlarge: 2, "
        "total: 1}\n")
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=3,
                         extra_env=simulated_devices(base, gpus=4)).start()
    try:
        yield proc
    finally:
        _stop_everything(proc)


@pytest.fixture(scope="module")
def slow_fail_config(quota_server) -> str:
    name = _unique("slow-fail")
    quota_server.client("sagemaker").create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name, OnCreate=[{"Content": SLOW_FAIL}])
    return name


# --- the quotas -----------------------------------------------------------------------------------------


def test_every_notebook_type_has_a_quota_with_its_default(server):
    sq = server.client("service-quotas")
    assert sq.list_services()["Services"] == [{"ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker"}]
    quotas = [quota for page in sq.get_paginator("list_service_quotas").paginate(
        ServiceCode="sagemaker", PaginationConfig={"PageSize": 50}) for quota in page["Quotas"]]
    catalogue = load_catalogue()
    assert len(quotas) == len(catalogue) + 1
    by_name = {quota["QuotaName"]: quota for quota in quotas}
    assert len({quota["QuotaCode"] for quota in quotas}) == len(quotas)
    total = by_name["Total number of notebook instances"]
    assert total == {
        "ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker", "QuotaCode": TOTAL,
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:sagemaker/{TOTAL}",
        "QuotaName": "Total number of notebook instances", "Value": 100.0, "Unit": "None", "Adjustable": True,
        "GlobalQuota": False, "QuotaAppliedAtLevel": "ACCOUNT",
    }
    medium = by_name["ml.t3.medium for notebook instance usage"]
    assert (medium["QuotaCode"], medium["Value"]) == (quota_code("ml.t3.medium"), 20.0)
    # GPU and accelerator types start at 0, as for a new AWS account
    assert by_name["ml.g4dn.xlarge for notebook instance usage"]["Value"] == 0.0
    assert by_name["ml.inf1.xlarge for notebook instance usage"]["Value"] == 0.0
    got = sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=quota_code("ml.t3.medium"))["Quota"]
    assert got == medium
    default = sq.get_aws_default_service_quota(ServiceCode="sagemaker", QuotaCode=TOTAL)["Quota"]
    assert default == total
    defaults = [quota for page in sq.get_paginator("list_aws_default_service_quotas").paginate(
        ServiceCode="sagemaker") for quota in page["Quotas"]]
    assert [quota["QuotaCode"] for quota in defaults] == [quota["QuotaCode"] for quota in quotas]


def test_the_aws_cli_reads_the_quotas(server):
    quota = server.aws_json("service-quotas", "get-service-quota", "--service-code", "sagemaker",
                            "--quota-code", TOTAL)["Quota"]
    assert (quota["QuotaName"], quota["Value"]) == ("Total number of notebook instances", 100.0)
    # The CLI follows NextToken by itself: 190-odd quotas at 100 a page.
    listed = server.aws_json("service-quotas", "list-service-quotas", "--service-code", "sagemaker")["Quotas"]
    assert len(listed) == len(load_catalogue()) + 1
    history = server.aws_json("service-quotas", "list-requested-service-quota-change-history",
                              "--status", "DENIED")
    assert history["RequestedQuotas"] == []


def test_unknown_services_quotas_and_tokens_are_refused_as_aws_refuses_them(server):
    sq = server.client("service-quotas")
    for call in (lambda: sq.list_service_quotas(ServiceCode="ec2"),
                 lambda: sq.get_service_quota(ServiceCode="ec2", QuotaCode=TOTAL),
                 lambda: sq.list_aws_default_service_quotas(ServiceCode="ec2")):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("NoSuchResourceException",
                               "The request failed because the specified service does not exist.", 400)
    with pytest.raises(ClientError) as exc:
        sq.get_service_quota(ServiceCode="sagemaker", QuotaCode="L-00000000")
    assert _error(exc)[0] == "NoSuchResourceException"
    with pytest.raises(ClientError) as exc:
        sq.get_requested_service_quota_change(RequestId="0123456789abcdef")
    assert _error(exc)[0] == "NoSuchResourceException"
    with pytest.raises(ClientError) as exc:
        sq.list_service_quotas(ServiceCode="sagemaker", NextToken="bm90IGEgdG9rZW4=")
    assert _error(exc)[0] == "InvalidPaginationTokenException"
    unchecked = server.client("service-quotas", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        unchecked.list_service_quotas(ServiceCode="sagemaker", MaxResults=0)
    code, message, status = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "Member must have value greater than or equal to 1" in message
    with pytest.raises(ClientError) as exc:
        sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=TOTAL, DesiredValue=100)
    assert _error(exc) == ("IllegalArgumentException",
                           "The desired value (100) must be greater than the current quota value (100).", 400)


def test_iam_users_need_servicequotas_actions(server):
    iam = server.client("iam")
    name = _unique("quota-reader")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "servicequotas:Get*", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sq = server.client("service-quotas", aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"])
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=TOTAL)["Quota"]["Value"] == 100.0
    with pytest.raises(ClientError) as exc:
        sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=TOTAL, DesiredValue=200)
    code, message, status = _error(exc)
    assert (code, status) == ("AccessDeniedException", 400)
    assert (f"is not authorized to perform: servicequotas:RequestServiceQuotaIncrease on resource: "
            f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:sagemaker/{TOTAL} ") in message


def test_a_broken_quotas_file_stops_the_server_with_a_clear_error(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "quotas.yaml").write_text("defaults: {ml.t3.medium: -1}\n")
    proc = ServerProcess(tmp_path / "data", tmp_path / "home")
    with pytest.raises(RuntimeError, match="exited with 2"):
        proc.start()
    assert ("quotas.yaml: the default of ml.t3.medium must be a number from 0 to 10000000000, not -1"
            in (tmp_path / "server.log").read_text())


def test_quota_codes_depend_on_the_type_name_alone():
    assert quota_code("ml.t3.medium") == "L-A076BC75"  # documented in the README: it must never change
    assert quota_code("ml.g4dn.xlarge") != quota_code("ml.g4dn.2xlarge")


@pytest.mark.parametrize(("text", "says"), [
    ("limits: {total: 5}\n", "must be a mapping with the keys 'defaults' and 'per_user' (both optional)"),
    ("defaults: [1, 2]\n", "'defaults' must map instance types (or 'total') to numbers"),
    ("per_user: 3\n", "'per_user' must map instance types (or 'total') to numbers"),
    ("per_user: {ml.t3.medium: -2}\n", "the per-user limit of ml.t3.medium must be a number from 0 to"),
    ("per_user: {ml.x9.mega: 1}\n", "'ml.x9.mega' is not a notebook instance type (nor 'total')"),
    ("defaults: {ml.x9.mega: 1}\n", "'ml.x9.mega' is not a notebook instance type (nor 'total')"),
    ("defaults: {total: yes}\n", "the default of total must be a number from 0 to 10000000000, not True"),
    ("defaults: {ml.t3.medium: '3'}\n", "the default of ml.t3.medium must be a number"),
    ("defaults: {total: [\n", "cannot be read as YAML"),
])
def test_quotas_yaml_is_validated(tmp_path, text, says):
    path = tmp_path / "quotas.yaml"
    path.write_text(text)
    with pytest.raises(QuotaConfigError, match="^" + re.escape(str(path))) as exc:
        read_settings(path, load_catalogue())
    assert says in str(exc.value)
    assert "\n" not in str(exc.value)  # one line, for the log


# --- over quota, a request, the administrator's decision ------------------------------------------------


def test_over_quota_then_an_approved_increase_lets_the_instance_be_created(quota_server, slow_fail_config):
    sm, sq = quota_server.client("sagemaker"), quota_server.client("service-quotas")
    large = quota_code("ml.t3.large")
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=large)["Quota"]["Value"] == 0.0
    assert sq.get_aws_default_service_quota(ServiceCode="sagemaker", QuotaCode=TOTAL)["Quota"]["Value"] == 1.0
    with pytest.raises(ClientError) as exc:
        sm.create_notebook_instance(NotebookInstanceName=_unique("over"), InstanceType="ml.t3.large", RoleArn=ROLE)
    assert _error(exc) == ("ResourceLimitExceeded",
                           _limit_message("ml.t3.large for notebook instance usage", 0, 0), 400)
    assert sm.list_notebook_instances()["NotebookInstances"] == []  # refused before anything was recorded

    requested = sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=large,
                                                  DesiredValue=1)["RequestedQuota"]
    assert {key: requested[key] for key in ("ServiceCode", "ServiceName", "QuotaCode", "QuotaName", "DesiredValue",
                                            "Status", "QuotaArn", "GlobalQuota", "Unit")} == {
        "ServiceCode": "sagemaker", "ServiceName": "Amazon SageMaker", "QuotaCode": large,
        "QuotaName": "ml.t3.large for notebook instance usage", "DesiredValue": 1.0, "Status": "PENDING",
        "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:sagemaker/{large}", "GlobalQuota": False,
        "Unit": "None",
    }
    assert json.loads(requested["Requester"])["callerArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert requested["Created"] == requested["LastUpdated"]
    with pytest.raises(ClientError) as exc:
        sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=large, DesiredValue=2)
    assert _error(exc)[:1] == ("ResourceAlreadyExistsException",)

    listed = _quota_cli(quota_server, "list", "--pending")
    assert listed.returncode == 0, listed.stderr
    assert requested["Id"] in listed.stdout and "ml.t3.large for notebook instance usage" in listed.stdout
    approved = _quota_cli(quota_server, "approve", requested["Id"])
    assert approved.returncode == 0, approved.stderr
    assert f"is 1 for account {ACCOUNT} in {REGION}" in approved.stdout
    again = _quota_cli(quota_server, "approve", requested["Id"])
    assert (again.returncode, again.stderr.strip()) == (
        1, f"selfmaker quota approve: request {requested['Id']} is APPROVED already")
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=large)["Quota"]["Value"] == 1.0
    assert sq.get_aws_default_service_quota(ServiceCode="sagemaker", QuotaCode=large)["Quota"]["Value"] == 0.0
    change = sq.get_requested_service_quota_change(RequestId=requested["Id"])["RequestedQuota"]
    assert change["Status"] == "APPROVED" and change["LastUpdated"] >= change["Created"]

    name = _unique("within")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.large", RoleArn=ROLE,
                                LifecycleConfigName=slow_fail_config)
    try:
        # Pending counts: one more of the type is over its quota of 1, and any other type over the total of 1.
        with pytest.raises(ClientError) as exc:
            sm.create_notebook_instance(NotebookInstanceName=_unique("over"), InstanceType="ml.t3.large",
                                        RoleArn=ROLE)
        assert _error(exc)[1] == _limit_message("ml.t3.large for notebook instance usage", 1, 1)
        with pytest.raises(ClientError) as exc:
            sm.create_notebook_instance(NotebookInstanceName=_unique("over"), InstanceType="ml.t3.medium",
                                        RoleArn=ROLE)
        assert _error(exc)[1] == _limit_message("Total number of notebook instances", 1, 1)
    finally:
        _delete_when_settled(sm, name)


def test_a_denied_request_changes_nothing_and_another_may_follow(quota_server):
    sq = quota_server.client("service-quotas")
    gpu = quota_code("ml.g4dn.xlarge")
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=gpu)["Quota"]["Value"] == 2.0
    first = sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=gpu, DesiredValue=8)
    denied = _quota_cli(quota_server, "deny", first["RequestedQuota"]["Id"])
    assert denied.returncode == 0, denied.stderr
    assert sq.get_requested_service_quota_change(
        RequestId=first["RequestedQuota"]["Id"])["RequestedQuota"]["Status"] == "DENIED"
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=gpu)["Quota"]["Value"] == 2.0
    second = sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=gpu, DesiredValue=4)
    approved = _quota_cli(quota_server, "approve", second["RequestedQuota"]["Id"], "--value", "3")
    assert approved.returncode == 0, approved.stderr
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=gpu)["Quota"]["Value"] == 3.0
    by_quota = sq.list_requested_service_quota_change_history_by_quota(ServiceCode="sagemaker", QuotaCode=gpu)
    assert [(r["Id"], r["Status"]) for r in by_quota["RequestedQuotas"]] == [
        (second["RequestedQuota"]["Id"], "APPROVED"), (first["RequestedQuota"]["Id"], "DENIED")]
    only_denied = sq.list_requested_service_quota_change_history(ServiceCode="sagemaker", Status="DENIED")
    assert [r["Id"] for r in only_denied["RequestedQuotas"]] == [first["RequestedQuota"]["Id"]]
    missing = _quota_cli(quota_server, "deny", "no-such-request")
    assert (missing.returncode, missing.stderr.strip()) == (
        1, "selfmaker quota deny: no quota increase request 'no-such-request'")


def test_request_history_pages(quota_server):
    sq = quota_server.client("service-quotas")
    made = [sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=quota_code(kind),
                                              DesiredValue=50)["RequestedQuota"]["Id"]
            for kind in ("ml.c5.xlarge", "ml.c5.2xlarge", "ml.c5.4xlarge")]
    pages = list(sq.get_paginator("list_requested_service_quota_change_history").paginate(
        ServiceCode="sagemaker", Status="PENDING", PaginationConfig={"PageSize": 2}))
    assert [len(page["RequestedQuotas"]) for page in pages] == [2, 1]
    assert [r["Id"] for page in pages for r in page["RequestedQuotas"]] == made[::-1]  # newest first
    with pytest.raises(ClientError) as exc:  # a token of one listing is no token for another
        sq.list_service_quotas(ServiceCode="sagemaker", NextToken=pages[0]["NextToken"])
    assert _error(exc)[0] == "InvalidPaginationTokenException"


def test_start_and_update_check_the_quotas_too(quota_server, slow_fail_config):
    sm = quota_server.client("sagemaker")
    name = _unique("stopped")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    pending = None
    try:
        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
        sm.stop_notebook_instance(NotebookInstanceName=name)
        sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
        with pytest.raises(ClientError) as exc:
            sm.update_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.xlarge")
        assert _error(exc) == ("ResourceLimitExceeded",
                               _limit_message("ml.t3.xlarge for notebook instance usage", 0, 0), 400)
        # Stopped counts for nothing: another ml.t3.medium may run, and then this one may not start.
        pending = _unique("pending")
        sm.create_notebook_instance(NotebookInstanceName=pending, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    LifecycleConfigName=slow_fail_config)
        with pytest.raises(ClientError) as exc:
            sm.start_notebook_instance(NotebookInstanceName=name)
        assert _error(exc)[1] == _limit_message("ml.t3.medium for notebook instance usage", 1, 1)
        assert sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"] == "Stopped"
    finally:
        if pending:
            _delete_when_settled(sm, pending)
        _delete_when_settled(sm, name)


def _delete_when_settled(sm, name: str) -> None:
    """Delete an instance once it is Stopped or Failed (stopping it if it came InService)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
        if status == "InService":
            sm.stop_notebook_instance(NotebookInstanceName=name)
        elif status in ("Stopped", "Failed"):
            sm.delete_notebook_instance(NotebookInstanceName=name)
            sm.get_waiter("notebook_instance_deleted").wait(NotebookInstanceName=name, WaiterConfig=WAIT)
            return
        time.sleep(0.3)
    raise AssertionError(f"{name} never settled")


# --- a request's life, mailed to the requester ----------------------------------------------------------


def _iam_user(server: ServerProcess, name: str, policy: dict, email: str | None = None) -> tuple[str, dict]:
    """An IAM user with an inline policy (and an ``email`` tag); returns its ARN and an access key."""
    iam = server.client("iam")
    tags = [{"Key": "email", "Value": email}] if email else []
    arn = iam.create_user(UserName=name, Tags=tags)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=json.dumps(policy))
    return arn, iam.create_access_key(UserName=name)["AccessKey"]


def _aws_as(server: ServerProcess, key: dict, *args: str) -> dict:
    """The AWS CLI with an IAM user's key, against the server's endpoint."""
    env = {**server.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_DEFAULT_REGION": REGION}
    result = subprocess.run([str(VENV_BIN / "aws"), "--endpoint-url", server.endpoint_url, "--output", "json", *args],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "{}")


QUOTAS_ONLY = {"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow", "Action": "servicequotas:*", "Resource": "*"}]}


def test_a_request_is_opened_closed_or_decided_and_each_change_mails_the_requester(quota_server):
    sq = quota_server.client("service-quotas")
    student = _unique("student")
    arn, key = _iam_user(quota_server, student, QUOTAS_ONLY, email=f"{student}@example.edu")
    code = quota_code("ml.m5.xlarge")
    asked = _aws_as(quota_server, key, "service-quotas", "request-service-quota-increase", "--service-code",
                    "sagemaker", "--quota-code", code, "--desired-value", "30")["RequestedQuota"]
    assert asked["Status"] == "PENDING"
    # As AWS writes it (the Service Quotas user guide's example): JSON text with the account and the caller.
    assert asked["Requester"] == json.dumps({"accountId": ACCOUNT, "callerArn": arn}, separators=(",", ":"))

    opened = _quota_cli(quota_server, "open", asked["Id"])
    assert opened.returncode == 0, opened.stderr
    assert f"Case opened: request {asked['Id']}" in opened.stdout and "Mail to the requester: outbox:" in opened.stdout
    assert sq.get_requested_service_quota_change(RequestId=asked["Id"])["RequestedQuota"]["Status"] == "CASE_OPENED"
    entry, body = _outbox_mail(quota_server, f"your request is being reviewed ({asked['QuotaName']})")
    assert entry.to == f"{student}@example.edu" and entry.status == "not sent: no SMTP server configured"
    assert f"Request ID: {asked['Id']}" in body and f"Requested by: {arn}" in body
    again = _quota_cli(quota_server, "open", asked["Id"])
    assert (again.returncode, again.stderr.strip()) == (
        1, f"selfmaker quota open: request {asked['Id']} is CASE_OPENED already")

    closed = _quota_cli(quota_server, "close", asked["Id"])
    assert closed.returncode == 0, closed.stderr
    assert sq.get_requested_service_quota_change(RequestId=asked["Id"])["RequestedQuota"]["Status"] == "CASE_CLOSED"
    _outbox_mail(quota_server, f"your request was closed without a change ({asked['QuotaName']})")
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=code)["Quota"]["Value"] == 20.0
    for command in ("approve", "deny", "close"):  # closed is final
        assert _quota_cli(quota_server, command, asked["Id"]).returncode == 1

    # A closed request is no open one: another may follow, and a PENDING one may be decided at once.
    second = _aws_as(quota_server, key, "service-quotas", "request-service-quota-increase", "--service-code",
                     "sagemaker", "--quota-code", code, "--desired-value", "25")["RequestedQuota"]
    approved = _quota_cli(quota_server, "approve", second["Id"])
    assert approved.returncode == 0, approved.stderr
    assert "Capped" not in approved.stdout  # a CPU type: no device limit
    _, body = _outbox_mail(quota_server, f"your request was approved ({asked['QuotaName']})")
    assert "The quota is now 25." in body
    history = _aws_as(quota_server, key, "service-quotas", "list-requested-service-quota-change-history-by-quota",
                      "--service-code", "sagemaker", "--quota-code", code)["RequestedQuotas"]
    assert [(r["Id"], r["Status"]) for r in history] == [(second["Id"], "APPROVED"), (asked["Id"], "CASE_CLOSED")]


def test_the_host_caps_gpu_and_accelerator_quotas(quota_server):
    """4 simulated GPUs and no Neuron device: what GetServiceQuota answers and an approval applies."""
    sq = quota_server.client("service-quotas")
    four_gpus, eight_gpus = quota_code("ml.g4dn.12xlarge"), quota_code("ml.p3.16xlarge")

    def value(code: str) -> float:
        return sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=code)["Quota"]["Value"]

    # quotas.yaml gives ml.inf1.xlarge 2, but there is no Neuron device to run one: 0, and the default says 2.
    assert value(quota_code("ml.inf1.xlarge")) == 0.0
    assert sq.get_aws_default_service_quota(ServiceCode="sagemaker",
                                            QuotaCode=quota_code("ml.inf1.xlarge"))["Quota"]["Value"] == 2.0
    asked = sq.request_service_quota_increase(ServiceCode="sagemaker", QuotaCode=four_gpus,
                                              DesiredValue=3)["RequestedQuota"]
    approved = _quota_cli(quota_server, "approve", asked["Id"])
    assert approved.returncode == 0, approved.stderr
    assert "Approved: ml.g4dn.12xlarge for notebook instance usage (" in approved.stdout
    assert "is 1 for account" in approved.stdout
    assert "Capped: 3 was asked, but this host's GPUs or Neuron devices run at most 1 at once." in approved.stdout
    assert value(four_gpus) == 1.0  # 4 GPUs // 4 per instance
    listed = {q["QuotaCode"]: q["Value"] for q in sq.list_service_quotas(ServiceCode="sagemaker",
                                                                         QuotaCode=eight_gpus)["Quotas"]}
    assert listed == {eight_gpus: 0.0}
    # The root user has no email address: its mail stays in the outbox, saying so.
    entry, body = _outbox_mail(quota_server, "your request was approved (ml.g4dn.12xlarge for notebook instance usage)")
    assert entry.to == "" and entry.status == (f"not sent: arn:aws:iam::{ACCOUNT}:root has no email address "
                                               "(IAM user tag 'email')")
    assert "The quota is now 1." in body
    shown = _quota_cli(quota_server, "list")
    assert "This host has 4 GPU(s) and 0 AWS Neuron device(s)" in shown.stdout


# --- per-user limits --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def per_user_server(tmp_path_factory):
    """Roomy account quotas, tight per-user limits; lifecycle scripts may run long, so that an instance whose
    OnCreate sleeps stays Pending (counted) for the whole test. The teardown stops every sandbox."""
    base = tmp_path_factory.mktemp("per-user")
    (base / "data").mkdir()
    (base / "data" / "quotas.yaml").write_text(
        "defaults: {total: 20}\nper_user: {ml.t3.medium: 1, total: 2}\n")
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=300).start()
    try:
        yield proc
    finally:
        _stop_everything(proc)


NOTEBOOKS = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sagemaker:*", "servicequotas:*"], "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
]}


def _user_limit_message(quota_name: str, arn: str, limit: int, used: int) -> str:
    return (f"The user-level service limit '{quota_name}' for {arn} is {limit} Instances, with current utilization "
            f"of {used} Instances and a request delta of 1 Instances. Stop one of your running notebook instances, "
            "or ask your Selfmaker administrator to raise the per-user limit (per_user in quotas.yaml).")


def test_per_user_limits_count_each_creators_own_instances(per_user_server):
    sleepy = _unique("sleepy")
    per_user_server.client("sagemaker").create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=sleepy,
        OnCreate=[{"Content": base64.b64encode(b"#!/bin/bash\nsleep 240\n").decode()}])
    students = []
    for _ in range(2):
        name = _unique("student")
        arn, key = _iam_user(per_user_server, name, NOTEBOOKS)
        students.append((arn, per_user_server.client("sagemaker", aws_access_key_id=key["AccessKeyId"],
                                                     aws_secret_access_key=key["SecretAccessKey"])))
    (first_arn, first), (_, second) = students
    root = per_user_server.client("sagemaker")

    def create(sm, instance_type: str) -> None:
        sm.create_notebook_instance(NotebookInstanceName=_unique("nb"), InstanceType=instance_type, RoleArn=ROLE,
                                    LifecycleConfigName=sleepy)

    create(first, "ml.t3.medium")
    with pytest.raises(ClientError) as exc:
        create(first, "ml.t3.medium")
    assert _error(exc) == ("ResourceLimitExceeded", _user_limit_message(
        "ml.t3.medium for notebook instance usage", first_arn, 1, 1), 400)
    create(second, "ml.t3.medium")  # another student's instances are not the first one's
    create(root, "ml.t3.medium")  # nor are the root user's: it follows the same rule, by its own ARN
    with pytest.raises(ClientError) as exc:
        create(root, "ml.t3.medium")
    assert _error(exc)[1] == _user_limit_message("ml.t3.medium for notebook instance usage",
                                                 f"arn:aws:iam::{ACCOUNT}:root", 1, 1)
    create(first, "ml.t3.large")  # no per-user limit of its own, but the per-user total of 2 …
    with pytest.raises(ClientError) as exc:
        create(first, "ml.t3.xlarge")
    assert _error(exc)[1] == _user_limit_message("Total number of notebook instances", first_arn, 2, 2)
    # Per-user limits are Selfmaker's own: the AWS API answers the account's values only.
    total = per_user_server.client("service-quotas").get_service_quota(ServiceCode="sagemaker", QuotaCode=TOTAL)
    assert total["Quota"]["Value"] == 20.0
    shown = _quota_cli(per_user_server, "list")
    assert "Per-user limits (quotas.yaml per_user; running instances per creator, every region): " \
           "total 2, ml.t3.medium 1" in shown.stdout
