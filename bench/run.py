"""Selfmaker benchmarks, each printed as a ratio to a baseline measured in the same run.

    .venv/bin/python bench/run.py [--runs 3] [--seconds 10]

1. CreateNotebookInstance → InService, Stop → Start → InService, and CreateStack → CREATE_COMPLETE for a
   template with a notebook instance (medians), against a bare JupyterLab server started the same way
   (same flags, Unix socket, no sandbox, no control plane).
2. DescribeNotebookInstance under 16 concurrent connections (wrk): requests/s, p50 and p99 latency,
   beside moto's server answering the same signed request.
3. Resident memory of an idle InService instance (every process in its sandbox).

Needs wrk (Debian package ``wrk``) for 2; the rest runs without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from websockets.sync.client import connect, unix_connect

from selfmaker.runtime.jupyter import SECRET_HEADER, jupyter_command
from selfmaker.runtime.local import LocalRuntime

KEY, SECRET = "AKIABENCH00000000001", "bench-secret-key-000000000000000000000001"
ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Bench"
VENV_BIN = Path(sys.executable).parent
STACK_TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: sagemaker.amazonaws.com}, Action: "sts:AssumeRole"}]
  Notebook:
    Type: AWS::SageMaker::NotebookInstance
    Properties: {NotebookInstanceName: %s, InstanceType: ml.t3.medium, RoleArn: !GetAtt Role.Arn}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60, transport: httpx.HTTPTransport | None = None, **kwargs) -> None:
    deadline = time.time() + timeout
    with httpx.Client(transport=transport, timeout=2) as client:
        while time.time() < deadline:
            try:
                if client.get(url, **kwargs).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# --- baseline: a bare JupyterLab -----------------------------------------------------------------


def kernel_round_trip_ms(http: httpx.Client, connect: Callable[[str, dict], object], runs: int = 20) -> float:
    """Median milliseconds from an execute_request to its kernel's idle status, over one kernel channel.

    `http` talks to Jupyter (base URL "/"); `connect(path, headers)` opens a WebSocket to it."""
    if "_xsrf" not in http.cookies:
        http.get("/lab").raise_for_status()  # the page sets Jupyter's XSRF cookie, as for a browser
    xsrf = {"X-XSRFToken": http.cookies["_xsrf"]}
    kernel = http.post("/api/kernels", json={"name": "python3"}, headers=xsrf)
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    times = []
    try:
        with connect(f"/api/kernels/{kernel_id}/channels", {"Cookie": cookie}) as ws:
            for _ in range(runs + 1):  # the first one warms the kernel up
                msg_id = uuid.uuid4().hex
                started = time.perf_counter()
                ws.send(json.dumps({
                    "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench",
                               "session": uuid.uuid4().hex, "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell",
                    "content": {"code": "1 + 1", "silent": False, "store_history": False,
                                "user_expressions": {}, "allow_stdin": False},
                }))
                while True:
                    message = json.loads(ws.recv(timeout=60))
                    if (message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "status"
                            and message["content"]["execution_state"] == "idle"):
                        break
                times.append(time.perf_counter() - started)
    finally:
        http.delete(f"/api/kernels/{kernel_id}", headers=xsrf)
    return statistics.median(times[1:]) * 1000


def bare_jupyter_start(workdir: Path, round_trip: bool = False) -> tuple[float, float | None]:
    """Seconds from spawning JupyterLab (as the runtime spawns it, minus the sandbox) to its first answer,
    and with `round_trip` the milliseconds of a kernel execute over its socket (no gateway in between)."""
    sock = Path(tempfile.mkdtemp(prefix="bj-", dir="/tmp")) / "j.sock"
    token = "bench-token"
    root = workdir / "bare-root"
    root.mkdir(exist_ok=True)
    argv = jupyter_command(sys.executable, str(sock), "/", str(root))
    if os.geteuid() == 0:
        argv.append("--allow-root")  # the sandbox drops to ec2-user; the bare baseline runs as we are
    env = {**os.environ, "JUPYTER_TOKEN": token, "HOME": str(workdir)}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_http("http://jupyter/api/status", transport=httpx.HTTPTransport(uds=str(sock)),
                  headers={SECRET_HEADER: token})
        elapsed = time.perf_counter() - started
        if not round_trip:
            return elapsed, None
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://jupyter",
                          headers={SECRET_HEADER: token}, timeout=30) as http:
            return elapsed, kernel_round_trip_ms(http, lambda path, headers: unix_connect(
                str(sock), f"ws://jupyter{path}", additional_headers={**headers, SECRET_HEADER: token}))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        shutil.rmtree(sock.parent, ignore_errors=True)


# --- the Selfmaker server ------------------------------------------------------------------------


class Selfmaker:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = workdir / "data"
        env = {**os.environ, "HOME": str(workdir), "SELFMAKER_ROOT_ACCESS_KEY_ID": KEY,
               "SELFMAKER_ROOT_SECRET_ACCESS_KEY": SECRET, "SELFMAKER_ACCOUNT_ID": ACCOUNT}
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "selfmaker"), "up", "--port", str(self.port), "--data-dir", str(self.data)],
            env=env, stdout=subprocess.DEVNULL, stderr=(workdir / "server.log").open("w"),
        )
        wait_http(f"{self.url}/_selfmaker/health")
        self.sm = boto3.client("sagemaker", endpoint_url=self.url, region_name=REGION, aws_access_key_id=KEY,
                               aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}))

    def wait_status(self, name: str, wanted: str) -> None:
        while True:
            status = self.sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
            if status == wanted:
                return
            if status == "Failed":
                reason = self.sm.describe_notebook_instance(NotebookInstanceName=name).get("FailureReason")
                raise RuntimeError(f"{name} failed: {reason}")
            time.sleep(0.02)

    def create_to_in_service(self, name: str) -> float:
        started = time.perf_counter()
        self.sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
        self.wait_status(name, "InService")
        return time.perf_counter() - started

    def create_stack_to_complete(self, name: str) -> float:
        """CreateStack of a template with a notebook instance (and its role) → CREATE_COMPLETE."""
        cloudformation = boto3.client("cloudformation", endpoint_url=self.url, region_name=REGION,
                                      aws_access_key_id=KEY, aws_secret_access_key=SECRET)
        started = time.perf_counter()
        cloudformation.create_stack(StackName=name, TemplateBody=STACK_TEMPLATE % name,
                                    Capabilities=["CAPABILITY_IAM"])
        while True:
            status = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
            if status == "CREATE_COMPLETE":
                return time.perf_counter() - started
            if not status.endswith("IN_PROGRESS"):
                raise RuntimeError(f"stack {name} ended in {status}")
            time.sleep(0.05)

    def kernel_round_trip_ms(self, name: str) -> float:
        """A kernel execute as a browser makes it: presigned URL, the instance's own host, the gateway's proxy."""
        url = self.sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
        parts = urlsplit(url)
        with httpx.Client(base_url=f"{parts.scheme}://{parts.netloc}", timeout=30) as http:
            assert http.get(url).status_code == 302  # trades the token for the session cookie
            return kernel_round_trip_ms(http, lambda path, headers: connect(
                f"ws://{parts.netloc}{path}", additional_headers=headers))

    def stop(self, name: str) -> None:
        self.sm.stop_notebook_instance(NotebookInstanceName=name)
        self.wait_status(name, "Stopped")

    def start_to_in_service(self, name: str) -> float:
        started = time.perf_counter()
        self.sm.start_notebook_instance(NotebookInstanceName=name)
        self.wait_status(name, "InService")
        return time.perf_counter() - started

    def sandbox_rss_mb(self) -> float:
        """Mean resident memory of the running sandboxes: every process in each one's process group."""
        pgids = set()
        for state in (self.data / "run").glob("*/state.json"):
            with contextlib.suppress(OSError, KeyError, ValueError):
                pgid = json.loads(state.read_text())["pid"]
                os.kill(pgid, 0)
                pgids.add(pgid)
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) in pgids:  # field 5 of /proc/<pid>/stat: the process group
                    total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss in pages
        return total / 1e6 / max(len(pgids), 1)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()
        # Sandboxes outlive the server: end them with their namespaces, NATs, cgroups and mounts.
        asyncio.run(LocalRuntime(self.data).stop_all())


# --- API throughput ------------------------------------------------------------------------------


def signed_describe(url: str, name: str) -> tuple[dict[str, str], str]:
    body = json.dumps({"NotebookInstanceName": name})
    request = AWSRequest("POST", url + "/", data=body, headers={
        "X-Amz-Target": "SageMaker.DescribeNotebookInstance", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", REGION).add_auth(request)
    return dict(request.headers.items()), body


def wrk(url: str, name: str, seconds: int) -> dict:
    headers, body = signed_describe(url, name)
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script), url + "/"],
                         capture_output=True, text=True, check=True).stdout
    script.unlink()
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50%"), "p99": ms("99%")}


def moto_describe_rps(workdir: Path, name: str, seconds: int) -> dict:
    port = free_port()
    proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/moto-api/")
        sm = boto3.client("sagemaker", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET)
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
        return wrk(url, name, seconds)
    finally:
        proc.terminate()
        proc.wait()


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="selfmaker-bench-"))
    server = Selfmaker(workdir)
    try:
        bares, creates, restarts = [], [], []
        for i in range(args.runs):  # interleaved, so that load from elsewhere hits both sides alike
            bares.append(bare_jupyter_start(workdir)[0])
            creates.append(server.create_to_in_service(f"bench{i}"))
            server.stop(f"bench{i}")
            restarts.append(server.start_to_in_service(f"bench{i}"))
            if i:
                server.stop(f"bench{i}")
        stacks = []
        for i in range(args.runs):
            stacks.append(server.create_stack_to_complete(f"stack{i}"))
            server.stop(f"stack{i}")
        bare, create, restart, stack = (statistics.median(t) for t in (bares, creates, restarts, stacks))
        print(f"bare JupyterLab start (baseline)     {bare:6.2f} s")
        for label, value in (("Create → InService", create), ("Stop → Start → InService", restart),
                             ("CreateStack → CREATE_COMPLETE", stack)):
            target = "AWS: about 5 minutes" if label.startswith("CreateStack") else "target ≤ 1.2×"
            print(f"{label:<37}{value:6.2f} s   {value / bare:5.2f}× baseline ({target})")
        bare_rtt = bare_jupyter_start(workdir, round_trip=True)[1]
        rtt = server.kernel_round_trip_ms("bench0")
        print(f"kernel execute round trip, bare      {bare_rtt:6.2f} ms  (baseline: over Jupyter's own socket)")
        print(f"  through the gateway's proxy        {rtt:6.2f} ms   {rtt / bare_rtt:5.2f}× baseline")
        time.sleep(3)  # let the instance settle to idle
        rss = server.sandbox_rss_mb()
        print(f"RSS per idle InService instance      {rss:6.1f} MB  (target ≤ 110 MB)")
        if shutil.which("wrk"):
            ours = wrk(server.url, "bench0", args.seconds)
            moto = moto_describe_rps(workdir, "bench0", args.seconds)
            print(f"DescribeNotebookInstance, 16 conns   {ours['rps']:7.0f} req/s  p50 {ours['p50']:.2f} ms  "
                  f"p99 {ours['p99']:.2f} ms   (target ≥ 1000 req/s)")
            print(f"  moto_server, same request          {moto['rps']:7.0f} req/s  p50 {moto['p50']:.2f} ms  "
                  f"p99 {moto['p99']:.2f} ms")
            print(f"  ratio to moto                      {ours['rps'] / moto['rps']:7.1f}×  (target ≥ 5×)")
        else:
            print("wrk not found (apt-get install wrk): API throughput skipped")
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
