"""AWS::Logs::LogGroup (Ref: the name; Fn::GetAtt Arn)."""

from __future__ import annotations

from selfmaker.services.cloudformation.calls import ProviderCalls, ProviderError
from selfmaker.services.cloudformation.resources.base import (
    Current,
    ResourceRequest,
    ResourceType,
    changed,
    tag_list,
)
from selfmaker.services.logs.provider import group_arn


def _tags(properties: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tag_list(properties)}


class LogGroup(ResourceType):
    type_name = "AWS::Logs::LogGroup"
    optional = frozenset({"LogGroupName", "RetentionInDays", "KmsKeyId", "Tags", "LogGroupClass"})
    attributes = frozenset({"Arn"})
    replace_on = frozenset({"LogGroupName", "LogGroupClass", "KmsKeyId"})
    name_property = "LogGroupName"
    name_limit = 512

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        params = {"logGroupName": request.physical_name, "tags": _tags(request.properties)}
        for key, api in (("KmsKeyId", "kmsKeyId"), ("LogGroupClass", "logGroupClass")):
            if key in request.properties:
                params[api] = request.properties[key]
        if not params["tags"]:
            del params["tags"]
        await call("logs", "CreateLogGroup", params)
        return request.physical_name

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        if "RetentionInDays" in request.properties:
            await call("logs", "PutRetentionPolicy",
                       {"logGroupName": physical_id, "retentionInDays": request.properties["RetentionInDays"]})
        return self._attributes(request, physical_id)

    @staticmethod
    def _attributes(request: ResourceRequest, name: str) -> dict:
        return {"Ref": name, "Arn": f"{group_arn(request.region, request.account_id, name)}:*"}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        new, old, name = request.properties, current.properties, current.physical_id
        if changed(old, new, "RetentionInDays"):
            if "RetentionInDays" in new:
                await call("logs", "PutRetentionPolicy",
                           {"logGroupName": name, "retentionInDays": new["RetentionInDays"]})
            else:
                await call("logs", "DeleteRetentionPolicy", {"logGroupName": name})
        if changed(old, new, "Tags"):
            old_tags, new_tags = _tags(old), _tags(new)
            gone = [key for key in old_tags if key not in new_tags]
            if gone:
                await call("logs", "UntagLogGroup", {"logGroupName": name, "tags": gone})
            if new_tags:
                await call("logs", "TagLogGroup", {"logGroupName": name, "tags": new_tags})
        return self._attributes(request, name)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        try:
            await call("logs", "DeleteLogGroup", {"logGroupName": current.physical_id or current.name})
        except ProviderError as err:
            if err.code != "ResourceNotFoundException":
                raise
