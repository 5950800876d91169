"""AWS::SNS::Topic (Ref: ARN; TopicArn, TopicName; inline Subscription list) and AWS::SNS::Subscription
(Ref: the subscription ARN), through the SNS provider's operations."""

from __future__ import annotations

import json

from selfmaker.services.cloudformation.calls import ProviderCalls, ProviderError, ResourceFailure
from selfmaker.services.cloudformation.resources.base import (
    Current,
    ResourceRequest,
    ResourceType,
    changed,
    generated_name,
    tag_list,
)
from selfmaker.services.sns.arns import topic_arn

# Topic properties that are topic attributes of the same name.
_TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "FifoThroughputScope",
                     "SignatureVersion", "TracingConfig")
_FIFO_SUFFIX = ".fifo"
_SUBSCRIPTION_ATTRIBUTES = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
                            "DeliveryPolicy", "SubscriptionRoleArn", "ReplayPolicy")


def _attribute_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _missing(err: ProviderError) -> bool:
    return err.code in ("NotFound", "ResourceNotFound")


class Topic(ResourceType):
    type_name = "AWS::SNS::Topic"
    optional = frozenset({"TopicName", "Subscription", "Tags", *_TOPIC_ATTRIBUTES})
    attributes = frozenset({"TopicArn", "TopicName"})
    replace_on = frozenset({"TopicName", "FifoTopic"})
    name_property = "TopicName"
    name_limit = 256

    def physical_name(self, stack_name: str, logical_id: str, properties: dict) -> str | None:
        # A generated name for a FIFO topic ends in .fifo, as CloudFormation makes it.
        if "TopicName" in properties or _attribute_text(properties.get("FifoTopic", False)).lower() != "true":
            return super().physical_name(stack_name, logical_id, properties)
        return generated_name(stack_name, logical_id, self.name_limit - len(_FIFO_SUFFIX)) + _FIFO_SUFFIX

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        props = request.properties
        arn = topic_arn(request.region, request.account_id, request.physical_name)
        if "TopicName" in props:
            # CreateTopic returns an existing topic of that name; CloudFormation refuses to take one over.
            try:
                await call("sns", "GetTopicAttributes", {"TopicArn": arn})
            except ProviderError as err:
                if not _missing(err):
                    raise
            else:
                raise ResourceFailure(f"Resource of type '{self.type_name}' with identifier '{arn}' already exists.")
        params: dict = {"Name": request.physical_name}
        attributes = {key: _attribute_text(props[key]) for key in _TOPIC_ATTRIBUTES if key in props}
        if attributes:
            params["Attributes"] = attributes
        if "Tags" in props:
            params["Tags"] = tag_list(props)
        return (await call("sns", "CreateTopic", params))["TopicArn"]

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        for subscription in request.properties.get("Subscription", []):
            await call("sns", "Subscribe", {"TopicArn": physical_id, "Protocol": subscription["Protocol"],
                                            "Endpoint": subscription["Endpoint"]})
        return _topic_attributes(physical_id)

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        arn, old, new = current.physical_id, current.properties, request.properties
        for key in _TOPIC_ATTRIBUTES:
            if changed(old, new, key):
                await call("sns", "SetTopicAttributes", {"TopicArn": arn, "AttributeName": key,
                                                         "AttributeValue": _attribute_text(new.get(key, ""))})
        if changed(old, new, "Subscription"):
            await self._resubscribe(call, arn, old.get("Subscription", []), new.get("Subscription", []))
        if changed(old, new, "Tags"):
            gone = [t["Key"] for t in tag_list(old) if t["Key"] not in {n["Key"] for n in tag_list(new)}]
            if gone:
                await call("sns", "UntagResource", {"ResourceArn": arn, "TagKeys": gone})
            if tag_list(new):
                await call("sns", "TagResource", {"ResourceArn": arn, "Tags": tag_list(new)})
        return _topic_attributes(arn)

    async def _resubscribe(self, call: ProviderCalls, arn: str, old: list[dict], new: list[dict]) -> None:
        wanted = {(s["Protocol"], s["Endpoint"]) for s in new}
        had = {(s["Protocol"], s["Endpoint"]) for s in old}
        for protocol, endpoint in sorted(wanted - had):
            await call("sns", "Subscribe", {"TopicArn": arn, "Protocol": protocol, "Endpoint": endpoint})
        if had - wanted:
            listed = await call("sns", "ListSubscriptionsByTopic", {"TopicArn": arn})
            for item in listed.get("Subscriptions", []):
                if (item["Protocol"], item["Endpoint"]) in had - wanted and item["SubscriptionArn"].startswith("arn:"):
                    await call("sns", "Unsubscribe", {"SubscriptionArn": item["SubscriptionArn"]})

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        arn = current.physical_id or topic_arn(call.region, call.account_id, current.name)
        try:
            await call("sns", "DeleteTopic", {"TopicArn": arn})
        except ProviderError as err:
            if not _missing(err):
                raise


def _topic_attributes(arn: str) -> dict:
    return {"Ref": arn, "TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]}


class Subscription(ResourceType):
    type_name = "AWS::SNS::Subscription"
    required = frozenset({"TopicArn", "Protocol"})
    optional = frozenset({"Endpoint", "Region", *_SUBSCRIPTION_ATTRIBUTES})
    replace_on = frozenset({"TopicArn", "Protocol", "Endpoint", "Region"})

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        props = request.properties
        params = {"TopicArn": props["TopicArn"], "Protocol": props["Protocol"], "ReturnSubscriptionArn": True}
        if "Endpoint" in props:
            params["Endpoint"] = props["Endpoint"]
        attributes = {key: _attribute_text(props[key]) for key in _SUBSCRIPTION_ATTRIBUTES if key in props}
        if attributes:
            params["Attributes"] = attributes
        return (await call("sns", "Subscribe", params))["SubscriptionArn"]

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        for key in _SUBSCRIPTION_ATTRIBUTES:
            if changed(current.properties, request.properties, key):
                await call("sns", "SetSubscriptionAttributes", {
                    "SubscriptionArn": current.physical_id, "AttributeName": key,
                    "AttributeValue": _attribute_text(request.properties.get(key, "")),
                })
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        if current.physical_id is None:
            return
        try:
            await call("sns", "Unsubscribe", {"SubscriptionArn": current.physical_id})
        except ProviderError as err:
            if not _missing(err):
                raise
