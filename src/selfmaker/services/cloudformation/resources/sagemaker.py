"""AWS::SageMaker::NotebookInstance, NotebookInstanceLifecycleConfig and CodeRepository.

Each Ref is the ARN; Fn::GetAtt gives the name. A notebook instance is CREATE_COMPLETE once InService;
an update that SageMaker only accepts while Stopped stops it, updates it and starts it again, as
CloudFormation does; a delete stops it first and waits until it is gone.
"""

from __future__ import annotations

from selfmaker.services.cloudformation.calls import ProviderCalls, ProviderError, ResourceFailure
from selfmaker.services.cloudformation.resources.base import (
    Current,
    ResourceRequest,
    ResourceType,
    changed,
    tag_list,
    wait_until,
)

_SETTLING = {"Pending", "Stopping", "Updating", "Deleting"}


def _not_found(err: ProviderError) -> bool:
    return "RecordNotFound" in err.message or "Unable to describe" in err.message or "does not exist" in err.message


async def _sync_tags(call: ProviderCalls, arn: str, old: dict, new: dict) -> None:
    old_tags = {t["Key"]: t["Value"] for t in tag_list(old)}
    new_tags = {t["Key"]: t["Value"] for t in tag_list(new)}
    gone = [key for key in old_tags if key not in new_tags]
    if gone:
        await call("sagemaker", "DeleteTags", {"ResourceArn": arn, "TagKeys": gone})
    if new_tags and new_tags != old_tags:
        await call("sagemaker", "AddTags", {"ResourceArn": arn, "Tags": tag_list(new)})


class NotebookInstance(ResourceType):
    type_name = "AWS::SageMaker::NotebookInstance"
    required = frozenset({"InstanceType", "RoleArn"})
    optional = frozenset({
        "NotebookInstanceName", "LifecycleConfigName", "VolumeSizeInGB", "SubnetId", "SecurityGroupIds",
        "KmsKeyId", "DirectInternetAccess", "RootAccess", "AcceleratorTypes", "DefaultCodeRepository",
        "AdditionalCodeRepositories", "PlatformIdentifier", "InstanceMetadataServiceConfiguration", "Tags",
    })
    attributes = frozenset({"NotebookInstanceName"})
    replace_on = frozenset({
        "NotebookInstanceName", "SubnetId", "SecurityGroupIds", "KmsKeyId", "DirectInternetAccess",
        "PlatformIdentifier",
    })
    name_property = "NotebookInstanceName"
    name_limit = 63
    # Properties UpdateNotebookInstance changes (only while Stopped), and how to remove each one.
    _UPDATABLE = {
        "InstanceType": None, "RoleArn": None, "VolumeSizeInGB": None, "RootAccess": None,
        "InstanceMetadataServiceConfiguration": None,
        "LifecycleConfigName": "DisassociateLifecycleConfig",
        "AcceleratorTypes": "DisassociateAcceleratorTypes",
        "DefaultCodeRepository": "DisassociateDefaultCodeRepository",
        "AdditionalCodeRepositories": "DisassociateAdditionalCodeRepositories",
    }

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        params = {key: value for key, value in request.properties.items() if key != "NotebookInstanceName"}
        params["NotebookInstanceName"] = request.physical_name
        result = await call("sagemaker", "CreateNotebookInstance", params)
        return result["NotebookInstanceArn"]

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        name = request.physical_name
        status = await self._settle(call, name)
        if status["NotebookInstanceStatus"] != "InService":
            reason = status.get("FailureReason") or f"it is {status['NotebookInstanceStatus']}"
            raise ResourceFailure(f"Notebook instance {name} did not reach InService: {reason}")
        return {"Ref": physical_id, "NotebookInstanceName": name}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        name = current.name
        old, new = current.properties, request.properties
        params: dict = {"NotebookInstanceName": name}
        for key, removal in self._UPDATABLE.items():
            if not changed(old, new, key):
                continue
            if key in new:
                params[key] = new[key]
            elif removal is not None:
                params[removal] = True
        if len(params) > 1:
            status = await self._settle(call, name)
            was_running = status["NotebookInstanceStatus"] == "InService"
            if was_running:
                await call("sagemaker", "StopNotebookInstance", {"NotebookInstanceName": name})
                await self._settle(call, name)
            await call("sagemaker", "UpdateNotebookInstance", params)
            await self._settle(call, name)
            if was_running:
                await call("sagemaker", "StartNotebookInstance", {"NotebookInstanceName": name})
                settled = await self._settle(call, name)
                if settled["NotebookInstanceStatus"] != "InService":
                    raise ResourceFailure(f"Notebook instance {name} did not return to InService after the update: "
                                          f"{settled.get('FailureReason') or settled['NotebookInstanceStatus']}")
        if changed(old, new, "Tags"):
            await _sync_tags(call, current.physical_id, old, new)
        return {"Ref": current.physical_id, "NotebookInstanceName": name}

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.name
        status = await self._settle(call, name, missing_ok=True)
        if status is None:
            return
        if status["NotebookInstanceStatus"] == "InService":
            await call("sagemaker", "StopNotebookInstance", {"NotebookInstanceName": name})
            await self._settle(call, name)
        await call("sagemaker", "DeleteNotebookInstance", {"NotebookInstanceName": name})
        await self._settle(call, name, missing_ok=True)

    async def _settle(self, call: ProviderCalls, name: str, missing_ok: bool = False) -> dict | None:
        """Wait out a transition (Pending, Stopping…) and return the description (None once it is gone)."""
        latest: dict = {}

        async def settled() -> bool:
            try:
                latest.update(await call("sagemaker", "DescribeNotebookInstance", {"NotebookInstanceName": name}))
            except ProviderError as err:
                if missing_ok and _not_found(err):
                    latest.clear()
                    return True
                raise
            return latest["NotebookInstanceStatus"] not in _SETTLING

        await wait_until(settled)
        return dict(latest) or None


class NotebookInstanceLifecycleConfig(ResourceType):
    type_name = "AWS::SageMaker::NotebookInstanceLifecycleConfig"
    optional = frozenset({"NotebookInstanceLifecycleConfigName", "OnCreate", "OnStart"})
    attributes = frozenset({"NotebookInstanceLifecycleConfigName"})
    replace_on = frozenset({"NotebookInstanceLifecycleConfigName"})
    name_property = "NotebookInstanceLifecycleConfigName"
    name_limit = 63

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        params = {**request.properties, "NotebookInstanceLifecycleConfigName": request.physical_name}
        result = await call("sagemaker", "CreateNotebookInstanceLifecycleConfig", params)
        return result["NotebookInstanceLifecycleConfigArn"]

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        return {"Ref": physical_id, "NotebookInstanceLifecycleConfigName": request.physical_name}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        name = current.name
        await call("sagemaker", "UpdateNotebookInstanceLifecycleConfig", {
            "NotebookInstanceLifecycleConfigName": name,
            "OnCreate": request.properties.get("OnCreate", []),
            "OnStart": request.properties.get("OnStart", []),
        })
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.name
        try:
            await call("sagemaker", "DeleteNotebookInstanceLifecycleConfig",
                       {"NotebookInstanceLifecycleConfigName": name})
        except ProviderError as err:
            if not _not_found(err):
                raise


class CodeRepository(ResourceType):
    type_name = "AWS::SageMaker::CodeRepository"
    required = frozenset({"GitConfig"})
    optional = frozenset({"CodeRepositoryName", "Tags"})
    attributes = frozenset({"CodeRepositoryName"})
    replace_on = frozenset({"CodeRepositoryName"})
    name_property = "CodeRepositoryName"
    name_limit = 63

    def needs_replacement(self, old: dict, new: dict) -> bool:
        # UpdateCodeRepository changes only the secret; another URL or branch is another repository.
        old_git, new_git = old.get("GitConfig", {}), new.get("GitConfig", {})
        moved = any(old_git.get(key) != new_git.get(key) for key in ("RepositoryUrl", "Branch"))
        return moved or super().needs_replacement(old, new)

    async def create(self, call: ProviderCalls, request: ResourceRequest) -> str:
        params = {**request.properties, "CodeRepositoryName": request.physical_name}
        result = await call("sagemaker", "CreateCodeRepository", params)
        return result["CodeRepositoryArn"]

    async def ready(self, call: ProviderCalls, request: ResourceRequest, physical_id: str) -> dict:
        return {"Ref": physical_id, "CodeRepositoryName": request.physical_name}

    async def update(self, call: ProviderCalls, request: ResourceRequest, current: Current) -> dict:
        old, new = current.properties, request.properties
        if changed(old, new, "GitConfig"):
            await call("sagemaker", "UpdateCodeRepository", {
                "CodeRepositoryName": current.name,
                "GitConfig": {"SecretArn": new.get("GitConfig", {}).get("SecretArn", "")},
            })
        if changed(old, new, "Tags"):
            await _sync_tags(call, current.physical_id, old, new)
        return dict(current.attributes)

    async def delete(self, call: ProviderCalls, current: Current) -> None:
        name = current.name
        try:
            await call("sagemaker", "DeleteCodeRepository", {"CodeRepositoryName": name})
        except ProviderError as err:
            if not _not_found(err):
                raise
