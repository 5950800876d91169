"""Authorization: every request of a non-root caller is checked against its IAM policies.

The action is ``<prefix>:<Operation>`` (the IAM prefixes of the services we serve are their SigV4 signing
names: ``sagemaker``, ``servicequotas``); the resource is the ARN the request names, else ``*``. Root is
always allowed, as on AWS, and pays nothing; others pay a cached lookup and a few regex matches.

Besides policies, the account password policy's AllowUsersToChangePassword grants every IAM user
iam:ChangePassword on itself and iam:GetAccountPasswordPolicy, as on AWS: where no policy allows either,
the authorizer reads the password policy (an explicit Deny still wins; it never gets that far).
"""

from __future__ import annotations

from sqlalchemy import Engine

from selfmaker.domain.policy import Caller, Decision, evaluate
from selfmaker.protocol.models import service_model
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.iam.directory import Directory, Principal
from selfmaker.services.iam.password_policy import account_password_policy
from selfmaker.services.sts.sessions import trust

ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity", "sts:GetSessionToken"})  # as on AWS: no permission needed
_USER_SESSION_STS = frozenset({"AssumeRole", "GetCallerIdentity", "GetSessionToken"})  # the last refuses itself
# The codes a refusal answers in, by protocol and service (_denied); who shows refusals checks these.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"})
# Operations whose IAM action is another's, as AWS defines them.
_ACTION_OF = {"sns:PublishBatch": "sns:Publish"}
# IAM operations that, without a UserName, act on the calling user (ChangePassword always does).
_SELF_OPERATIONS = frozenset({
    "GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey", "ChangePassword",
    "CreateLoginProfile", "GetLoginProfile", "DeleteLoginProfile",
})


def resource_arn(ctx: RequestContext, directory: Directory, service: str, operation: str, params: dict) -> str:
    """The ARN an IAM policy's Resource is matched against for this request."""
    if service == "sagemaker":
        if "NotebookInstanceName" in params:
            return ctx.arn("sagemaker", f"notebook-instance/{params['NotebookInstanceName'].lower()}")
        if "NotebookInstanceLifecycleConfigName" in params:
            name = params["NotebookInstanceLifecycleConfigName"].lower()
            return ctx.arn("sagemaker", f"notebook-instance-lifecycle-config/{name}")
        return params.get("ResourceArn", "*")
    if service == "logs" and "logGroupName" in params:
        return ctx.arn("logs", f"log-group:{params['logGroupName']}")
    if service == "sns":
        if "Name" in params and operation == "CreateTopic":
            return ctx.arn("sns", params["Name"])
        return params.get("TopicArn") or params.get("TargetArn") or "*"
    if service == "iam":
        # A group or instance profile named is the resource even where a user or role is named too
        # (AddUserToGroup, AddRoleToInstanceProfile), as IAM's actions define them.
        for kind, key in (("group", "GroupName"), ("instance-profile", "InstanceProfileName"), ("user", "UserName"),
                          ("role", "RoleName")):
            if key in params:
                name = params[key]
                return directory.owner_arn(ctx.account_id, kind, name) or ctx.arn("iam", f"{kind}/{name}", region="")
        if operation in _SELF_OPERATIONS and ":user/" in ctx.principal_arn:
            return ctx.principal_arn
        return params.get("PolicyArn", "*")
    if service == "sts":
        return params.get("RoleArn", "*")
    if service == "service-quotas" and "ServiceCode" in params and "QuotaCode" in params:
        return ctx.arn("servicequotas", f"{params['ServiceCode']}/{params['QuotaCode']}")
    if service == "cloudformation" and "StackName" in params:
        name = params["StackName"]
        return name if name.startswith("arn:") else ctx.arn("cloudformation", f"stack/{name}/*")
    return "*"


class Authorizer:
    """The gateway's hook: ``authorize(ctx, service, operation, params)`` raises AccessDenied or returns."""

    def __init__(self, engine: Engine, directory: Directory):
        self.engine = engine
        self.directory = directory

    def __call__(self, ctx: RequestContext, service: str, operation: str, params: dict) -> None:
        if service in ("iam", "sts") and self._user_session(ctx) and operation not in _USER_SESSION_STS:
            # GetSessionToken's credentials, as on AWS: no IAM without MFA (which Selfmaker does not offer),
            # and of STS only AssumeRole and GetCallerIdentity.
            raise ServiceError("AccessDenied", f"User: {ctx.principal_arn} is not authorized to perform: "
                               f"{service}:{operation} with session credentials from GetSessionToken", 403)
        if ctx.principal_arn.endswith(":root"):
            return
        action = f"{service_model(service).signing_name}:{operation}"  # IAM's prefix: servicequotas:…
        action = _ACTION_OF.get(action, action)
        if action in ALWAYS_ALLOWED:
            return
        principal = self.directory.principal(ctx.access_key_id, ctx.principal_arn, ctx.account_id)
        resource = resource_arn(ctx, self.directory, service, operation, params)
        self._check(ctx, principal, service, action, resource)
        if service == "sagemaker" and "RoleArn" in params:
            # Handing a role to SageMaker takes iam:PassRole on it, as on AWS.
            self._check(ctx, principal, service, "iam:PassRole", params["RoleArn"])

    def _user_session(self, ctx: RequestContext) -> bool:
        """Whether the caller uses a user's (or root's) temporary credentials, not a role session's."""
        if not ctx.access_key_id.startswith("ASIA"):
            return False
        return self.directory.principal(ctx.access_key_id, ctx.principal_arn, ctx.account_id).kind in ("user", "root")

    def _check(self, ctx: RequestContext, principal: Principal, service: str, action: str, resource: str) -> None:
        context = {**principal.context, "aws:requestedregion": ctx.region}
        decision, source = evaluate(principal.policies, action, resource, context), "identity-based"
        if decision.allowed and principal.session_policies is not None:
            # Session policies only narrow: the request needs their Allow as well.
            decision, source = evaluate(principal.session_policies, action, resource, context), "session"
        if decision.allowed:
            return
        if decision.outcome == "implicit" and action == "sts:AssumeRole" and self._trusted_by_name(principal, resource):
            return
        if decision.outcome == "implicit" and self._granted_by_password_policy(principal, action, resource):
            return
        raise self._denied(service, principal, action, resource, decision, source)

    def _trusted_by_name(self, principal: Principal, role_arn: str) -> bool:
        """A trust policy naming the caller itself grants AssumeRole with no identity policy (same account)."""
        with self.engine.connect() as conn:
            role = self.directory.role_by_arn(conn, role_arn)
        if role is None:
            return False
        names = (principal.arn, principal.role_arn) if principal.role_arn else (principal.arn,)
        return trust(role, Caller("AWS", names, principal.account_id), principal.context) == "direct"

    def _granted_by_password_policy(self, principal: Principal, action: str, resource: str) -> bool:
        """AllowUsersToChangePassword: an IAM user may change its own password and read the password policy."""
        own_password = action == "iam:ChangePassword" and resource == principal.arn
        if principal.kind != "user" or not (own_password or action == "iam:GetAccountPasswordPolicy"):
            return False
        with self.engine.connect() as conn:
            policy = account_password_policy(conn, principal.account_id)
        return policy is not None and policy["AllowUsersToChangePassword"]

    def _denied(self, service: str, principal: Principal, action: str, resource: str, decision: Decision,
                source: str) -> ServiceError:
        message = f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} "
        if decision.outcome == "deny":
            article = "an" if source == "identity-based" else "a"
            message += f"with an explicit deny in {article} {source} policy"
            if decision.policy is not None and decision.policy.arn:
                message += f": {decision.policy.arn}"
        else:
            message += f"because no {source} policy allows the {action} action"
        if service_model(service).protocol == "json":
            return ServiceError("AccessDeniedException", message, 400)
        if service == "sns":  # SNS's own code for it (botocore: AuthorizationErrorException)
            return ServiceError("AuthorizationError", message, 403)
        return ServiceError("AccessDenied", message, 403)
