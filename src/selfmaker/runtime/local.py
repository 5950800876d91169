"""LocalRuntime: every notebook instance is a JupyterLab server in a bubblewrap sandbox on this host.

Per instance, under data_dir/run/<instance id>/:
  state.json        pid of the sandbox (also its process group), Jupyter's pid, token, socket, log offsets
  jupyter.log       output of the sandbox: bwrap, the supervisor, then Jupyter
  ctl/              what the supervisor reads and writes (mounted at /.selfmaker, root only): its config,
                    the generated /etc files, the lifecycle scripts' output and exit codes
  home/ root/ tmp/  /home/ec2-user, /root and /tmp of the sandbox, emptied at every start
and Jupyter's socket is /tmp/selfmaker-<hash of data_dir>/<instance id>/jupyter.sock (Unix socket paths
must be short), in a directory the sandbox shares.

The sandbox sees the host read-only, except for those fresh directories, empty /run and /dev/shm, and
the volume at /home/ec2-user/SageMaker; the data directory is hidden. Its first process is sandbox_init.py, which runs
the lifecycle scripts as root and then execs Jupyter as ec2-user (uid 1000), so scripts' background
processes share the sandbox with Jupyter until it stops. The sandbox is its own session, detached from the
server: it outlives a server restart, and a new LocalRuntime adopts it from state.json.

When the server is not root, the sandbox gets a user namespace in which everything runs as ec2-user, and
a `sudo` stand-in runs commands as that same user.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from selfmaker.runtime import gpus
from selfmaker.runtime.base import (
    JUPYTER_STREAM,
    ON_CREATE_STREAM,
    ON_START_STREAM,
    Endpoint,
    InstanceSpec,
    LifecycleFailure,
    LogSink,
)

log = logging.getLogger(__name__)

USER, UID, GID = "ec2-user", 1000, 1000
HOME = "/home/ec2-user"
VOLUME_MOUNT = f"{HOME}/SageMaker"
METADATA_MOUNT = "/opt/ml/metadata/resource-metadata.json"
CTL_MOUNT = "/.selfmaker"
SANDBOX_INIT = Path(__file__).with_name("sandbox_init.py")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Root in the sandbox keeps Docker's default capabilities (less mknod): enough for sudo, chown and
# package installs, not enough to mount over the read-only host or load kernel modules.
ROOT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_SETFCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_AUDIT_WRITE",
]
# Host directories the sandbox gets fresh; everything else at the top level is shown read-only.
FRESH_DIRS = ("tmp", "home", "root", "run")

POLL = 0.05  # seconds between checks while starting: start speed matters
TAIL_INTERVAL = 1.0
READY_TIMEOUT = 120.0
STOP_GRACE = 5.0
READ_CHUNK = 256 * 1024  # most log bytes shipped per stream and pass

# Lifecycle scripts as SageMaker names them, in the order they run.
SCRIPTS = (("OnCreate", ON_CREATE_STREAM), ("OnStart", ON_START_STREAM))

SUDO_SHIM = """#!/bin/sh
# Stand-in for sudo in a sandbox with a single user: run the command as that user.
login=
while [ $# -gt 0 ]; do
  case "$1" in
    -u|-g|-C|-p|-D|-R|-T|-U) shift 2 ;;
    -i|--login|-s|--shell) login=1; shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [ -n "$login" ]; then
  cd "$HOME" || exit 1
  if [ $# -gt 0 ]; then exec bash -l -c "$*"; else exec bash -l; fi
fi
exec env "$@"
"""


@dataclass
class _Paths:
    run: Path
    socket_dir: Path

    @property
    def state(self) -> Path:
        return self.run / "state.json"

    @property
    def jupyter_log(self) -> Path:
        return self.run / "jupyter.log"

    @property
    def ctl(self) -> Path:
        return self.run / "ctl"

    @property
    def socket(self) -> Path:
        return self.socket_dir / "jupyter.sock"

    def logs(self) -> dict[str, Path]:
        """Log files by stream."""
        return {stream: self.ctl / f"{name}.log" for name, stream in SCRIPTS} | {JUPYTER_STREAM: self.jupyter_log}


@dataclass
class _Instance:
    paths: _Paths
    pid: int  # the sandbox's outer bwrap; also its session and process group
    token: str
    main_pid: int | None = None  # the supervisor, which becomes Jupyter (pid 2 inside the sandbox)
    offsets: dict[str, int] = field(default_factory=dict)  # bytes of each log already shipped
    popen: subprocess.Popen | None = None  # None when adopted: not our child
    sink: LogSink | None = None
    tail: asyncio.Task | None = None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(socket_path=str(self.paths.socket), token=self.token)


class LocalRuntime:
    def __init__(self, data_dir: Path, python: str = sys.executable):
        self.data_dir = Path(data_dir).resolve()
        self.python = os.path.abspath(python)
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:8]
        self.socket_root = Path(f"/tmp/selfmaker-{digest}")
        self.as_root = os.geteuid() == 0
        self.bwrap = shutil.which("bwrap") or "/usr/bin/bwrap"
        self._instances: dict[str, _Instance] = {}

    # --- the Runtime protocol ---

    async def start(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint:
        await self.stop(spec.instance_id)  # whatever is left of an earlier run
        paths = self._paths(spec.instance_id)
        token = secrets.token_urlsafe(32)
        scripts = await asyncio.to_thread(self._prepare, spec, paths)
        with open(paths.jupyter_log, "wb") as out:
            popen = subprocess.Popen(
                self._bwrap_argv(spec, paths),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"JUPYTER_TOKEN": token},
                cwd="/",
                start_new_session=True,  # outlives the server; stopped as one process group
            )
        inst = _Instance(paths, popen.pid, token, popen=popen, sink=log_sink)
        self._instances[spec.instance_id] = inst
        try:
            self._save(inst)
            for name, stream in scripts:
                await self._run_script(spec, inst, name, stream)
            await self._wait_ready(spec, inst)
            inst.main_pid = _find_ns_pid(inst.pid, 2)
            await self._ship(inst)  # Jupyter's start-up lines, up to "is running at"
            self._save(inst)
        except BaseException:
            await self.stop(spec.instance_id)  # also when cancelled: leave nothing running
            raise
        inst.tail = asyncio.create_task(self._tail(inst))
        return inst.endpoint

    async def stop(self, instance_id: str) -> None:
        inst = self._instances.pop(instance_id, None) or self._load(instance_id)
        paths = self._paths(instance_id)
        if inst is not None:
            if inst.tail is not None:
                inst.tail.cancel()
                await asyncio.gather(inst.tail, return_exceptions=True)
            await _kill_group(inst)
            if inst.sink is not None:
                with contextlib.suppress(Exception):  # last lines are a nicety; stopping must go on
                    await self._ship(inst, flush=True)
        await asyncio.to_thread(_clean, paths)

    async def adopt(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint | None:
        inst = self._instances.get(spec.instance_id) or self._load(spec.instance_id)
        if inst is not None and _running(inst) and await _answers(inst, spec.base_url):
            inst.sink = log_sink
            inst.main_pid = inst.main_pid or _find_ns_pid(inst.pid, 2)  # the server died while starting
            self._instances[spec.instance_id] = inst
            if inst.tail is None:
                inst.tail = asyncio.create_task(self._tail(inst))
            return inst.endpoint
        await self.stop(spec.instance_id)
        return None

    def endpoint(self, instance_id: str) -> Endpoint | None:
        return self._instances[instance_id].endpoint if self.alive(instance_id) else None

    def alive(self, instance_id: str) -> bool:
        inst = self._instances.get(instance_id)
        return inst is not None and _running(inst)

    async def close(self) -> None:
        tails = [inst.tail for inst in self._instances.values() if inst.tail is not None]
        for tail in tails:
            tail.cancel()
        await asyncio.gather(*tails, return_exceptions=True)
        for inst in self._instances.values():
            inst.tail = None
            self._save(inst)

    # --- starting ---

    def _paths(self, instance_id: str) -> _Paths:
        return _Paths(self.data_dir / "run" / instance_id, self.socket_root / instance_id)

    def _prepare(self, spec: InstanceSpec, paths: _Paths) -> list[tuple[str, str]]:
        """Create the run directory afresh; return the (name, stream) of the scripts to run."""
        owner = (UID, GID) if self.as_root else None
        paths.run.mkdir(parents=True, exist_ok=True, mode=0o700)
        _fresh_dir(paths.ctl, 0o700)
        _fresh_dir(paths.run / "home", 0o700, owner)
        _fresh_dir(paths.run / "root", 0o711)  # ec2-user may need to reach a Python installed under /root
        _fresh_dir(paths.run / "tmp", 0o1777)
        self.socket_root.mkdir(mode=0o700, exist_ok=True)
        if self.socket_root.stat().st_uid != os.geteuid():  # /tmp is shared: never trust another's dir
            raise RuntimeError(f"{self.socket_root} belongs to another user")
        self.socket_root.chmod(0o700)
        _fresh_dir(paths.socket_dir, 0o700, owner)  # Jupyter creates its socket there as ec2-user
        spec.volume_dir.mkdir(parents=True, exist_ok=True)
        if owner:
            os.chown(spec.volume_dir, *owner)

        stamp = time.strftime("%Y-%m-%d-%H-%M", time.gmtime()) + secrets.token_hex(4)
        bodies = {"OnCreate": spec.on_create if spec.first_start else None, "OnStart": spec.on_start}
        scripts = [(name, stream) for name, stream in SCRIPTS if bodies[name]]
        for name, _ in scripts:
            script = paths.run / "tmp" / f"{name}_{stamp}"
            script.write_text(bodies[name])
            script.chmod(0o700)

        env = {"LANG": "C.UTF-8", "PATH": ":".join([*self._path_prefix(), SYSTEM_PATH]), **spec.env}
        if spec.gpus > 0:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(min(spec.gpus, gpus.count_gpus())))
        script_user = ("root", "/root") if self.as_root else (USER, HOME)
        config = {
            "scripts": [
                {
                    "path": f"/tmp/{name}_{stamp}",
                    "log": f"{CTL_MOUNT}/{name}.log",
                    "exit": f"{CTL_MOUNT}/{name}.exit",
                }
                for name, _ in scripts
            ],
            "script_env": env | _user_env(*script_user),
            "jupyter_argv": self._jupyter_argv(spec, paths),
            "jupyter_env": env | _user_env(USER, HOME),
            "jupyter_cwd": VOLUME_MOUNT,
            "uid": UID if self.as_root else None,
            "gid": GID,
        }
        (paths.ctl / "config.json").write_text(json.dumps(config))
        (paths.ctl / "resource-metadata.json").write_text(json.dumps(spec.metadata))
        (paths.ctl / "passwd").write_text(
            _without_ec2_user("/etc/passwd", 2) + f"{USER}:x:{UID}:{GID}::{HOME}:/bin/bash\n"
        )
        (paths.ctl / "group").write_text(_without_ec2_user("/etc/group", 2) + f"{USER}:x:{GID}:\n")
        (paths.ctl / "profile").write_text(_read("/etc/profile") + self._profile_tail(spec))
        if self.as_root and os.path.exists("/etc/sudoers"):
            # sudo resets PATH to secure_path: keep the venv on it, as SageMaker keeps conda's.
            sudoers = paths.ctl / "sudoers"
            sudoers.write_text(_read("/etc/sudoers") + f'\nDefaults secure_path="{self._venv_bin}:{SYSTEM_PATH}"\n')
            sudoers.chmod(0o440)
        if not self.as_root:
            shim = paths.ctl / "bin" / "sudo"
            shim.parent.mkdir()
            shim.write_text(SUDO_SHIM)
            shim.chmod(0o755)
        return scripts

    @property
    def _venv_bin(self) -> str:
        return os.path.dirname(self.python)

    def _path_prefix(self) -> list[str]:
        return [self._venv_bin] if self.as_root else [f"{CTL_MOUNT}/bin", self._venv_bin]

    def _profile_tail(self, spec: InstanceSpec) -> str:
        # Login shells (sudo -i, terminals) reset PATH in /etc/profile: put the notebook environment back.
        lines = [
            "",
            "# Added by Selfmaker: the notebook environment.",
            f'export PATH="{":".join(self._path_prefix())}:$PATH"',
        ]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in spec.env.items()]
        return "\n".join(lines) + "\n"

    def _jupyter_argv(self, spec: InstanceSpec, paths: _Paths) -> list[str]:
        return jupyter_command(self.python, str(paths.socket), spec.base_url, VOLUME_MOUNT)

    def _bwrap_argv(self, spec: InstanceSpec, paths: _Paths) -> list[str]:
        argv = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        if self.as_root:
            argv += ["--cap-drop", "ALL"] + [arg for cap in ROOT_CAPS for arg in ("--cap-add", cap)]
        else:
            argv += ["--unshare-user", "--uid", str(UID), "--gid", str(GID)]
        argv += _mirror("/", skip={"proc", "dev", "opt", *FRESH_DIRS})
        argv += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc"]
        # A fresh /run: the host's holds sockets (D-Bus, Docker) that would let root out of the sandbox.
        argv += ["--tmpfs", "/run", "--perms", "1777", "--dir", "/run/lock"]
        resolv_dir = os.path.dirname(os.path.realpath("/etc/resolv.conf"))
        if Path(resolv_dir).parts[1:2] == ("run",):  # systemd-resolved keeps resolv.conf there
            argv += _bind_in_fresh_dir("--ro-bind", resolv_dir)
        argv += ["--bind", str(paths.run / "tmp"), "/tmp"]
        argv += ["--bind", str(paths.run / "root"), "/root"]
        argv += ["--dir", "/home", "--bind", str(paths.run / "home"), HOME]
        argv += ["--bind", str(spec.volume_dir), VOLUME_MOUNT]
        # /opt/ml is ours; the rest of the host's /opt stays visible.
        argv += ["--dir", "/opt", *_mirror("/opt", skip={"ml"}), "--dir", "/opt/ml/metadata"]
        argv += ["--ro-bind", str(paths.ctl / "resource-metadata.json"), METADATA_MOUNT]
        if self.data_dir.parts[1] not in FRESH_DIRS:
            argv += ["--tmpfs", str(self.data_dir)]  # other instances' volumes and tokens, the database
        for path in sorted(self._needed_paths()):
            # Python and this package must stay reachable for ec2-user where the sandbox has fresh dirs.
            if Path(path).parts[1] in FRESH_DIRS:
                argv += _bind_in_fresh_dir("--ro-bind", path)
        argv += _bind_in_fresh_dir("--bind", str(paths.socket_dir))
        argv += ["--bind", str(paths.ctl), CTL_MOUNT]
        for name in ("passwd", "group", "profile", "sudoers"):
            if (paths.ctl / name).exists():
                argv += ["--ro-bind", str(paths.ctl / name), f"/etc/{name}"]
        for node in gpus.device_nodes(spec.gpus):
            argv += ["--dev-bind", node, node]
        argv += ["--chdir", "/", "--", self.python, "-I", "-S", str(SANDBOX_INIT), f"{CTL_MOUNT}/config.json"]
        return argv

    def _needed_paths(self) -> set[str]:
        real_python = os.path.realpath(self.python)
        return {
            os.path.dirname(os.path.dirname(self.python)),  # the venv
            os.path.dirname(os.path.dirname(real_python)),  # the Python installation behind it
            str(SANDBOX_INIT.parent),
        }

    async def _run_script(self, spec: InstanceSpec, inst: _Instance, name: str, stream: str) -> None:
        exit_file = inst.paths.ctl / f"{name}.exit"
        deadline = time.monotonic() + spec.lifecycle_timeout
        while not exit_file.exists():
            await self._ship(inst)
            if not _running(inst):
                raise LifecycleFailure(_died_reason(spec, inst))
            if time.monotonic() > deadline:
                raise LifecycleFailure(
                    f"Notebook Instance Lifecycle Config '{spec.lifecycle_arn}' for Notebook Instance "
                    f"'{spec.arn}' took longer than {_duration(spec.lifecycle_timeout)}. "
                    "Please check your CloudWatch logs for more details on the error."
                )
            await asyncio.sleep(POLL)
        await self._ship(inst, flush=True)
        code = int(exit_file.read_text())
        if code != 0:
            raise LifecycleFailure(
                f"Notebook Instance Lifecycle Config '{spec.lifecycle_arn}' for Notebook Instance "
                f"'{spec.arn}' failed. Please check your CloudWatch logs for more details on the error. "
                f"(exit code {code})"
            )

    async def _wait_ready(self, spec: InstanceSpec, inst: _Instance) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not (inst.paths.socket.exists() and await _answers(inst, spec.base_url)):
            await self._ship(inst)
            if not _running(inst):
                raise LifecycleFailure(_died_reason(spec, inst))
            if time.monotonic() > deadline:
                raise LifecycleFailure(
                    f"Notebook Instance '{spec.arn}' failed to start: Jupyter did not answer within "
                    f"{_duration(READY_TIMEOUT)}. Please check the jupyter.log stream for details."
                )
            await asyncio.sleep(POLL)

    # --- logs and state ---

    async def _ship(self, inst: _Instance, flush: bool = False) -> bool:
        """Send the new lines of every log to the sink; whether any were sent.

        Only complete lines go out unless `flush`: a line still being written stays for the next pass.
        """
        shipped = False
        for stream, path in inst.paths.logs().items():
            lines, offset = _read_lines(path, inst.offsets.get(stream, 0), flush)
            if lines and inst.sink is not None:
                now = int(time.time() * 1000)
                await inst.sink(stream, [(now, line) for line in lines])
                inst.offsets[stream] = offset
                shipped = True
        return shipped

    async def _tail(self, inst: _Instance) -> None:
        while True:
            await asyncio.sleep(TAIL_INTERVAL)
            try:
                if await self._ship(inst):
                    self._save(inst)  # so that adopt() resumes where we are
            except Exception:
                log.exception("shipping the logs of %s failed", inst.paths.run.name)

    def _save(self, inst: _Instance) -> None:
        state = {
            "pid": inst.pid,
            "main_pid": inst.main_pid,
            "token": inst.token,
            "socket": str(inst.paths.socket),
            "offsets": inst.offsets,
        }
        tmp = inst.paths.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.chmod(0o600)
        tmp.replace(inst.paths.state)

    def _load(self, instance_id: str) -> _Instance | None:
        paths = self._paths(instance_id)
        try:
            state = json.loads(paths.state.read_text())
        except (OSError, ValueError):
            return None
        if state.get("socket") != str(paths.socket):
            return None  # written by a runtime with another data_dir layout: not ours
        return _Instance(paths, state["pid"], state["token"], state["main_pid"], state["offsets"])


# --- helpers ---


def jupyter_command(python: str, socket: str, base_url: str, root_dir: str) -> list[str]:
    """JupyterLab as every instance runs it (the benchmark's bare baseline runs exactly this)."""
    return [
        python,
        "-m",
        "jupyterlab",
        f"--ServerApp.sock={socket}",
        f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False",
        # Only the gateway reaches the socket; it forwards the browser's Host and Origin.
        "--ServerApp.allow_origin=*",
        "--ServerApp.allow_remote_access=True",
        # No calls out to the internet from JupyterLab's pages.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]


def _user_env(user: str, home: str) -> dict[str, str]:
    return {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/bin/bash"}


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""


def _without_ec2_user(path: str, id_field: int) -> str:
    """/etc/passwd or /etc/group without entries that would clash with ec2-user (name or id 1000)."""
    kept = []
    for line in _read(path).splitlines():
        fields = line.split(":")
        if len(fields) > id_field and (fields[0] == USER or fields[id_field] == str(UID)):
            continue
        kept.append(line + "\n")
    return "".join(kept)


def _fresh_dir(path: Path, mode: int, owner: tuple[int, int] | None = None) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=mode)
    path.chmod(mode)  # mkdir's mode is filtered by the umask
    if owner:
        os.chown(path, *owner)


def _clean(paths: _Paths) -> None:
    paths.state.unlink(missing_ok=True)
    shutil.rmtree(paths.socket_dir, ignore_errors=True)
    for name in ("ctl", "home", "root", "tmp"):
        shutil.rmtree(paths.run / name, ignore_errors=True)


def _mirror(directory: str, skip: set[str]) -> list[str]:
    """bwrap arguments that show the entries of a host directory read-only, but those in `skip`."""
    if not os.path.isdir(directory):
        return []
    args = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.name in skip:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry.path), entry.path]
        else:
            args += ["--ro-bind", entry.path, entry.path]
    return args


def _bind_in_fresh_dir(kind: str, path: str) -> list[str]:
    """bwrap arguments binding a host path at the same place below a fresh directory such as /tmp.

    bwrap would create the missing parents with mode 0700; ec2-user must be able to traverse them.
    """
    args = []
    for parent in reversed(Path(path).parents[:-2]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return [*args, kind, path, path]


def _read_lines(path: Path, offset: int, flush: bool) -> tuple[list[str], int]:
    """New lines of a log from `offset` on, and the offset after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(READ_CHUNK)
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    if flush or (end == 0 and len(data) == READ_CHUNK):  # a line longer than a chunk goes in pieces
        end = len(data)
    text = data[:end].decode(errors="replace")
    return text.splitlines(), offset + end


def _died_reason(spec: InstanceSpec, inst: _Instance) -> str:
    lines, _ = _read_lines(inst.paths.jupyter_log, 0, flush=True)
    last = lines[-1].strip() if lines else "no output"
    return (
        f"Notebook Instance '{spec.arn}' failed to start: its notebook server exited ({last}). "
        "Please check the jupyter.log stream for details."
    )


async def _answers(inst: _Instance, base_url: str) -> bool:
    """Whether Jupyter answers on the instance's socket, with its token."""
    transport = httpx.AsyncHTTPTransport(uds=str(inst.paths.socket))
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
        try:
            response = await client.get(
                f"http://localhost{base_url}api/status", headers={"Authorization": f"token {inst.token}"}
            )
        except httpx.TransportError:
            return False
    return response.status_code == 200


# --- processes, through /proc (adopted sandboxes are not our children) ---


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, process group) of a process, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[2])


def _is_live(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _ours(pid: int, paths: _Paths) -> bool:
    """Whether a process is this instance's bwrap or Jupyter (and not a stranger that reuses its pid)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return str(paths.socket_dir) in args or f"--ServerApp.sock={paths.socket}" in args


def _ns_pid(pid: int) -> int | None:
    """The pid of a process inside its innermost pid namespace."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except OSError:
        pass
    return None


def _group(pgid: int) -> list[int]:
    """Live processes of a process group.

    Zombies do not count: bwrap's outer process exits without reaping the sandbox's init, which then
    waits for the host's pid 1 to reap it.
    """
    return [
        int(name)
        for name in os.listdir("/proc")
        if name.isdigit() and (stat := _stat(int(name))) and stat[1] == pgid and stat[0] != "Z"
    ]


def _find_ns_pid(pgid: int, ns_pid: int) -> int | None:
    return next((pid for pid in _group(pgid) if _ns_pid(pid) == ns_pid), None)


def _running(inst: _Instance) -> bool:
    """Whether the sandbox, or once started its Jupyter, is still running (and is really ours)."""
    if inst.popen is not None:
        inst.popen.poll()  # reap the outer bwrap if it ended
    if inst.main_pid:
        return _is_live(inst.main_pid) and _ours(inst.main_pid, inst.paths)
    # While starting, any live process of the sandbox's group will do: the outer bwrap may be gone
    # (or not yet reaped) while its init and the supervisor carry on.
    return any(_ours(pid, inst.paths) for pid in _group(inst.pid))


async def _kill_group(inst: _Instance) -> None:
    """SIGTERM the sandbox's process group, give Jupyter a moment to shut down, then SIGKILL it.

    Inside the sandbox, bwrap's init (pid 1) waits for every process left, including ones started with
    nohup or setsid, and ignores SIGTERM; SIGKILL reaches it from outside, and its death ends the whole
    pid namespace.
    """
    pgid = inst.pid
    if any(_ours(pid, inst.paths) for pid in _group(pgid)):  # never signal a reused group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and any(_ns_pid(pid) != 1 for pid in _group(pgid)):
            await asyncio.sleep(POLL / 2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and _group(pgid):
            await asyncio.sleep(POLL / 2)
    if inst.popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            inst.popen.wait(timeout=STOP_GRACE)
