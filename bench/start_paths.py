"""CreateNotebookInstance → InService on each path an instance can start by, against a bare JupyterLab start
measured in the same run.

    .venv/bin/python bench/start_paths.py [--runs 3]

1. The baseline: JupyterLab as every instance runs it (runtime/jupyter.py's command line, on a Unix socket),
   started bare: on the instance image (its JupyterSystemEnv, through bwrap on the image's layers, with no
   namespaces but the mount namespace, no network of its own, no limits, no volume, no supervisor, no control
   plane), or where instances run without the image (not root, SELFMAKER_IMAGE=host) the venv's JupyterLab, as
   bench/run.py starts it. Timed from the spawn to the first answer of /api/status on its socket.
2. The local runtime: a real ``selfmaker up``, CreateNotebookInstance through boto3 until Describe says InService.
3. The Slurm runtime: the same, through ``selfmaker up --runtime slurm`` on a private single-node Slurm
   (tests/slurm.py's SlurmCluster: its own munged, slurmctld and slurmd in a temporary directory). Skipped, with
   the reason, where Slurm or the runtime is missing.

Each runtime first starts one instance untimed (a new server's first start is its slowest: it loads what every
later one shares); printed apart. Then the runs interleave the three, so that load from elsewhere hits all alike,
and each instance is stopped before the next start. Prints medians and the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.notebooks import create_to_in_service, scratch_dir, stop  # noqa: E402
from bench.run import bare_jupyter_start, wait_http  # noqa: E402
from selfmaker.runtime import jupyter  # noqa: E402
from selfmaker.runtime.image.environments import CONDA_ROOT, HOST_PYTHON  # noqa: E402
from selfmaker.runtime.image.store import Image  # noqa: E402
from selfmaker.runtime.jupyter import SECRET_HEADER, jupyter_command  # noqa: E402
from selfmaker.runtime.local import IMAGE_PROVIDER, JUPYTER_PREFIX, LocalRuntime  # noqa: E402
from selfmaker.runtime.sandbox import image_root  # noqa: E402
from tests.conftest import ServerProcess, running_server  # noqa: E402 - real servers, as the tests run them

TOKEN = "bench-token"
SLURM_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")


def bare_image_jupyter_start(image: Image, workdir: Path) -> float:
    """Seconds from spawning the image's JupyterLab, bare, to its first answer (see the module's note)."""
    base = Path(tempfile.mkdtemp(prefix="bare-image-", dir=workdir))
    upper, work, root, sockets = base / "upper", base / "work", base / "root", base / "sockets"
    image_root.prepare(upper, work, root)
    # The module Jupyter imports its identity provider from, where the image's JupyterSystemEnv looks for it.
    provider_dir = upper / HOST_PYTHON.lstrip("/")
    provider_dir.mkdir(parents=True)
    shutil.copyfile(jupyter.__file__, provider_dir / "selfmaker_jupyter.py")
    sockets.mkdir()
    image_root.mount(image, upper, work, root)
    sock = sockets / "j.sock"
    argv = ["bwrap", "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/run",
            "--bind", str(sockets), str(sockets), "--chdir", "/home/ec2-user", "--",
            *jupyter_command(f"{JUPYTER_PREFIX}/bin/python", str(sock), "/", "/home/ec2-user", IMAGE_PROVIDER),
            "--allow-root"]  # the sandbox drops to ec2-user; the bare baseline runs as we are
    env = {"PATH": f"{JUPYTER_PREFIX}/bin:{CONDA_ROOT}/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "JUPYTER_TOKEN": TOKEN}
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            wait_http("http://jupyter/api/status", transport=httpx.HTTPTransport(uds=str(sock)),
                      headers={SECRET_HEADER: TOKEN})
            return time.perf_counter() - started
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    finally:
        subprocess.run(["umount", str(root)], check=True, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def slurm_leg(stack: contextlib.ExitStack, workdir: Path) -> ServerProcess | str:
    """A server on the Slurm runtime (tests/slurm_server.py's, as the end-to-end tests run it), its cluster
    stopped with ``stack``; or why there is none."""
    try:
        from tests.slurm import SlurmCluster
        from tests.slurm_server import slurm_server
    except ImportError as missing:
        return f"skipped: no Slurm ({missing})"
    if not all(shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") for tool in SLURM_TOOLS):
        return "skipped: no Slurm (scripts/setup.sh installs slurm-wlm and munge with SELFMAKER_EXTRAS=test)"
    if os.geteuid() != 0:
        return "skipped: the private Slurm cluster runs as root (SlurmUser=root), as the server does"
    cluster = SlurmCluster()
    stack.callback(cluster.stop)  # also after a start that failed half-way
    cluster.start()
    # The volumes and job directories in the data dir's slurm/ (--slurm-dir's default): the one node is this host.
    return stack.enter_context(slurm_server(workdir / "slurm", cluster))


def bare_start(image: Image | None, workdir: Path) -> float:
    return bare_image_jupyter_start(image, workdir) if image else bare_jupyter_start(workdir)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SELFMAKER_ENVIRONMENTS_FILE", str(Path(__file__).parent.parent / "tests/environments.yaml"))
    with scratch_dir("selfmaker-bench-starts-") as workdir, contextlib.ExitStack() as stack:
        servers: dict[str, ServerProcess] = {"local": stack.enter_context(running_server(workdir / "local"))}
        slurm = slurm_leg(stack, workdir)
        if isinstance(slurm, ServerProcess):
            servers["slurm"] = slurm
        clients = {path: server.client("sagemaker") for path, server in servers.items()}
        first = {path: create_to_in_service(sm, f"{path}-first") for path, sm in clients.items()}
        for path, sm in clients.items():
            stop(sm, f"{path}-first")
        runtime = LocalRuntime(servers["local"].data_dir)
        image = runtime.images.ready(servers["local"].data_dir) if runtime.images else None
        bare_start(image, workdir)  # untimed, as the runtimes' first: page cache and bytecode warm
        times: dict[str, list[float]] = {"bare": [], **{path: [] for path in clients}}
        for i in range(args.runs):
            times["bare"].append(bare_start(image, workdir))
            for path, sm in clients.items():
                times[path].append(create_to_in_service(sm, f"{path}{i}"))
                stop(sm, f"{path}{i}")

    bare = statistics.median(times["bare"])
    where = "the instance image's JupyterSystemEnv" if image else "the venv's, as bench/run.py"
    print(f"median of {args.runs}; baseline: bare JupyterLab, {where}")
    print(f"{'bare JupyterLab start (baseline)':<40}{bare:6.2f} s")
    for path in clients:
        value = statistics.median(times[path])
        print(f"{'Create → InService, ' + path + ' runtime':<40}{value:6.2f} s   {value / bare:5.2f}× baseline"
              f"   (first start of the server: {first[path]:.2f} s)")
    if isinstance(slurm, str):
        print(f"{'Create → InService, slurm runtime':<40}{slurm}")


if __name__ == "__main__":
    main()
