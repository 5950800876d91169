"""SageMaker notebook-instance operations: the API face of the state machine."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from selfmaker.clock import Clock
from selfmaker.config import Settings
from selfmaker.domain import notebook_states as st
from selfmaker.domain.instance_types import InstanceType
from selfmaker.runtime import neuron
from selfmaker.runtime.gpus import count_gpus
from selfmaker.services.base import RequestContext, ServiceError, validation_error
from selfmaker.services.metering import record_owner, record_status
from selfmaker.services.metering.tables import notebook_owners
from selfmaker.services.quotas import QuotaBook, check_notebook_quotas
from selfmaker.services.quotas.capacity import CLUSTER
from selfmaker.services.sagemaker.common import arn, listing_page, write_tags
from selfmaker.services.sagemaker.notebook_hosts import notebook_netloc, notebook_origin
from selfmaker.services.sagemaker.orchestrator import NotebookOrchestrator
from selfmaker.store.tables import lifecycle_configs, notebook_instances, notebook_tokens

# Members of Create/UpdateNotebookInstance kept as they were given and echoed by Describe.
_ECHOED = (
    "SubnetId", "KmsKeyId", "AcceleratorTypes", "DefaultCodeRepository",
    "AdditionalCodeRepositories", "InstanceMetadataServiceConfiguration", "IpAddressType",
)
_DEFAULTS = {
    "DirectInternetAccess": "Enabled",
    "RootAccess": "Enabled",
    "PlatformIdentifier": "notebook-al2-v3",
    "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": "1"},
}
_SORT_KEYS = {"Name": "name", "CreationTime": "creation_time", "Status": "status"}


class NotebookInstances:
    engine: Engine
    settings: Settings
    catalogue: dict[str, InstanceType]
    orchestrator: NotebookOrchestrator
    quotas: QuotaBook
    clock: Clock  # the metering clock

    # --- lookups ------------------------------------------------------------------------------------

    def _instance(self, ctx: RequestContext, name: str):
        with self.engine.connect() as conn:
            row = conn.execute(
                select(notebook_instances).where(
                    notebook_instances.c.account_id == ctx.account_id,
                    notebook_instances.c.region == ctx.region,
                    notebook_instances.c.name == name,
                )
            ).first()
        if row is None:
            raise validation_error("RecordNotFound")
        return row

    def _url(self, ctx: RequestContext, name: str) -> str:
        # Like SageMaker's Url: the instance's own host (and port), no scheme.
        return notebook_netloc(ctx.endpoint_url, name, ctx.account_id, ctx.region, self.settings.notebook_domain)

    def _refuse_duplicate(self, ctx: RequestContext, name: str, instance_arn: str) -> None:
        # Names differing only in case would share a host name (host names are lowercase).
        with self.engine.connect() as conn:
            taken = conn.execute(
                select(notebook_instances.c.name).where(
                    notebook_instances.c.account_id == ctx.account_id,
                    notebook_instances.c.region == ctx.region,
                    func.lower(notebook_instances.c.name) == name.lower(),
                )
            ).first()
        if taken is not None:
            raise validation_error(f"Cannot create a duplicate Notebook Instance ({instance_arn})")

    def _instance_type(self, name: str) -> InstanceType:
        kind = self.catalogue.get(name)
        if kind is None:
            offered = ", ".join(sorted(self.catalogue))
            raise validation_error(
                f"Instance type {name} is not offered by this Selfmaker server. Offered types: {offered}."
            )
        if name in CLUSTER.types:
            if kind.gpus > CLUSTER.most_on_one_node():
                raise ServiceError(
                    "ResourceLimitExceeded",
                    f"{name} needs {kind.gpus} GPU(s) ({kind.gpu_model}), but no node of this Selfmaker server's "
                    f"Slurm cluster has more than {CLUSTER.most_on_one_node()}. Choose a type with fewer GPUs.",
                )
        elif kind.gpus > count_gpus():
            raise ServiceError(
                "ResourceLimitExceeded",
                f"{name} needs {kind.gpus} GPU(s) ({kind.gpu_model}), but this Selfmaker host has "
                f"{count_gpus()}. Choose a CPU instance type such as ml.t3.medium, or run Selfmaker on a "
                "host with GPUs.",
            )
        if kind.accelerators > neuron.count_devices():
            raise ServiceError(
                "ResourceLimitExceeded",
                f"{name} needs {kind.accelerators} {kind.accelerator_model} accelerator(s), but this Selfmaker "
                f"host has {neuron.count_devices()} AWS Neuron devices (/dev/neuron*). Choose a CPU instance type "
                "such as ml.t3.medium, or run Selfmaker on a host with Inferentia or Trainium chips.",
            )
        return kind

    def _within_quotas(self, ctx: RequestContext, instance_type: str, total: bool = True,
                       instance_id: str | None = None) -> None:
        # After _instance_type: a type this host cannot run is refused for that first, whatever its quota.
        # Per-user limits count the creator's instances: the caller's for a new one (a stack's calls carry its
        # creator's ARN), the instance's creator when someone else (the admin) starts or changes it.
        owner = ctx.principal_arn
        if instance_id is not None:
            with self.engine.connect() as conn:
                owner = conn.execute(select(notebook_owners.c.owner_arn)
                                     .where(notebook_owners.c.instance_id == instance_id)).scalar() or owner
        check_notebook_quotas(self.engine, self.quotas, ctx.account_id, ctx.region, instance_type, total,
                              owner_arn=owner)

    def _lifecycle_config_exists(self, ctx: RequestContext, name: str) -> None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(lifecycle_configs.c.name).where(
                    lifecycle_configs.c.account_id == ctx.account_id,
                    lifecycle_configs.c.region == ctx.region,
                    lifecycle_configs.c.name == name,
                )
            ).first()
        if found is None:
            raise validation_error(
                f"Unable to find Notebook Instance Lifecycle Config "
                f"({arn(ctx, 'notebook-instance-lifecycle-config', name)})"
            )

    def _set_status(self, instance_id: str, status: str, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(notebook_instances)
                .where(notebook_instances.c.instance_id == instance_id)
                .values(status=status, last_modified_time=time.time(), **values)
            )
            self.orchestrator.claim(conn, instance_id)  # this server carries the change out (store/leases.py)
            record_status(conn, instance_id, status, self.clock.now())

    # --- operations ---------------------------------------------------------------------------------

    def CreateNotebookInstance(self, ctx: RequestContext, params: dict) -> dict:
        name = params["NotebookInstanceName"]
        self._instance_type(params["InstanceType"])
        if params.get("DirectInternetAccess") == "Disabled" and not params.get("SubnetId"):
            # As SageMaker: without internet access an instance reaches only its VPC, so it must name one.
            raise validation_error("DirectInternetAccess can be Disabled only for a notebook instance in a VPC: "
                                   "specify a SubnetId as well.")
        if params.get("LifecycleConfigName"):
            self._lifecycle_config_exists(ctx, params["LifecycleConfigName"])
        instance_arn = arn(ctx, "notebook-instance", name)
        self._refuse_duplicate(ctx, name, instance_arn)
        self._within_quotas(ctx, params["InstanceType"])
        settings = {**_DEFAULTS, **{key: params[key] for key in (*_ECHOED, *_DEFAULTS) if key in params}}
        if "SecurityGroupIds" in params:
            settings["SecurityGroups"] = params["SecurityGroupIds"]  # Describe's name for them
        now = time.time()
        instance_id = "nb-" + secrets.token_hex(6)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(notebook_instances).values(
                        instance_id=instance_id,
                        account_id=ctx.account_id,
                        region=ctx.region,
                        name=name,
                        arn=instance_arn,
                        status=st.PENDING,
                        instance_type=params["InstanceType"],
                        role_arn=params["RoleArn"],
                        lifecycle_config_name=params.get("LifecycleConfigName"),
                        volume_size_gb=params.get("VolumeSizeInGB", 5),
                        settings=settings,
                        on_create_done=False,
                        creation_time=now,
                        last_modified_time=now,
                    )
                )
                write_tags(conn, instance_arn, params.get("Tags", []))
                self.orchestrator.claim(conn, instance_id)
                record_owner(conn, instance_id, ctx.account_id, ctx.principal_arn)
                record_status(conn, instance_id, st.PENDING, self.clock.now())
        except IntegrityError:
            raise validation_error(f"Cannot create a duplicate Notebook Instance ({instance_arn})") from None
        self.orchestrator.start(instance_id)
        return {"NotebookInstanceArn": instance_arn}

    def DescribeNotebookInstance(self, ctx: RequestContext, params: dict) -> dict:
        row = self._instance(ctx, params["NotebookInstanceName"])
        return {
            "NotebookInstanceArn": row.arn,
            "NotebookInstanceName": row.name,
            "NotebookInstanceStatus": row.status,
            "FailureReason": row.failure_reason,
            "Url": self._url(ctx, row.name),
            "InstanceType": row.instance_type,
            "RoleArn": row.role_arn,
            "NotebookInstanceLifecycleConfigName": row.lifecycle_config_name,
            "VolumeSizeInGB": row.volume_size_gb,
            "CreationTime": row.creation_time,
            "LastModifiedTime": row.last_modified_time,
            **row.settings,
        }

    def ListNotebookInstances(self, ctx: RequestContext, params: dict) -> dict:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notebook_instances).where(
                    notebook_instances.c.account_id == ctx.account_id, notebook_instances.c.region == ctx.region
                )
            ).all()
        name_contains = params.get("NameContains")
        status = params.get("StatusEquals")
        config_contains = params.get("NotebookInstanceLifecycleConfigNameContains")
        repo_contains = params.get("DefaultCodeRepositoryContains")
        repo_equals = params.get("AdditionalCodeRepositoryEquals")
        selected = [
            row
            for row in rows
            if (not name_contains or name_contains.lower() in row.name.lower())
            and (not status or row.status == status)
            and (not config_contains or config_contains in (row.lifecycle_config_name or ""))
            and (not repo_contains or repo_contains in (row.settings.get("DefaultCodeRepository") or ""))
            and (not repo_equals or repo_equals in (row.settings.get("AdditionalCodeRepositories") or []))
        ]
        items, token = listing_page(selected, params, _SORT_KEYS, "Name")
        return {
            "NotebookInstances": [
                {
                    "NotebookInstanceName": row.name,
                    "NotebookInstanceArn": row.arn,
                    "NotebookInstanceStatus": row.status,
                    "Url": self._url(ctx, row.name),
                    "InstanceType": row.instance_type,
                    "CreationTime": row.creation_time,
                    "LastModifiedTime": row.last_modified_time,
                    "NotebookInstanceLifecycleConfigName": row.lifecycle_config_name,
                    "DefaultCodeRepository": row.settings.get("DefaultCodeRepository"),
                    "AdditionalCodeRepositories": row.settings.get("AdditionalCodeRepositories"),
                }
                for row in items
            ],
            "NextToken": token,
        }

    def StartNotebookInstance(self, ctx: RequestContext, params: dict) -> dict:
        row = self._instance(ctx, params["NotebookInstanceName"])
        st.require_transition(row.status, st.PENDING, row.arn)
        self._instance_type(row.instance_type)  # the host may have lost its GPU since
        self._within_quotas(ctx, row.instance_type, instance_id=row.instance_id)  # not counted while Stopped
        self._set_status(row.instance_id, st.PENDING, failure_reason=None)
        self.orchestrator.start(row.instance_id)
        return {}

    def StopNotebookInstance(self, ctx: RequestContext, params: dict) -> dict:
        row = self._instance(ctx, params["NotebookInstanceName"])
        st.require_transition(row.status, st.STOPPING, row.arn)
        self._set_status(row.instance_id, st.STOPPING)
        self.orchestrator.stop(row.instance_id)
        return {}

    def DeleteNotebookInstance(self, ctx: RequestContext, params: dict) -> dict:
        row = self._instance(ctx, params["NotebookInstanceName"])
        st.require_transition(row.status, st.DELETING, row.arn)
        self._set_status(row.instance_id, st.DELETING)
        self.orchestrator.delete(row.instance_id)
        return {}

    def UpdateNotebookInstance(self, ctx: RequestContext, params: dict) -> dict:
        row = self._instance(ctx, params["NotebookInstanceName"])
        st.require_transition(row.status, st.UPDATING, row.arn)
        values: dict = {}
        settings = dict(row.settings)
        if "InstanceType" in params:
            self._instance_type(params["InstanceType"])
            if params["InstanceType"] != row.instance_type:
                # Another type for the same instance: the total stays as it is, the new type's quota may not.
                self._within_quotas(ctx, params["InstanceType"], total=False, instance_id=row.instance_id)
            values["instance_type"] = params["InstanceType"]
        if "RoleArn" in params:
            values["role_arn"] = params["RoleArn"]
        if params.get("DisassociateLifecycleConfig"):
            values["lifecycle_config_name"] = None
        elif params.get("LifecycleConfigName"):
            self._lifecycle_config_exists(ctx, params["LifecycleConfigName"])
            values["lifecycle_config_name"] = params["LifecycleConfigName"]
        if "VolumeSizeInGB" in params:
            if params["VolumeSizeInGB"] < row.volume_size_gb:
                raise validation_error(
                    f"VolumeSizeInGB can only grow: the volume of Notebook Instance ({row.arn}) is "
                    f"{row.volume_size_gb} GB, which is more than {params['VolumeSizeInGB']} GB."
                )
            values["volume_size_gb"] = params["VolumeSizeInGB"]
        for key in ("AcceleratorTypes", "DefaultCodeRepository", "AdditionalCodeRepositories", "RootAccess",
                    "InstanceMetadataServiceConfiguration", "IpAddressType"):
            if key in params:
                settings[key] = params[key]
        for flag, key in (
            ("DisassociateAcceleratorTypes", "AcceleratorTypes"),
            ("DisassociateDefaultCodeRepository", "DefaultCodeRepository"),
            ("DisassociateAdditionalCodeRepositories", "AdditionalCodeRepositories"),
        ):
            if params.get(flag):
                settings.pop(key, None)
        # Updating is a real, visible state; the orchestrator returns the instance to Stopped.
        self._set_status(row.instance_id, st.UPDATING, settings=settings, **values)
        self.orchestrator.finish_update(row.instance_id)
        return {}

    def CreatePresignedNotebookInstanceUrl(self, ctx: RequestContext, params: dict) -> dict:
        row = self._instance(ctx, params["NotebookInstanceName"])
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(notebook_tokens).values(
                    token=token,
                    instance_id=row.instance_id,
                    expires=time.time() + self.settings.presigned_url_ttl,
                    session_seconds=params.get("SessionExpirationDurationInSeconds", 43200),
                    used=False,
                )
            )
            # Spent and stale tokens have no use; keep the table small.
            conn.execute(delete(notebook_tokens).where(notebook_tokens.c.expires < time.time()))
        # As AWS's https://<name>.notebook.<region>.sagemaker.aws?authToken=…: the instance's own origin.
        origin = notebook_origin(ctx.endpoint_url, row.name, ctx.account_id, ctx.region, self.settings.notebook_domain)
        return {"AuthorizedUrl": f"{origin}/?authToken={token}"}
