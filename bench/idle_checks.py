"""The idle auto-stop's cost: the real checker (services/sagemaker/idle.py) watching 100 InService instances,
each a fake Jupyter on a Unix socket, served by a child process.

    .venv/bin/python bench/idle_checks.py [--instances 100] [--interval 1] [--seconds 20]

Every instance is its worst case: the store and the browser record say it has been idle for an hour, so the
checker asks its Jupyter (kernels, then terminals) on every pass; its one kernel was just active, so it is
never stopped. Prints the checker's CPU time per wall second as % of one core (this process's CPU, DB-reading
thread included), beside a baseline measured in the same run: the same process, its event loop idling as
long. The checker runs a pass every ``--interval`` seconds (the server's default is 60); the cost at the
default interval is the per-pass cost scaled to it (target ≤ 1% of a core for 100 instances).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from selfmaker.domain.instance_types import load_catalogue
from selfmaker.runtime.base import Endpoint
from selfmaker.services.sagemaker.idle import IdleChecker
from selfmaker.services.sagemaker.idle_activity import BrowserActivity
from selfmaker.services.sagemaker.idle_config import TAG, IdleDefaults
from selfmaker.store.db import open_store
from selfmaker.store.tables import notebook_instances, tags

ACCOUNT, REGION = "123456789012", "us-east-1"
DEFAULT_INTERVAL = 60.0  # the server's, without SELFMAKER_IDLE_CHECK_SECONDS
# The instances' limit is 1 minute; a "minute" of a millisecond here makes every pass ask every Jupyter, as the
# store's hour-old InService times would with real minutes, had the checker not started just now.
MINUTE_SECONDS = 0.001


# --- the fake Jupyter servers (child process) --------------------------------------------------------------

async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].split(b"?", 1)[0]
            if path == b"/api/kernels":
                now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                body = (b'[{"id": "k1", "name": "python3", "last_activity": "%s", "execution_state": "idle", '
                        b'"connections": 1}]' % now.encode())
            else:
                body = b"[]"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve(sockets: list[str], ready) -> None:
    async def main() -> None:
        servers = [await asyncio.start_unix_server(_answer, path) for path in sockets]
        ready.set()
        await asyncio.gather(*(server.serve_forever() for server in servers))

    asyncio.run(main())


# --- the checker, pointed at them ---------------------------------------------------------------------------

class FakeOrchestrator:
    def __init__(self, sockets: dict[str, str]):
        self.sockets = sockets
        self.stops = 0

    def endpoint(self, instance_id: str) -> Endpoint | None:
        return Endpoint(self.sockets[instance_id], "bench-secret")

    def stop_on_own(self, instance_id: str, stopping_note: str, stopped_note: str) -> bool:
        self.stops += 1
        return True


class NoLogs:
    async def append(self, account_id, region, group, stream, events) -> None:
        return None


def _store(data: Path, count: int):
    engine = open_store(data / "selfmaker.db")
    an_hour_ago = time.time() - 3600
    with engine.begin() as conn:
        for i in range(count):
            arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/bench-{i}"
            conn.execute(insert(notebook_instances).values(
                instance_id=f"nb-{i:012d}", account_id=ACCOUNT, region=REGION, name=f"bench-{i}", arn=arn,
                status="InService", instance_type="ml.t3.medium", role_arn=f"arn:aws:iam::{ACCOUNT}:role/Bench",
                volume_size_gb=5, settings={}, on_create_done=True, creation_time=an_hour_ago,
                last_modified_time=an_hour_ago))
            conn.execute(insert(tags).values(resource_arn=arn, key=TAG, value="1"))
    return engine


async def _cpu_over(seconds: float) -> float:
    """This process's CPU seconds while its event loop runs whatever is scheduled for ``seconds``."""
    start = time.process_time()
    await asyncio.sleep(seconds)
    return time.process_time() - start


async def _measure(engine, orchestrator: FakeOrchestrator, interval: float, seconds: float) -> tuple[float, float, int]:
    baseline = await _cpu_over(seconds)
    checker = IdleChecker(engine, orchestrator, NoLogs(), load_catalogue(), IdleDefaults(),
                          BrowserActivity(), interval, MINUTE_SECONDS)
    passes = 0
    check_once = checker.check_once

    async def counted():
        nonlocal passes
        passes += 1
        return await check_once()

    checker.check_once = counted
    await check_once()  # warm up: the first pass makes the HTTP clients, once per instance
    checker.start()
    used = await _cpu_over(seconds)
    await checker.close()
    return baseline, used, passes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes while measured")
    parser.add_argument("--seconds", type=float, default=20.0, help="wall seconds of each measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="selfmaker-idle-bench-") as workdir:
        work = Path(workdir)
        sockets = {f"nb-{i:012d}": str(work / f"j{i}.sock") for i in range(args.instances)}
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=_serve, args=(list(sockets.values()), ready), daemon=True)
        server.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the fake Jupyter servers did not start")
            orchestrator = FakeOrchestrator(sockets)
            engine = _store(work, args.instances)
            baseline, used, passes = asyncio.run(_measure(engine, orchestrator, args.interval, args.seconds))
        finally:
            server.terminate()
            server.join()
    if orchestrator.stops:
        print(f"the checker stopped {orchestrator.stops} instances that were in use: the bench is broken")
        return 1
    per_pass = max(used - baseline, 0.0) / max(passes, 1)
    print(f"{args.instances} instances, each asked on every pass ({passes} passes, one every {args.interval:g} s, "
          f"{args.seconds:g} s)")
    print(f"idle process (baseline)              {100 * baseline / args.seconds:6.3f} % of a core")
    print(f"checker, a pass every {args.interval:<5g} s         {100 * used / args.seconds:6.3f} % of a core")
    print(f"  CPU per pass                       {1000 * per_pass:6.2f} ms ({1000 * per_pass / args.instances:.3f} ms "
          "per instance)")
    at_default = 100 * per_pass / DEFAULT_INTERVAL
    print(f"  at the default interval ({DEFAULT_INTERVAL:g} s)      {at_default:6.3f} % of a core   (target ≤ 1%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
