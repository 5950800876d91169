"""Role sessions: whether a role's trust policy lets a caller in, and the temporary credentials it gets.

Shared by AssumeRole (callers with access keys) and the notebook-instance credentials endpoint (the
service principal sagemaker.amazonaws.com).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, insert

from selfmaker.domain.policy import Caller, Grant, compile_policy, trust_grant
from selfmaker.services.iam.tables import sts_sessions
from selfmaker.services.identity import Credential, CredentialStore, new_access_key_id, new_secret_access_key

# Expired keys stay a day, so that their use is answered "expired" rather than "invalid", then go.
KEEP_EXPIRED = 86_400


def trust(role, caller: Caller, context: Mapping[str, str]) -> Grant:
    """What the role's trust policy says of ``caller`` assuming it (a row of iam_roles)."""
    return trust_grant(compile_policy(json.loads(role.trust_policy)), "sts:AssumeRole", caller, context)


@dataclass(frozen=True)
class Session:
    credential: Credential
    assumed_role_id: str  # AROA…:<session name>


def assumed_role_arn(role, session_name: str) -> str:
    partition = role.arn.split(":")[1]  # the role's own: a session is in its role's partition
    return f"arn:{partition}:sts::{role.account_id}:assumed-role/{role.name}/{session_name}"


def start_session(
    engine: Engine,
    credentials: CredentialStore,
    role,
    session_name: str,
    duration: int,
    policy: str | None = None,
    policy_arns: tuple[str, ...] = (),
) -> Session:
    """Issue temporary credentials for a session of ``role``; the caller has checked the trust policy."""
    now = time.time()
    credentials.purge_expired(now - KEEP_EXPIRED)
    credential = Credential(
        access_key_id=new_access_key_id("ASIA"),
        secret_access_key=new_secret_access_key(),
        account_id=role.account_id,
        principal_arn=assumed_role_arn(role, session_name),
        session_token=secrets.token_urlsafe(96),
        expires=now + duration,
    )
    with engine.begin() as conn:
        credentials.add(credential, conn)
        conn.execute(
            insert(sts_sessions).values(
                access_key_id=credential.access_key_id, role_arn=role.arn, role_id=role.role_id,
                session_name=session_name, policy=policy, policy_arns=list(policy_arns),
            )
        )
    return Session(credential, f"{role.role_id}:{session_name}")
