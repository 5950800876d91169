"""Notebook instances on the instance image (needs root): SageMaker's tools and conda layout, a system that
root may change and that is the image again at the next start, cron, Jupyter's config files and
https://localhost:8443 inside. The image itself is built once per host (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from selfmaker.runtime.base import JUPYTER_STREAM, ON_START_STREAM
from selfmaker.runtime.jupyter import SECRET_HEADER
from selfmaker.runtime.local import IMAGE_WAIT, LocalRuntime
from tests.runtime.test_local_runtime import Sink, make_spec

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")

VOLUME = "/home/ec2-user/SageMaker"


@pytest.fixture
def runtime(tmp_path: Path):
    runtime = LocalRuntime(tmp_path / "data")
    yield runtime
    shutil.rmtree(runtime.socket_root, ignore_errors=True)


def _run(coro):
    return asyncio.run(coro)


async def _started(runtime: LocalRuntime, tmp_path: Path, on_start: str, **fields):
    sink = Sink()
    endpoint = await runtime.start(make_spec(tmp_path, on_start=on_start, **fields), sink)
    return endpoint, sink


# root's tools in lifecycle scripts (conda is ec2-user's: checked below)
TOOLS = "bash sudo git jq curl wget unzip tar less vim nano htop ssh crontab ps gcc make python python3 aws"

FIRST = f"""
set -e
for tool in {TOOLS}; do command -v $tool > /dev/null || echo "missing $tool"; done > {VOLUME}/missing
/usr/bin/python3 -c 'import boto3' && echo boto3 > {VOLUME}/system-python
su - ec2-user -c 'echo "$(id -un) $HOME $PWD"' > {VOLUME}/su
echo 'export CHANGED=1' > /etc/profile.d/changed.sh
echo changed > /usr/share/changed
sudo -u ec2-user -i <<'EOF'
conda env list > ~/SageMaker/envs
source /home/ec2-user/anaconda3/bin/activate python3
echo "$(which python) $CONDA_DEFAULT_ENV" > ~/SageMaker/activated
source /home/ec2-user/anaconda3/bin/deactivate
conda activate JupyterSystemEnv && which jupyter > ~/SageMaker/jupyter-env
conda create -y -n old python=2.7 > ~/SageMaker/old.out 2>&1 || echo "refused $?" >> ~/SageMaker/old.out
touch ~/home-file ~/anaconda3/envs/python3/lib/touched
EOF
"""
SECOND = f"""
for path in /etc/profile.d/changed.sh /usr/share/changed /home/ec2-user/home-file \\
            /home/ec2-user/anaconda3/envs/python3/lib/touched; do
  test -e $path && echo "kept $path"
done > {VOLUME}/kept
true
"""


def test_the_image_has_sagemakers_tools_and_conda_and_is_itself_again_at_the_next_start(runtime, tmp_path):
    volume = tmp_path / "volume"

    async def scenario():
        await _started(runtime, tmp_path, FIRST)  # the volume is mounted while the instance runs
        try:
            first = {name: (volume / name).read_text()
                     for name in ("missing", "system-python", "envs", "activated", "jupyter-env", "old.out", "su")}
        finally:
            await runtime.stop("nb-0123456789ab")
        assert first["missing"] == ""
        assert first["system-python"] == "boto3\n"
        assert first["su"] == "ec2-user /home/ec2-user /home/ec2-user\n"
        envs = first["envs"].split("\n")
        assert any(line.split()[:1] == ["base"] and line.endswith("/home/ec2-user/anaconda3") for line in envs)
        assert any(line.startswith("JupyterSystemEnv ") for line in envs)
        assert any(line.startswith("python3 ") for line in envs)
        assert first["activated"] == "/home/ec2-user/anaconda3/envs/python3/bin/python python3\n"
        assert first["jupyter-env"] == "/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/jupyter\n"
        old = first["old.out"]
        assert "python=2.7" in old and "This image has Python 3." in old and old.endswith("refused 1\n")

        await _started(runtime, tmp_path, SECOND)
        try:
            kept = (volume / "kept").read_text()
        finally:
            await runtime.stop("nb-0123456789ab")
        assert kept == ""  # root's changes and the home directory: the image again

    _run(scenario())


CRON = f"""
set -e
echo "* * * * * root echo from-cron-d > {VOLUME}/cron-d" > /etc/cron.d/every-minute
echo "* * * * * echo \\$(id -un) > {VOLUME}/crontab-user" | sudo -u ec2-user crontab -
sudo -u ec2-user crontab -l
"""


def test_cron_runs_etc_cron_d_and_users_crontabs(runtime, tmp_path):
    volume = tmp_path / "volume"

    async def scenario():
        _, sink = await _started(runtime, tmp_path, CRON)
        try:
            assert sink.lines[ON_START_STREAM][-1].startswith("* * * * * echo")
            deadline = time.monotonic() + 130  # cron wakes at the next minute, and reads new files then
            while time.monotonic() < deadline and not ((volume / "cron-d").exists()
                                                       and (volume / "crontab-user").exists()):
                await asyncio.sleep(1)
            assert (volume / "cron-d").read_text() == "from-cron-d\n"
            assert (volume / "crontab-user").read_text() == "ec2-user\n"
        finally:
            await runtime.stop("nb-0123456789ab")

    _run(scenario())


CONFIGURED = f"""
set -e
mkdir -p /home/ec2-user/.jupyter
cat > /home/ec2-user/.jupyter/jupyter_notebook_config.py <<'EOF'
c.NotebookApp.tornado_settings = {{"headers": {{"X-From-Notebook-Config": "yes"}}}}
EOF
chown -R ec2-user:ec2-user /home/ec2-user/.jupyter
url=https://localhost:8443/notebooks/test-nb/api/status  # the test's base_url; instances have /
# In the background, once Jupyter (which starts after the scripts) listens there:
nohup sh -c "for i in \\$(seq 120); do
  code=\\$(curl -sk -o /dev/null -w '%{{http_code}}' $url); [ \\$code = 200 ] && break; sleep 0.5
done; echo -n \\$code > {VOLUME}/https.code" > /dev/null 2>&1 &
"""


def test_jupyter_reads_the_users_config_and_answers_on_localhost_8443(runtime, tmp_path):
    volume = tmp_path / "volume"

    async def scenario():
        endpoint, _ = await _started(runtime, tmp_path, CONFIGURED, internet=False)
        try:
            transport = httpx.AsyncHTTPTransport(uds=endpoint.socket_path)
            async with httpx.AsyncClient(transport=transport) as client:
                response = await client.get("http://localhost/notebooks/test-nb/api/status",
                                            headers={SECRET_HEADER: endpoint.token})
            assert response.status_code == 200
            assert response.headers.get("X-From-Notebook-Config") == "yes"
            deadline = time.monotonic() + 70
            while time.monotonic() < deadline and not (volume / "https.code").exists():
                await asyncio.sleep(0.5)
            assert (volume / "https.code").read_text() == "200"  # no token: only the instance reaches it
        finally:
            await runtime.stop("nb-0123456789ab")

    _run(scenario())


def test_a_start_that_waits_for_the_image_says_so_in_its_log(runtime, tmp_path, monkeypatch):
    # As on a new host: the image looks unbuilt (its pieces are all there, so nothing is built really).
    monkeypatch.setattr(runtime.images, "ready", lambda data_dir: None)

    async def scenario():
        _, sink = await _started(runtime, tmp_path, "true")
        await runtime.stop("nb-0123456789ab")
        assert sink.lines[JUPYTER_STREAM][0] == IMAGE_WAIT

    _run(scenario())
