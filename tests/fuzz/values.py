"""Request parameters from botocore's input shapes: plausible ones (so that requests reach the providers), and
the same with one thing broken (the fuzz cases).

A value that no client library would send is marked: ``Raw`` is text put on the wire as it is (a JSON fragment
such as ``9999…`` or ``[[[…]]]``, or a Query value), ``DeepKey`` a Query member nested by its key.
"""

from __future__ import annotations

import base64
import random
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.model import Shape

from selfmaker.protocol.validate import model_pattern
from tests.fuzz import documents
from tests.fuzz.regex_strings import matching

ACCOUNT, REGION = documents.ACCOUNT, documents.REGION
NAMES = ("fuzz-a", "fuzz-b", "Fuzz_c1")  # a small pool, so Create, Describe and Delete meet the same things
_MAX_DEPTH = 6  # of generated structures: some shapes are recursive
_UNICODE = ("日本語のテキスト", "🦄" * 40, "\u202eevil", "e\u0301", "\x00", "\r\n", "'\"<>&;", "%00%zz",
            "../../etc/passwd", "${AWS::Region}", "\ufeff", "ǅ", "\U0010ffff", " ", "", "\t\x0b\x1f", "\ud800",
            "한국어 " * 30, "\\u0000")


class Raw(str):
    """Wire text, unquoted: a JSON fragment in a JSON body, a value as it is in a Query form."""


@dataclass(frozen=True)
class DeepKey:
    """A Query member whose key goes on ``depth`` levels (``A.member.1.member.1…``)."""

    depth: int


def _arns(name: str, service: str) -> list[str]:
    a = f"{ACCOUNT}"
    if "Role" in name or name == "ExecutionRoleArn":
        return [f"arn:aws:iam::{a}:role/fuzz-a", f"arn:aws:iam::{a}:role/service-role/fuzz-b"]
    if "Policy" in name:
        return [f"arn:aws:iam::{a}:policy/fuzz-a", "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::aws:policy/AdministratorAccess"]
    if "Topic" in name or name in ("TargetArn", "NotificationARNs"):
        return [f"arn:aws:sns:{REGION}:{a}:fuzz-a", f"arn:aws:sns:{REGION}:{a}:Fuzz_c1"]
    if "Subscription" in name:
        return [f"arn:aws:sns:{REGION}:{a}:fuzz-a:0b3c5e2e-0000-4000-8000-000000000000"]
    by_service = {
        "sagemaker": [f"arn:aws:sagemaker:{REGION}:{a}:notebook-instance/fuzz-a",
                      f"arn:aws:sagemaker:{REGION}:{a}:notebook-instance-lifecycle-config/fuzz-b"],
        "logs": [f"arn:aws:logs:{REGION}:{a}:log-group:fuzz-a", f"arn:aws:logs:{REGION}:{a}:log-group:fuzz-b:*"],
        "sns": [f"arn:aws:sns:{REGION}:{a}:fuzz-a"],
        "cloudformation": [f"arn:aws:cloudformation:{REGION}:{a}:stack/fuzz-a/00000000-0000-0000-0000-000000000000"],
        "iam": [f"arn:aws:iam::{a}:user/fuzz-a", f"arn:aws:iam::{a}:role/fuzz-b"],
        "sts": [f"arn:aws:iam::{a}:role/fuzz-a"],
    }
    return by_service.get(service, [])


def fits(shape: Shape, value: str) -> bool:
    meta = shape.metadata
    if not meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 30):
        return False
    if "enum" in meta and value not in meta["enum"]:
        return False
    pattern = meta.get("pattern")
    compiled = model_pattern(pattern) if pattern else None  # as the server checks it
    return compiled is None or compiled.fullmatch(value) is not None


class Values:
    """Plausible values for one service's shapes."""

    def __init__(self, service: str, rng: random.Random):
        self.service = service
        self.rng = rng

    def structure(self, shape: Shape, depth: int = 0, full: bool = False) -> dict:
        """Required members, and each optional one half the time (``full``: every one, at the top)."""
        out = {}
        required = set(shape.required_members)
        for name, member in shape.members.items():
            if name in required or (depth < _MAX_DEPTH and (full or self.rng.random() < 0.5)):
                out[name] = self.value(member, name, depth + 1)
        return out

    def value(self, shape: Shape, name: str, depth: int):
        kind = shape.type_name
        rng = self.rng
        meta = shape.metadata
        if kind == "structure":
            return self.structure(shape, depth)
        if kind == "list":
            low = meta.get("min", 0)
            count = rng.randint(low, min(meta.get("max", low + 3), low + 3)) if depth < _MAX_DEPTH else low
            return [self.value(shape.member, name, depth + 1) for _ in range(count)]
        if kind == "map":
            low = meta.get("min", 0)
            count = rng.randint(low, min(meta.get("max", low + 3), low + 3)) if depth < _MAX_DEPTH else low
            if name == "Attributes" and self.service == "sns":
                keys = rng.sample(documents.SNS_ATTRIBUTES, min(count, len(documents.SNS_ATTRIBUTES)))
                return {key: documents.sns_attribute(key, rng) for key in keys}
            return {self.value(shape.key, "key", depth + 1): self.value(shape.value, name, depth + 1)
                    for _ in range(count)}
        if kind == "string":
            return self.string(shape, name)
        if kind in ("integer", "long"):
            if name.lower() in ("timestamp", "starttime", "endtime"):  # Logs' epoch milliseconds
                return int(time.time() * 1000) - rng.randint(0, 10**7)
            low = meta.get("min", 0)
            return rng.randint(int(low), int(min(meta.get("max", low + 100), low + 100)))
        if kind in ("float", "double"):
            low = meta.get("min", 0)
            return rng.uniform(low, min(meta.get("max", low + 100), low + 100))
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "timestamp":
            return datetime.now(UTC) - timedelta(seconds=rng.randint(-86400, 86400 * 30))
        if kind == "blob":
            return rng.randbytes(rng.randint(1, 64))
        return None

    def string(self, shape: Shape, name: str) -> str:
        rng = self.rng
        special = self._special(name)
        if special is not None:
            return special
        meta = shape.metadata
        if "enum" in meta:
            return rng.choice(meta["enum"])
        if "arn" in name.lower():
            candidates = [arn for arn in _arns(name, self.service) if fits(shape, arn)]
            if candidates and rng.random() < 0.8:
                return rng.choice(candidates)
        if name.endswith("Name") or name in ("StackName", "logGroupName", "logStreamName"):
            candidates = [pool for pool in NAMES if fits(shape, pool)]
            if candidates and rng.random() < 0.7:
                return rng.choice(candidates)
        if "pattern" in meta:
            for _ in range(4):
                text = matching(meta["pattern"], rng)
                if text is not None and fits(shape, text):
                    return text
        low = meta.get("min", 1)
        length = rng.randint(low, max(low, min(meta.get("max", low + 12), low + 12)))
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))

    def _special(self, name: str) -> str | None:
        """Members whose text is a document of its own, or whose value must be of one kind to go anywhere."""
        rng = self.rng
        if name in ("PolicyDocument", "AssumeRolePolicyDocument", "Policy"):
            return documents.policy(rng)
        if name == "TemplateBody":
            return documents.template(rng)
        if name == "TemplateURL":
            return documents.template_url(rng)
        if name == "Message" and self.service == "sns":
            return documents.sns_message(rng)
        if name == "Endpoint" and self.service == "sns":
            return documents.endpoint(rng)
        if name == "filterPattern":
            return documents.filter_pattern(rng)
        if name == "Content" and self.service == "sagemaker":
            scripts = [b"#!/bin/bash\necho fuzz\n", b"\xff\xfe not UTF-8"]
            return rng.choice([base64.b64encode(rng.choice(scripts)).decode(), "not base64!"])
        if name in ("Password", "NewPassword", "OldPassword"):
            return rng.choice(["Fuzz-Passw0rd-1234", "short", "x" * 200, "日本語パスワード123!"])
        return None


def unicode_text(rng: random.Random) -> str:
    picks = rng.sample(_UNICODE, rng.randint(1, 3))
    return "".join(picks)


def wrong_type(shape: Shape, rng: random.Random):
    """A value of another JSON type than ``shape`` takes."""
    return rng.choice({
        "string": [123, True, [], {"a": 1}, 1.5],
        "structure": ["x", [1, 2], 5, True],
        "list": ["x", {"a": 1}, 5, [[]]],
        "map": [[1], "x", 5, {"k": {"nested": 1}}],
        "boolean": ["true", 1, [], "yes"],
        "timestamp": ["yesterday", True, [], {}, "2024-13-45T99:99:99Z"],
        "blob": [5, [], {}, True],
    }.get(shape.type_name, ["abc", 1.5, True, [], {}, "1e3"]))


def oversized(shape: Shape, values: Values, name: str, rng: random.Random):
    meta = shape.metadata
    kind = shape.type_name
    if kind == "string":
        length = meta["max"] + 1 if "max" in meta and meta["max"] < 300_000 else 70_000
        if rng.random() < 0.03:
            length = 1_000_000
        return rng.choice(["a", "é", "🦄"]) * length
    if kind in ("list", "map"):
        count = meta["max"] + 1 if "max" in meta and meta["max"] < 2_000 else 300
        if kind == "list":
            return [values.value(shape.member, name, _MAX_DEPTH) for _ in range(count)]
        return {f"k{index}": values.value(shape.value, name, _MAX_DEPTH) for index in range(count)}
    return None


def huge_number(shape: Shape, rng: random.Random):
    if shape.type_name == "timestamp":
        return rng.choice([10**20, -(10**20), 1e300, Raw("1e400"), Raw("9" * 5000), -62135596801, 253402300800])
    if shape.type_name in ("float", "double"):
        return rng.choice([1e308, -1e308, 5e-324, Raw("1e400"), Raw("9" * 5000), Raw("NaN"), Raw("-Infinity")])
    return rng.choice([2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, Raw("9" * 5000), Raw("-" + "9" * 1200),
                       1.0e10, -1])


def bad_enum(shape: Shape, rng: random.Random) -> str:
    enum = shape.metadata["enum"]
    return rng.choice(["NOT_AN_ENUM", enum[0].lower(), enum[0].upper() + "X", "", " " + enum[0], enum[0] + "\x00"])


def bad_blob(rng: random.Random) -> str:
    """Text that is not base64 (sent raw: boto3 would base64-encode it)."""
    return rng.choice(["@@@@", "abc", "YWJj=", "====", "YW Jj", "日本", "\x00\x01", "YWJj\n", "-_-_"])
