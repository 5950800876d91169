"""Test fixtures: a real Selfmaker server process, driven by boto3 and the AWS CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from selfmaker.runtime.local import LocalRuntime
from tests.postgres import store_at

ROOT_KEY = "AKIATESTROOT00000001"
ROOT_SECRET = "test-root-secret-access-key-0000000000001"
ACCOUNT = "123456789012"
REGION = "us-east-1"
VENV_BIN = Path(sys.executable).parent


def pytest_sessionstart(session) -> None:
    """Every server of the tests runs its instances on one instance image, with a small list of
    environments; built here once (minutes on a fresh host), so that no test's timeout pays for it."""
    os.environ.setdefault("SELFMAKER_ENVIRONMENTS_FILE", str(Path(__file__).with_name("environments.yaml")))
    if os.geteuid() == 0:
        LocalRuntime(Path("/nonexistent-selfmaker-test-data")).ensure_image(
            lambda line: print(line, file=sys.stderr, flush=True))


def _postgres_stand_in(data_dir: Path) -> str | None:
    """On a PostgreSQL run, the database that stands in for a data dir's SQLite store."""
    store = store_at(data_dir / "selfmaker.db")
    return store if isinstance(store, str) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``selfmaker up`` in a subprocess, with its own data dir and AWS config files."""

    def __init__(self, data_dir: Path, home: Path, lifecycle_timeout: float = 300.0,
                 extra_env: dict[str, str] | None = None, database_url: str | None = None):
        self.data_dir = data_dir
        # None: SQLite in the data dir, unless this run keeps stores on PostgreSQL (SELFMAKER_TEST_STORE).
        self.database_url = database_url or _postgres_stand_in(data_dir)
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.region = REGION
        self.access_key_id = ROOT_KEY
        self.secret_access_key = ROOT_SECRET
        self.account_id = ACCOUNT
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "SELFMAKER_ROOT_ACCESS_KEY_ID": ROOT_KEY,
            "SELFMAKER_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
            "SELFMAKER_ACCOUNT_ID": ACCOUNT,
            "SELFMAKER_LIFECYCLE_TIMEOUT": str(lifecycle_timeout),
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        }
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                    "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL"):
            self.env.pop(key, None)
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen | None = None

    @property
    def database(self) -> str | Path:
        """The server's store, as ``open_store`` and the admin commands' ``--database`` take it."""
        return self.database_url or self.data_dir / "selfmaker.db"

    def database_args(self) -> list[str]:
        """``--database`` for an admin command on this server's store (nothing for SQLite in the data dir)."""
        return ["--database", self.database_url] if self.database_url else []

    def start(self) -> ServerProcess:
        log = (self.data_dir.parent / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "selfmaker"), "up", "--port", str(self.port), "--data-dir", str(self.data_dir),
             *self.database_args()],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"selfmaker up exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.endpoint_url}/_selfmaker/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("selfmaker up did not answer within 30 s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def client(self, service: str, **overrides):
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=overrides.pop("region_name", self.region),
            aws_access_key_id=overrides.pop("aws_access_key_id", self.access_key_id),
            aws_secret_access_key=overrides.pop("aws_secret_access_key", self.secret_access_key),
            config=Config(retries={"max_attempts": 1}, **overrides),
        )

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """The AWS CLI through the profile that ``selfmaker up`` wrote."""
        result = subprocess.run(
            [str(VENV_BIN / "aws"), "--profile", "selfmaker", "--output", "json", *args],
            env=self.env, capture_output=True, text=True, timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result

    def aws_json(self, *args: str) -> dict:
        return json.loads(self.aws(*args).stdout or "{}")


def run_async(coroutine):
    """``asyncio.run`` in a thread of its own, returning its result: a test may hold an event loop open
    (Playwright's sync API) in this one, where ``asyncio.run`` refuses to start."""
    outcome: dict = {}

    def main() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as err:  # handed to the test's thread, which raises it
            outcome["error"] = err

    worker = threading.Thread(target=main)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _stop_everything(server: ServerProcess) -> None:
    """Stop the server and every sandbox it left running (they outlive the server by design)."""
    server.kill(signal.SIGTERM)
    # Sandboxes hold namespaces, NATs, cgroups and mounts besides processes: the runtime lets go of all.
    runtime = LocalRuntime(server.data_dir)
    # In a thread of its own: a test may hold an event loop open (Playwright's) in this one.
    run_async(runtime.stop_all())
    for volume in (server.data_dir / "volumes").glob("*.ext4"):
        runtime.disks.unmount(volume.with_suffix(""))


@contextlib.contextmanager
def running_server(base: Path, database_url: str | None = None, **env: str) -> Iterator[ServerProcess]:
    """A server under ``base`` (short lifecycle time limit, extra environment ``env``, the store at
    ``database_url`` if given), stopped with all its sandboxes on exit."""
    proc = ServerProcess(base / "data", base / "home", lifecycle_timeout=3, extra_env=env,
                         database_url=database_url).start()
    try:
        yield proc
    finally:
        _stop_everything(proc)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> ServerProcess:
    with running_server(tmp_path_factory.mktemp("selfmaker")) as proc:
        yield proc


@pytest.fixture
def fresh_server(tmp_path) -> ServerProcess:
    """A server of one's own, for tests that kill and restart it."""
    with running_server(tmp_path) as proc:
        yield proc


from tests.postgres import postgres  # noqa: E402, F401  (the session's PostgreSQL cluster, for the store's tests)
from tests.slurm import slurm_cluster  # noqa: E402, F401  (the session's Slurm cluster, for the Slurm runtime's tests)
