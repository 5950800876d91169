"""AWS::CloudFormation::WaitConditionHandle and AWS::CloudFormation::WaitCondition.

A handle's Ref is a presigned URL on this server; a script signals it with
``curl -X PUT -H 'Content-Type:' --data-binary '{"Status":"SUCCESS","Reason":"…","UniqueId":"…","Data":"…"}' URL``.
The condition waits for Count SUCCESS signals (any FAILURE fails it) within Timeout seconds.
"""

from __future__ import annotations

import asyncio
import json
import time

from selfmaker.services.cloudformation.calls import ProviderCalls, ResourceFailure
from selfmaker.services.cloudformation.resources.base import POLL_SECONDS, Current, ResourceRequest, ResourceType
from selfmaker.services.cloudformation.signals import WaitSignals

MAX_TIMEOUT = 43200


class WaitConditionHandle(ResourceType):
    type_name = "AWS::CloudFormation::WaitConditionHandle"

    def __init__(self, signals: WaitSignals):
        self.signals = signals

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        return self.signals.new_handle(request.stack_id, request.logical_id)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        if current.physical_id is not None:
            self.signals.forget(current.physical_id)


class WaitCondition(ResourceType):
    type_name = "AWS::CloudFormation::WaitCondition"
    required = frozenset({"Handle", "Timeout"})
    optional = frozenset({"Count"})
    attributes = frozenset({"Data"})
    replace_on = frozenset({"Handle", "Timeout", "Count"})  # a wait condition is never updated in place

    def __init__(self, signals: WaitSignals):
        self.signals = signals

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        if self.signals.token_of(str(request.properties["Handle"])) is None:
            raise ResourceFailure("Handle must be the Ref of an AWS::CloudFormation::WaitConditionHandle of this "
                                  "server")
        return f"{request.stack_id}/{request.logical_id}"

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        handle = str(request.properties["Handle"])
        try:
            timeout = int(str(request.properties["Timeout"]))
            count = int(str(request.properties.get("Count", 1)))
        except ValueError:
            raise ResourceFailure("Timeout and Count must be integers") from None
        if not 0 < timeout <= MAX_TIMEOUT:
            raise ResourceFailure(f"Timeout must be between 1 and {MAX_TIMEOUT} seconds")
        deadline = time.monotonic() + timeout
        while True:
            received = self.signals.received(handle)
            failed = next((s for s in received if s.status == "FAILURE"), None)
            if failed is not None:
                raise ResourceFailure(
                    f"WaitCondition received failed message: '{failed.reason}' for uniqueId: {failed.unique_id}"
                )
            if len(received) >= count:
                return {"Ref": physical_id, "Data": json.dumps({s.unique_id: s.data for s in received})}
            if time.monotonic() > deadline:
                raise ResourceFailure(
                    f"WaitCondition timed out. Received {len(received)} conditions when expecting {count}"
                )
            await asyncio.sleep(POLL_SECONDS)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        return None
