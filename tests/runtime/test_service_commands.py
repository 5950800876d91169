"""``systemctl restart jupyter-server`` (and initctl's, service's) inside a real sandbox: nothing to do while
the lifecycle scripts run, a restart of Jupyter alone once it runs, the instance staying up."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from selfmaker.runtime.jupyter import SECRET_HEADER
from selfmaker.runtime.local import LocalRuntime
from tests.runtime.test_local_runtime import Sink, data_dir, make_spec  # noqa: F401 - data_dir is a fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")

ON_START = """
set -e
systemctl restart jupyter-server                # Jupyter starts after the scripts: nothing to do yet
initctl restart jupyter-server --no-wait
service jupyter-server restart
sudo systemctl daemon-reload
code=0; systemctl restart no-such-service 2>/dev/null || code=$?; test "$code" = 5
code=0; systemctl status jupyter-server > /dev/null || code=$?; test "$code" = 3
if sudo -u ec2-user systemctl restart jupyter-server 2>/dev/null; then exit 8; fi   # not ec2-user's to do
# As AWS's samples do: a background job that configures Jupyter, then restarts it (here: when told to).
nohup sh -c 'while [ ! -e /home/ec2-user/SageMaker/go ]; do sleep 0.2; done
             systemctl is-active jupyter-server && sudo systemctl restart jupyter-server --no-block' > /dev/null 2>&1 &
echo scripts-done
"""


async def _started(endpoint, base_url: str) -> str | None:
    transport = httpx.AsyncHTTPTransport(uds=endpoint.socket_path)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=2) as client:
            response = await client.get(f"http://localhost{base_url}api/status",
                                        headers={SECRET_HEADER: endpoint.token})
            return response.json()["started"] if response.status_code == 200 else None
    except httpx.TransportError:
        return None  # between the old Jupyter and the new


def test_systemctl_restarts_jupyter_and_the_instance_stays_up(tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    runtime = LocalRuntime(data_dir)
    spec = make_spec(tmp_path, on_start=ON_START)

    async def scenario() -> None:
        sink = Sink()
        endpoint = await runtime.start(spec, sink)
        try:
            assert "scripts-done" in sink.lines["LifecycleConfigOnStart"]
            first = await _started(endpoint, spec.base_url)
            assert first is not None
            (tmp_path / "volume" / "go").touch()  # the instance's volume, mounted while it runs
            deadline, now = time.monotonic() + 60, None
            while time.monotonic() < deadline:
                now = await _started(endpoint, spec.base_url)
                if now is not None and now != first:
                    break
                await asyncio.sleep(0.3)
            assert now is not None and now != first, "Jupyter was not restarted"
            assert runtime.alive(spec.instance_id)
        finally:
            await runtime.stop(spec.instance_id)

    asyncio.run(scenario())
