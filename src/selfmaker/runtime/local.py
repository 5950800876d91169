"""LocalRuntime: every notebook instance is a JupyterLab server in a bubblewrap sandbox on this host.

Per instance, under data_dir/run/<instance id>/ (never visible to the sandbox but for ctl/):
  state.json    pids of the sandbox (also its process group), of Jupyter and of the NAT; token; log offsets
  network.log   output of the NAT (slirp4netns)
  host/         what the host writes for the sandbox, mounted read-only: the supervisor's config, /etc files,
                resource metadata, the `reboot` command
  root/         the instance's root file system (as root): the instance image's layers under upper/
  scratch/      on scratch.ext4, a disk of the instance's own, size-bounded and made anew at every start:
    upper/ work/               the writable layer over the image, and overlayfs's work directory
    home/ root/ tmp/ vartmp/   without the image: /home/ec2-user, /root, /tmp and /var/tmp of the sandbox
    ctl/        what the sandbox writes (mounted at /.selfmaker, root only): the lifecycle scripts' output
                and exit codes, a reboot request. Read through sandbox.files only: root inside owns it.
    jupyter.log output of the sandbox: bwrap, the supervisor, then Jupyter
  Everything the sandbox can make grow is on that disk, so no instance can fill the host's.
The volume is data_dir/volumes/<id>.ext4, mounted nosuid,nodev at data_dir/volumes/<id> (VolumeSizeInGB);
Jupyter's socket is /tmp/selfmaker-<hash of data_dir>/<id>/jupyter.sock (Unix socket paths must be short).

As root, a sandbox is VM-like: its own pid, mount, IPC, UTS and network namespaces (sandbox.network), its
own cgroups (memory, CPU, tasks: sandbox.limits), disks of bounded size (sandbox.disks), and a view of the
host that holds no secret: the instance image (runtime.image, sandbox.image_root), or without one the
host's programs read-only (sandbox.filesystem). Its first process is sandbox_init.py, which runs the
lifecycle scripts as root and then execs Jupyter as ec2-user (uid 1000), so scripts' background processes
share the sandbox with Jupyter until it stops. The sandbox is its own session, detached from the server: it
outlives a server restart, and a new LocalRuntime adopts it from state.json. `reboot` inside restarts its
processes, as a VM's would be.

When the server is not root, the sandbox gets a user namespace in which everything runs as ec2-user, a
`sudo` stand-in, the host's network and no limits; `unenforced()` says so.
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

import selfmaker
from selfmaker.runtime import gpus, jupyter, neuron
from selfmaker.runtime.base import (
    JUPYTER_STREAM,
    ON_CREATE_STREAM,
    ON_START_STREAM,
    Endpoint,
    InstanceSpec,
    LifecycleFailure,
    LogSink,
)
from selfmaker.runtime.image.environments import CONDA_ROOT, JUPYTER_ENV
from selfmaker.runtime.image.rootfs import HOST_CA_BUNDLE, ImageError
from selfmaker.runtime.image.store import Image, ImageStore, image_dir
from selfmaker.runtime.jupyter import answers, jupyter_command
from selfmaker.runtime.sandbox import commands, files, filesystem, image_root, network
from selfmaker.runtime.sandbox.disks import DiskImages
from selfmaker.runtime.sandbox.files import UnsafeFile
from selfmaker.runtime.sandbox.limits import Cgroups

log = logging.getLogger(__name__)

USER, UID, GID = "ec2-user", 1000, 1000
HOME = "/home/ec2-user"
VOLUME_MOUNT = f"{HOME}/SageMaker"
METADATA_MOUNT = "/opt/ml/metadata/resource-metadata.json"
CTL_MOUNT = "/.selfmaker"
HOST_MOUNT = "/.selfmaker-host"
SANDBOX_INIT = Path(__file__).with_name("sandbox_init.py")
JUPYTER_PREFIX = f"{CONDA_ROOT}/envs/{JUPYTER_ENV}"
IMAGE_PROVIDER = "selfmaker_jupyter.GatewayIdentityProvider"  # runtime/jupyter.py, as the image imports it
IMAGE_WAIT = ("Selfmaker: this host builds its instance image first (once; a few minutes): "
              "the instance starts when it is ready.")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Root in the sandbox keeps Docker's default capabilities less mknod and raw sockets: enough for sudo,
# chown and package installs, not enough to mount, change the network, sniff or load kernel modules.
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
    "CAP_SYS_CHROOT",
    "CAP_AUDIT_WRITE",
]
SCRATCH_BYTES = int(float(os.environ.get("SELFMAKER_SCRATCH_GB", "10")) * 2**30)  # home, /root and /tmp
LOG_LIMIT = 100 * 2**20  # bytes one log file may reach in one start

POLL = 0.05  # seconds between checks while starting: start speed matters
TAIL_INTERVAL = 1.0
READY_TIMEOUT = 120.0
STOP_GRACE = 5.0
READ_CHUNK = 256 * 1024  # most log bytes shipped per stream and pass
MAX_REBOOTS = 5  # in one start: a script that reboots for ever fails instead

# Lifecycle scripts as SageMaker names them, in the order they run.
SCRIPTS = (("OnCreate", ON_CREATE_STREAM), ("OnStart", ON_START_STREAM))

# The launcher puts itself into the instance's cgroups, then execs the sandbox: nothing escapes them.
LAUNCHER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class Reboot(Exception):
    """Root in the sandbox asked for a reboot (through the `reboot` command)."""


@dataclass
class _Paths:
    run: Path
    socket_dir: Path

    @property
    def state(self) -> Path:
        return self.run / "state.json"

    @property
    def jupyter_log(self) -> Path:
        return self.scratch / "jupyter.log"

    @property
    def host(self) -> Path:
        return self.run / "host"

    @property
    def ctl(self) -> Path:
        return self.scratch / "ctl"

    @property
    def scratch(self) -> Path:
        return self.run / "scratch"

    @property
    def socket(self) -> Path:
        return self.socket_dir / "jupyter.sock"

    @property
    def upper(self) -> Path:  # the instance's writable layer over the image
        return self.scratch / "upper"

    @property
    def work(self) -> Path:  # overlayfs's work directory, beside the upper layer
        return self.scratch / "work"

    @property
    def root(self) -> Path:  # the instance's root: the overlay of the image and its upper layer
        return self.run / "root"

    def logs(self) -> dict[str, Path]:
        """Log files by stream."""
        return {stream: self.ctl / f"{name}.log" for name, stream in SCRIPTS} | {JUPYTER_STREAM: self.jupyter_log}


@dataclass
class _Instance:
    paths: _Paths
    pid: int  # the sandbox's outer bwrap; also its session and process group
    token: str
    main_pid: int | None = None  # the supervisor, which runs Jupyter (pid 2 inside the sandbox)
    offsets: dict[str, int] = field(default_factory=dict)  # bytes of each log already shipped
    nat_pid: int | None = None
    volume_dir: str | None = None  # mounted from its image while the sandbox runs
    popen: subprocess.Popen | None = None  # None when adopted: not our child
    spec: InstanceSpec | None = None
    sink: LogSink | None = None
    tail: asyncio.Task | None = None
    servers: list[asyncio.Server] = field(default_factory=list)  # the guest services in its network

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(socket_path=str(self.paths.socket), token=self.token)


class LocalRuntime:
    def __init__(self, data_dir: Path, python: str = sys.executable, die_with_parent: bool = False):
        self.data_dir = Path(data_dir).resolve()
        # The Slurm node agent's sandboxes end with the agent (a job killed hard leaves nothing running that
        # could hold the instance's volume while another node mounts it); the server's outlive it.
        self.die_with_parent = die_with_parent
        self.python = os.path.abspath(python)
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:8]
        self.socket_root = Path(f"/tmp/selfmaker-{digest}")
        self.as_root = os.geteuid() == 0
        self.bwrap = shutil.which("bwrap") or "/usr/bin/bwrap"
        self.nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self.networks = network.Networks(f"sm{digest[:6]}-") if network.unsupported_reason() is None else None
        self.cgroups = Cgroups() if self.as_root else None
        self.disks = DiskImages()
        # As root, instances run on the instance image; SELFMAKER_IMAGE=host shows them the host's programs
        # instead (a host that cannot reach Debian's mirrors), as without root.
        on_image = self.as_root and os.environ.get("SELFMAKER_IMAGE", "") != "host"
        self.images = ImageStore(image_dir(), self.bwrap) if on_image else None
        self.image: Image | None = None  # known once the first start has made sure it is built
        self._instances: dict[str, _Instance] = {}

    def unenforced(self) -> list[str]:
        missing = []
        if reason := network.unsupported_reason():
            missing.append(f"network isolation ({reason})")
        limits = self.cgroups.unenforced() if self.cgroups else ["memory", "cpu", "pids"]
        missing += [f"{limit} limit" for limit in limits]
        if not self.disks.supported:
            missing.append("volume size and /tmp size (needs root, mkfs.ext4 and loop devices)")
        if self.images is None:
            missing.append("the instance image (instances see the host's programs, read-only; needs root)")
        return missing

    def ensure_image(self, progress=None) -> Image | None:
        """Build what the instance image lacks (minutes the first time); blocks. None without one."""
        if self.images is None:
            return None
        self.image = self.images.ensure(self.data_dir, progress)
        return self.image

    # --- the Runtime protocol ---

    async def start(self, spec: InstanceSpec, log_sink: LogSink, token: str | None = None) -> Endpoint:
        """Also takes Jupyter's secret from a caller that made it (the Slurm runtime's node agent)."""
        await self.stop(spec.instance_id)  # whatever is left of an earlier run
        paths = self._paths(spec.instance_id)
        token = token or secrets.token_urlsafe(32)
        inst = _Instance(paths, 0, token, spec=spec, sink=log_sink, volume_dir=str(spec.volume_dir))
        self._instances[spec.instance_id] = inst
        try:
            paths.run.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.images is not None:
                if self.image is None and await asyncio.to_thread(self.images.ready, self.data_dir) is None:
                    await log_sink(JUPYTER_STREAM, [(int(time.time() * 1000), IMAGE_WAIT)])
                try:
                    await _to_thread_to_the_end(self.ensure_image)
                except ImageError as err:
                    raise LifecycleFailure(f"Notebook Instance '{spec.arn}' failed to start: the instance image "
                                           f"could not be built: {err}") from None
            prepared = asyncio.create_task(_to_thread_to_the_end(self._prepare, spec, paths))
            try:  # disks and network are independent: made side by side, as start speed matters
                if self.networks is not None:
                    inst.nat_pid = await _to_thread_to_the_end(
                        self.networks.create, spec.instance_id, spec.internet, paths.run / "network.log")
                    inst.servers = await self.networks.serve(spec.instance_id, spec.services)
            finally:
                scripts = await prepared
            await _to_thread_to_the_end(self._launch, spec, inst)
            for reboots in range(MAX_REBOOTS + 1):
                try:
                    for name, stream in scripts:
                        await self._run_script(spec, inst, name, stream)
                    await self._wait_ready(spec, inst)
                    break
                except Reboot:
                    if reboots == MAX_REBOOTS:
                        raise LifecycleFailure(
                            f"Notebook Instance '{spec.arn}' failed to start: it rebooted {MAX_REBOOTS + 1} times "
                            "while starting. Please check your CloudWatch logs for more details on the error."
                        ) from None
                    scripts = []  # a reboot does not run the lifecycle scripts again; they ended with it
                    await self._relaunch(spec, inst)
            inst.main_pid = _find_ns_pid(inst.pid, 2)
            await self._ship(inst)  # Jupyter's start-up lines, up to "is running at"
            self._save(inst)
        except UnsafeFile as unsafe:
            await self.stop(spec.instance_id)
            raise LifecycleFailure(_unsafe_reason(spec, unsafe)) from None
        except BaseException:
            await self.stop(spec.instance_id)  # also when cancelled: leave nothing running
            raise
        inst.tail = asyncio.create_task(self._tail(inst))
        return inst.endpoint

    async def stop(self, instance_id: str) -> None:
        inst = self._instances.pop(instance_id, None) or self._load(instance_id)
        paths = self._paths(instance_id)
        if inst is not None:
            if inst.tail is not None and inst.tail is not asyncio.current_task():
                inst.tail.cancel()
                await asyncio.gather(inst.tail, return_exceptions=True)
            _close_servers(inst)
            await self._kill(instance_id, inst)
            if inst.sink is not None:
                try:  # the last lines: the reason a script failed is often in them
                    await self._ship(inst, flush=True)
                except Exception as exc:  # noqa: BLE001 - stopping must go on
                    log.warning("the last log lines of %s were not shipped: %s", instance_id, exc)
        await asyncio.to_thread(self._teardown, instance_id, paths, inst)

    async def delete(self, instance_id: str, volume_dir: Path) -> None:
        await self.stop(instance_id)
        await asyncio.to_thread(self._remove_volume, volume_dir)
        await asyncio.to_thread(shutil.rmtree, self._paths(instance_id).run, True)

    async def adopt(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint | None:
        inst = self._instances.get(spec.instance_id) or self._load(spec.instance_id)
        networked = self.networks is None or self.networks.exists(spec.instance_id)
        if inst is not None and networked and _running(inst) and await answers(inst.endpoint, spec.base_url):
            inst.sink, inst.spec = log_sink, spec
            inst.main_pid = inst.main_pid or _find_ns_pid(inst.pid, 2)  # the server died while starting
            self._instances[spec.instance_id] = inst
            if self.networks is not None and not inst.servers:
                if spec.internet:
                    inst.nat_pid = await asyncio.to_thread(self.networks.ensure_nat, spec.instance_id, inst.nat_pid,
                                                           inst.paths.run / "network.log")
                try:
                    inst.servers = await self.networks.serve(spec.instance_id, spec.services)
                except OSError as err:  # root inside took the addresses while we were away
                    log.warning("cannot serve the network services of %s again: %s", spec.instance_id, err)
                self._save(inst)
            if inst.tail is None:
                inst.tail = asyncio.create_task(self._tail(inst))
            return inst.endpoint
        await self.stop(spec.instance_id)
        return None

    async def stop_all(self) -> None:
        """Stop every sandbox of this data directory, running or left over (the server need not run)."""
        run = self.data_dir / "run"
        for instance_id in sorted(p.name for p in run.iterdir()) if run.is_dir() else []:
            await self.stop(instance_id)

    def endpoint(self, instance_id: str) -> Endpoint | None:
        # An instance another server on this host runs (several servers on one store): reached from its
        # state.json, without taking it over.
        inst = self._instances.get(instance_id) or self._load(instance_id)
        return inst.endpoint if inst is not None and _running(inst) else None

    def alive(self, instance_id: str) -> bool:
        inst = self._instances.get(instance_id)
        return inst is not None and _running(inst)

    async def release(self, instance_id: str) -> None:
        """Let go of an instance another server took over: its sandbox runs on, and this process no longer
        tails its logs, serves its network or writes its state.json. Nothing happens to one it does not hold."""
        inst = self._instances.pop(instance_id, None)
        if inst is None:
            return
        if inst.tail is not None:
            inst.tail.cancel()
            await asyncio.gather(inst.tail, return_exceptions=True)
        _close_servers(inst)

    async def close(self) -> None:
        tails = [inst.tail for inst in self._instances.values() if inst.tail is not None]
        for tail in tails:
            tail.cancel()
        await asyncio.gather(*tails, return_exceptions=True)
        for inst in self._instances.values():
            inst.tail = None
            _close_servers(inst)
            self._save(inst)

    # --- starting ---

    def _paths(self, instance_id: str) -> _Paths:
        return _Paths(self.data_dir / "run" / instance_id, self.socket_root / instance_id)

    def _prepare(self, spec: InstanceSpec, paths: _Paths) -> list[tuple[str, str]]:
        """Lay out the run directory and disks afresh; return the (name, stream) of the scripts to run."""
        owner = (UID, GID) if self.as_root else None
        paths.run.mkdir(parents=True, exist_ok=True, mode=0o700)
        _fresh_dir(paths.host, 0o755)
        if self.disks.supported:
            self.disks.fresh(paths.run / "scratch.ext4", paths.scratch, SCRATCH_BYTES, None)
            self.disks.ensure(volume_image(spec.volume_dir), spec.volume_dir, spec.volume_size_gb * 2**30, owner)
        else:
            _fresh_dir(paths.scratch, 0o755)
            spec.volume_dir.mkdir(parents=True, exist_ok=True)
            if owner:
                os.chown(spec.volume_dir, *owner)
        scratch = paths.scratch
        _fresh_dir(paths.ctl, 0o700)
        if self.image is not None:
            image_root.prepare(paths.upper, paths.work, paths.root)
            home, root_home, tmp = paths.upper / HOME.lstrip("/"), paths.upper / "root", paths.upper / "tmp"
        else:
            home, root_home, tmp = scratch / "home", scratch / "root", scratch / "tmp"
            _fresh_dir(home, 0o700, owner)
            _fresh_dir(root_home, 0o711)  # ec2-user may need to reach a Python installed under /root
            _fresh_dir(tmp, 0o1777)
            _fresh_dir(scratch / "vartmp", 0o1777)
        self.socket_root.mkdir(mode=0o700, exist_ok=True)
        if self.socket_root.stat().st_uid != os.geteuid():  # /tmp is shared: never trust another's dir
            raise RuntimeError(f"{self.socket_root} belongs to another user")
        self.socket_root.chmod(0o700)
        _fresh_dir(paths.socket_dir, 0o700, owner)  # Jupyter creates its socket there as ec2-user
        if spec.aws_config:
            for directory, home_owner in ((home, owner), (root_home, None)):
                _write_file(directory / ".aws" / "config", spec.aws_config, home_owner)

        stamp = time.strftime("%Y-%m-%d-%H-%M", time.gmtime()) + secrets.token_hex(4)
        bodies = {"OnCreate": spec.on_create if spec.first_start else None, "OnStart": spec.on_start}
        scripts = [(name, stream) for name, stream in SCRIPTS if bodies[name]]
        for name, _ in scripts:
            script = tmp / f"{name}_{stamp}"
            script.write_text(bodies[name])
            script.chmod(0o700)
        self._write_config(spec, paths, [(name, f"/tmp/{name}_{stamp}") for name, _ in scripts])
        (paths.host / "resource-metadata.json").write_text(json.dumps(spec.metadata))
        networked = self.networks is not None
        filesystem.write_etc(
            paths.upper / "etc" if self.image else paths.host / "etc",
            hostname=_hostname(spec.name), user=USER, uid=UID, gid=GID, home=HOME,
            resolv_conf=(f"nameserver {network.DNS_ADDRESS}\n" if spec.internet else "") if networked
            else filesystem.host_resolv_conf(),
            sudo_path=self._sudo_path, profile_tail=self._profile_tail(spec), root_access=spec.root_access,
            profile_base=None if self.image else filesystem.host_profile(),
        )
        python = "/usr/bin/python3" if self.image else self.python
        for directory, name, text in commands.shims(CTL_MOUNT, as_root=self.as_root, python=python,
                                                    root_access=spec.root_access):
            target = paths.upper / "usr/local/sbin" if self.image else paths.host / directory
            _write_file(target / name, text, None, 0o755)
        if self.image is not None and os.path.isfile(HOST_CA_BUNDLE):
            _write_file(paths.upper / HOST_CA_BUNDLE.lstrip("/"), Path(HOST_CA_BUNDLE).read_text(), None)
        # The supervisor, and the module Jupyter imports its identity provider from, where the image sees them.
        shutil.copyfile(SANDBOX_INIT, paths.host / SANDBOX_INIT.name)
        _write_file(paths.host / "python" / "selfmaker_jupyter.py", Path(jupyter.__file__).read_text(), None)
        return scripts

    def _write_config(self, spec: InstanceSpec, paths: _Paths, scripts: list[tuple[str, str]]) -> None:
        """The supervisor's orders: which scripts to run (none after a reboot), then Jupyter."""
        env = {"LANG": "C.UTF-8", "PATH": ":".join([*self._path_prefix(), SYSTEM_PATH]), **spec.env}
        if spec.gpus > 0:  # scripts and kernels alike see the GPUs the instance has, by the numbers it has them
            env["CUDA_VISIBLE_DEVICES"] = gpus.visible_devices(spec.gpus, spec.gpu_ids)
        jupyter_env = dict(env)
        if self.image is not None:  # as SageMaker's: Jupyter's environment first, then conda's commands
            jupyter_env["PATH"] = f"{JUPYTER_PREFIX}/bin:{CONDA_ROOT}/bin:{SYSTEM_PATH}"
            if self.networks is not None:  # its loopback is its own: Jupyter may listen there too
                jupyter_env[jupyter.LOCAL_HTTPS_ENV] = "1"
        script_user = ("root", "/root") if self.as_root else (USER, HOME)
        config = {
            "scripts": [
                {"path": path, "log": f"{CTL_MOUNT}/{name}.log", "exit": f"{CTL_MOUNT}/{name}.exit"}
                for name, path in scripts
            ],
            "script_env": env | _user_env(*script_user),
            "jupyter_argv": jupyter_command(
                f"{JUPYTER_PREFIX}/bin/python" if self.image else self.python, str(paths.socket), spec.base_url,
                VOLUME_MOUNT, provider=IMAGE_PROVIDER if self.image else jupyter.PROVIDER),
            "jupyter_env": jupyter_env | _user_env(USER, HOME),
            "jupyter_cwd": VOLUME_MOUNT,
            "started": f"{CTL_MOUNT}/{commands.JUPYTER_STARTED}",
            "uid": UID if self.as_root else None,
            "gid": GID,
            # ec2-user's sudo (see sandbox_init): bwrap's no_new_privs leaves the setuid one powerless.
            "sudo": {"socket": commands.SUDO_SOCKET, "path": self._sudo_path, "uid": UID}
            if self.as_root and spec.root_access else None,
            # Daemons of the image that a VM would run: cron (crontab, /etc/cron.d).
            "services": [["/usr/sbin/cron"]] if self.image and (self.image.rootfs / "usr/sbin/cron").exists() else [],
        }
        (paths.host / "config.json").write_text(json.dumps(config))

    @property
    def _venv_bin(self) -> str:
        return os.path.dirname(self.python)

    @property
    def _sudo_path(self) -> str:
        return SYSTEM_PATH if self.image else f"{self._venv_bin}:{SYSTEM_PATH}"  # sudo's secure_path

    def _path_prefix(self) -> list[str]:
        if self.image is not None:
            return []
        return [self._venv_bin] if self.as_root else [f"{HOST_MOUNT}/bin", self._venv_bin]

    def _profile_tail(self, spec: InstanceSpec) -> str:
        # Login shells (sudo -i, terminals) reset PATH in /etc/profile: put the notebook environment back,
        # and /usr/local/sbin, which Debian's profile leaves out for users, and which has ec2-user's sudo.
        prefix = [*self._path_prefix(), "/usr/local/sbin"] if self.as_root else self._path_prefix()
        lines = [
            "",
            "# Added by Selfmaker: the notebook environment.",
            f'export PATH="{":".join(prefix)}:$PATH"',
        ]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in spec.env.items()]
        return "\n".join(lines) + "\n"

    def _launch(self, spec: InstanceSpec, inst: _Instance) -> None:
        """Start the sandbox process (in the instance's cgroups and network, where it has them)."""
        argv = self._image_argv(spec, inst.paths) if self.image else self._bwrap_argv(spec, inst.paths)
        if self.image is not None and not self.disks.mounted(inst.paths.root):  # mounted already after a reboot
            image_root.mount(self.image, inst.paths.upper, inst.paths.work, inst.paths.root)
        if self.networks is not None:
            argv = [self.nsenter, f"--net={self.networks.path(spec.instance_id)}", "--", *argv]
        if self.cgroups is not None:
            argv = ["/bin/sh", "-c", LAUNCHER, "sh", *self.cgroups.create(spec.instance_id, spec.limits), "--", *argv]
        with open(inst.paths.jupyter_log, "ab") as out:
            inst.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"JUPYTER_TOKEN": inst.token},
                cwd="/",
                start_new_session=True,  # outlives the server; stopped as one process group
            )
        inst.pid, inst.main_pid = inst.popen.pid, None
        self._save(inst)

    async def _relaunch(self, spec: InstanceSpec, inst: _Instance) -> None:
        """A reboot: every process ends; the sandbox starts again on the same disks and network."""
        await self._kill(spec.instance_id, inst)
        await self._ship(inst, flush=True)
        if self.images is not None and self.image is None:  # adopted, then rebooted
            await asyncio.to_thread(self.ensure_image)
        await asyncio.to_thread(self._reset_for_reboot, spec, inst.paths)
        inst.offsets = {}
        await asyncio.to_thread(self._launch, spec, inst)

    def _reset_for_reboot(self, spec: InstanceSpec, paths: _Paths) -> None:
        _fresh_dir(paths.ctl, 0o700)  # a new log of the boot, and no stale reboot request
        _fresh_dir(paths.socket_dir, 0o700, (UID, GID) if self.as_root else None)
        self._write_config(spec, paths, [])

    def _namespaces(self, spec: InstanceSpec) -> list[str]:
        """bwrap's namespaces and, as root, the capabilities root keeps inside; else a user namespace."""
        argv = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", _hostname(spec.name)]
        if self.die_with_parent:
            argv.append("--die-with-parent")
        if self.as_root:
            return argv + ["--cap-drop", "ALL"] + [arg for cap in ROOT_CAPS for arg in ("--cap-add", cap)]
        return argv + ["--unshare-user", "--uid", str(UID), "--gid", str(GID)]

    def _bwrap_argv(self, spec: InstanceSpec, paths: _Paths) -> list[str]:
        argv = self._namespaces(spec)
        argv += filesystem.system_view()
        argv += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc"]
        # A fresh /run: the host's holds sockets (D-Bus, Docker) that would let root out of the sandbox.
        argv += ["--tmpfs", "/run", "--perms", "1777", "--dir", "/run/lock"]
        scratch = paths.scratch
        argv += ["--bind", str(scratch / "tmp"), "/tmp", "--bind", str(scratch / "root"), "/root"]
        argv += ["--dir", "/home", "--bind", str(scratch / "home"), HOME]
        argv += ["--dir", "/var", "--bind", str(scratch / "vartmp"), "/var/tmp"]
        argv += ["--symlink", "../run", "/var/run", "--symlink", "../run/lock", "/var/lock"]
        argv += ["--bind", str(spec.volume_dir), VOLUME_MOUNT]
        argv += ["--dir", "/opt/ml/metadata", "--ro-bind", str(paths.host / "resource-metadata.json"), METADATA_MOUNT]
        argv += filesystem.needed_view(self._needed_paths())
        argv += filesystem.bind_below_fresh("--bind", str(paths.socket_dir))
        argv += ["--bind", str(paths.ctl), CTL_MOUNT, "--ro-bind", str(paths.host), HOST_MOUNT]
        argv += ["--ro-bind", str(paths.host / "sbin"), "/usr/local/sbin"]
        argv += filesystem.etc_view(paths.host / "etc")
        argv += _device_binds(spec)
        argv += ["--remount-ro", "/"]
        argv += ["--chdir", "/", "--", self.python, "-I", "-S", str(SANDBOX_INIT), f"{HOST_MOUNT}/config.json"]
        return argv

    def _image_argv(self, spec: InstanceSpec, paths: _Paths) -> list[str]:
        """bwrap on the instance image: its overlay (mounted by _launch) as /, the volume, the host's orders,
        the GPUs."""
        argv = self._namespaces(spec)  # as root only
        argv += ["--bind", str(paths.root), "/"]
        argv += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc"]
        argv += ["--tmpfs", "/run", "--perms", "1777", "--dir", "/run/lock"]
        argv += ["--bind", str(spec.volume_dir), VOLUME_MOUNT]
        argv += ["--ro-bind", str(paths.host / "resource-metadata.json"), METADATA_MOUNT]
        argv += filesystem.bind_below_fresh("--bind", str(paths.socket_dir))
        argv += ["--bind", str(paths.ctl), CTL_MOUNT, "--ro-bind", str(paths.host), HOST_MOUNT]
        argv += _device_binds(spec)
        for path in gpus.driver_files(spec.gpus):  # the host's driver, which CUDA in the image needs
            argv += ["--ro-bind", path, path]
        argv += ["--chdir", "/", "--", "/usr/bin/python3", "-I", "-S", f"{HOST_MOUNT}/{SANDBOX_INIT.name}",
                 f"{HOST_MOUNT}/config.json"]
        return argv

    def _needed_paths(self) -> set[str]:
        real_python = os.path.realpath(self.python)
        return {
            os.path.dirname(os.path.dirname(self.python)),  # the venv
            os.path.dirname(os.path.dirname(real_python)),  # the Python installation behind it
            os.path.dirname(selfmaker.__file__),  # this package (the supervisor, Jupyter's identity provider)
        }

    async def _run_script(self, spec: InstanceSpec, inst: _Instance, name: str, stream: str) -> None:
        exit_file = inst.paths.ctl / f"{name}.exit"
        deadline = time.monotonic() + spec.lifecycle_timeout
        while (code := await asyncio.to_thread(_exit_code, exit_file)) is None:
            await self._ship(inst)
            await self._check_reboot(inst)
            if not _running(inst):
                # The supervisor writes the exit code before it exits: it may have done so just now.
                code = await asyncio.to_thread(_exit_code, exit_file)
                if code is not None:
                    break
                await self._check_reboot(inst)
                await self._ship(inst, flush=True)
                raise LifecycleFailure(await _died_reason(spec, inst))
            if time.monotonic() > deadline:
                raise LifecycleFailure(
                    f"Notebook Instance Lifecycle Config '{spec.lifecycle_arn}' for Notebook Instance "
                    f"'{spec.arn}' took longer than {_duration(spec.lifecycle_timeout)}. "
                    "Please check your CloudWatch logs for more details on the error."
                )
            await asyncio.sleep(POLL)
        await self._ship(inst, flush=True)
        if code != 0:
            raise LifecycleFailure(
                f"Notebook Instance Lifecycle Config '{spec.lifecycle_arn}' for Notebook Instance "
                f"'{spec.arn}' failed. Please check your CloudWatch logs for more details on the error. "
                f"(exit code {code})"
            )

    async def _wait_ready(self, spec: InstanceSpec, inst: _Instance) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not (inst.paths.socket.exists() and await answers(inst.endpoint, spec.base_url)):
            await self._ship(inst)
            await self._check_reboot(inst)
            if not _running(inst):
                await self._check_reboot(inst)
                await self._ship(inst, flush=True)
                raise LifecycleFailure(await _died_reason(spec, inst))
            if time.monotonic() > deadline:
                raise LifecycleFailure(
                    f"Notebook Instance '{spec.arn}' failed to start: Jupyter did not answer within "
                    f"{_duration(READY_TIMEOUT)}. Please check the jupyter.log stream for details."
                )
            await asyncio.sleep(POLL)

    async def _check_reboot(self, inst: _Instance) -> None:
        if await asyncio.to_thread(files.exists, inst.paths.ctl / "reboot"):
            raise Reboot

    # --- stopping ---

    async def _kill(self, instance_id: str, inst: _Instance) -> None:
        await _kill_group(inst)  # Jupyter gets a moment to shut down
        if self.cgroups is not None:
            await asyncio.to_thread(self.cgroups.kill, instance_id)  # and nothing that left the group survives

    def _teardown(self, instance_id: str, paths: _Paths, inst: _Instance | None) -> None:
        """Release what a running sandbox holds (its network, cgroups, disks); the volume's image stays."""
        if self.networks is not None:
            self.networks.destroy(instance_id, inst.nat_pid if inst else None)
        if self.cgroups is not None:
            self.cgroups.remove(instance_id)
        paths.state.unlink(missing_ok=True)
        shutil.rmtree(paths.socket_dir, ignore_errors=True)
        if self.disks.mounted(paths.root):  # the instance's root, whose upper layer is on the scratch disk
            self.disks.unmount(paths.root)
        if self.disks.supported:
            self.disks.remove(paths.run / "scratch.ext4", paths.scratch)
            if inst is not None and inst.volume_dir:
                self.disks.unmount(Path(inst.volume_dir))
        for name in ("host", "scratch", "root"):
            if not self.disks.mounted(paths.run / name):  # never delete through a mount still held
                shutil.rmtree(paths.run / name, ignore_errors=True)

    def volume_used(self, volume_dir: Path) -> int:
        """Bytes in use on a volume, as ``du`` counts them; of a Stopped one, what its image holds on disk."""
        image = volume_image(volume_dir)
        if image.exists() and not self.disks.mounted(volume_dir):
            return image.stat().st_blocks * 512
        return disk_usage(volume_dir)

    def _remove_volume(self, volume_dir: Path) -> None:
        if self.disks.supported:
            self.disks.remove(volume_image(volume_dir), volume_dir)
        if not self.disks.mounted(volume_dir):
            shutil.rmtree(volume_dir, ignore_errors=True)

    # --- logs and state ---

    async def _ship(self, inst: _Instance, flush: bool = False) -> bool:
        """Send the new lines of every log to the sink; whether any were sent.

        Only complete lines go out unless `flush`: a line still being written stays for the next pass.
        """
        batches = await asyncio.to_thread(_collect, inst.paths, dict(inst.offsets), flush)
        shipped = False
        for stream, lines, offset in batches:
            if lines and inst.sink is not None:
                now = int(time.time() * 1000)
                await inst.sink(stream, [(now, line) for line in lines])
                shipped = True
            inst.offsets[stream] = offset
        return shipped

    async def _tail(self, inst: _Instance) -> None:
        while True:
            await asyncio.sleep(TAIL_INTERVAL)
            try:
                if await self._ship(inst):
                    self._save(inst)  # so that adopt() resumes where we are
                await self._check_reboot(inst)
            except Reboot:
                await self._reboot_running(inst)
            except UnsafeFile as unsafe:
                await self._fail_running(inst, unsafe)
                return
            except Exception:
                log.exception("shipping the logs of %s failed", inst.paths.run.name)

    async def _reboot_running(self, inst: _Instance) -> None:
        spec = inst.spec
        if spec is None:
            return
        log.info("%s asked for a reboot", spec.name)
        for _ in range(MAX_REBOOTS):
            await self._relaunch(spec, inst)
            try:
                await self._wait_ready(spec, inst)
            except Reboot:
                continue
            except (LifecycleFailure, UnsafeFile) as failure:
                reason = failure.reason if isinstance(failure, LifecycleFailure) else _unsafe_reason(spec, failure)
                break
            inst.main_pid = _find_ns_pid(inst.pid, 2)
            self._save(inst)
            return
        else:
            reason = f"Notebook Instance '{spec.arn}' failed: it rebooted {MAX_REBOOTS} times in a row."
        if spec.on_failure is not None:
            await spec.on_failure(reason)

    async def _fail_running(self, inst: _Instance, unsafe: UnsafeFile) -> None:
        spec = inst.spec
        if spec is not None and spec.on_failure is not None:
            await spec.on_failure(_unsafe_reason(spec, unsafe))

    def _save(self, inst: _Instance) -> None:
        state = {
            "pid": inst.pid,
            "main_pid": inst.main_pid,
            "nat_pid": inst.nat_pid,
            "volume": inst.volume_dir,
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
        return _Instance(paths, state["pid"], state["token"], state["main_pid"], state["offsets"],
                         nat_pid=state.get("nat_pid"), volume_dir=state.get("volume"))


# --- helpers ---


async def _to_thread_to_the_end(func, *args):
    """``asyncio.to_thread``, but when cancelled it still waits for the thread to end: a thread cannot be
    stopped, and the clean-up that follows a cancelled start must not race one still making disks,
    mounts or namespaces (it would find a mount point filling up under it)."""
    work = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        raise


def disk_usage(root: Path) -> int:
    """Allocated bytes under ``root``, never following links (a volume's links may point anywhere)."""
    total, pending = 0, [root]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
            except OSError:
                pass
    return total


def volume_image(volume_dir: Path) -> Path:
    return volume_dir.with_name(volume_dir.name + ".ext4")


def _device_binds(spec: InstanceSpec) -> list[str]:
    """The instance's GPUs and Inferentia/Trainium chips."""
    nodes = gpus.device_nodes(spec.gpus, spec.gpu_ids) + neuron.device_nodes(spec.accelerators)
    return [arg for node in nodes for arg in ("--dev-bind", node, node)]


def _hostname(name: str) -> str:
    return name.lower()[:63]


def _user_env(user: str, home: str) -> dict[str, str]:
    return {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/bin/bash"}


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def _fresh_dir(path: Path, mode: int, owner: tuple[int, int] | None = None) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)  # never follows links out of the tree
    path.mkdir(mode=mode)
    path.chmod(mode)  # mkdir's mode is filtered by the umask
    if owner:
        os.chown(path, *owner)


def _write_file(path: Path, text: str, owner: tuple[int, int] | None, mode: int = 0o644) -> None:
    """Write into a directory made afresh a moment ago (no sandbox has seen it yet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    if owner:
        os.chown(path.parent, *owner)
        os.chown(path, *owner)


def _exit_code(path: Path) -> int | None:
    text = files.read_small(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise UnsafeFile(f"{path.name} does not hold an exit code") from None


def _collect(paths: _Paths, offsets: dict[str, int], flush: bool) -> list[tuple[str, list[str], int]]:
    """New lines of every log from its offset on: (stream, lines, offset after them). Off the event loop."""
    batches = []
    for stream, path in paths.logs().items():
        offset = offsets.get(stream, 0)
        data, size = files.read_from(path, offset, READ_CHUNK)
        if size > LOG_LIMIT:
            raise UnsafeFile(f"{path.name} grew past {LOG_LIMIT // 2**20} MiB")
        end = data.rfind(b"\n") + 1
        if flush or (end == 0 and len(data) == READ_CHUNK):  # a line longer than a chunk goes in pieces
            end = len(data)
        batches.append((stream, data[:end].decode(errors="replace").splitlines(), offset + end))
    return batches


def _unsafe_reason(spec: InstanceSpec, unsafe: UnsafeFile) -> str:
    return (
        f"Notebook Instance '{spec.arn}' failed: {unsafe}. Selfmaker reads lifecycle logs and exit codes only "
        "from plain files of bounded size; start the instance again to reset them."
    )


async def _died_reason(spec: InstanceSpec, inst: _Instance) -> str:
    path = inst.paths.jupyter_log
    size = path.stat().st_size if path.exists() else 0
    data, _ = await asyncio.to_thread(files.read_from, path, max(0, size - 4096), 4096)
    lines = data.decode(errors="replace").strip().splitlines()
    last = lines[-1].strip() if lines else "no output"
    code = inst.popen.poll() if inst.popen is not None else None
    if code is not None and code < 0:
        last += f"; the sandbox was killed by signal {-code}"
    log.warning("the sandbox of %s ended while starting: %s (outer exit status %s)", spec.name, last, code)
    return (
        f"Notebook Instance '{spec.arn}' failed to start: its notebook server exited ({last}). "
        "Please check the jupyter.log stream for details."
    )


def _close_servers(inst: _Instance) -> None:
    for server in inst.servers:
        server.close()
    inst.servers = []


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
    """Whether a process is this instance's bwrap or Jupyter's supervisor (not a stranger reusing its pid)."""
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
    if pgid <= 0:
        return []
    return [
        int(name)
        for name in os.listdir("/proc")
        if name.isdigit() and (stat := _stat(int(name))) and stat[1] == pgid and stat[0] != "Z"
    ]


def _find_ns_pid(pgid: int, ns_pid: int) -> int | None:
    return next((pid for pid in _group(pgid) if _ns_pid(pid) == ns_pid), None)


def _running(inst: _Instance) -> bool:
    """Whether the sandbox, or once started its Jupyter, is still running (and is really ours)."""
    if inst.popen is not None and inst.popen.poll() is None and not inst.main_pid:
        # Our own child, still starting: never judge it by its command line, which reads empty while the
        # launcher execs nsenter and bwrap (the race that made failed scripts look like "no output").
        return True
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
            await asyncio.to_thread(inst.popen.wait, STOP_GRACE)
