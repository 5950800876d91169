"""What a resource type is to the stack engine: its properties, and how to create, update and delete one.

A type creates in two steps so that the engine can record the physical id between them: ``create``
makes the resource and returns its physical id; ``ready`` waits until it is usable (a notebook
instance InService) and returns its Ref and Fn::GetAtt values. Deleting one that is already gone is
success, so an interrupted delete or rollback can simply be run again.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from selfmaker.services.cloudformation.calls import ProviderCalls, ResourceFailure

POLL_SECONDS = 0.5
_SUFFIX_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class ResourceRequest:
    stack_name: str
    stack_id: str
    logical_id: str
    properties: dict
    account_id: str
    region: str
    physical_name: str | None  # the name to create it under (given or generated), for named types


@dataclass
class Current:
    """A resource as the engine recorded it. ``physical_id`` is None when the server stopped between the
    create call and recording its answer; ``name`` (the name it was created under) then still finds it."""

    physical_id: str | None
    name: str | None
    properties: dict
    attributes: dict


class ResourceType:
    type_name: ClassVar[str]
    required: ClassVar[frozenset[str]] = frozenset()
    optional: ClassVar[frozenset[str]] = frozenset()
    attributes: ClassVar[frozenset[str]] = frozenset()  # Fn::GetAtt names
    replace_on: ClassVar[frozenset[str]] = frozenset()  # properties whose change needs a new resource
    name_property: ClassVar[str | None] = None  # the property that names it; generated when absent
    name_limit: ClassVar[int] = 255
    lowercase_names: ClassVar[bool] = False

    def check(self, logical_id: str, properties: dict) -> None:
        """AWS's schema check: required properties present, no unknown ones."""
        missing = sorted(self.required - set(properties))
        if missing:
            raise ResourceFailure(f"Properties validation failed for resource {logical_id} with message: "
                                  f"#: required key [{missing[0]}] not found")
        unknown = sorted(set(properties) - self.required - self.optional)
        if unknown:
            raise ResourceFailure(f"Properties validation failed for resource {logical_id} with message: "
                                  f"#: extraneous key [{unknown[0]}] is not permitted")

    def physical_name(self, stack_name: str, logical_id: str, properties: dict) -> str | None:
        if self.name_property is None:
            return None
        given = properties.get(self.name_property)
        return str(given) if given is not None else generated_name(stack_name, logical_id, self.name_limit,
                                                                   self.lowercase_names)

    def needs_replacement(self, old: dict, new: dict) -> bool:
        return any(old.get(key) != new.get(key) for key in self.replace_on)

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        raise NotImplementedError

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        return {"Ref": physical_id}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        """Change ``current`` in place to ``request.properties``; returns the new attributes."""
        raise ResourceFailure(f"Updating {self.type_name} in place is not supported")

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        raise NotImplementedError


def generated_name(stack_name: str, logical_id: str, limit: int, lowercase: bool = False) -> str:
    """``<stack>-<LogicalId>-<RANDOM>``, shortened to fit ``limit`` as CloudFormation does."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(12))
    room = max(limit - len(suffix) - 2, 2)
    stack_part = stack_name[: max(room // 2, room - len(logical_id))]
    logical_part = logical_id[: room - len(stack_part)]
    name = f"{stack_part}-{logical_part}-{suffix}"
    return name.lower() if lowercase else name


def tag_list(properties: dict) -> list[dict]:
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in properties.get("Tags", [])]


def changed(old: dict, new: dict, key: str) -> bool:
    return old.get(key) != new.get(key)


async def wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it says done (the stack operation's timeout, if any, bounds the wait)."""
    while not await check():
        await asyncio.sleep(POLL_SECONDS)
