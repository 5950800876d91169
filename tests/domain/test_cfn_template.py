"""The template language: parsing (short tags, line numbers), parameters (Java AllowedPattern), conditions,
every intrinsic function, dependency order and cycles."""

from __future__ import annotations

import base64
import textwrap

import pytest

from selfmaker.domain.cfn import graph
from selfmaker.domain.cfn.errors import TemplateError
from selfmaker.domain.cfn.intrinsics import NO_VALUE, Evaluator
from selfmaker.domain.cfn.java_regex import JavaRegexError, compile_java, full_match
from selfmaker.domain.cfn.loader import load
from selfmaker.domain.cfn.parameters import declare, resolve
from selfmaker.domain.cfn.plan import make_plan, pseudo_parameters
from selfmaker.domain.cfn.template import Template

TYPES = {
    "AWS::Logs::LogGroup": frozenset({"Arn"}),
    "AWS::SNS::Topic": frozenset({"TopicArn", "TopicName"}),
    "AWS::IAM::Role": frozenset({"Arn", "RoleId"}),
    "AWS::CloudFormation::WaitConditionHandle": frozenset(),
}
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/1234"


def template(text: str) -> Template:
    parsed = Template(textwrap.dedent(text))
    parsed.check(TYPES)
    return parsed


def plan_of(text: str, **values):
    parsed = template(text)
    given = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    pseudo = pseudo_parameters("123456789012", "us-east-1", STACK_ID, "demo", ["arn:aws:sns:us-east-1:1:t"])
    return make_plan(parsed, resolve(parsed.parameters, given), pseudo)


def evaluator(**parameters) -> Evaluator:
    return Evaluator(
        parameters=parameters,
        pseudo=pseudo_parameters("123456789012", "us-east-1", STACK_ID, "demo", []),
        mappings={"Sizes": {"small": {"Gb": "5"}, "large": {"Gb": "50"}}},
        conditions={"IsProd": True, "IsDev": False},
        resource_ref=lambda name: f"ref-of-{name}" if name == "Topic" else None,
        resource_att=lambda name, attribute: f"{name}.{attribute}" if name == "Topic" else None,
        import_value=lambda name: f"imported-{name}",
    )


# --- parsing ----------------------------------------------------------------------------------------


def test_short_form_tags_become_the_long_form():
    parsed = template("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Properties:
              DisplayName: !Sub "${AWS::StackName}-topic"
              TopicName: !Join ["-", [!Ref AWS::Region, !Select [0, !GetAZs ""]]]
          Group:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: !GetAtt Topic.TopicName
              KmsKeyId: !If [Never, !Base64 x, !Ref AWS::NoValue]
        Conditions:
          Never: !Equals [a, b]
        """)
    topic = parsed.resources["Topic"].properties
    assert topic["DisplayName"] == {"Fn::Sub": "${AWS::StackName}-topic"}
    assert topic["TopicName"] == {"Fn::Join": ["-", [{"Ref": "AWS::Region"}, {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]}
    group = parsed.resources["Group"].properties
    assert group["LogGroupName"] == {"Fn::GetAtt": ["Topic", "TopicName"]}
    assert group["KmsKeyId"] == {"Fn::If": ["Never", {"Fn::Base64": "x"}, {"Ref": "AWS::NoValue"}]}


def test_json_templates_and_unquoted_dates_are_read_as_aws_reads_them():
    parsed = Template('{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"H": '
                      '{"Type": "AWS::CloudFormation::WaitConditionHandle"}}}')
    assert list(parsed.resources) == ["H"]
    # YAML would read 2010-09-09 as a date; CloudFormation reads text
    assert Template("AWSTemplateFormatVersion: 2010-09-09\nResources:\n  H:\n"
                    "    Type: AWS::CloudFormation::WaitConditionHandle\n").document["AWSTemplateFormatVersion"] \
        == "2010-09-09"


@pytest.mark.parametrize("body, message", [
    ("Resources: [1\n", "Template format error: YAML not well-formed: expected ',' or ']'"),
    ('{"Resources": {,}}', "Template format error: JSON not well-formed. (line 1, column 16)"),
    ("just text", "Template format error: unsupported structure."),
    ("Resources:\n  A: &x {Type: AWS::SNS::Topic}\n  B: *x\n", "aliases (*name) are not supported"),
    ("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: !Nope x\n",
     "unknown tag !Nope (line 5, column 20)"),
    ("Resources:\n  A:\n    Type: AWS::SNS::Topic\n  A:\n    Type: AWS::SNS::Topic\n", "duplicate key 'A' (line 4"),
    ("Description: hi\n", "At least one Resources member must be defined."),
    ("Resources:\n  my-topic:\n    Type: AWS::SNS::Topic\n", "Resource name my-topic is non alphanumeric."),
    ("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Propertes: {}\n",
     "[/Resources/A/Propertes] Invalid template resource property 'Propertes' (line 4)"),
    ("Resources:\n  A:\n    Properties: {}\n",
     "[/Resources/A] Every Resources object must contain a Type member. (line 2)"),
    ("Foo: 1\nResources:\n  A:\n    Type: AWS::SNS::Topic\n", "Invalid template property or properties [Foo]"),
    # Found by the API fuzzer (seed 2973544267): a mapping here was a 500.
    ("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    DeletionPolicy: {Fn::Equals: [1]}\n",
     "[/Resources/A/DeletionPolicy] Every DeletionPolicy member must be a string"),
])
def test_malformed_templates_are_refused_naming_the_place(body, message):
    with pytest.raises(TemplateError) as caught:
        Template(body)
    assert message in str(caught.value)


@pytest.mark.parametrize("body, message", [
    ("""\
        Resources:
          A:
            Type: AWS::Foo::Bar
          B:
            Type: AWS::SNS::Topic
          C:
            Type: Custom::Thing
        """, "Template format error: Unrecognized resource types: [AWS::Foo::Bar, Custom::Thing]"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Properties:
              DisplayName: !Ref Missing
        """, "Template format error: [/Resources/Topic/Properties/DisplayName/Ref] Unresolved resource "
             "dependencies [Missing] in the Resources block of the template (line 5)"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Properties:
              DisplayName: !GetAtt Topic2.Arn
        """, "Template error: [/Resources/Topic/Properties/DisplayName/Fn::GetAtt] instance of Fn::GetAtt "
             "references undefined resource Topic2 (line 5)"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
          Group:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: !GetAtt Topic.Nope
        """, "resource Topic does not support attribute type Nope in Fn::GetAtt (line 7)"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            DependsOn: Ghost
        """, "Unresolved resource dependencies [Ghost] in the Resources block of the template (line 4)"),
    ("""\
        Conditions:
          Odd: !Equals [!Ref Topic, x]
        Resources:
          Topic:
            Type: AWS::SNS::Topic
        """, "Unresolved dependencies [Topic]. Cannot reference resources in the Conditions block"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Condition: Nowhere
        """, "Unresolved condition dependencies [Nowhere] in the Resources block of the template (line 4)"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
        Outputs:
          Out:
            Description: no value
        """, "[/Outputs/Out] Every Outputs member must contain a Value object (line 5)"),
    ("""\
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Properties:
              DisplayName: !Sub "${Nope}"
        """, "Unresolved resource dependencies [Nope]"),
])
def test_template_checks_name_the_place(body, message):
    with pytest.raises(TemplateError) as caught:
        template(body)
    assert message in str(caught.value)


# --- dependencies -----------------------------------------------------------------------------------


def test_dependencies_come_from_refs_getatts_subs_and_depends_on():
    parsed = template("""\
        Resources:
          A:
            Type: AWS::SNS::Topic
          B:
            Type: AWS::SNS::Topic
            Properties:
              DisplayName: !Sub "${A.TopicName}-${AWS::Region}-${!NotAVariable}"
          C:
            Type: AWS::Logs::LogGroup
            DependsOn: [B]
            Properties:
              LogGroupName: !Join ["", [!Ref A, !GetAtt B.TopicArn]]
          D:
            Type: AWS::SNS::Topic
        """)
    deps = parsed.dependencies()
    assert deps == {"A": set(), "B": {"A"}, "C": {"A", "B"}, "D": set()}
    assert graph.order(deps) == ["A", "D", "B", "C"]
    assert graph.dependents(deps) == {"A": {"B", "C"}, "B": {"C"}, "C": set(), "D": set()}


def test_a_cycle_is_a_template_error_naming_its_members():
    with pytest.raises(TemplateError) as caught:
        template("""\
            Resources:
              A:
                Type: AWS::SNS::Topic
                Properties:
                  DisplayName: !GetAtt C.TopicName
              B:
                Type: AWS::SNS::Topic
                DependsOn: A
              C:
                Type: AWS::SNS::Topic
                Properties:
                  DisplayName: !Ref B
              Lonely:
                Type: AWS::SNS::Topic
                DependsOn: Lonely
            """)
    assert str(caught.value) == "Template format error: Circular dependency between resources: [A, B, C]"
    assert graph.cycles({"X": {"X"}}) == [["X"]]


def test_fn_if_prunes_dependencies_on_resources_left_out_by_conditions():
    plan = plan_of("""\
        Parameters:
          WithTopic:
            Type: String
            AllowedValues: ["yes", "no"]
        Conditions:
          MakeTopic: !Equals [!Ref WithTopic, "yes"]
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Condition: MakeTopic
          Group:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: !If [MakeTopic, !GetAtt Topic.TopicName, plain]
        Outputs:
          TopicArn:
            Condition: MakeTopic
            Value: !Ref Topic
        """, WithTopic="no")
    assert plan.conditions == {"MakeTopic": False}
    assert list(plan.resources) == ["Group"]
    assert plan.dependencies == {"Group": set()}
    assert plan.outputs == {}


def test_fn_if_keeps_the_dependency_on_the_branch_it_takes():
    plan = plan_of("""\
        Parameters:
          WithTopic:
            Type: String
        Conditions:
          MakeTopic: !Equals [!Ref WithTopic, "yes"]
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Condition: MakeTopic
          Group:
            Type: AWS::Logs::LogGroup
            Properties:
              LogGroupName: !If [MakeTopic, !GetAtt Topic.TopicName, plain]
        """, WithTopic="yes")
    assert plan.dependencies == {"Topic": set(), "Group": {"Topic"}}


def test_a_resource_needing_one_that_its_condition_leaves_out_is_refused():
    with pytest.raises(TemplateError) as caught:
        plan_of("""\
            Conditions:
              Never: !Equals [a, b]
            Resources:
              Topic:
                Type: AWS::SNS::Topic
                Condition: Never
              Group:
                Type: AWS::Logs::LogGroup
                Properties:
                  LogGroupName: !Ref Topic
            """)
    assert "Unresolved resource dependencies [Topic] in the Resources block of the template" in str(caught.value)


# --- parameters -------------------------------------------------------------------------------------

PARAMETERS = textwrap.dedent("""\
    Parameters:
      Name:
        Type: String
        AllowedPattern: "[\\\\w&&[^_]]+"
        MinLength: 2
        MaxLength: 8
      Env:
        Type: String
        Default: dev
        AllowedValues: [dev, prod]
      Size:
        Type: Number
        Default: 5
        MinValue: 5
        MaxValue: 100
      Zones:
        Type: CommaDelimitedList
        Default: "a,b"
      Ports:
        Type: List<Number>
        Default: "80,443"
      Vpc:
        Type: AWS::EC2::VPC::Id
        Default: vpc-123
      Secret:
        Type: String
        NoEcho: true
        Default: hunter2
      Code:
        Type: String
        Default: AB
        AllowedPattern: "[A-Z]+"
        ConstraintDescription: must be capital letters
    Resources:
      Topic:
        Type: AWS::SNS::Topic
    """)


def _resolve(**values):
    parsed = Template(PARAMETERS)
    return resolve(parsed.parameters, [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])


def test_parameters_get_defaults_and_ref_gives_lists_for_list_types():
    values = _resolve(Name="abc1")
    assert values == {"Name": "abc1", "Env": "dev", "Size": "5", "Zones": "a,b", "Ports": "80,443",
                      "Vpc": "vpc-123", "Secret": "hunter2", "Code": "AB"}
    declared = Template(PARAMETERS).parameters
    assert declared["Zones"].ref_value("a,b") == ["a", "b"]
    assert declared["Ports"].ref_value("80,443") == ["80", "443"]
    assert declared["Secret"].no_echo


@pytest.mark.parametrize("values, message", [
    ({}, "Parameters: [Name] must have values"),
    ({"Name": "abc", "Nope": "x"}, "Parameters: [Nope] do not exist in the template"),
    ({"Name": "a_b"}, "Parameter 'Name' must match pattern [\\w&&[^_]]+"),
    ({"Name": "a"}, "Parameter 'Name' must contain at least 2 characters"),
    ({"Name": "abcdefghi"}, "Parameter 'Name' must contain at most 8 characters"),
    ({"Name": "abc", "Env": "qa"}, "Parameter 'Env' must be one of AllowedValues"),
    ({"Name": "abc", "Size": "big"}, "Parameter 'Size' must be a number."),
    ({"Name": "abc", "Size": "4"}, "Parameter 'Size' must be a number not less than 5"),
    ({"Name": "abc", "Size": "101"}, "Parameter 'Size' must be a number not greater than 100"),
    ({"Name": "abc", "Ports": "80,http"}, "Parameter 'Ports' must be a number."),
    ({"Name": "abc", "Code": "ab"}, "Parameter 'Code' failed to satisfy constraint: must be capital letters"),
])
def test_parameter_values_are_checked_with_aws_messages(values, message):
    with pytest.raises(ValueError) as caught:
        _resolve(**values)
    assert str(caught.value) == message


def test_update_may_keep_previous_values():
    parsed = Template(PARAMETERS)
    values = resolve(parsed.parameters, [{"ParameterKey": "Name", "UsePreviousValue": True}],
                     previous={"Name": "kept"})
    assert values["Name"] == "kept"


@pytest.mark.parametrize("body, message", [
    ("Parameters:\n  P:\n    Default: x\n", "Every Parameters object must contain a Type member."),
    ("Parameters:\n  P:\n    Type: Strin\n", "Unrecognized parameter type: Strin"),
    ("Parameters:\n  P:\n    Type: String\n    Allowed: [a]\n", "Invalid template parameter property 'Allowed'"),
    ("Parameters:\n  my-p:\n    Type: String\n", "Parameter name my-p is non alphanumeric."),
    ("Parameters:\n  P:\n    Type: String\n    AllowedPattern: '[a-'\n", "AllowedPattern of parameter P is not a "
                                                                          "valid pattern"),
])
def test_malformed_parameter_declarations(body, message):
    with pytest.raises(TemplateError) as caught:
        declare(load(body)["Parameters"])
    assert message in str(caught.value)


# --- Java regular expressions ------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, matching, not_matching", [
    (r"[\w&&[^_]]+", ["abc1", "ABC"], ["a_b", "", "a-b"]),
    (r"[a-z&&[^aeiou]]+", ["bcd"], ["bad"]),
    (r"[a-c[x-z]]+", ["axz"], ["d"]),
    (r"[a-z&&[def]&&[^e]]", ["d", "f"], ["e", "a"]),
    (r"[^a[b]]", ["c", "\n"], ["a", "b"]),
    (r"\p{Alpha}\p{Digit}\p{Punct}", ["a1!"], ["11!"]),
    (r"\QA.B\E", ["A.B"], ["AxB"]),
    (r"a(?i)bc", ["abc", "aBC"], ["ABC"]),
    (r"(?<y>\d{2})-\k<y>", ["12-12"], ["12-13"]),
    (r"\w+", ["abc_1"], ["é"]),  # Java's \w is ASCII
    (r".", ["a"], ["\n", "\r", "\u2028"]),
    (r"x{2,3}+", ["xx", "xxx"], ["x"]),
    (r"[\d\D]", ["a", "1"], [""]),
    (r"\0101\x42\u0043", ["ABC"], ["abc"]),
    (r"[a-zA-Z][-a-zA-Z0-9]*", ["stack-1"], ["1stack"]),
    (r"|[^\s@]+@[^\s@]+", ["", "a@b"], ["a b@c"]),
])
def test_java_patterns_mean_in_python_what_they_mean_in_java(pattern, matching, not_matching):
    for value in matching:
        assert full_match(pattern, value), (pattern, value)
    for value in not_matching:
        assert not full_match(pattern, value), (pattern, value)


def test_untranslatable_java_patterns_are_refused():
    with pytest.raises(JavaRegexError):
        compile_java(r"\p{InGreek}")
    with pytest.raises(JavaRegexError):
        compile_java(r"[a-")


# --- intrinsic functions ----------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ({"Ref": "AWS::AccountId"}, "123456789012"),
    ({"Ref": "AWS::Region"}, "us-east-1"),
    ({"Ref": "AWS::StackId"}, STACK_ID),
    ({"Ref": "AWS::StackName"}, "demo"),
    ({"Ref": "AWS::Partition"}, "aws"),
    ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
    ({"Ref": "AWS::NotificationARNs"}, []),
    ({"Ref": "Env"}, "prod"),
    ({"Ref": "Topic"}, "ref-of-Topic"),
    ({"Fn::GetAtt": ["Topic", "TopicName"]}, "Topic.TopicName"),
    ({"Fn::GetAtt": ["Topic", {"Ref": "Attribute"}]}, "Topic.TopicArn"),
    ({"Fn::Sub": "${AWS::StackName}-${Env}-${Topic}-${Topic.TopicArn}-${!Literal}"},
     "demo-prod-ref-of-Topic-Topic.TopicArn-${Literal}"),
    ({"Fn::Sub": ["${Greeting}, ${Env}", {"Greeting": {"Fn::Join": ["", ["hel", "lo"]]}}]}, "hello, prod"),
    ({"Fn::Join": [",", {"Ref": "Zones"}]}, "a,b"),
    ({"Fn::Join": ["", ["n", 1, True]]}, "n1true"),
    ({"Fn::Select": ["1", {"Ref": "Zones"}]}, "b"),
    ({"Fn::Select": [0, {"Fn::GetAZs": ""}]}, "us-east-1a"),
    ({"Fn::Split": ["|", "a|b|c"]}, ["a", "b", "c"]),
    ({"Fn::Base64": "hi"}, base64.b64encode(b"hi").decode()),
    ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
    ({"Fn::If": ["IsDev", "big", "small"]}, "small"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Tier"}, "Gb"]}, "50"),
    ({"Fn::GetAZs": "eu-west-1"}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ({"Fn::ImportValue": {"Fn::Sub": "${Env}-vpc"}}, "imported-prod-vpc"),
    ({"Fn::Cidr": ["10.0.0.0/16", 3, 8]}, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
    ({"Fn::Equals": [{"Ref": "Env"}, "prod"]}, True),
    ({"Fn::And": [{"Fn::Equals": ["a", "a"]}, {"Condition": "IsProd"}]}, True),
    ({"Fn::Or": [{"Condition": "IsDev"}, {"Fn::Not": [{"Condition": "IsProd"}]}]}, False),
    ({"Fn::Not": [{"Fn::Equals": [1, "1"]}]}, False),
    ({"Ref": "AWS::NoValue"}, NO_VALUE),
    ({"Key": {"Ref": "AWS::NoValue"}, "List": ["a", {"Fn::If": ["IsDev", "b", {"Ref": "AWS::NoValue"}]}]},
     {"List": ["a"]}),
])
def test_every_intrinsic_function(value, expected):
    ev = evaluator(Env="prod", Zones=["a", "b"], Attribute="TopicArn", Tier="large")
    assert ev.evaluate(value) == expected


@pytest.mark.parametrize("value, message", [
    ({"Fn::Select": [5, ["a"]]}, "Fn::Select cannot select nonexistent value at index 5"),
    ({"Fn::FindInMap": ["Sizes", "medium", "Gb"]}, "Unable to get mapping for Sizes::medium::Gb"),
    ({"Fn::Sub": "${Bad Name}"}, "variable names in Fn::Sub syntax must contain only alphanumeric"),
    ({"Fn::Sub": "${Zones}"}, "variable Zones in Fn::Sub expression does not resolve to a string"),
    ({"Fn::Join": [",", [["nested"]]]}, "every Fn::Join object requires two parameters"),
    ({"Fn::GetAtt": ["Ghost", "Arn"]}, "instance of Fn::GetAtt references undefined resource Ghost"),
    ({"Fn::If": ["Unknown", 1, 2]}, "Unresolved condition dependency Unknown in Fn::If"),
    ({"Fn::Length": [1, 2]}, "Fn::Length needs the AWS::LanguageExtensions transform"),
])
def test_intrinsic_errors_say_what_is_wrong(value, message):
    with pytest.raises(TemplateError) as caught:
        evaluator(Zones=["a", "b"]).evaluate({"Prop": value}, ("Resources", "X", "Properties"))
    assert message in str(caught.value)
    assert "[/Resources/X/Properties/Prop" in str(caught.value)


def test_conditions_may_name_each_other_but_not_in_a_loop():
    plan = plan_of("""\
        Parameters:
          Env:
            Type: String
            Default: prod
        Conditions:
          IsProd: !Equals [!Ref Env, prod]
          IsUsEast: !Equals [!Ref "AWS::Region", us-east-1]
          Both: !And [!Condition IsProd, !Condition IsUsEast]
          Neither: !Not [!Or [!Condition IsProd, !Condition IsUsEast]]
        Resources:
          Topic:
            Type: AWS::SNS::Topic
            Condition: Both
        """)
    assert plan.conditions == {"IsProd": True, "IsUsEast": True, "Both": True, "Neither": False}
    with pytest.raises(TemplateError) as caught:
        plan_of("""\
            Conditions:
              A: !Condition B
              B: !Not [!Condition A]
            Resources:
              Topic:
                Type: AWS::SNS::Topic
            """)
    assert "Circular dependency between conditions: [A, B]" in str(caught.value)


def test_capabilities_needed_by_iam_resources():
    unnamed = template("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties: {AssumeRolePolicyDocument: {}}\n")
    assert unnamed.capabilities() == (["CAPABILITY_IAM"],
                                      "The following resource(s) require capabilities: [AWS::IAM::Role]")
    named = template("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties: {RoleName: r}\n")
    assert named.capabilities()[0] == ["CAPABILITY_NAMED_IAM"]
    assert template("Resources:\n  T:\n    Type: AWS::SNS::Topic\n").capabilities() == ([], None)
