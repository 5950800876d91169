"""The store's cost per request: DescribeNotebookInstance and ListNotebookInstances through boto3 against two real
``selfmaker up`` servers, one on SQLite (the default) and one on PostgreSQL, in the same run.

    .venv/bin/python bench/store_throughput.py [--instances 20] [--threads 4] [--seconds 5] [--rounds 3]

Both servers hold the same ``--instances`` notebook instances, created (each started once, a few at a time) and
then stopped, so that no sandbox runs while requests are counted. PostgreSQL is a private cluster
(tests/postgres.py's, Debian's initdb and pg_ctl in a temporary directory, fsync off as in the tests), on the
loopback. ``--threads`` threads, each with a boto3 client of its own, call one operation as fast as answers come
for ``--seconds``; the rounds alternate between the servers (and which goes first), so that load from elsewhere
hits both alike. Prints the median over the rounds of requests/s, the latencies and the server's CPU time per
request (the ``selfmaker up`` process, and PostgreSQL's processes for the one on PostgreSQL: on a busy machine
the least noisy figure), and PostgreSQL's ratios to SQLite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.notebooks import create, scratch_dir, stop, wait_status  # noqa: E402
from tests.conftest import ServerProcess, running_server  # noqa: E402 - real servers, as the tests run them
from tests.postgres import PostgresCluster, _bin_dir  # noqa: E402

BATCH = 5  # instances started at once while populating (each start is a sandbox and a JupyterLab)


def populate(server: ServerProcess, names: list[str]) -> None:
    sm = server.client("sagemaker")
    for start in range(0, len(names), BATCH):
        batch = names[start:start + BATCH]
        for name in batch:
            create(sm, name)
        for name in batch:
            wait_status(sm, name, "InService")
        for name in batch:
            stop(sm, name)


def tree_cpu_seconds(roots: set[int]) -> float:
    """CPU time (user and system) of the processes ``roots`` and all their live descendants."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)  # field 4: the parent
        cpu[pid] = int(fields[11]) + int(fields[12])  # fields 14 and 15: utime and stime, in clock ticks
    total, todo = 0, list(roots)
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def load(server: ServerProcess, processes: set[int], call: Callable[[object, int], object], threads: int,
         seconds: float) -> dict:
    """Requests/s, p50/p99 latency (ms) and the server's CPU per request (ms: the ``processes`` and their
    children, its database's included) of ``call(client, i)`` from ``threads`` threads for ``seconds``."""
    clients = [server.client("sagemaker") for _ in range(threads)]
    for client in clients:
        call(client, 0)  # each client's connection and credentials set up before the clock starts
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    ready = threading.Barrier(threads + 1)
    deadline = 0.0

    def worker(index: int) -> None:
        ready.wait()
        try:
            i = index
            while (now := time.perf_counter()) < deadline:
                call(clients[index], i)
                latencies[index].append(time.perf_counter() - now)
                i += threads
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    cpu_before = tree_cpu_seconds(processes)
    started = time.perf_counter()
    deadline = started + seconds
    ready.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    cpu = tree_cpu_seconds(processes) - cpu_before
    if errors:
        raise errors[0]
    every = sorted(t for per_thread in latencies for t in per_thread)
    return {"rps": len(every) / elapsed, "p50": every[len(every) // 2] * 1000,
            "p99": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000, "cpu": cpu / len(every) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bin_dir = _bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL is not installed (scripts/setup.sh installs it with SELFMAKER_EXTRAS=test)")
    os.environ.pop("SELFMAKER_TEST_STORE", None)  # the SQLite server stays on SQLite whatever the caller's run
    os.environ.setdefault("SELFMAKER_ENVIRONMENTS_FILE", str(Path(__file__).parent.parent / "tests/environments.yaml"))
    names = [f"store{i}" for i in range(args.instances)]
    operations: dict[str, Callable[[object, int], object]] = {
        "DescribeNotebookInstance":
            lambda sm, i: sm.describe_notebook_instance(NotebookInstanceName=names[i % len(names)]),
        "ListNotebookInstances": lambda sm, i: sm.list_notebook_instances(),
    }
    cluster = PostgresCluster(bin_dir).start()
    try:
        with scratch_dir("selfmaker-bench-store-") as workdir, running_server(workdir / "sqlite") as sqlite, \
                running_server(workdir / "postgresql", database_url=cluster.create_database()) as postgresql:
            servers = {"SQLite": sqlite, "PostgreSQL": postgresql}
            postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
            processes = {"SQLite": {sqlite.proc.pid}, "PostgreSQL": {postgresql.proc.pid, postmaster}}
            with ThreadPoolExecutor() as pool:  # both at once: each start waits mostly on its Jupyter
                for done in [pool.submit(populate, server, names) for server in servers.values()]:
                    done.result()
            results: dict[tuple[str, str], list[dict]] = {}
            for round_ in range(args.rounds):
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for operation, call in operations.items():
                    for store in order:
                        results.setdefault((operation, store), []).append(
                            load(servers[store], processes[store], call, args.threads, args.seconds))
    finally:
        cluster.stop()

    print(f"{args.instances} instances (Stopped), {args.threads} boto3 threads, median of {args.rounds} × "
          f"{args.seconds:g} s")
    for operation in operations:
        medians = {}
        for store in ("SQLite", "PostgreSQL"):
            runs = results[(operation, store)]
            medians[store] = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99", "cpu")}
            m = medians[store]
            print(f"{operation:<26} {store:<11} {m['rps']:7.0f} req/s  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms"
                  f"  server CPU {m['cpu']:5.2f} ms/request")
        pg, lite = medians["PostgreSQL"], medians["SQLite"]
        print(f"{'':<26} PostgreSQL / SQLite: {pg['rps'] / lite['rps']:5.2f}× the requests/s, "
              f"{pg['cpu'] / lite['cpu']:5.2f}× the CPU per request")


if __name__ == "__main__":
    main()
