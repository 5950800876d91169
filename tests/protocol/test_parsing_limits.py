"""The protocol layer's bounds: whatever a body holds, parsing answers a client error or a value, never
crashes, and takes time in proportion to what the model lets through."""

from __future__ import annotations

import time

import pytest
from botocore.parsers import create_parser

from selfmaker import bounded_json
from selfmaker.protocol import json_protocol, query_protocol
from selfmaker.protocol.models import operation_model
from selfmaker.protocol.validate import validate
from selfmaker.services.base import ServiceError


def _json_error(operation: str, body: str | bytes, service: str = "sagemaker") -> str:
    with pytest.raises(ServiceError) as exc:
        json_protocol.parse(operation_model(service, operation), body.encode() if isinstance(body, str) else body)
    assert exc.value.code == "SerializationException"
    return exc.value.message


@pytest.mark.parametrize("body", [
    '{"MaxResults": ' + "9" * 5000 + "}",
    '{"MaxResults": 1e400}',
    '{"MaxResults": NaN}',
    '{"MaxResults": -Infinity}',
    "[" * 5000 + "]" * 5000,
    '{"NameContains": "\\ud800"}',
    '{"MaxResults": 2147483648}',
    '{"CreationTimeAfter": 1e300}',
    '{"CreationTimeAfter": ' + "9" * 400 + "}",
    b"\xff\xfe{",
])
def test_json_bodies_beyond_bounds_are_serialization_exceptions(body):
    _json_error("ListNotebookInstances", body)


def test_json_integers_follow_the_members_java_type():
    model = operation_model("logs", "GetLogEvents")  # startTime: long, limit: integer
    parsed = json_protocol.parse(model, b'{"logStreamName": "s", "startTime": 9223372036854775807}')
    assert parsed["startTime"] == 2**63 - 1
    _json_error("GetLogEvents", '{"logStreamName": "s", "startTime": 9223372036854775808}', "logs")
    _json_error("GetLogEvents", '{"logStreamName": "s", "limit": 2147483648}', "logs")


def test_a_json_list_far_past_its_maximum_is_read_only_one_past_it():
    model = operation_model("sagemaker", "AddTags")  # Tags: at most 50
    tags = ",".join(['{"Key": "k", "Value": "v"}'] * 100_000)
    parsed = json_protocol.parse(model, f'{{"ResourceArn": "arn", "Tags": [{tags}]}}'.encode())
    assert len(parsed["Tags"]) == 51
    with pytest.raises(ServiceError, match="length less than or equal to 50"):
        validate(model.input_shape, parsed)


def test_query_numbers_beyond_the_members_type_are_validation_errors():
    model = operation_model("iam", "ListUsers")  # MaxItems: integer
    for raw in ("9" * 5000, str(2**31), "1e3", ""):
        with pytest.raises(ServiceError) as exc:
            query_protocol.parse(model, {"MaxItems": raw})
        assert exc.value.code == "ValidationError"
        assert len(exc.value.message) < 400  # the value is cut, not echoed whole
    model = operation_model("cloudformation", "CreateStack")  # TimeoutInMinutes: integer
    assert query_protocol.parse(model, {"StackName": "s", "TimeoutInMinutes": "5"})["TimeoutInMinutes"] == 5


def test_too_many_form_fields_are_refused_while_being_read():
    with pytest.raises(ServiceError) as exc:
        query_protocol.read_form(b"a=1&" * (query_protocol.MAX_FORM_FIELDS + 1))
    assert exc.value.code == "MalformedQueryString"
    with pytest.raises(ServiceError) as exc:
        query_protocol.read_form(b"a=\xff")
    assert exc.value.code == "MalformedQueryString"


def test_a_form_of_many_fields_parses_in_time_proportional_to_it():
    model = operation_model("cloudformation", "CreateStack")
    form = {"StackName": "s"}
    for index in range(1, 2000):
        form[f"Parameters.member.{index}.ParameterKey"] = f"k{index}"
        form[f"Parameters.member.{index}.ParameterValue"] = "v"
    form.update({f"Unknown.{index}.x.y.z": "1" for index in range(5000)})
    started = time.perf_counter()
    parsed = query_protocol.parse(model, form)
    assert time.perf_counter() - started < 1.0
    assert len(parsed["Parameters"]) == 1999


def test_a_query_map_entry_without_its_value_fails_validation_rather_than_the_server():
    model = operation_model("sns", "CreateTopic")
    parsed = query_protocol.parse(model, {"Name": "t", "Attributes.entry.1.key": "DisplayName"})
    with pytest.raises(ServiceError, match="Member must not be null"):
        validate(model.input_shape, parsed, "ValidationError")


def test_xml_responses_carry_no_character_xml_cannot():
    model = operation_model("iam", "GetUser")
    err = ServiceError("ValidationError", "Value 'a\x00b\x0b\ud800' at 'userName' failed")
    wire = query_protocol.error(err, "req-1")
    parsed = create_parser("query").parse({"status_code": 400, "headers": {}, "body": wire.body}, model.output_shape)
    assert parsed["Error"]["Code"] == "ValidationError"
    assert parsed["Error"]["Message"] == "Value 'a\ufffdb\ufffd\ufffd' at 'userName' failed"


def test_an_over_long_string_is_not_matched_against_its_pattern():
    model = operation_model("sagemaker", "DescribeNotebookInstance")  # name: at most 63, with a pattern
    with pytest.raises(ServiceError) as exc:
        validate(model.input_shape, {"NotebookInstanceName": "-" * 100_000})
    assert "length less than or equal to 63" in exc.value.message
    assert "regular expression" not in exc.value.message and len(exc.value.message) < 600


def test_bounded_json_limits_depth_numbers_and_constants():
    assert bounded_json.loads("[" * 100 + "]" * 100) is not None
    for text in ("[" * 101 + "]" * 101, "[" * 100_000 + "]" * 100_000, "9" * 1001, "1e400", "NaN", "[Infinity]"):
        with pytest.raises(bounded_json.JSONLimitError):
            bounded_json.loads(text)
    deep: list = []
    for _ in range(100_000):  # built by hand: deeper than json.loads (or any recursion) could go
        deep = [deep]
    with pytest.raises(bounded_json.JSONLimitError):
        bounded_json.ensure_depth(deep)
