"""The fuzz campaign: every operation Selfmaker implements, cases generated from botocore's input shapes (all
from one seed, so a run replays exactly), sent to one server, and the tally of what came back.

A finding is any answer a client should never get: a 5xx, no answer at all, an error without the protocol's
error code, or a success body the client cannot read.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
from botocore.model import Shape

from selfmaker.protocol.models import operation_model, service_model
from selfmaker.services.budgets import BudgetsService
from selfmaker.services.ce import CostExplorerService
from selfmaker.services.cloudformation import CloudFormationService
from selfmaker.services.iam.provider import IAMService
from selfmaker.services.logs.provider import LogsService
from selfmaker.services.quotas import ServiceQuotasService
from selfmaker.services.sagemaker.provider import SageMakerService
from selfmaker.services.sns import SNSService
from selfmaker.services.sts.provider import STSService
from tests.fuzz import values as v
from tests.fuzz import wire
from tests.fuzz.transport import Answer, Transport

# The services gateway/app.py serves, by the provider classes whose methods are the operations.
PROVIDERS = {"sagemaker": SageMakerService, "logs": LogsService, "sns": SNSService, "sts": STSService,
             "iam": IAMService, "cloudformation": CloudFormationService, "service-quotas": ServiceQuotasService,
             "ce": CostExplorerService, "budgets": BudgetsService}
# Case kinds and how often each comes up.
KINDS = {"valid": 10, "missing": 8, "wrong_type": 12, "oversized": 7, "unicode": 10, "deep": 8, "bad_enum": 6,
         "bad_blob": 4, "huge_number": 8, "null": 6, "raw_body": 8}
_RAW_ONLY = {"deep", "bad_blob", "null", "raw_body"}  # what boto3 cannot put on the wire
_TARGETS: dict[str, Callable[[Shape], bool]] = {
    "wrong_type": lambda shape: True,
    "null": lambda shape: True,
    "deep": lambda shape: True,
    "oversized": lambda shape: shape.type_name in ("string", "list", "map"),
    "unicode": lambda shape: shape.type_name == "string" and "enum" not in shape.metadata,
    "bad_enum": lambda shape: shape.type_name == "string" and "enum" in shape.metadata,
    "bad_blob": lambda shape: shape.type_name == "blob",
    "huge_number": lambda shape: shape.type_name in ("integer", "long", "float", "double", "timestamp"),
}


def implemented_operations() -> list[tuple[str, str]]:
    return [(service, name) for service, provider in PROVIDERS.items()
            for name in service_model(service).operation_names if callable(getattr(provider, name, None))]


@dataclass
class Case:
    index: int
    service: str
    operation: str
    kind: str
    params: dict = field(default_factory=dict)
    target: tuple = ()  # the path of the member broken
    body: bytes | None = None  # a raw body of its own (kind raw_body)
    headers: dict[str, str] | None = None

    @property
    def raw(self) -> bool:
        return self.kind in _RAW_ONLY or _has_markers(self.params)

    def summary(self) -> str:
        shown = repr(self.body[:200]) if self.body is not None else repr(self.params)[:300]
        where = f" at {'.'.join(map(str, self.target))}" if self.target else ""
        return f"#{self.index} {self.service} {self.operation} {self.kind}{where}: {shown}"


def _has_markers(value) -> bool:
    if isinstance(value, v.Raw | v.DeepKey):
        return True
    if isinstance(value, dict):
        return any(_has_markers(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_markers(item) for item in value)
    return False


class Planner:
    """The cases of one seed, in order: operations round-robin (shuffled each round), kinds by weight."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.operations = implemented_operations()
        self.values = {service: v.Values(service, self.rng) for service in PROVIDERS}

    def cases(self, count: int) -> Iterator[Case]:
        order: list[tuple[str, str]] = []
        kinds, weights = list(KINDS), list(KINDS.values())
        for index in range(count):
            if not order:
                order = self.operations[:]
                self.rng.shuffle(order)
            service, operation = order.pop()
            yield self.case(index, service, operation, self.rng.choices(kinds, weights)[0])

    def case(self, index: int, service: str, operation: str, kind: str) -> Case:
        model = operation_model(service, operation)
        shape = model.input_shape
        params = self.values[service].structure(shape) if shape is not None else {}
        case = Case(index, service, operation, kind, params)
        if kind not in ("valid", "raw_body"):
            self._mutate(case, shape)
        if case.kind == "raw_body":
            self._raw_body(case, model)
        _keep_sandboxes_off(case, self.rng)
        return case

    def _mutate(self, case: Case, shape: Shape | None) -> None:
        rng = self.rng
        if case.kind == "missing":
            holes = _required(shape, case.params) if shape is not None else []
            if holes:
                path = rng.choice(holes)
                del _container(case.params, path)[path[-1]]
                case.target = path
                return
            case.kind = "wrong_type"
        targets = self._targets(case, shape)
        if not targets and shape is not None:  # perhaps among the optional members left out
            case.params = self.values[case.service].structure(shape, full=True)
            targets = self._targets(case, shape)
        if not targets and case.kind != "wrong_type":
            case.kind = "wrong_type"
            targets = self._targets(case, shape)
        if not targets:  # an operation without input members
            case.kind = "raw_body"
            return
        path, member = rng.choice(targets)
        _container(case.params, path)[path[-1]] = self._broken(case.kind, member, path, case.service)
        case.target = path

    @staticmethod
    def _targets(case: Case, shape: Shape | None) -> list[tuple[tuple, Shape]]:
        if shape is None:
            return []
        return [(path, member) for path, member in _members(shape, case.params, ()) if _TARGETS[case.kind](member)]

    def _broken(self, kind: str, shape: Shape, path: tuple, service: str):
        rng = self.rng
        if kind == "wrong_type":
            return v.wrong_type(shape, rng)
        if kind == "null":
            return None
        if kind == "deep":
            return v.DeepKey(rng.choice([50, 101, 999, 5000] if service in ("sagemaker", "logs") else [50, 500, 3000]))
        if kind == "oversized":
            return v.oversized(shape, self.values[service], str(path[-1]), rng)
        if kind == "unicode":
            return v.unicode_text(rng)
        if kind == "bad_enum":
            return v.bad_enum(shape, rng)
        if kind == "bad_blob":
            return v.bad_blob(rng)
        return v.huge_number(shape, rng)

    def _raw_body(self, case: Case, model) -> None:
        rng = self.rng
        case.params = {}
        if model.service_model.protocol == "json":
            case.body = wire.garbage_json(rng)
            case.headers = json_headers(model)
            if rng.random() < 0.2:
                case.headers.update(rng.choice([
                    {"X-Amz-Target": f"{model.service_model.metadata['targetPrefix']}.Fuzz"},
                    {"X-Amz-Target": "Nope.DescribeThings"}, {"X-Amz-Target": model.name},
                    {"Content-Type": "text/plain"}, {"X-Amz-Target": "." * 5000},
                ]))
        else:
            case.body = wire.garbage_form(model, rng)
            case.headers = form_headers()


def json_headers(model) -> dict[str, str]:
    metadata = model.service_model.metadata
    return {"X-Amz-Target": f"{metadata['targetPrefix']}.{model.name}",
            "Content-Type": f"application/x-amz-json-{metadata.get('jsonVersion', '1.1')}"}


def form_headers() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _keep_sandboxes_off(case: Case, rng: random.Random) -> None:
    """CreateNotebookInstance and StartNotebookInstance succeed only with valid input, and success costs a real
    sandbox start: break at least one constraint of every such request, whatever else the case did."""
    if case.operation == "CreateNotebookInstance" and case.kind != "raw_body":
        breaker = rng.randrange(3)
        if breaker == 0:
            case.params["InstanceType"] = "ml.fuzz.none"  # not in the model's enum
        elif breaker == 1:
            case.params["NotebookInstanceName"] = "-fuzz-"  # breaks the name's pattern
        else:  # passes the model, refused by the provider (a VPC-less instance without internet)
            case.params["DirectInternetAccess"] = "Disabled"
            case.params.pop("SubnetId", None)
    elif case.operation == "StartNotebookInstance" and case.kind != "raw_body":
        case.params["NotebookInstanceName"] = "fuzz-never-created"


def _container(params: dict, path: tuple):
    return _at(params, path[:-1])


def _members(shape: Shape, value, path: tuple) -> Iterator[tuple[tuple, Shape]]:
    """(path, shape) of every member present in ``value``, nested ones included."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield path + (name,), member
                yield from _members(member, value[name], path + (name,))
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield path + (index,), shape.member
            yield from _members(shape.member, item, path + (index,))
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield path + (key,), shape.value
            yield from _members(shape.value, item, path + (key,))


def _at(params: dict, path: tuple):
    node = params
    for part in path:
        node = node[part]
    return node


def _required(shape: Shape, params: dict) -> list[tuple]:
    """Paths of the required members present (one to be taken away), nested structures' included."""
    holes = [(name,) for name in shape.required_members if name in params]
    for path, member in _members(shape, params, ()):
        inner = _at(params, path)
        if member.type_name == "structure" and isinstance(inner, dict):
            holes += [path + (name,) for name in member.required_members if name in inner]
    return holes


# --- running ---------------------------------------------------------------------------------------


@dataclass
class Report:
    seed: int
    sent: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    sent_raw: int = 0
    findings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.by_status.items(), key=str))
        lines = [f"seed {self.seed}: {self.sent} requests ({self.sent_raw} raw) in {self.seconds:.1f} s; "
                 f"by status {statuses}; {len(self.findings)} findings"]
        lines += self.findings[:50]
        return "\n".join(lines)


def send(transport: Transport, case: Case) -> tuple[Answer, bool]:
    """The answer, and whether the case went out raw."""
    model = operation_model(case.service, case.operation)
    protocol = model.service_model.protocol
    if not case.raw:
        answer = transport.via_boto3(case.service, case.operation, case.params, protocol)
        if answer is not None:
            return answer, False
    if case.body is not None:
        body, headers = case.body, case.headers or {}
    elif protocol == "json":
        body, headers = wire.json_body(case.params, random.Random(case.index)), json_headers(model)
    else:
        body, headers = wire.form_body(model, case.params), form_headers()
    return transport.raw(case.service, protocol, body, headers), True


def run(transport: Transport, seed: int, requests: int, only: int | None = None,
        progress: Callable[[Report], None] | None = None) -> Report:
    """Send ``requests`` cases of ``seed`` (or just case number ``only`` of them) and tally the answers."""
    report = Report(seed)
    started = time.monotonic()
    for case in Planner(seed).cases(requests):
        if only is not None and case.index != only:
            continue
        answer, raw = send(transport, case)
        report.sent += 1
        report.sent_raw += raw
        report.by_status[answer.status or "no answer"] += 1
        report.by_kind[case.kind] += 1
        if answer.status is None or answer.status >= 500 or answer.problem:
            report.findings.append(f"{case.summary()} → {answer.status} {answer.code} {answer.problem}".rstrip())
            if answer.status is None and not healthy(transport.endpoint_url):
                report.findings.append("the server stopped answering: campaign ended")
                break
        if progress is not None and report.sent % 1000 == 0:
            report.seconds = time.monotonic() - started
            progress(report)
    report.seconds = time.monotonic() - started
    return report


def healthy(endpoint_url: str) -> bool:
    try:
        return httpx.get(f"{endpoint_url}/_selfmaker/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def remove_notebooks(transport: Transport) -> list[str]:
    """Delete any notebook instance the campaign made (there should be none), stopping it first."""
    sagemaker = transport.client("sagemaker")
    names = [item["NotebookInstanceName"]
             for item in sagemaker.list_notebook_instances(MaxResults=100)["NotebookInstances"]]
    for name in names:
        with contextlib.suppress(Exception):
            sagemaker.stop_notebook_instance(NotebookInstanceName=name)
        deadline = time.time() + 60
        while time.time() < deadline:
            status = sagemaker.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
            if status in ("Stopped", "Failed"):
                break
            time.sleep(0.5)
        with contextlib.suppress(Exception):
            sagemaker.delete_notebook_instance(NotebookInstanceName=name)
    return names


def logged_failures(server_log) -> list[str]:
    """The first line of each traceback in the server's log: a failure no answer showed (a stack operation,
    a delivery) is as much a finding as a 5xx."""
    lines = server_log.read_text(errors="replace").splitlines()
    return [lines[index - 1] if index else line for index, line in enumerate(lines) if line.startswith("Traceback")]
