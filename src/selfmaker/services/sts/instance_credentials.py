"""Notebook instances act as their role: a per-instance credentials endpoint in botocore's container form.

Each instance gets a secret bearer token (kept in the store, so running sandboxes keep working across a
server restart) and two variables that botocore and the AWS CLI read:
AWS_CONTAINER_CREDENTIALS_FULL_URI (on loopback, which botocore accepts over plain HTTP) and
AWS_CONTAINER_AUTHORIZATION_TOKEN. The endpoint assumes the instance's RoleArn on behalf of the
service principal sagemaker.amazonaws.com, and hands the same session out again while it is fresh.
The instance metadata service (169.254.169.254 inside an instance) asks for the same credentials by
instance id alone, since it knows the instance by the socket a request arrived on.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from selfmaker.config import Settings
from selfmaker.domain.policy import Caller
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.tables import instance_credentials, sts_sessions
from selfmaker.services.identity import CredentialStore
from selfmaker.services.sts.sessions import assumed_role_arn, start_session, trust
from selfmaker.store.tables import notebook_instances

CREDENTIALS_PATH = "/_selfmaker/instance-credentials/"
SERVICE = "sagemaker.amazonaws.com"
SESSION_NAME = "SageMaker"  # what SageMaker names its notebook instances' role sessions
DURATION = 3600
# botocore refreshes container credentials 15 minutes before they expire; hand out none staler than 30.
MIN_REMAINING = 1800


def instance_env(engine: Engine, settings: Settings, instance_id: str) -> dict[str, str]:
    """The environment that points an instance's AWS SDKs at its credentials (made on first use)."""
    with engine.begin() as conn:
        token = conn.execute(
            select(instance_credentials.c.token).where(instance_credentials.c.instance_id == instance_id)
        ).scalar()
        if token is None:
            token = secrets.token_urlsafe(32)
            conn.execute(insert(instance_credentials).values(instance_id=instance_id, token=token))
    return {
        # Loopback, whatever address the server listens on: the sandbox shares the host's network.
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{settings.port}{CREDENTIALS_PATH}{instance_id}",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
    }


class InstanceCredentialsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class InstanceCredentials:
    def __init__(self, engine: Engine, credentials: CredentialStore, directory: Directory):
        self.engine = engine
        self.credentials = credentials
        self.directory = directory

    def issue(self, instance_id: str, token: str) -> dict:
        """Container-credentials JSON for the instance's role, or InstanceCredentialsError."""
        self.check_token(instance_id, token)
        return self.role_credentials(instance_id)

    def check_token(self, instance_id: str, token: str) -> None:
        """Raise InstanceCredentialsError unless ``token`` is the instance's bearer token."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(instance_credentials.c.token)
                # Only an instance that still exists has a token that counts.
                .join(notebook_instances, notebook_instances.c.instance_id == instance_credentials.c.instance_id)
                .where(instance_credentials.c.instance_id == instance_id)
            ).first()
        if row is None or not hmac.compare_digest(row.token.encode(), token.encode()):
            raise InstanceCredentialsError(
                403, "AccessDenied", "The authorization token is missing or not this notebook instance's."
            )

    def role_credentials(self, instance_id: str) -> dict:
        """Credentials for the instance's role, with no token: the caller has already told which instance
        is asking (the instance metadata service knows it by the socket a request came in on)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(notebook_instances.c.role_arn, instance_credentials.c.access_key_id)
                .outerjoin(instance_credentials, instance_credentials.c.instance_id == notebook_instances.c.instance_id)
                .where(notebook_instances.c.instance_id == instance_id)
            ).first()
            if row is None:
                raise InstanceCredentialsError(404, "NotFound", f"Notebook instance {instance_id} does not exist.")
            role = self.directory.role_by_arn(conn, row.role_arn)
            current = self._current(conn, row.access_key_id, role)
        if role is None:
            raise InstanceCredentialsError(
                404, "NoSuchEntity",
                f"The notebook instance's role {row.role_arn} does not exist: create it (trusting {SERVICE}), "
                "or give the instance another RoleArn.",
            )
        if trust(role, Caller("Service", (SERVICE,)), {}) != "direct":
            raise InstanceCredentialsError(
                403, "AccessDenied",
                f"The trust policy of role {role.arn} does not allow {SERVICE} to perform sts:AssumeRole, so the "
                f"notebook instance cannot act as it. Add a statement with \"Principal\": {{\"Service\": "
                f"\"{SERVICE}\"}} and \"Action\": \"sts:AssumeRole\".",
            )
        if current is None:
            current = start_session(self.engine, self.credentials, role, SESSION_NAME, DURATION).credential
            self._remember(instance_id, current.access_key_id)
        return {
            "AccessKeyId": current.access_key_id,
            "SecretAccessKey": current.secret_access_key,
            "Token": current.session_token,
            "Expiration": datetime.fromtimestamp(current.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _remember(self, instance_id: str, access_key_id: str) -> None:
        """Keep the session to hand out again; an instance that never had the container variables made has
        no row yet, so it gets one (with a token of its own, as instance_env would make)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(instance_credentials).where(instance_credentials.c.instance_id == instance_id)
                .values(access_key_id=access_key_id)
            ).rowcount
            if not done:
                conn.execute(insert(instance_credentials).values(
                    instance_id=instance_id, token=secrets.token_urlsafe(32), access_key_id=access_key_id))

    def _current(self, conn, access_key_id: str | None, role):
        """The instance's last session when it is still of this role and fresh enough to hand out again."""
        if access_key_id is None or role is None:
            return None
        credential = self.credentials.lookup(access_key_id)
        if credential is None or credential.expires - time.time() < MIN_REMAINING:
            return None
        role_id = conn.execute(
            select(sts_sessions.c.role_id).where(sts_sessions.c.access_key_id == access_key_id)
        ).scalar()
        if role_id != role.role_id or credential.principal_arn != assumed_role_arn(role, SESSION_NAME):
            return None
        return credential
