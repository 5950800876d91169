"""IAM policy documents as IAM checks them, with IAM's words for what is wrong.

Pure functions, no I/O; documents come bounded by ``selfmaker.bounded_json``. IAM checks in stages and
answers the first that fails, so a document with several faults gets the message of the earliest stage:
JSON and shape ("Syntax errors in policy."), the version (managed policies need 2012-10-17), IAM's older
parser (case of Effect, date values in conditions, short ARNs: "The policy failed legacy parsing"),
unique Sids, actions present, the form of each resource, vendors of actions, resources present.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from selfmaker import bounded_json

# What a document is for: an inline identity policy (or a session policy), a managed policy, a role's trust.
Kind = Literal["inline", "managed", "trust"]

VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal",
                   "NotPrincipal"}
_EFFECTS = ("Allow", "Deny")
_PRINCIPAL_KINDS = {"AWS", "Service", "Federated", "CanonicalUser"}
_CONDITION_OPERATORS = {
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
    "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals", "DateNotEquals", "DateLessThan",
    "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress",
    "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
}
_PARTITIONS = {"*", "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
_IAM_PATHS = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/", "server-certificate/",
              "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/", "access-report/")
_S3_REGIONAL = ("accesspoint/", "job/", "storage-lens/")  # S3 resources that do name a region
_VENDOR = re.compile(r"[a-zA-Z0-9.\-]+")
_DIGITS = re.compile(r"\d+")
_EPOCH_MAX = 2**63 - 1
_YEARS = (-292275054, 292278993)

SYNTAX = "Syntax errors in policy."
_LEGACY = "The policy failed legacy parsing"


class PolicyError(ValueError):
    """A document IAM would refuse, with IAM's words for why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def size(text: str) -> int:
    """A document's size as IAM's quotas count it: characters other than white space."""
    return sum(1 for char in text if not char.isspace())


def statements(document: dict) -> list:
    """The statements of a document that ``parse`` accepted (one object stands for a list of one)."""
    found = document["Statement"]
    return [found] if isinstance(found, dict) else found


def listed(value) -> list:
    """A string-or-list field as a list."""
    return [value] if isinstance(value, str) else value


def parse(text: str, kind: Kind = "inline") -> dict:
    """The document as JSON, once IAM's grammar for ``kind`` accepts it (else PolicyError)."""
    document = _syntax(text)
    if kind == "managed" and document.get("Version") != "2012-10-17":
        raise PolicyError("Policy document must be version 2012-10-17 or greater.")
    found = statements(document)
    if kind == "trust":
        for statement in found:
            _check_trust(statement)
    elif any("Principal" in s or "NotPrincipal" in s for s in found):
        raise PolicyError("Policy document should not specify a principal.")
    resource_error = _legacy(found, check_resources=kind != "trust")
    _check_unique_sids(found)
    for statement in found:
        if not _present(statement, "Action", "NotAction"):
            raise PolicyError("Policy statement must contain actions.")
    if resource_error is not None:
        raise PolicyError(resource_error)
    for key in ("Action", "NotAction"):
        for statement in found:
            for action in listed(statement.get(key, [])):
                _check_action(action)
    if kind != "trust":
        for statement in found:
            if not _present(statement, "Resource", "NotResource"):
                raise PolicyError("Policy statement must contain resources.")
    return document


# --- syntax ----------------------------------------------------------------------------------------


def _syntax(text: str) -> dict:
    try:
        document = bounded_json.loads(text)  # JSONLimitError (too deep, huge numbers) is a ValueError too
    except (ValueError, TypeError):
        raise PolicyError(SYNTAX) from None
    if (
        not isinstance(document, dict)
        or not set(document) <= _TOP_KEYS
        or ("Version" in document and document["Version"] not in VERSIONS)
        or not isinstance(document.get("Id", ""), str)
        or not isinstance(document.get("Statement"), dict | list)
    ):
        raise PolicyError(SYNTAX)
    found = statements(document)
    if not found or not all(_statement_syntax_ok(statement) for statement in found):
        raise PolicyError(SYNTAX)
    return document


def _strings_ok(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value))


def _scalar(value) -> bool:
    return isinstance(value, str | bool | int | float)


def _statement_syntax_ok(statement) -> bool:
    if not isinstance(statement, dict) or not set(statement) <= _STATEMENT_KEYS:
        return False
    if ("Action" in statement and "NotAction" in statement) or ("Resource" in statement and "NotResource" in statement):
        return False
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        return False
    if not all(_strings_ok(statement[key]) for key in ("Action", "NotAction", "Resource", "NotResource")
               if key in statement):
        return False
    if not isinstance(statement.get("Sid", ""), str):
        return False
    return "Condition" not in statement or _condition_syntax_ok(statement["Condition"])


def _operator(name: str) -> str:
    """A condition operator without its set prefix (ForAnyValue:, ForAllValues:) and IfExists suffix."""
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name.removesuffix("IfExists")


def _condition_syntax_ok(condition) -> bool:
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        if not isinstance(block, dict):
            return False
        for value in block.values():
            if not (_scalar(value) or (isinstance(value, list) and all(_scalar(item) for item in value))):
                return False
        # IAM lets an operator it does not know through only with nothing under it.
        if block and _operator(operator) not in _CONDITION_OPERATORS:
            return False
    return True


# --- trust policies --------------------------------------------------------------------------------


def _check_trust(statement: dict) -> None:
    if "Principal" not in statement:
        raise PolicyError("Missing required field Principal")
    if "Resource" in statement or "NotResource" in statement:
        raise PolicyError("Has prohibited field Resource")
    principal = statement["Principal"]
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal or not set(principal) <= _PRINCIPAL_KINDS:
        raise PolicyError(f"Invalid principal in policy: {json.dumps(principal)}")
    for kind, value in principal.items():
        if not _strings_ok(value) or not listed(value):
            raise PolicyError(f"Invalid principal in policy: {json.dumps({kind: value})}")
        for item in listed(value):
            if kind == "AWS" and not (item == "*" or re.fullmatch(r"\d{12}", item) or item.startswith("arn:")):
                raise PolicyError(f'Invalid principal in policy: "AWS":"{item}"')


# --- IAM's older parser ----------------------------------------------------------------------------


def _legacy(found: list, check_resources: bool) -> str | None:
    """Raise what the older parser refuses; give back the resource error IAM reports later, if any."""
    for statement in found:
        if statement["Effect"] not in _EFFECTS:  # the shape check took any case, this one does not
            raise PolicyError(_LEGACY)
        for operator, block in statement.get("Condition", {}).items():
            if _operator(operator).startswith("Date"):
                for value in block.values():
                    if not all(_date_ok(item) for item in (value if isinstance(value, list) else [value])):
                        raise PolicyError(_LEGACY)
    if not check_resources:
        return None
    error = None
    for key in ("Resource", "NotResource"):
        for statement in found:
            if key not in statement:
                continue
            # IAM looks at a list's resources in reverse order and reports the last fault it finds.
            for resource in sorted(listed(statement[key]), reverse=True):
                error = _resource_problem(resource) or error
            if error is None and not all(_legacy_resource_ok(r) for r in listed(statement[key])):
                raise PolicyError(_LEGACY)
    return error


def _legacy_resource_ok(resource: str) -> bool:
    # Reached only by resources with two colons at least (others have a resource error already).
    if resource == "*":
        return True
    return (resource.count(":") >= 5 or "::" not in resource) and resource.split(":")[2] != ""


def _in_range(text: str, low: int, high: int) -> bool:
    return bool(_DIGITS.fullmatch(text)) and low <= int(text) <= high


def _date_ok(value) -> bool:
    """A date condition value: epoch seconds, or an ISO 8601 date and time (as lenient as IAM is)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    if isinstance(value, int):
        return 0 <= value <= _EPOCH_MAX
    text = value.lower()
    if "t" not in text and "-" not in text:
        return _in_range(text, 0, _EPOCH_MAX)
    day, _, clock = text.partition("t")
    negative = day.startswith("-")
    fields = (day[1:] if negative else day).split("-")
    if len(fields) > 3 or not _DIGITS.fullmatch(fields[0]):
        return False
    year = -int(fields[0]) if negative else int(fields[0])
    if not _YEARS[0] <= year <= _YEARS[1]:
        return False
    if len(fields) > 1 and not _in_range(fields[1], 1, 12):
        return False
    if len(fields) > 2 and not _in_range(fields[2], 1, 31):
        return False
    return _clock_ok(clock)


def _clock_ok(clock: str) -> bool:
    parts = clock.split(":", 2)
    if parts[0] and not _in_range(parts[0], 0, 23):
        return False
    if len(parts) > 1 and not _in_range(parts[1], 0, 59):
        return False
    if len(parts) < 3:
        return True
    seconds, zone = parts[2], ""
    if "z" in seconds:
        seconds, _, rest = seconds.partition("z")
        if rest:
            return False
    else:
        for sign in "+-":
            if sign in seconds:
                seconds, _, zone = seconds.partition(sign)
                break
    if zone:
        hours, colon, minutes = zone.partition(":")
        if len(hours) != 2 or not _in_range(hours, 0, 23):
            return False
        if colon and (len(minutes) != 2 or not _in_range(minutes, 0, 59)):
            return False
    whole, dot, fraction = seconds.partition(".")
    if not _in_range(whole, 0, 59):
        return False
    return not dot or _in_range(fraction, 0, 999_999_999)


# --- resources -------------------------------------------------------------------------------------


def _resource_problem(resource: str) -> str | None:
    """What IAM says of a resource that is not ``*`` or an ARN it takes, else None."""
    if resource == "*":
        return None
    _head, colon, rest = resource.partition(":")
    if not colon:
        return f'Resource {resource} must be in ARN format or "*".'
    partition, colon, rest = rest.partition(":")
    if partition not in _PARTITIONS:
        return f'Partition "{partition}" is not valid for resource "arn:{partition}:{_padded(rest)}".'
    if not colon:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, _, rest = rest.partition(":")
    region, _, rest = rest.partition(":")
    _account, _, path = rest.partition(":")
    if service == "iam" and region:
        return f"IAM resource {resource} cannot contain region information."
    if service == "s3" and region and not path.startswith(_S3_REGIONAL):
        return f"Resource {resource} can not contain region information."
    if service == "iam" and path != "*" and not path.startswith(_IAM_PATHS):
        return f'IAM resource path must either be "*" or start with {", ".join(_IAM_PATHS)}.'
    return None


def _padded(rest: str) -> str:
    """The rest of a resource after its partition, as IAM's message fills it out to an ARN's four parts."""
    parts = rest.split(":")
    first = parts[0] if parts[0] or len(parts) > 1 else "*"
    return ":".join([first, *(parts[i] if len(parts) > i else "*" for i in (1, 2)),
                     ":".join(parts[3:]) if len(parts) > 3 else "*"])


# --- actions, Sids ---------------------------------------------------------------------------------


def _present(statement: dict, key: str, negated: str) -> bool:
    if key in statement:
        return bool(listed(statement[key]))
    return negated in statement and bool(listed(statement[negated]))


def _check_action(action: str) -> None:
    parts = action.split(":")
    if len(parts) == 1 and action != "*":
        raise PolicyError("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if len(parts) > 2:
        raise PolicyError("Actions/Condition can contain only one colon.")
    vendor = parts[0]
    if vendor != "*" and not _VENDOR.fullmatch(vendor):
        raise PolicyError(f"Vendor {vendor} is not valid")


def _check_unique_sids(found: list) -> None:
    seen: set[str] = set()
    for statement in found:
        sid = statement.get("Sid")
        if sid:
            if sid in seen:
                raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
            seen.add(sid)
