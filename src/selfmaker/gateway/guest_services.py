"""What this server offers inside every notebook instance's own network.

- The API at 127.0.0.1:<port>, the address in the instance's ~/.aws/config: a byte relay to this server,
  where every request is signed and checked as any other.
- The instance metadata service at 169.254.169.254:80: the instance's type, region and short-lived
  credentials of its role. The socket a connection came in on tells which instance is asking, so no
  token or secret is handed to the instance.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from selfmaker.config import Settings
from selfmaker.gateway.instance_metadata import (
    CredentialsUnavailable,
    InstanceIdentity,
    InstanceMetadataService,
    ec2_instance_id,
)
from selfmaker.runtime.sandbox.network import METADATA_ADDRESS, GuestService, tcp_relay
from selfmaker.services.sts.instance_credentials import InstanceCredentials, InstanceCredentialsError
from selfmaker.store.tables import notebook_instances

API_ADDRESS = "127.0.0.1"
# Where instances' API connections come from when the server listens on 127.0.0.1: an address of its own on
# loopback, so what only the host may do (the test-mode reset) can refuse them.
INSTANCE_SOURCE = "127.0.0.2"


def relay_source(host: str) -> str | None:
    return INSTANCE_SOURCE if host == "127.0.0.1" else None
GUEST_ADDRESS = "10.0.2.100"  # the instance's own address on its NAT's network


class GuestServices:
    def __init__(self, engine: Engine, settings: Settings, credentials: InstanceCredentials):
        self.engine = engine
        self.settings = settings
        self.credentials = credentials

    def api_url(self) -> str:
        """The API's address as an instance sees it."""
        return f"http://{API_ADDRESS}:{self.settings.port}"

    def aws_config(self, region: str) -> str:
        """~/.aws/config inside an instance: the API's endpoint and the region (boto3 and the AWS CLI v1 never
        take the region from metadata); credentials come from the metadata service."""
        return f"[default]\nregion = {region}\nendpoint_url = {self.api_url()}\n"

    def for_instance(self, instance_id: str) -> list[GuestService]:
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        metadata = InstanceMetadataService(
            lambda: self._identity(instance_id), lambda: self._role_credentials(instance_id))
        return [
            GuestService(API_ADDRESS, self.settings.port, tcp_relay(host, self.settings.port, relay_source(host))),
            GuestService(METADATA_ADDRESS, 80, metadata.handle),
        ]

    async def _identity(self, instance_id: str) -> InstanceIdentity | None:
        row = await asyncio.to_thread(self._row, instance_id)
        if row is None:
            return None
        imds = (row.settings or {}).get("InstanceMetadataServiceConfiguration") or {}
        return InstanceIdentity(
            instance_id=ec2_instance_id(instance_id),
            instance_type=row.instance_type,
            region=row.region,
            account_id=row.account_id,
            role_name=row.role_arn.rsplit("/", 1)[-1] if row.role_arn else None,
            min_version=str(imds.get("MinimumInstanceMetadataServiceVersion", "1")),
            local_ipv4=GUEST_ADDRESS,
            launch_time=datetime.fromtimestamp(row.last_modified_time, UTC),
        )

    async def _role_credentials(self, instance_id: str) -> dict:
        try:
            return await asyncio.to_thread(self.credentials.role_credentials, instance_id)
        except InstanceCredentialsError as err:
            raise CredentialsUnavailable(err.message) from None

    def _row(self, instance_id: str):
        with self.engine.connect() as conn:
            return conn.execute(
                select(notebook_instances).where(notebook_instances.c.instance_id == instance_id)
            ).first()
