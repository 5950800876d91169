"""Service Quotas for SageMaker notebook instances, through boto3, the AWS CLI and `selfmaker quota`: the
quotas and their defaults, increase requests and the administrator's decision, and SageMaker refusing an
instance over its quota with AWS's ResourceLimitExceeded."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from selfmaker.domain.instance_types import load_catalogue
from selfmaker.services.quotas.catalogue import QuotaConfigError, quota_code, read_overrides
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
    return subprocess.run([str(VENV_BIN / "selfmaker"), "quota", *args, "--data-dir", str(server.data_dir)],
                          env=server.env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def quota_server(tmp_path_factory):
    """A server of its own whose quotas.yaml makes small quotas (tests here change its applied values)."""
    base = tmp_path_factory.mktemp("quotas")
    (base / "data").mkdir()
    (base / "data" / "quotas.yaml").write_text(
        "defaults: {ml.t3.large: 0, ml.t3.xlarge: 0, ml.t3.medium: 1, ml.g4dn.xlarge: 2, total: 1}\n")
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=3).start()
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
    ("limits: {total: 5}\n", "must be a mapping with the one key 'defaults'"),
    ("defaults: [1, 2]\n", "'defaults' must map instance types (or 'total') to numbers"),
    ("defaults: {ml.x9.mega: 1}\n", "'ml.x9.mega' is not a notebook instance type (nor 'total')"),
    ("defaults: {total: yes}\n", "the default of total must be a number from 0 to 10000000000, not True"),
    ("defaults: {ml.t3.medium: '3'}\n", "the default of ml.t3.medium must be a number"),
    ("defaults: {total: [\n", "cannot be read as YAML"),
])
def test_quotas_yaml_is_validated(tmp_path, text, says):
    path = tmp_path / "quotas.yaml"
    path.write_text(text)
    with pytest.raises(QuotaConfigError, match="^" + re.escape(str(path))) as exc:
        read_overrides(path, load_catalogue())
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
