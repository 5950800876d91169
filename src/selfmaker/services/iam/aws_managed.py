"""The AWS managed policies templates and guides cite, at their real ARNs, meaning what they mean there.

Their documents are written for the services Selfmaker serves; they are fixed (version v1) and can be
attached but not changed or deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

AWS_ACCOUNT = "aws"
VERSION = "v1"
CREATED = 1_420_070_400.0  # 2015-01-01, a fixed date for every one of them

_SERVICES = ("sagemaker", "logs", "sns", "iam", "sts", "cloudformation", "s3")


def _allow(actions: list[str], resource: str = "*") -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    path: str
    description: str
    statements: tuple[dict, ...]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{AWS_ACCOUNT}:policy{self.path}{self.name}"

    @property
    def policy_id(self) -> str:
        # Stable across servers, like AWS's own ids for these policies.
        digest = hashlib.sha256(self.name.encode()).digest()
        return "ANPA" + base64.b32encode(digest).decode()[:17]

    @property
    def document(self) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(self.statements)}, indent=4)


_POLICIES = [
    ManagedPolicy("AdministratorAccess", "/", "Provides full access to AWS services and resources.",
                  (_allow(["*"]),)),
    ManagedPolicy(
        "PowerUserAccess", "/",
        "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        ({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
         _allow(["iam:GetRole", "iam:ListRoles", "iam:PassRole", "iam:CreateServiceLinkedRole"])),
    ),
    ManagedPolicy(
        "ReadOnlyAccess", "/", "Provides read-only access to AWS services and resources.",
        (_allow([f"{service}:{verb}*" for service in _SERVICES for verb in ("Describe", "List", "Get")]
                + ["logs:FilterLogEvents", "logs:StartQuery", "logs:StopQuery", "logs:TestMetricFilter",
                   "cloudformation:ValidateTemplate", "cloudformation:EstimateTemplateCost",
                   "sagemaker:Search", "sagemaker:BatchDescribe*"]),),
    ),
    ManagedPolicy(
        "AmazonSageMakerFullAccess", "/",
        "Provides full access to Amazon SageMaker via the AWS Management Console and SDK.",
        (
            _allow(["sagemaker:*", "logs:*", "sns:*", "cloudformation:Describe*", "cloudformation:List*",
                    "cloudformation:Get*", "iam:GetRole", "iam:ListRoles", "iam:PassRole"]),
            _allow(["s3:*"], "arn:aws:s3:::*sagemaker*"),
        ),
    ),
    ManagedPolicy(
        "AmazonSageMakerReadOnly", "/", "Provides read only access to Amazon SageMaker via the AWS Management "
        "Console and SDK.",
        (_allow(["sagemaker:Describe*", "sagemaker:List*", "sagemaker:Get*", "sagemaker:BatchDescribe*",
                 "sagemaker:Search"]),),
    ),
    ManagedPolicy("AmazonSNSFullAccess", "/", "Provides full access to Amazon SNS via the AWS Management Console.",
                  (_allow(["sns:*"]),)),
    ManagedPolicy("CloudWatchLogsFullAccess", "/", "Provides full access to CloudWatch Logs",
                  (_allow(["logs:*"]),)),
    ManagedPolicy("IAMFullAccess", "/", "Provides full access to IAM via the AWS Management Console.",
                  (_allow(["iam:*"]),)),
    ManagedPolicy("AmazonS3FullAccess", "/", "Provides full access to all buckets via the AWS Management Console.",
                  (_allow(["s3:*", "s3-object-lambda:*"]),)),
    ManagedPolicy(
        "AWSLambdaBasicExecutionRole", "/service-role/", "Provides write permissions to CloudWatch Logs.",
        (_allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]),),
    ),
]

BY_ARN: dict[str, ManagedPolicy] = {policy.arn: policy for policy in _POLICIES}
