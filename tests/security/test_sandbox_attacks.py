"""A curious student with root in their instance, attacking the server and the other tenants.

Each test is an attack as it would be run: a root lifecycle script or notebook code, against a real server
process with real sandboxes. Every one of them worked before instances had namespaces, limits and safe
reads of their own; they must fail now, and fail only for the attacker. The memory and task limits of the
attacked instance type are mapped small (instance-types.yaml), so that the attacks cannot hurt the machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from selfmaker.runtime.local import LocalRuntime
from tests.conftest import ACCOUNT, running_server
from tests.e2e.jupyter_client import NotebookSession

pytestmark = pytest.mark.skipif(
    subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0",
    reason="isolation needs the server to run as root (CI does)",
)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
GROUP = "/aws/sagemaker/NotebookInstances"
SMALL_TYPE = "ml.t3.medium"
MEMORY_GIB = 0.5
PIDS = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    (base / "data").mkdir()
    (base / "data" / "instance-types.yaml").write_text(
        yaml.safe_dump({SMALL_TYPE: {"memory_gib": MEMORY_GIB, "pids": PIDS}}))
    # Scripts that run the AWS CLI a few times need more than the default test server's 3 s.
    with running_server(base, SELFMAKER_LIFECYCLE_TIMEOUT="120") as proc:
        proc.client("iam").create_role(RoleName="SageMakerRole", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "sagemaker.amazonaws.com"}}]}))
        proc.client("iam").attach_role_policy(RoleName="SageMakerRole",
                                              PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
        yield proc


def launch(server, name: str, on_start: str | None = None, wait: bool = True, **params) -> dict:
    sm = server.client("sagemaker")
    if on_start is not None:
        sm.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=name,
            OnStart=[{"Content": base64.b64encode(on_start.encode()).decode()}])
        params["LifecycleConfigName"] = name
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType=SMALL_TYPE, RoleArn=ROLE, **params)
    return settled(server, name) if wait else {}


def settled(server, name: str, timeout: float = 120) -> dict:
    sm = server.client("sagemaker")
    deadline = time.time() + timeout
    while time.time() < deadline:
        described = sm.describe_notebook_instance(NotebookInstanceName=name)
        if described["NotebookInstanceStatus"] in ("InService", "Failed"):
            return described
        time.sleep(0.2)
    raise AssertionError(f"{name} did not settle")


def stream(server, name: str, suffix: str = "LifecycleConfigOnStart") -> str:
    events = server.client("logs").get_log_events(logGroupName=GROUP, logStreamName=f"{name}/{suffix}",
                                                  startFromHead=True)["events"]
    return "\n".join(event["message"] for event in events)


def notebook(server, name: str) -> NotebookSession:
    url = server.client("sagemaker").create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    return NotebookSession(url)


def instance_id(server, name: str) -> str:
    from sqlalchemy import select

    from selfmaker.store.db import open_store
    from selfmaker.store.tables import notebook_instances

    with open_store(server.database).connect() as conn:
        return conn.execute(select(notebook_instances.c.instance_id)
                            .where(notebook_instances.c.name == name)).scalar_one()


# --- files the server reads -----------------------------------------------------------------------


def test_a_log_turned_into_a_link_to_the_store_ships_nothing(server):
    store = server.data_dir / "selfmaker.db"
    described = launch(server, "exfiltrate", f"""#!/bin/bash
echo "before the swap"
sleep 1
rm -f /.selfmaker/OnStart.log
ln -s {store} /.selfmaker/OnStart.log
sleep 3
""")
    assert described["NotebookInstanceStatus"] == "Failed"
    assert "OnStart.log is a symbolic link" in described["FailureReason"]
    logs = server.client("logs")
    for found in logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="exfiltrate/")["logStreams"]:
        text = stream(server, "exfiltrate", found["logStreamName"].split("/", 1)[1])
        assert "SQLite format" not in text and server.secret_access_key not in text
    assert "before the swap" in stream(server, "exfiltrate")


def test_a_fifo_for_an_exit_code_fails_that_instance_and_never_freezes_the_server(server):
    launch(server, "fifo", """#!/bin/bash
mkfifo /.selfmaker/OnStart.exit
sleep 30
""", wait=False)
    sm = server.client("sagemaker")
    for _ in range(20):  # the API keeps answering while the instance meets its FIFO
        sm.list_notebook_instances()
        time.sleep(0.1)
    described = settled(server, "fifo")
    assert described["NotebookInstanceStatus"] == "Failed"
    assert "OnStart.exit is not a regular file" in described["FailureReason"]


# --- what root sees of the host ---------------------------------------------------------------------


def test_root_sees_no_host_secret_nor_the_data_directory(server):
    described = launch(server, "snoop", f"""#!/bin/bash
echo "shadow: $(cat /etc/shadow | cut -d: -f1 | tr '\\n' ' ')"
ls {server.data_dir} >/dev/null 2>&1 && echo "data dir: visible" || echo "data dir: hidden"
ls /etc/ssh/ssh_host_* >/dev/null 2>&1 && echo "host keys: visible" || echo "host keys: hidden"
ls /var/lib >/dev/null 2>&1 && echo "var lib: $(ls /var/lib | tr '\\n' ' ')" || echo "var lib: hidden"
cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ' | sed 's/^/interfaces: /'; echo
""")
    assert described["NotebookInstanceStatus"] == "InService", described.get("FailureReason")
    log = stream(server, "snoop")
    assert "shadow: root ec2-user nobody" in log, log
    assert "data dir: hidden" in log and "host keys: hidden" in log, log
    # The instance image's own /var/lib (its packages' state), none of the host's (where images are kept)
    image = LocalRuntime(server.data_dir).images.ready(server.data_dir)
    (listing,) = [line.removeprefix("var lib: ").split() for line in log.splitlines() if line.startswith("var lib:")]
    assert set(listing) == set(os.listdir(image.rootfs / "var" / "lib")), log
    interfaces = log.split("interfaces: ", 1)[1].split()
    assert set(interfaces) <= {"lo", "tap0"}, interfaces  # its own network: no host interface


# --- the network ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_service():
    """A service only the host should reach: on host loopback and on the host's own address."""
    listeners = []
    for address in ("127.0.0.1", _host_address()):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, 0))
        sock.listen(8)
        listeners.append(sock)
        threading.Thread(target=_answer_forever, args=(sock,), daemon=True).start()
    yield [(sock.getsockname()[0], sock.getsockname()[1]) for sock in listeners]
    for sock in listeners:
        sock.close()


def _host_address() -> str:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True).stdout
    for interface in json.loads(out):
        for info in interface.get("addr_info", []):
            if not info["local"].startswith("127."):
                return info["local"]
    return "127.0.0.1"


def _answer_forever(sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        conn.sendall(b"host secret\n")
        conn.close()


PROBE = """
import socket
def probe(host, port):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            return "REACHED " + s.recv(64).decode().strip()
    except OSError as err:
        return type(err).__name__
"""


@pytest.fixture(scope="module")
def two_instances(server):
    launch(server, "tenant-a")
    launch(server, "tenant-b")
    return notebook(server, "tenant-a"), notebook(server, "tenant-b")


def test_no_raw_sockets_and_no_view_of_other_instances(server, two_instances):
    attacker, victim = two_instances
    # The victim's kernel listens on ports of its own loopback; the attacker scans for them on its own.
    victim_ports = victim.run(
        "import json, glob, jupyter_core.paths as p\n"
        "f = sorted(glob.glob(p.jupyter_runtime_dir() + '/kernel-*.json'))[-1]\n"
        "c = json.load(open(f)); print(' '.join(str(c[k]) for k in ('shell_port', 'iopub_port', 'hb_port')))"
    ).split()
    assert len(victim_ports) == 3
    out = attacker.run(PROBE + "\n".join([
        "import socket",
        "try:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('raw: allowed')\n"
        "except OSError as err:\n    print('raw:', type(err).__name__)",
        *[f"print({port}, probe('127.0.0.1', {port}))" for port in victim_ports],
    ]))
    assert "raw: PermissionError" in out, out
    for port in victim_ports:
        assert f"{port} ConnectionRefusedError" in out, out


def test_host_services_are_out_of_reach(server, two_instances, host_service):
    attacker, _ = two_instances
    checks = [(host, port) for host, port in host_service] + [("10.0.2.2", host_service[0][1])]
    out = attacker.run(PROBE + "\n".join(f"print('{h}', {p}, probe('{h}', {p}))" for h, p in checks))
    assert "REACHED" not in out, out


def test_the_api_and_metadata_are_reachable_and_tell_who_is_asking(server, two_instances):
    attacker, _ = two_instances
    out = attacker.run(
        "import urllib.request as u\n"
        "r = u.Request('http://169.254.169.254/latest/api/token', method='PUT',"
        " headers={'X-aws-ec2-metadata-token-ttl-seconds': '60'})\n"
        "t = u.urlopen(r, timeout=5).read().decode()\n"
        "get = lambda p: u.urlopen(u.Request('http://169.254.169.254/latest/meta-data/' + p,"
        " headers={'X-aws-ec2-metadata-token': t}), timeout=5).read().decode()\n"
        "print('type', get('instance-type')); print('region', get('placement/region'))\n"
        "import os; print('aws vars', sorted(k for k in os.environ if k.startswith('AWS_')))\n"
        "import boto3; print('who', boto3.client('sts').get_caller_identity()['Arn'])\n"
        "print('boto region', boto3.Session().region_name)\n"
    )
    assert f"type {SMALL_TYPE}" in out and "region us-east-1" in out, out
    assert "aws vars []" in out, out
    assert f"who arn:aws:sts::{ACCOUNT}:assumed-role/SageMakerRole/SageMaker" in out, out
    assert "boto region us-east-1" in out, out


def test_the_cli_works_in_every_shell_with_no_aws_variables(server):
    described = launch(server, "cli-shells", """#!/bin/bash
echo "root: $(aws sts get-caller-identity --query Arn --output text)"
sudo -u ec2-user -i <<'EOF'
echo "ec2-user vars: $(env | grep -c '^AWS_')"
echo "ec2-user: $(aws sts get-caller-identity --query Arn --output text)"
python3 -c 'import boto3; sm = boto3.client("sagemaker")
print("ec2-user boto3:", "NotebookInstances" in sm.list_notebook_instances())'
EOF
""")
    assert described["NotebookInstanceStatus"] == "InService", described.get("FailureReason")
    log = stream(server, "cli-shells")
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/SageMakerRole/SageMaker"
    assert f"root: {arn}" in log and f"ec2-user: {arn}" in log, log
    assert "ec2-user vars: 0" in log and "ec2-user boto3: True" in log, log


def test_imds_v2_only_refuses_tokenless_requests(server):
    launch(server, "imds-v2", InstanceMetadataServiceConfiguration={"MinimumInstanceMetadataServiceVersion": "2"})
    out = notebook(server, "imds-v2").run(
        "import urllib.request as u, urllib.error as e\n"
        "try:\n    u.urlopen('http://169.254.169.254/latest/meta-data/instance-id', timeout=5); print('v1: served')\n"
        "except e.HTTPError as err:\n    print('v1:', err.code)\n"
    )
    assert "v1: 401" in out, out


@pytest.fixture(scope="module")
def outside():
    """'The internet': a web server in a network namespace of the test's own, routed from the host."""
    subprocess.run(["ip", "netns", "add", "sm-test-outside"], check=True)
    commands = [
        ["ip", "link", "add", "sm-out0", "type", "veth", "peer", "name", "sm-out1"],
        ["ip", "link", "set", "sm-out1", "netns", "sm-test-outside"],
        ["ip", "addr", "add", "198.18.77.2/24", "dev", "sm-out0"], ["ip", "link", "set", "sm-out0", "up"],
        ["ip", "-n", "sm-test-outside", "addr", "add", "198.18.77.1/24", "dev", "sm-out1"],
        ["ip", "-n", "sm-test-outside", "link", "set", "sm-out1", "up"],
        ["ip", "-n", "sm-test-outside", "link", "set", "lo", "up"],
    ]
    web = None
    try:
        for command in commands:
            subprocess.run(command, check=True)
        web = subprocess.Popen(["ip", "netns", "exec", "sm-test-outside", sys.executable, "-m", "http.server",
                                "--bind", "198.18.77.1", "8000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        yield "http://198.18.77.1:8000/"
    finally:
        if web is not None:
            web.kill()
        subprocess.run(["ip", "link", "delete", "sm-out0"], capture_output=True)
        subprocess.run(["ip", "netns", "delete", "sm-test-outside"], capture_output=True)


FETCH = """#!/bin/bash
python3 -c 'import urllib.request as u
try:
    print("outside:", u.urlopen("{url}", timeout=5).status)
except OSError as err:
    print("outside: unreachable", err)'
"""


def test_direct_internet_access_decides_what_is_outside(server, outside):
    launch(server, "online", FETCH.format(url=outside))
    assert "outside: 200" in stream(server, "online")
    with pytest.raises(ClientError, match="SubnetId"):
        launch(server, "offline-no-subnet", DirectInternetAccess="Disabled")
    launch(server, "offline", FETCH.format(url=outside), DirectInternetAccess="Disabled", SubnetId="subnet-0abc")
    assert "outside: unreachable" in stream(server, "offline")


# --- limits -----------------------------------------------------------------------------------------


def test_a_fork_bomb_stops_at_the_task_limit(server, two_instances):
    _, neighbour = two_instances
    described = launch(server, "bomber", """#!/bin/bash
python3 - <<'EOF'
import os, time
children = []
for _ in range(5000):
    try:
        pid = os.fork()
    except OSError as err:
        print("stopped:", type(err).__name__)
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
print("forks", len(children))
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
EOF
""")
    assert described["NotebookInstanceStatus"] == "InService", described.get("FailureReason")
    log = stream(server, "bomber")
    assert "stopped: BlockingIOError" in log, log
    assert 0 < int(log.split("forks ", 1)[1].split()[0]) < PIDS, log
    assert neighbour.run("print(6 * 7)").strip() == "42"  # the neighbour never noticed


def test_a_kernel_over_the_memory_limit_dies_alone(server):
    launch(server, "hungry")
    attacker = notebook(server, "hungry")
    with pytest.raises(Exception):  # noqa: B017 - the kernel dies mid-request; how the session ends varies
        attacker.run(f"b = bytearray({int(MEMORY_GIB * 2 * 2**30)}); b[::4096] = b'x' * len(b[::4096])", timeout=15)
    kills = Path(f"/sys/fs/cgroup/memory/selfmaker/{instance_id(server, 'hungry')}/memory.oom_control")
    assert "oom_kill 0" not in kills.read_text()
    assert attacker.run("print('still here')").strip() == "still here"  # Jupyter lives on; a new kernel runs


def test_a_full_volume_is_enospc(server, two_instances):
    attacker, _ = two_instances
    out = attacker.run(
        "import os, shutil\nroot = '/home/ec2-user/SageMaker'\n"
        "print('size GB', round(shutil.disk_usage(root).total / 2**30))\n"
        "fd = os.open(root + '/big', os.O_WRONLY | os.O_CREAT)\n"
        "try:\n    os.posix_fallocate(fd, 0, 6 * 2**30); print('6 GiB: fitted')\n"
        "except OSError as err:\n    print('6 GiB:', err.strerror)\nos.close(fd); os.unlink(root + '/big')\n"
    )
    assert "size GB 5" in out and "6 GiB: No space left on device" in out, out


def test_root_changing_the_image_changes_only_its_own_instance(server):
    site = "/home/ec2-user/anaconda3/envs/python3/lib/python3.11/site-packages"
    tamper = launch(server, "tamper", f"""#!/bin/bash
set -e
echo 'echo pwned' > /usr/bin/jq                                 # a tool every instance runs
echo 'raise SystemExit("pwned")' > {site}/sitecustomize.py      # code every kernel would import
echo 'root::0:0::/root:/bin/bash' >> /etc/passwd
if mount -o remount,rw / 2>/dev/null || mount -t tmpfs x /mnt 2>/dev/null; then echo "mounted"; fi
echo "tampered"
""")
    assert tamper["NotebookInstanceStatus"] == "InService", tamper.get("FailureReason")
    assert stream(server, "tamper") == "tampered"  # not "mounted": no CAP_SYS_ADMIN, the layers stay as they are
    other = launch(server, "untampered", f"""#!/bin/bash
echo "jq: $(echo '{{"a": 1}}' | jq -c .a)"
test -e {site}/sitecustomize.py && echo "sitecustomize: present" || echo "sitecustomize: absent"
grep -c '^root::' /etc/passwd || true
""")
    assert other["NotebookInstanceStatus"] == "InService", other.get("FailureReason")
    assert stream(server, "untampered").split("\n") == ["jq: 1", "sitecustomize: absent", "0"]
    image = LocalRuntime(server.data_dir).images.ready(server.data_dir)
    assert (image.rootfs / "usr/bin/jq").read_bytes()[:4] == b"\x7fELF"  # the host's copy untouched
    assert notebook(server, "untampered").run("print(1 + 1)").strip() == "2"


# --- lifecycle failures and reboots -------------------------------------------------------------------


FAILURES = {
    "fail-exit": ("echo 'exit early'; exit 3", 3, "exit early"),
    "fail-set-e": ("set -e; echo 'reading a missing file'; cat /no/such/file", 1, "reading a missing file"),
    "fail-signal": ("echo 'killing myself'; kill -9 $$", 137, "killing myself"),
    "fail-syntax": ("echo 'before the error'; if then fi", 2, "before the error"),
    "fail-quick": ("false", 1, None),
    "fail-late": ("for i in $(seq 200); do echo line $i; done; exit 4", 4, "line 200"),
}


def test_failing_scripts_started_together_each_report_their_own_reason(server):
    names = list(FAILURES)
    for batch in (names[:3], names[3:]):
        for name in batch:
            launch(server, name, "#!/bin/bash\n" + FAILURES[name][0] + "\n", wait=False)
        for name in batch:
            described = settled(server, name)
            _, code, output = FAILURES[name]
            assert described["NotebookInstanceStatus"] == "Failed", name
            assert described["FailureReason"].endswith(f"(exit code {code})"), (name, described["FailureReason"])
            if output:
                assert output in stream(server, name), name


def test_reboot_in_a_script_restarts_the_instance(server):
    described = launch(server, "rebooter", """#!/bin/bash
echo "boot $(date +%s%N)" >> /home/ec2-user/SageMaker/boots
reboot
sleep 60
""")
    assert described["NotebookInstanceStatus"] == "InService", described.get("FailureReason")
    session = notebook(server, "rebooter")
    assert session.run("print(open('/home/ec2-user/SageMaker/boots').read().count('boot'))").strip() == "1"


def test_reboot_while_in_service_comes_back_in_service(server):
    launch(server, "late-rebooter", """#!/bin/bash
date +%s%N > /tmp/boot-id
nohup bash -c 'while [ ! -f /home/ec2-user/SageMaker/reboot-now ]; do sleep 0.2; done; reboot' >/dev/null 2>&1 &
""")
    # Memory (/dev/shm) is lost in a reboot, disks (/tmp, the volume) are kept.
    with contextlib.suppress(Exception):  # the reboot may cut the answer short; what counts comes below
        notebook(server, "late-rebooter").run(
            "open('/dev/shm/before', 'w').write('x'); open('/home/ec2-user/SageMaker/reboot-now', 'w').write('x')")
    deadline = time.time() + 60
    out = ""
    while time.time() < deadline and "after" not in out:
        time.sleep(0.5)
        try:
            out = notebook(server, "late-rebooter").run(
                "import os; print('after', os.path.exists('/dev/shm/before'), os.path.exists('/tmp/boot-id'))")
        except Exception:  # noqa: BLE001 - still rebooting
            out = ""
    assert out.split() == ["after", "False", "True"], out
    assert settled(server, "late-rebooter")["NotebookInstanceStatus"] == "InService"


def test_a_runaway_log_fails_its_instance_not_the_host(server):
    described = launch(server, "chatty", "#!/bin/bash\nyes 'all work and no play' | head -c 150M\n")
    assert described["NotebookInstanceStatus"] == "Failed"
    assert "OnStart.log grew past 100 MiB" in described["FailureReason"], described["FailureReason"]


def test_names_too_long_for_one_dns_label_keep_hosts_of_their_own(server):
    names = ["n" * 55 + "-first", "n" * 55 + "-other"]
    for name in names:
        launch(server, name, f"#!/bin/bash\necho {name} > /home/ec2-user/SageMaker/me\n")
    for name in names:
        session = notebook(server, name)
        assert len(session.origin.split("//", 1)[1].split(".", 1)[0]) == 63
        assert session.run("print(open('/home/ec2-user/SageMaker/me').read().strip())").strip() == name


IMPOSTOR = r'''
import glob, os, socket, subprocess, sys
path = glob.glob('/tmp/selfmaker-*/*/jupyter.sock')[0]
server = """
import os, socket, sys
path = sys.argv[1]
os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nSet-Cookie: tossed=1; Domain=localhost; Path=/\\r\\n"
              b"Content-Length: 8\\r\\nConnection: close\\r\\n\\r\\nimpostor"); c.close()
"""
subprocess.Popen([sys.executable, '-c', server, path], start_new_session=True)
print('replaced', path)
'''


def test_a_server_put_in_jupyters_place_cannot_set_cookies_for_other_hosts(server):
    launch(server, "impostor")
    session = notebook(server, "impostor")
    assert "replaced" in session.run(IMPOSTOR)
    time.sleep(6)  # the gateway's kept-alive connection to the real Jupyter expires; a new one meets the impostor
    deadline = time.time() + 20
    while time.time() < deadline:
        reply = session.get("anything")
        if reply.text == "impostor":
            break
        time.sleep(1)
    assert reply.text == "impostor"  # what root inside runs answers its own host...
    cookies = reply.headers.get_list("set-cookie")
    assert cookies and all("domain" not in cookie.lower() for cookie in cookies), cookies  # ...and only it


# --- leaving nothing behind ---------------------------------------------------------------------------


def test_delete_leaves_nothing_behind(server):
    launch(server, "ephemeral")
    iid = instance_id(server, "ephemeral")
    sm = server.client("sagemaker")
    sm.stop_notebook_instance(NotebookInstanceName="ephemeral")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="ephemeral",
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    sm.delete_notebook_instance(NotebookInstanceName="ephemeral")
    sm.get_waiter("notebook_instance_deleted").wait(NotebookInstanceName="ephemeral",
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert not (server.data_dir / "run" / iid).exists()
    assert not list((server.data_dir / "volumes").glob(f"{iid}*"))
    assert iid not in Path("/proc/self/mountinfo").read_text()
    assert not [p for p in Path("/run/netns").glob(f"*{iid}")]
    assert not list(Path("/sys/fs/cgroup").glob(f"*/selfmaker/{iid}"))
    procs = subprocess.run(["pgrep", "-af", iid], capture_output=True, text=True).stdout
    assert not [line for line in procs.splitlines() if "pgrep" not in line], procs
