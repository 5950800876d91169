"""The resource types stacks can hold, each made through the service provider the API uses."""

from __future__ import annotations

from selfmaker.services.cloudformation.resources.base import ResourceType
from selfmaker.services.cloudformation.resources.iam import (
    AccessKey,
    Group,
    InstanceProfile,
    ManagedPolicy,
    Policy,
    Role,
    User,
    UserToGroupAddition,
)
from selfmaker.services.cloudformation.resources.logs import LogGroup
from selfmaker.services.cloudformation.resources.sagemaker import (
    CodeRepository,
    NotebookInstance,
    NotebookInstanceLifecycleConfig,
)
from selfmaker.services.cloudformation.resources.sns import Subscription, Topic
from selfmaker.services.cloudformation.resources.wait_conditions import WaitCondition, WaitConditionHandle
from selfmaker.services.cloudformation.signals import WaitSignals


def resource_types(signals: WaitSignals) -> dict[str, ResourceType]:
    types: list[ResourceType] = [
        NotebookInstance(), NotebookInstanceLifecycleConfig(), CodeRepository(), Role(), User(), Policy(),
        ManagedPolicy(), Group(), UserToGroupAddition(), InstanceProfile(), AccessKey(), Topic(), Subscription(),
        LogGroup(), WaitConditionHandle(signals), WaitCondition(signals),
    ]
    return {kind.type_name: kind for kind in types}
