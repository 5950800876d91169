"""A Selfmaker server whose instances run as jobs of the session's private Slurm cluster (tests/slurm.py)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from selfmaker.runtime.local import LocalRuntime
from selfmaker.runtime.slurm import node_dir
from tests.conftest import ServerProcess, run_async
from tests.slurm import ENDED, SlurmCluster


@contextlib.contextmanager
def slurm_server(base: Path, cluster: SlurmCluster, files: dict[str, str] | None = None,
                 **env: str) -> Iterator[ServerProcess]:
    """``selfmaker up --runtime slurm`` under ``base`` (``files``: written into its data dir first, e.g.
    instance-types.yaml); on exit the server stops, its jobs are cancelled and what their nodes held is gone."""
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (data / name).write_text(text)
    server = ServerProcess(data, base / "home", lifecycle_timeout=10, extra_env={
        **cluster.env, "SELFMAKER_RUNTIME": "slurm", "SELFMAKER_SLURM_GATEWAY": "127.0.0.1", **env})
    try:
        yield server.start()
    finally:
        stop_all(server, cluster)


def stop_all(server: ServerProcess, cluster: SlurmCluster) -> None:
    with contextlib.suppress(Exception):
        server.kill(15)
    clear(cluster)  # scancel: each node agent stops its sandbox on SIGTERM
    node = node_dir(server.data_dir / "slurm")
    runtime = LocalRuntime(node)  # what an agent killed before its end left behind
    run_async(runtime.stop_all())
    for volume in (server.data_dir / "slurm" / "volumes").glob("*.ext4"):
        runtime.disks.unmount(volume.with_suffix(""))
    shutil.rmtree(node, ignore_errors=True)
    run_async(LocalRuntime(server.data_dir).stop_all())  # instances of types kept on this host


def clear(cluster: SlurmCluster, timeout: float = 120.0) -> None:
    """Cancel every job and wait until none is left running or ending (the node's own state may lag behind)."""
    cluster.cancel_all()
    deadline = time.monotonic() + timeout
    while any(state not in ENDED for _, state, _ in cluster.jobs()):
        assert time.monotonic() < deadline, f"Slurm jobs still there: {cluster.jobs()}\n{cluster.log_tails()}"
        time.sleep(0.5)
