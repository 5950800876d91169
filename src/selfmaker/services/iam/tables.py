"""IAM's and STS's tables, in the shared schema (so ``open_store`` creates them).

IAM names (users, roles, managed policies) are unique regardless of case, so each has a lower-cased
``*_key`` column that uniqueness and lookups use, beside the name as it was given.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from selfmaker.store.tables import metadata

iam_users = Table(
    "iam_users",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("user_id", String(32), nullable=False),  # AIDA…
    Column("tags", JSON, nullable=False),  # [{"Key", "Value"}]
    Column("create_date", Float, nullable=False),
)

iam_roles = Table(
    "iam_roles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("role_id", String(32), nullable=False),  # AROA…
    Column("trust_policy", Text, nullable=False),  # the document as given
    Column("description", String(1000)),
    Column("max_session_duration", Integer, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("create_date", Float, nullable=False),
)

# Inline policies of users and roles: owner_kind is "user" or "role", owner_key its name_key.
iam_inline_policies = Table(
    "iam_inline_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("owner_kind", String(8), primary_key=True),
    Column("owner_key", String(64), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# Customer managed policies; AWS managed ones live in code (aws_managed.py).
iam_policies = Table(
    "iam_policies",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("policy_id", String(32), nullable=False),  # ANPA…
    Column("description", String(1000)),
    Column("default_version", String(8), nullable=False),
    Column("next_version", Integer, nullable=False),  # version ids are never reused
    Column("tags", JSON, nullable=False),
    Column("create_date", Float, nullable=False),
    Column("update_date", Float, nullable=False),
    UniqueConstraint("account_id", "name_key"),
)

iam_policy_versions = Table(
    "iam_policy_versions",
    metadata,
    Column("policy_arn", String(2048), ForeignKey("iam_policies.arn", ondelete="CASCADE"), primary_key=True),
    Column("version_id", String(8), primary_key=True),
    Column("document", Text, nullable=False),
    Column("create_date", Float, nullable=False),
)

# Managed policies (AWS or customer) attached to users and roles.
iam_attachments = Table(
    "iam_attachments",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("owner_kind", String(8), primary_key=True),
    Column("owner_key", String(64), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
)

# Console passwords ("login profiles"): at most one per user, keyed by its name_key like the tables above.
iam_login_profiles = Table(
    "iam_login_profiles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("user_key", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),  # Argon2id, in its PHC string form
    Column("password_reset_required", Boolean, nullable=False),
    Column("created", Float, nullable=False),
)

# The passwords each user was given (the current one too), newest last, for the account password policy's
# PasswordReusePrevention and MaxPasswordAge: the same Argon2id strings as iam_login_profiles held, and when
# each was set. At most 24 per user (the most PasswordReusePrevention allows); they outlive a deleted login
# profile and go with the user.
iam_password_history = Table(
    "iam_password_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("user_key", String(64), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("set_at", Float, nullable=False),
    Index("ix_iam_password_history_user", "account_id", "user_key"),
)

# The account password policy (UpdateAccountPasswordPolicy): at most one per account, as IAM answers it.
iam_password_policies = Table(
    "iam_password_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("policy", JSON, nullable=False),  # PasswordPolicy's members but ExpirePasswords, which is derived
)

# What an STS access key stands for beyond access_keys: the role session and its session policies.
sts_sessions = Table(
    "sts_sessions",
    metadata,
    Column(
        "access_key_id", String(128), ForeignKey("access_keys.access_key_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("role_arn", String(2048), nullable=False),
    Column("role_id", String(32), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("policy", Text),  # the inline session policy, if any
    Column("policy_arns", JSON, nullable=False),  # managed session policies
)

# Each notebook instance's bearer token for its credentials endpoint, and the role session it holds.
instance_credentials = Table(
    "instance_credentials",
    metadata,
    Column(
        "instance_id", String(32), ForeignKey("notebook_instances.instance_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("token", String(128), nullable=False),
    Column("access_key_id", String(128)),
)

# IAM groups: their inline policies and attachments are rows of iam_inline_policies and iam_attachments with
# owner_kind "group".
iam_groups = Table(
    "iam_groups",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("group_id", String(32), nullable=False, unique=True),  # AGPA…
    Column("create_date", Float, nullable=False),
)

# Who is in which group, by unique ids (so renaming either leaves memberships be).
iam_group_members = Table(
    "iam_group_members",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("group_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Index("ix_iam_group_members_user", "account_id", "user_id"),
)

iam_instance_profiles = Table(
    "iam_instance_profiles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("profile_id", String(32), nullable=False),  # AIPA…
    Column("tags", JSON, nullable=False),
    Column("create_date", Float, nullable=False),
)

# The role of each instance profile: the key allows one, IAM's quota (InstanceSessionsPerInstanceProfile).
iam_instance_profile_roles = Table(
    "iam_instance_profile_roles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("profile_key", String(128), primary_key=True),
    Column("role_id", String(32), nullable=False),
    Index("ix_iam_instance_profile_roles_role", "account_id", "role_id"),
)

# When each IAM user's (or the root's) access key last signed a request, for GetAccessKeyLastUsed.
iam_access_key_usage = Table(
    "iam_access_key_usage",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("last_used", Float, nullable=False),
    Column("service", String(64), nullable=False),
    Column("region", String(32), nullable=False),
)
