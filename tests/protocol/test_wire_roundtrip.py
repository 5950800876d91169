"""The protocol layer against botocore itself: what botocore serializes we parse back unchanged, and
what we serialize botocore parses back unchanged — for shapes with lists, maps, nesting and times."""

from __future__ import annotations

import datetime

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from selfmaker.protocol import json_protocol, query_protocol
from selfmaker.protocol.models import operation_model
from selfmaker.services.base import ServiceError

QUERY_INPUTS = [
    ("cloudformation", "CreateStack", {
        "StackName": "fastai", "TemplateBody": "{}", "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        "Parameters": [{"ParameterKey": "InstanceType", "ParameterValue": "ml.t3.medium"},
                       {"ParameterKey": "Email", "UsePreviousValue": True}],
        "Tags": [{"Key": "course", "Value": "fastai"}], "TimeoutInMinutes": 30, "DisableRollback": False,
    }),
    ("sns", "SetTopicAttributes", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "AttributeName": "Policy",
                                   "AttributeValue": "{}"}),
    ("sns", "Subscribe", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Protocol": "email",
                          "Endpoint": "a@example.com",
                          "Attributes": {"FilterPolicy": "{}", "RawMessageDelivery": "true"},
                          "ReturnSubscriptionArn": True}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "student",
                           "DurationSeconds": 900, "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}),
]


@pytest.mark.parametrize(("service", "operation", "params"), QUERY_INPUTS)
def test_query_input_round_trips_through_botocores_serializer(service, operation, params):
    model = operation_model(service, operation)
    request = create_serializer("query").serialize_to_request(params, model)
    form = {key: str(value) for key, value in request["body"].items()}
    form.pop("Action"), form.pop("Version")
    assert query_protocol.parse(model, form) == params


def test_query_output_is_what_botocore_reads():
    model = operation_model("cloudformation", "DescribeStacks")
    created = datetime.datetime(2026, 11, 29, 1, 2, 3, tzinfo=datetime.UTC)
    result = {"Stacks": [{
        "StackName": "fastai", "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/fastai/1",
        "CreationTime": created.timestamp(), "StackStatus": "CREATE_COMPLETE", "DisableRollback": False,
        "Outputs": [{"OutputKey": "Url", "OutputValue": "http://x/<&>"}], "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": "a", "Value": "b"}],
    }]}
    wire = query_protocol.serialize(model, result, "req-1")
    parsed = create_parser("query").parse(
        {"status_code": 200, "headers": {}, "body": wire.body}, model.output_shape)
    stack = parsed["Stacks"][0]
    assert stack["CreationTime"] == created
    assert stack["Outputs"] == [{"OutputKey": "Url", "OutputValue": "http://x/<&>"}]
    assert stack["DisableRollback"] is False and stack["Tags"] == [{"Key": "a", "Value": "b"}]
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_query_map_output_is_what_botocore_reads():
    model = operation_model("sns", "GetTopicAttributes")
    wire = query_protocol.serialize(model, {"Attributes": {"TopicArn": "arn", "DisplayName": "x"}}, "r")
    parsed = create_parser("query").parse({"status_code": 200, "headers": {}, "body": wire.body}, model.output_shape)
    assert parsed["Attributes"] == {"TopicArn": "arn", "DisplayName": "x"}


def test_query_errors_are_what_botocore_reads():
    wire = query_protocol.error(ServiceError("ValidationError", "Stack with id x does not exist"), "r",
                                "http://cloudformation.amazonaws.com/doc/2010-05-15/")
    parsed = create_parser("query").parse({"status_code": 400, "headers": {}, "body": wire.body}, None)
    assert parsed["Error"] == {"Type": "Sender", "Code": "ValidationError", "Message": "Stack with id x does not exist"}


def test_query_bad_scalar_is_a_validation_error():
    model = operation_model("cloudformation", "CreateStack")
    with pytest.raises(ServiceError) as exc:
        query_protocol.parse(model, {"StackName": "s", "TimeoutInMinutes": "soon"})
    assert exc.value.code == "ValidationError"


def test_json_input_round_trips_and_wrong_types_are_serialization_errors():
    model = operation_model("sagemaker", "CreateNotebookInstance")
    params = {"NotebookInstanceName": "fastai", "InstanceType": "ml.t3.medium",
              "RoleArn": "arn:aws:iam::123456789012:role/r", "VolumeSizeInGB": 50,
              "Tags": [{"Key": "k", "Value": "v"}], "InstanceMetadataServiceConfiguration": {
                  "MinimumInstanceMetadataServiceVersion": "2"}}
    request = create_serializer("json").serialize_to_request(params, model)
    assert json_protocol.parse(model, request["body"]) == params
    for body in (b'{"NotebookInstanceName": 5}', b'{"VolumeSizeInGB": "50"}', b"[1]", b"{not json"):
        with pytest.raises(ServiceError) as exc:
            json_protocol.parse(model, body)
        assert exc.value.code == "SerializationException"


def test_json_output_is_what_botocore_reads():
    model = operation_model("sagemaker", "DescribeNotebookInstance")
    wire = json_protocol.serialize(model, {"NotebookInstanceName": "n", "CreationTime": 1764378123.5,
                                           "FailureReason": None}, "r")
    parsed = create_parser("json").parse({"status_code": 200, "headers": {}, "body": wire.body}, model.output_shape)
    assert parsed["NotebookInstanceName"] == "n"
    assert parsed["CreationTime"].timestamp() == 1764378123.5
    assert "FailureReason" not in parsed
