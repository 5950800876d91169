"""Fuzz the API at length: requests generated from botocore's input shapes for every operation Selfmaker
implements (tests/fuzz/), against a server of its own.

    .venv/bin/python bench/fuzz.py [--requests 100000] [--seed N] [--only INDEX]

Prints the counts by HTTP status and every finding: a 5xx, no answer, an error without the protocol's error
code, a success the client cannot read, and each unexpected exception in the server's log. ``--only`` sends
case INDEX of the seed alone, to replay one finding. Exits 1 when there are findings.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the fuzzer lives with the tests

from tests.conftest import running_server  # noqa: E402
from tests.fuzz.campaign import Report, healthy, logged_failures, remove_notebooks, run  # noqa: E402
from tests.fuzz.transport import Transport  # noqa: E402


def _progress(report: Report) -> None:
    if report.sent % 10_000 == 0:
        print(f"  {report.sent} requests, {report.seconds:.0f} s, {len(report.findings)} findings", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", type=int, default=None, help="send this case of the seed alone")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"fuzzing with seed {seed} (--seed {seed} replays it)", flush=True)
    with tempfile.TemporaryDirectory(prefix="selfmaker-fuzz-") as workdir, running_server(Path(workdir)) as server:
        transport = Transport(server.endpoint_url, server.access_key_id, server.secret_access_key, server.region)
        try:
            report = run(transport, seed, args.requests, only=args.only, progress=_progress)
            well = healthy(server.endpoint_url) and bool(transport.client("sts").get_caller_identity()["Account"])
            created = remove_notebooks(transport)
        finally:
            transport.close()
        failures = logged_failures(Path(workdir) / "server.log")
    print(report.describe())
    print(f"requests per second: {report.sent / max(report.seconds, 1e-9):.0f}")
    print("by kind: " + ", ".join(f"{kind} {count}" for kind, count in report.by_kind.most_common()))
    print(f"server healthy after the run: {well}; notebook instances created: {len(created)}")
    print(f"unexpected exceptions in the server's log: {len(failures)}")
    for line in failures[:50]:
        print(f"  {line}")
    return 1 if report.findings or failures or created or not well else 0


if __name__ == "__main__":
    sys.exit(main())
