"""ec2-user's sudo inside a real sandbox: bwrap's no_new_privs leaves the setuid sudo powerless, so with
RootAccess Enabled a root broker in the sandbox runs the commands (sandbox_init, commands.py); with it
Disabled, ec2-user is not in the sudoers file. Root's own sudo stays the real one."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from selfmaker.runtime.base import ON_START_STREAM
from selfmaker.runtime.local import LocalRuntime
from tests.runtime.test_local_runtime import Sink, data_dir, make_spec  # noqa: F401 - data_dir is a fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")

# Processes running sandbox_init but bwrap (pid 1, whose command line names it): the supervisor, and a broker?
BROKERS = "grep -l 'sandbox_in[i]t' /proc/[0-9]*/cmdline 2>/dev/null | grep -vc '^/proc/1/'"

# As ec2-user, a process that talks to the broker without the client: no fds, bad JSON, a bad request.
ROGUE = r"""
import socket
def ask(payload, fds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/run/selfmaker/sudo.sock")
    if fds:
        socket.send_fds(s, [payload], fds)
    elif payload:
        s.sendall(payload)
    if not payload.endswith(b"\n"):
        s.shutdown(socket.SHUT_WR)
    answer = s.recv(4096).decode().strip()
    print("rogue:", "refused" if '"error"' in answer else "ANSWERED", answer)
ask(b'{"argv": ["id"]}\n', [])
ask(b'garbage\n', [0, 1, 2])
ask(b'{"argv": "id", "user": 0}\n', [0, 1, 2])
ask(b'{"argv": [', [0, 1, 2])
ask(b'', [])
"""

ENABLED = r"""
set -u
sudo -u ec2-user sh -c 'echo "uid=$(sudo id -u)"
  echo "home=$(sudo -i sh -c "echo \$HOME")"
  echo hi | sudo tee /root/x > /dev/null
  sudo sh -c "exit 7"; echo "code=$?"
  echo "env=$(sudo env | grep -E "^(SUDO_USER|SUDO_UID|HOME|PATH)=" | sort | tr "\n" " ")"
  sudo sleep 30 & pid=$!; sleep 1; kill -TERM $pid; wait $pid; echo "term=$?"
  echo "cwd=$(cd /tmp && sudo pwd)"
  sudo -Z true 2> /dev/null; echo "bad-option=$?"
  sudo -k && sudo -v && sudo -k true && echo "no-passwords=yes"
  echo "assign=$(sudo FOO=bar sh -c "echo \$FOO")" "kept=$(BAR=1 sudo -E sh -c "echo \${BAR:-}")"
  echo "dropped=$(BAR=1 sudo sh -c "echo \${BAR:-none}")" "as=$(sudo -u root -- id -un)"'
echo "x=$(cat /root/x) owner=$(stat -c %U /root/x)"
echo "nested=$(sudo -u ec2-user sudo -u ec2-user id -un)"
echo "root=$(sudo -u ec2-user whoami)"
out=$(sudo -u nobody sudo id 2>&1); echo "nobody=$? $out"
cat > /tmp/rogue.py <<'PY'
__ROGUE__
PY
sudo -u ec2-user __PYTHON__ -I /tmp/rogue.py
echo "after=$(sudo -u ec2-user sudo id -un)"
echo "brokers=$(__BROKERS__)"
"""

DISABLED = r"""
out=$(sudo -u ec2-user sudo id 2>&1); echo "code=$? out=$out"
test -e /run/selfmaker/sudo.sock && echo socket=yes || echo socket=no
echo "sudoers=$(grep -c ec2-user /etc/sudoers)"
echo "brokers=$(__BROKERS__)"
echo "root=$(sudo -u ec2-user whoami)"
"""


def _script_output(tmp_path: Path, data_dir: Path, script: str, **overrides) -> list[str]:  # noqa: F811
    runtime = LocalRuntime(data_dir)
    script = script.replace("__ROGUE__", ROGUE).replace("__PYTHON__", "/usr/bin/python3")
    script = script.replace("__BROKERS__", BROKERS)
    spec = make_spec(tmp_path, on_start=script, **overrides)

    async def scenario() -> list[str]:
        sink = Sink()
        await runtime.start(spec, sink)
        try:
            return sink.lines[ON_START_STREAM]
        finally:
            await runtime.stop(spec.instance_id)

    return asyncio.run(scenario())


def test_ec2_user_becomes_root_through_the_broker(tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    lines = _script_output(tmp_path, data_dir, ENABLED)
    text = "\n".join(lines)
    assert "uid=0" in lines, text
    assert "home=/root" in lines, text
    assert "code=7" in lines, text
    env = next(line for line in lines if line.startswith("env="))
    assert "SUDO_USER=ec2-user" in env and "SUDO_UID=1000" in env and "HOME=/root" in env, env
    assert "/usr/local/sbin" in env, env
    assert "term=143" in lines, text  # SIGTERM reached the command: 128 + 15, as a shell reports it
    assert "cwd=/tmp" in lines, text
    assert "bad-option=1" in lines, text
    assert "no-passwords=yes" in lines, text  # -k and -v, which scripts call, have nothing to do
    assert "assign=bar kept=1" in lines and "dropped=none as=root" in lines, text
    assert "x=hi owner=root" in lines, text
    assert "nested=ec2-user" in lines, text
    assert "root=ec2-user" in lines, text
    assert any(line.startswith("nobody=1 nobody is not in the sudoers file.") for line in lines), text
    rogue = [line for line in lines if line.startswith("rogue:")]
    assert len(rogue) == 5 and all(line.startswith("rogue: refused") for line in rogue), text
    assert "after=root" in lines, text  # the broker survived them
    assert "brokers=2" in lines, text


def test_without_root_access_ec2_user_is_not_in_sudoers(tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    lines = _script_output(tmp_path, data_dir, DISABLED, root_access=False)
    text = "\n".join(lines)
    assert "code=1 out=ec2-user is not in the sudoers file.  This incident will be reported." in lines, text
    assert "socket=no" in lines, text
    assert "sudoers=0" in lines, text
    assert "brokers=1" in lines, text
    assert "root=ec2-user" in lines, text  # root's own sudo still works
