"""IAM tags of users, roles, policies and instance profiles, checked and merged as IAM does.

The protocol layer checks lengths and counts against the model already; the model's character pattern is a
Java one (``\\p{L}`` …) Python cannot compile, so it is checked here. Tag keys compare regardless of case on
a resource: a tag whose key differs only in case from one already there replaces it.
"""

from __future__ import annotations

import unicodedata

from selfmaker.services.base import ServiceError
from selfmaker.services.iam.common import invalid_input, limit_exceeded

MAX_TAGS = 50
KEY_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
VALUE_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"
_PUNCTUATION = set("_.:/=+-@")


def _allowed(text: str) -> bool:
    # \p{L} letters, \p{Z} separators, \p{N} numbers: the first letter of a Unicode category.
    return all(char in _PUNCTUATION or unicodedata.category(char)[0] in "LZN" for char in text)


def _raise_if(problems: list[str]) -> None:
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ServiceError("ValidationError", f"{len(problems)} validation {noun} detected: " + "; ".join(problems))


def _problem(value: str, path: str, pattern: str) -> str:
    return f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression " \
           f"pattern: {pattern}"


def checked(tags: list[dict]) -> list[dict]:
    """A request's Tags as IAM takes them (a missing Value is an empty one), or IAM's error."""
    problems = []
    for index, tag in enumerate(tags, start=1):
        if not _allowed(tag["Key"]):
            problems.append(_problem(tag["Key"], f"tags.{index}.member.key", KEY_PATTERN))
        if not _allowed(tag.get("Value", "")):
            problems.append(_problem(tag["Value"], f"tags.{index}.member.value", VALUE_PATTERN))
    _raise_if(problems)
    if len({tag["Key"].lower() for tag in tags}) < len(tags):
        raise invalid_input("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    return [{"Key": tag["Key"], "Value": tag.get("Value", "")} for tag in tags]


def merged(current: list[dict], new: list[dict]) -> list[dict]:
    """A resource's tags with a request's added: same keys (in any case) take the new key and value."""
    by_key = {tag["Key"].lower(): tag for tag in current}
    by_key.update({tag["Key"].lower(): tag for tag in checked(new)})
    if len(by_key) > MAX_TAGS:
        raise limit_exceeded(f"The number of tags has reached the maximum limit of {MAX_TAGS}.")
    return list(by_key.values())


def without(current: list[dict], keys: list[str]) -> list[dict]:
    """A resource's tags less those UntagX names (in any case)."""
    _raise_if([_problem(key, f"tagKeys.{index}.member", KEY_PATTERN)
               for index, key in enumerate(keys, start=1) if not _allowed(key)])
    gone = {key.lower() for key in keys}
    return [tag for tag in current if tag["Key"].lower() not in gone]

