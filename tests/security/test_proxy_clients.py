"""The notebook proxy's clients to instances' Jupyter: one per instance, kept while it is InService, closed
once it is not (stopped, deleted), replaced when it comes back on another socket, so that a long-running
server holds connections only to instances that run. The proxy is driven in-process through httpx; each
Jupyter is a real server on a Unix socket that counts its open connections.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import insert, update

from selfmaker.config import Settings
from selfmaker.gateway.notebook_proxy import SESSION_COOKIE, NotebookProxy
from selfmaker.runtime.base import Endpoint
from selfmaker.runtime.jupyter import SECRET_HEADER
from selfmaker.store.db import open_store
from selfmaker.store.tables import notebook_instances, notebook_sessions
from tests.conftest import run_async
from tests.postgres import store_at
from tests.security.test_hostile_jupyter import Jupyter, sockets  # noqa: F401  (the fixture)

ACCOUNT, REGION, INSTANCE = "123456789012", "us-east-1", "nb-alice"
HOST = f"alice-{ACCOUNT}.notebook.{REGION}.localhost:8080"
SWEEP = 0.1  # seconds between the proxy's checks of which instances are InService
SECRET = "proxy-test-secret-0c41"


class Orchestrator:
    def __init__(self, socket_path: str):
        self.socket_path = socket_path

    def endpoint(self, instance_id: str) -> Endpoint | None:
        return Endpoint(self.socket_path, SECRET)


async def ok(jupyter: Jupyter, _reader, writer) -> None:
    await jupyter.send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")


async def _until(condition, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.02)


def test_clients_are_kept_while_in_service_closed_after_and_replaced_on_a_new_socket(sockets, tmp_path):  # noqa: F811
    engine = open_store(store_at(tmp_path / "selfmaker.db"))
    now = time.time()
    with engine.begin() as conn:
        conn.execute(insert(notebook_instances).values(
            instance_id=INSTANCE, account_id=ACCOUNT, region=REGION, name="alice",
            arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/alice", status="InService",
            instance_type="ml.t3.medium", role_arn=f"arn:aws:iam::{ACCOUNT}:role/R", volume_size_gb=5,
            settings={}, on_create_done=True, creation_time=now, last_modified_time=now))
        conn.execute(insert(notebook_sessions).values(session_id="s1", instance_id=INSTANCE, expires=now + 3600))

    def set_status(status: str) -> None:
        with engine.begin() as conn:
            conn.execute(update(notebook_instances).values(status=status))

    first, second = str(sockets / "first.sock"), str(sockets / "second.sock")
    orchestrator = Orchestrator(first)
    proxy = NotebookProxy(engine, orchestrator, Settings(data_dir=tmp_path), sweep_seconds=SWEEP)

    async def scenario() -> None:
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy), base_url=f"http://{HOST}",
                                    cookies={SESSION_COOKIE: "s1"})
        async with browser, Jupyter(first, ok) as before, Jupyter(second, ok) as after:
            for _ in range(3):
                assert (await browser.get("/api/status")).text == "ok"
            await asyncio.sleep(3 * SWEEP)
            assert (before.connections, before.open) == (1, 1)  # one client, one connection, kept while InService
            assert f"{SECRET_HEADER}: {SECRET}".lower().encode() in before.heads[0].lower()

            orchestrator.socket_path = second  # stopped and started again: a new sandbox, a new socket
            assert (await browser.get("/api/status")).text == "ok"
            await _until(lambda: before.open == 0)  # the old socket's client closed at once
            assert (after.connections, after.open) == (1, 1)

            set_status("Stopped")
            await _until(lambda: after.open == 0)  # closed by the sweep: no request will come for it
            assert (await browser.get("/api/status")).status_code == 503
            await proxy.close()

    run_async(scenario())
