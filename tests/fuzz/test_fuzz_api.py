"""The API under fuzzing: thousands of requests generated from botocore's input shapes for every operation
Selfmaker implements, against one real server; none may get a 5xx, and the server must be well after.

SELFMAKER_FUZZ_SEED replays a run (the seed is printed, and named in any failure); SELFMAKER_FUZZ_REQUESTS sets
the count. bench/fuzz.py runs the same at length.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.conftest import ACCOUNT, running_server
from tests.fuzz.campaign import healthy, logged_failures, remove_notebooks, run
from tests.fuzz.transport import Transport

REQUESTS = int(os.environ.get("SELFMAKER_FUZZ_REQUESTS", "5200"))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    # A server of its own: the fuzzer leaves users, topics and stacks behind that other tests would trip on.
    with running_server(tmp_path_factory.mktemp("fuzz")) as proc:
        yield proc


def test_no_generated_request_gets_a_5xx_and_the_server_stays_well(fuzz_server):
    seed = int(os.environ.get("SELFMAKER_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
    print(f"fuzz seed {seed}: SELFMAKER_FUZZ_SEED={seed} replays this run")
    transport = Transport(fuzz_server.endpoint_url, fuzz_server.access_key_id, fuzz_server.secret_access_key,
                          fuzz_server.region)
    try:
        report = run(transport, seed, REQUESTS)
        print(report.describe())
        assert report.sent >= min(REQUESTS, 5000)
        assert not report.findings, report.describe()

        assert healthy(fuzz_server.endpoint_url), f"seed {seed}: the health check fails after the run"
        assert transport.client("sts").get_caller_identity()["Account"] == ACCOUNT
        assert "NotebookInstances" in transport.client("sagemaker").list_notebook_instances()
        # The fuzzer breaks every CreateNotebookInstance: an instance here means a real sandbox was started.
        assert remove_notebooks(transport) == [], f"seed {seed}: the fuzzer created notebook instances"
    finally:
        transport.close()
    failures = logged_failures(fuzz_server.data_dir.parent / "server.log")
    assert not failures, f"seed {seed}: the server logged unexpected exceptions: {failures[:20]}"
