"""A template's AllowedPattern cannot freeze the server: while a CreateStack with a catastrophic pattern is
being handled, another client is answered within a second, and the CreateStack gets a 400 ValidationError
naming the parameter."""

from __future__ import annotations

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ServerProcess

ANSWER_WITHIN = 1.0  # seconds, for the bystander's requests


def template(parameters: dict) -> str:
    return json.dumps({"Parameters": parameters,
                       "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}})


# The issue's case: (a+)+$ against 32 a's and a "!" backtracks for ever in Python's re.
ISSUE = template({"Evil": {"Type": "String", "AllowedPattern": "(a+)+$", "Default": "a" * 32 + "!"}})
# Many values that each take milliseconds (the first branch backtracks, the second matches): together they
# take longer than the request's pattern budget, so the CreateStack stays busy for about a second.
SLOW_ITEM = "a" * 20 + "!"
BUSY = template({f"Slow{i}": {"Type": "CommaDelimitedList", "AllowedPattern": "(a|aa)+$|a+!",
                              "Default": ",".join([SLOW_ITEM] * 40)} for i in range(10)})


def create_while_a_bystander_asks(server: ServerProcess, name: str, body: str) -> tuple[ClientError, list[float],
                                                                                        int]:
    """Run CreateStack in a thread; meanwhile time GetCallerIdentity and ListStacks from another client.
    Returns the CreateStack's error, the bystander's latencies, and how many it got while CreateStack ran."""
    cf = server.client("cloudformation", read_timeout=60, connect_timeout=5)
    bystander_sts = server.client("sts", read_timeout=ANSWER_WITHIN * 5, connect_timeout=5)
    bystander_cf = server.client("cloudformation", read_timeout=ANSWER_WITHIN * 5, connect_timeout=5)
    bystander_sts.get_caller_identity()  # connections made before the clock starts
    bystander_cf.list_stacks()
    outcome: dict = {}

    def create() -> None:
        try:
            outcome["reply"] = cf.create_stack(StackName=name, TemplateBody=body)
        except ClientError as err:
            outcome["error"] = err

    creating = threading.Thread(target=create)
    creating.start()
    latencies: list[float] = []
    during = 0
    time.sleep(0.05)
    try:
        for call in (bystander_sts.get_caller_identity, bystander_cf.list_stacks) * 5:
            started = time.monotonic()
            call()
            latencies.append(time.monotonic() - started)
            during += creating.is_alive()
            if not creating.is_alive():
                break
    finally:
        creating.join(60)
    assert not creating.is_alive(), "CreateStack never answered"
    assert "reply" not in outcome, "the stack was created"
    return outcome["error"], latencies, during


@pytest.mark.timeout(120)
def test_the_issues_pattern_is_answered_and_does_not_freeze_anyone(server):
    error, latencies, _during = create_while_a_bystander_asks(server, "evil-pattern", ISSUE)
    assert latencies and max(latencies) < ANSWER_WITHIN
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response["Error"]["Code"] == "ValidationError"
    assert error.response["Error"]["Message"] == "Parameter 'Evil' must match pattern (a+)+$"


@pytest.mark.timeout(120)
def test_a_busy_pattern_check_runs_beside_other_clients_and_ends_in_a_validation_error(server):
    started = time.monotonic()
    error, latencies, during = create_while_a_bystander_asks(server, "busy-pattern", BUSY)
    assert time.monotonic() - started < 10
    assert during >= 1, "the bystander was never answered while CreateStack ran"
    assert max(latencies) < ANSWER_WITHIN
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response["Error"]["Code"] == "ValidationError"
    message = error.response["Error"]["Message"]
    assert message.startswith("Parameter 'Slow") and "could not be checked against pattern (a|aa)+$|a+!" in message
    with pytest.raises(ClientError, match="does not exist"):
        server.client("cloudformation").describe_stacks(StackName="busy-pattern")
