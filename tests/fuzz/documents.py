"""Documents carried inside string members (IAM policies, CloudFormation templates, SNS JSON messages and
attributes, template URLs), plausible or hostile: parsers of their own sit behind these members.

Deliberately absent: any template with an ``AWS::SageMaker::NotebookInstance`` and the bundled template
names (fastai.yaml makes one), so the fuzzer never starts a real sandbox through CloudFormation.
"""

from __future__ import annotations

import json
import random

ACCOUNT = "123456789012"
REGION = "us-east-1"

# Resource types whose creation costs nothing but a row (and a random one, which the engine refuses).
_CHEAP_TYPES = ("AWS::SNS::Topic", "AWS::IAM::Role", "AWS::Logs::LogGroup",
                "AWS::CloudFormation::WaitConditionHandle", "AWS::Fuzz::Nothing", "Custom::Fuzz")


def deep_json(depth: int, rng: random.Random) -> str:
    """JSON nested ``depth`` levels, as text (json.dumps itself would recurse that deep)."""
    if rng.random() < 0.5:
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def huge_number(rng: random.Random) -> str:
    return rng.choice(["9" * 5000, "-" + "1" * 4301, "1e400", "-1e400", "1" + "0" * 400 + ".5",
                       "0." + "0" * 2000 + "1"])


def hostile_json(rng: random.Random) -> str:
    """Text that JSON parsers choke on in one way or another."""
    return rng.choice([
        deep_json(rng.choice([60, 101, 999, 5000]), rng),
        '{"a": ' + huge_number(rng) + "}",
        '{"a": NaN}', "[Infinity]", "{", '{"a":1}}', "", "null", '"\\ud800"', '{"a": "\\u0000"}',
        '{"a": 1, "a": 2}', "\ufeff{}", "[" * 20 + "]" * 19,
    ])


def policy(rng: random.Random) -> str:
    statement = {
        "Effect": rng.choice(["Allow", "Deny", "allow", "Maybe", 1]),
        "Action": rng.choice(["sts:AssumeRole", "s3:*", "*", ["iam:Get*", "sns:Publish"], "a a:List", 7]),
        "Resource": rng.choice(["*", f"arn:aws:sns:{REGION}:{ACCOUNT}:fuzz-a", "not-an-arn", ["*", None]]),
    }
    if rng.random() < 0.4:
        statement["Principal"] = rng.choice([{"Service": "sagemaker.amazonaws.com"}, "*",
                                             {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, {"AWS": []}])
        statement.pop("Resource")
    if rng.random() < 0.3:
        statement["Condition"] = rng.choice([
            {"StringEquals": {"aws:username": "fuzz-a"}}, {"Bogus": {"k": "v"}}, {"StringLike": {"k": ["a*", 1]}},
            {"NumericLessThan": {"k": "9" * 400}}, {"DateGreaterThan": {"aws:CurrentTime": "not a date"}},
        ])
    document: dict = {"Version": rng.choice(["2012-10-17", "2008-10-17", "2020-01-01"]), "Statement": [statement]}
    if rng.random() < 0.2:
        document["Statement"] = statement
    choice = rng.random()
    if choice < 0.6:
        return json.dumps(document)
    if choice < 0.8:
        return hostile_json(rng)
    # A plausible document with a hostile part inside it.
    deep = deep_json(rng.choice([50, 500, 3000]), rng)
    return json.dumps(document).replace('"Effect"', f'"Deep": {deep}, "Effect"', 1)


def template(rng: random.Random) -> str:
    """A TemplateBody: a small plausible template (JSON or YAML) or a hostile one."""
    choice = rng.random()
    if choice < 0.45:
        return _plausible_template(rng)
    if choice < 0.6:
        return hostile_json(rng)
    depth = rng.choice([50, 99, 101, 400, 3000])
    return rng.choice([
        "Resources: " + "[" * depth + "]" * depth,
        "Resources:\n" + "".join(" " * i + "- \n" for i in range(1, min(depth, 800))),
        "Resources: {a: " * depth + "1" + "}" * depth,
        "Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Metadata: " + "9" * 5000,
        "a: &x [1]\nb: *x\n", "Resources: !Ref\n", "Resources: !Bogus x\n", "Resources: !Sub [1, 2, 3]\n",
        "- just\n- a list\n", "Resources: 2010-09-09\n", "\t\x00\x01", "%YAML 1.1\n---\n!!python/object:os.system x\n",
        "Resources: !GetAtt " + "." * 1000, "Resources:\n  A: {Type: AWS::SNS::Topic, Properties: !Join [',', " +
        "[!Ref A]]}\n",
    ])


def _plausible_template(rng: random.Random) -> str:
    value = rng.choice([
        "x", "", 1, -1, 2**63, 1.5, True, None, [], {}, {"Ref": "AWS::Region"}, {"Ref": "Nope"},
        {"Fn::Sub": "${AWS::StackName}-${Nope}"}, {"Fn::GetAtt": ["Topic", "TopicName"]}, {"Fn::GetAtt": "x"},
        {"Fn::Join": [",", [1, {"Ref": "P"}]]}, {"Fn::Select": [99, [1]]}, {"Fn::Select": ["-1", []]},
        {"Fn::Split": [",", {"Ref": "P"}]}, {"Fn::If": ["Nope", 1, 2]}, {"Fn::FindInMap": ["M", "a", "b"]},
        {"Fn::Base64": {"Ref": "P"}}, {"Fn::Cidr": ["10.0.0.0/8", 999, 2]}, {"Fn::ImportValue": "nope"},
        {"Fn::GetAZs": ""}, {"Fn::Length": [1, 2]}, {"Fn::ToJsonString": {"a": [1]}}, {"Fn::Equals": [1]},
        {"Fn::Transform": {}}, {"Ref": ["a"]}, {"Fn::Sub": ["${a}", {"a": {"Ref": "P"}}]}, {"Fn::Sub": "${"},
    ])
    parameter = {"Type": rng.choice(["String", "Number", "CommaDelimitedList", "List<Number>", "Bogus",
                                     "AWS::SSM::Parameter::Value<String>"])}
    if rng.random() < 0.5:
        parameter["Default"] = rng.choice(["1", "abc", "9" * 400, "", "1,2"])
    if rng.random() < 0.3:
        parameter.update(rng.choice([{"MinLength": 5}, {"MaxValue": "x"}, {"AllowedValues": []},
                                     {"AllowedPattern": "[a-z]+"}, {"AllowedPattern": "("}, {"MinValue": 10**30}]))
    resource = {"Type": rng.choice(_CHEAP_TYPES), "Properties": {"TopicName": value, "DisplayName": value}}
    if rng.random() < 0.3:
        resource[rng.choice(["DependsOn", "Condition", "DeletionPolicy", "Metadata", "CreationPolicy"])] = value
    document = {
        "AWSTemplateFormatVersion": rng.choice(["2010-09-09", "1999-01-01"]),
        "Parameters": {"P": parameter},
        "Conditions": {"C": rng.choice([{"Fn::Equals": [{"Ref": "P"}, "1"]}, {"Fn::Not": ["x"]}, "x"])},
        "Mappings": {"M": {"a": {"b": value}}},
        "Resources": {"Topic": resource},
        "Outputs": {"O": {"Value": value, "Export": rng.choice([{"Name": "fuzz-export"}, {"Name": value}, {}])}},
    }
    for section in list(document):
        if rng.random() < 0.15:
            del document[section]
    if rng.random() < 0.5:
        return json.dumps(document)
    return _yaml(document)


def _yaml(value, indent: int = 0) -> str:
    """Block YAML with JSON scalars (JSON is YAML's flow form), without PyYAML on the client side."""
    pad = "  " * indent
    if isinstance(value, dict) and value:
        return "".join(f"{pad}{json.dumps(str(key))}:\n{_yaml(item, indent + 1)}" for key, item in value.items())
    return f"{pad}{json.dumps(value)}\n"


def template_url(rng: random.Random) -> str:
    return rng.choice([
        "selfmaker://" + "a" * rng.choice([255, 300, 5000]), "selfmaker://nope.yaml", "selfmaker://../../etc/passwd",
        "selfmaker://a%00b.yaml", "selfmaker://", "selfmaker:///", "selfmaker://.", "nope", "nope.json",
        "file:///dev/zero", "file:///etc/passwd", "file:///nonexistent/t.yaml", "file:///tmp/%00",
        "file://" + "/a" * 3000, "http://127.0.0.1:1/t.yaml", "http://169.254.169.254/",
        "https://[::1]/t.yaml", "http://0.0.0.0/", "ftp://127.0.0.1/t", "http://", "https://@/", "://", "",
        "http://127.0.0.1:99999/", "http://[::ffff:127.0.0.1]/",
    ])


def sns_message(rng: random.Random) -> str:
    return rng.choice([
        json.dumps({"default": "hello", "email": "hi"}), json.dumps({"email": "no default"}),
        json.dumps({"default": 1}), hostile_json(rng), "plain text", "",
    ])


def sns_attribute(name: str, rng: random.Random) -> str:
    if name in ("Policy", "DeliveryPolicy", "FilterPolicy", "RedrivePolicy", "EffectiveDeliveryPolicy"):
        return rng.choice([policy(rng), hostile_json(rng), json.dumps({"a": ["b"]}), "{}"])
    return rng.choice(["true", "false", "fuzz", "", "1", "9" * 5000, "\x00", "é" * 300])


SNS_ATTRIBUTES = ("DisplayName", "Policy", "DeliveryPolicy", "FilterPolicy", "FilterPolicyScope",
                  "RawMessageDelivery", "RedrivePolicy", "KmsMasterKeyId", "FifoTopic", "SignatureVersion",
                  "TracingConfig", "ContentBasedDeduplication", "Bogus")


def endpoint(rng: random.Random) -> str:
    # Mail goes to the outbox in tests (no SMTP); HTTP endpoints only at addresses the server refuses.
    return rng.choice(["fuzz@example.com", "not-an-address", "http://127.0.0.1:9/x", "https://10.0.0.1/",
                       "http://169.254.169.254/latest", "", "a" * 3000, f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"])


def filter_pattern(rng: random.Random) -> str:
    return rng.choice(["", "ERROR", '"quoted words"', "{ $.a = 1 }", "{ $.a.b[0] = * }", "[ip, user, ...]",
                       "{ ($.a > 5) && ($.b = \"x\") }", "{", "[", "?ERROR ?WARN", "-x", "{ $.a = " + "9" * 5000 + " }",
                       "{ " + "(" * 500 + "$.a = 1" + ")" * 500 + " }"])
