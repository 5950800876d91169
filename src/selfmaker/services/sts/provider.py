"""STS: who am I, role sessions (AssumeRole), session tokens of users (GetSessionToken), and whose key is this."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import Engine

from selfmaker.domain.policy import Caller
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam.common import check_document
from selfmaker.services.iam.directory import Directory
from selfmaker.services.identity import Credential, CredentialStore, new_access_key_id, new_secret_access_key
from selfmaker.services.sts.sessions import start_session, trust

DEFAULT_DURATION = 3600
SESSION_TOKEN_DEFAULT = 43200  # GetSessionToken: 12 hours, as on AWS
ROOT_SESSION_MAX = 3600
TEMPORARY_KEY_PREFIX = "ASIA"  # what AWS's temporary access key ids begin with
CHAINED_MAX = 3600  # a role session assuming a role gets at most an hour, as on AWS


class STSService:
    def __init__(self, engine: Engine, credentials: CredentialStore, directory: Directory):
        self.engine = engine
        self.credentials = credentials
        self.directory = directory

    def GetCallerIdentity(self, ctx: RequestContext, params: dict) -> dict:
        principal = self.directory.principal(ctx.access_key_id, ctx.principal_arn, ctx.account_id)
        return {"UserId": principal.unique_id, "Account": ctx.account_id, "Arn": ctx.principal_arn}

    def GetSessionToken(self, ctx: RequestContext, params: dict) -> dict:
        """Temporary credentials of the calling user (or root) itself, with its permissions."""
        caller = self.directory.principal(ctx.access_key_id, ctx.principal_arn, ctx.account_id)
        if caller.kind == "assumed-role" or ctx.access_key_id.startswith(TEMPORARY_KEY_PREFIX):
            raise ServiceError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        duration = params.get("DurationSeconds", SESSION_TOKEN_DEFAULT)
        if caller.kind == "root" and duration > ROOT_SESSION_MAX:
            raise ServiceError("ValidationError", f"The requested DurationSeconds exceeds the {ROOT_SESSION_MAX} "
                                                  "seconds allowed for the account's root user.")
        credential = Credential(
            access_key_id=new_access_key_id(TEMPORARY_KEY_PREFIX), secret_access_key=new_secret_access_key(),
            account_id=ctx.account_id, principal_arn=ctx.principal_arn, session_token=secrets.token_urlsafe(96),
            expires=time.time() + duration,
        )
        with self.engine.begin() as conn:
            self.credentials.add(credential, conn)
        return {"Credentials": {
            "AccessKeyId": credential.access_key_id, "SecretAccessKey": credential.secret_access_key,
            "SessionToken": credential.session_token, "Expiration": credential.expires,
        }}

    def GetAccessKeyInfo(self, ctx: RequestContext, params: dict) -> dict:
        credential = self.credentials.lookup(params["AccessKeyId"])
        if credential is None:
            raise ServiceError("InvalidParameterValue",
                               f"The access key ID {params['AccessKeyId']} was not issued by this server.")
        return {"Account": credential.account_id}

    def AssumeRole(self, ctx: RequestContext, params: dict) -> dict:
        role_arn = params["RoleArn"]
        caller = self.directory.principal(ctx.access_key_id, ctx.principal_arn, ctx.account_id)
        if caller.kind == "root":
            raise ServiceError("AccessDenied", "Roles may not be assumed by root accounts.", 403)
        with self.engine.connect() as conn:
            role = self.directory.role_by_arn(conn, role_arn)
            policy_arns = tuple(item["arn"] for item in params.get("PolicyArns", []))
            for arn in policy_arns:
                if self.directory.managed_document(conn, arn) is None:
                    raise ServiceError("InvalidParameterValue", f"Policy {arn} does not exist or is not attachable.")
        # A missing role and an untrusting one read the same, so that roles cannot be probed for.
        names = (caller.arn, caller.role_arn) if caller.role_arn else (caller.arn,)
        context = {**caller.context, "sts:rolesessionname": params["RoleSessionName"]}
        if "ExternalId" in params:
            context["sts:externalid"] = params["ExternalId"]
        if role is None or trust(role, Caller("AWS", names, ctx.account_id), context) not in ("direct", "account"):
            raise ServiceError(
                "AccessDenied",
                f"User: {ctx.principal_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                403,
            )
        duration = params.get("DurationSeconds", DEFAULT_DURATION)
        if caller.kind == "assumed-role" and duration > CHAINED_MAX:
            raise ServiceError("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit "
                                                  "for roles assumed by role chaining.")
        if duration > role.max_session_duration:
            raise ServiceError("ValidationError",
                               "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        session_policy = params.get("Policy")
        if session_policy is not None:
            check_document(session_policy)
        session = start_session(self.engine, self.credentials, role, params["RoleSessionName"], duration,
                                session_policy, policy_arns)
        credential = session.credential
        return {
            "Credentials": {
                "AccessKeyId": credential.access_key_id,
                "SecretAccessKey": credential.secret_access_key,
                "SessionToken": credential.session_token,
                "Expiration": credential.expires,
            },
            "AssumedRoleUser": {"AssumedRoleId": session.assumed_role_id, "Arn": credential.principal_arn},
        }
