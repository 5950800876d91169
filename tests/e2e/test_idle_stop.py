"""The idle auto-stop, for real: instances tagged ``selfmaker:idle-stop-minutes`` stop once nobody uses them,
through boto3, real sandboxes and Jupyter driven over the notebook proxy.

Time is shortened with test-only settings: SELFMAKER_IDLE_MINUTE_SECONDS=3 makes one of the checker's
"minutes" last 3 seconds (a limit of 1 minute is 3 s of idleness), and SELFMAKER_IDLE_CHECK_SECONDS=1 runs a
pass every second.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import VENV_BIN, running_server
from tests.console.conftest import sign_in
from tests.e2e.jupyter_client import NotebookSession

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
GROUP = "/aws/sagemaker/NotebookInstances"
TAG = "selfmaker:idle-stop-minutes"
MINUTE = 3.0  # seconds in one of the checker's minutes here
PASSWORD = "idle-stop-root-password-01"
WAIT = {"Delay": 1, "MaxAttempts": 120}
IDLE, COMPUTING, UNTAGGED = "idle-tagged", "idle-computing", "idle-untagged"


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("idle"), SELFMAKER_IDLE_MINUTE_SECONDS=str(MINUTE),
                        SELFMAKER_IDLE_CHECK_SECONDS="1", SELFMAKER_ROOT_PASSWORD=PASSWORD) as proc:
        yield proc


@pytest.fixture(scope="module")
def instances(idle_server) -> dict[str, float]:
    """Three instances, InService together; each name with the time it was seen InService. None is tagged
    with a usable limit yet (COMPUTING has one that is no number), so none can be stopped before its test."""
    sm = idle_server.client("sagemaker")
    for name, tags in ((IDLE, []), (COMPUTING, [{"Key": TAG, "Value": "soon"}]), (UNTAGGED, [])):
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    VolumeSizeInGB=5, Tags=tags)

    def wait(name: str) -> tuple[str, float]:
        idle_server.client("sagemaker").get_waiter("notebook_instance_in_service").wait(
            NotebookInstanceName=name, WaiterConfig=WAIT)
        return name, time.time()

    with ThreadPoolExecutor(3) as pool:
        return dict(pool.map(wait, (IDLE, COMPUTING, UNTAGGED)))


def _status(server, name: str) -> str:
    return server.client("sagemaker").describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]


def _tag(server, name: str, value: str) -> None:
    sm = server.client("sagemaker")
    arn = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": TAG, "Value": value}])


def _jupyter_log(server, name: str) -> list[str]:
    events = server.client("logs").get_log_events(logGroupName=GROUP, logStreamName=f"{name}/jupyter.log",
                                                  startFromHead=True, limit=10000)["events"]
    return [event["message"] for event in events]


def _open(server, name: str) -> NotebookSession:
    url = server.client("sagemaker").create_presigned_notebook_instance_url(
        NotebookInstanceName=name)["AuthorizedUrl"]
    session = NotebookSession(url)
    assert session.first.status_code == 302
    return session


def _stays_in_service(server, name: str, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert _status(server, name) == "InService", f"{name} was stopped although it was in use"
        time.sleep(0.5)


def _wait_stopped(server, name: str) -> None:
    server.client("sagemaker").get_waiter("notebook_instance_stopped").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


@contextmanager
def _every(seconds: float, action):
    """Run ``action`` every ``seconds`` in a thread while the block runs (as an open browser tab does)."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(seconds):
            action()

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()


def _polls(session: NotebookSession):
    """What an open JupyterLab tab sends all day long: GETs of the API (answers matter not: it may stop)."""
    def poll() -> None:
        for path in ("api/kernels", "api/sessions", "api/terminals", "api/contents", "api/me"):
            with suppress(httpx.HTTPError):
                session.get(path)
    return poll


def test_work_in_the_browser_keeps_it_running_polling_does_not(idle_server, instances):
    session = _open(idle_server, IDLE)
    saves = iter(range(10**6))

    def save() -> None:  # a person editing a file: JupyterLab saves it with a PUT
        session.put("api/contents/notes.txt", json={"type": "file", "format": "text", "content": str(next(saves))})

    with _every(1.0, save), _every(0.5, _polls(session)):
        _tag(idle_server, IDLE, "1")
        _stays_in_service(idle_server, IDLE, 4 * MINUTE)
    with _every(0.5, _polls(session)):  # the person left; the tab stays open and polls
        stopped_from = time.time()
        _wait_stopped(idle_server, IDLE)
    assert time.time() - stopped_from < MINUTE + 10
    lines = _jupyter_log(idle_server, IDLE)
    stopping = [line for line in lines if line.startswith("Idle auto-stop: stopping")]
    assert len(stopping) == 1, lines[-20:]
    assert "no kernel busy and no terminal or browser activity since" in stopping[0]
    assert f"the limit of 1 minute, set by the tag {TAG}" in stopping[0]
    assert "latest browser activity through the gateway" in stopping[0]
    assert any(line.startswith("Idle auto-stop: stopped after no activity since") for line in lines)


def test_console_shows_why_it_stopped(idle_server, instances):
    _wait_stopped(idle_server, IDLE)
    with httpx.Client(base_url=idle_server.endpoint_url, timeout=30) as client:
        assert sign_in(client, password=PASSWORD).status_code == 303
        page = client.get(f"/sagemaker/notebook-instances/{IDLE}?region={idle_server.region}")
    assert page.status_code == 200
    assert 'id="idle-stop"' in page.text
    assert "stopped after no activity since" in page.text


def test_busy_kernel_is_not_stopped_while_it_computes(idle_server, instances):
    session = _open(idle_server, COMPUTING)
    kernel = session.post("api/kernels", json={})
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    seconds = 8 * MINUTE
    _execute_then_disconnect(session, kernel_id, f"import time; time.sleep({seconds})")
    computing_until = time.time() + seconds
    _tag(idle_server, COMPUTING, "1")
    _stays_in_service(idle_server, COMPUTING, 5 * MINUTE)
    kernels = session.get("api/kernels").json()  # a GET: no activity
    assert [k["execution_state"] for k in kernels if k["id"] == kernel_id] == ["busy"]
    _wait_stopped(idle_server, COMPUTING)
    assert time.time() > computing_until  # not before it finished
    lines = _jupyter_log(idle_server, COMPUTING)
    ignored = [line for line in lines if "is 'soon', which is not a whole number of minutes" in line]
    assert len(ignored) == 1, ignored  # the unusable tag, said once
    assert any(line.startswith("Idle auto-stop: stopping") and "1 kernel, none busy" in line for line in lines)


def test_untagged_instance_without_defaults_is_never_stopped(idle_server, instances):
    time.sleep(max(0.0, instances[UNTAGGED] + 10 * MINUTE - time.time()))  # no wait after the tests above
    assert _status(idle_server, UNTAGGED) == "InService"
    assert not [line for line in _jupyter_log(idle_server, UNTAGGED) if line.startswith("Idle auto-stop:")]


def test_admin_default_applies_without_the_tag_and_off_opts_out(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "idle.yaml").write_text("defaults: {cpu: 1, gpu: 1}\n")
    fast = {"SELFMAKER_IDLE_MINUTE_SECONDS": str(MINUTE), "SELFMAKER_IDLE_CHECK_SECONDS": "1"}
    with running_server(tmp_path, **fast) as server:
        sm = server.client("sagemaker")
        for name, tags in (("by-default", []), ("opted-out", [{"Key": TAG, "Value": "off"}])):
            sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                        VolumeSizeInGB=5, Tags=tags)
        sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="opted-out", WaiterConfig=WAIT)
        in_service = time.time()
        _wait_stopped(server, "by-default")
        stopping = [line for line in _jupyter_log(server, "by-default") if line.startswith("Idle auto-stop: stopping")]
        assert len(stopping) == 1 and "the limit of 1 minute, set by the cpu default of idle.yaml" in stopping[0]
        time.sleep(max(0.0, in_service + 3 * MINUTE - time.time()))  # idle three times the default's limit
        assert _status(server, "opted-out") == "InService"


def test_bad_idle_yaml_is_a_clear_startup_error(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "idle.yaml").write_text("defaults: {cpu: 120, gpu: soon}\n")
    result = subprocess.run([str(VENV_BIN / "selfmaker"), "up", "--port", "0", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=60, env={"HOME": str(tmp_path), "PATH": ""})
    assert result.returncode == 2
    assert "idle.yaml: the default for gpu must be whole minutes from 0 (never) to 525600, not 'soon'" in result.stderr


def _execute_then_disconnect(session: NotebookSession, kernel_id: str, code: str) -> None:
    """Send ``code`` to the kernel over the proxy's WebSocket, wait until the kernel is busy with it, and
    close the connection, as a browser tab closed mid-run does."""
    cookie = "; ".join(f"{k}={v}" for k, v in session.http.cookies.items())
    url = f"ws://{urlsplit(session.origin).netloc}/api/kernels/{kernel_id}/channels"
    with connect(url, additional_headers={"Cookie": cookie}, origin=session.origin, open_timeout=60) as ws:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False},
        }))
        while True:
            message = json.loads(ws.recv(timeout=60))
            if (message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "status"
                    and message["content"]["execution_state"] == "busy"):
                return
