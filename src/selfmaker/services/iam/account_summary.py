"""GetAccountSummary: how many of each IAM entity the account has, beside IAM's default quotas.

Counts come from the store; what Selfmaker does not have (MFA devices, server and signing certificates,
identity providers) counts zero.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from selfmaker.services.base import RequestContext
from selfmaker.services.iam.access_keys import MAX_KEYS
from selfmaker.services.iam.groups import MAX_GROUPS_PER_USER
from selfmaker.services.iam.managed_policies import MAX_ATTACHED, MAX_VERSIONS
from selfmaker.services.iam.tables import (
    iam_groups,
    iam_instance_profiles,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_users,
)
from selfmaker.store.tables import access_keys

# AWS's default quotas, as GetAccountSummary reports them.
QUOTAS = {
    "UsersQuota": 5000, "GroupsQuota": 300, "RolesQuota": 1000, "PoliciesQuota": 1500,
    "InstanceProfilesQuota": 1000, "ServerCertificatesQuota": 20, "GroupsPerUserQuota": MAX_GROUPS_PER_USER,
    "AccessKeysPerUserQuota": MAX_KEYS, "SigningCertificatesPerUserQuota": 2,
    "AttachedPoliciesPerUserQuota": MAX_ATTACHED, "AttachedPoliciesPerGroupQuota": MAX_ATTACHED,
    "AttachedPoliciesPerRoleQuota": MAX_ATTACHED, "PolicySizeQuota": 6144, "UserPolicySizeQuota": 2048,
    "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240, "AssumeRolePolicySizeQuota": 2048,
    "VersionsPerPolicyQuota": MAX_VERSIONS, "PolicyVersionsInUseQuota": 10000,
}
_NONE_HERE = ("MFADevices", "MFADevicesInUse", "AccountMFAEnabled", "AccountSigningCertificatesPresent",
              "ServerCertificates", "Providers")

_VERSIONS = iam_policy_versions.join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)


def _count(conn: Connection, table, *where) -> int:
    return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


class AccountSummary:
    engine: Engine

    def GetAccountSummary(self, ctx: RequestContext, params: dict) -> dict:
        account = ctx.account_id
        with self.engine.connect() as conn:
            counts = {
                "Users": _count(conn, iam_users, iam_users.c.account_id == account),
                "Groups": _count(conn, iam_groups, iam_groups.c.account_id == account),
                "Roles": _count(conn, iam_roles, iam_roles.c.account_id == account),
                "Policies": _count(conn, iam_policies, iam_policies.c.account_id == account),
                "PolicyVersionsInUse": _count(conn, _VERSIONS, iam_policies.c.account_id == account),
                "InstanceProfiles": _count(conn, iam_instance_profiles, iam_instance_profiles.c.account_id == account),
                "AccountAccessKeysPresent": min(1, _count(  # root's own keys, not its session credentials
                    conn, access_keys, access_keys.c.principal_arn == f"arn:aws:iam::{account}:root",
                    access_keys.c.session_token.is_(None))),
            }
        return {"SummaryMap": {**QUOTAS, **dict.fromkeys(_NONE_HERE, 0), **counts, "GlobalEndpointTokenVersion": 1}}
