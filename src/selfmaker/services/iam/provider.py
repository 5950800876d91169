"""The IAM service: users and their access keys and console passwords, the account password policy, roles,
groups, instance profiles, inline and managed policies, and the account summary.

IAM is global: nothing here is scoped by region. Every change tells the directory, which drops the
compiled policies the gateway caches.
"""

from __future__ import annotations

from sqlalchemy import Engine

from selfmaker.services.iam.access_keys import AccessKeys
from selfmaker.services.iam.account_summary import AccountSummary
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.groups import Groups
from selfmaker.services.iam.inline_policies import InlinePolicies
from selfmaker.services.iam.instance_profiles import InstanceProfiles
from selfmaker.services.iam.key_usage import KeyUsage
from selfmaker.services.iam.login_profiles import LoginProfiles
from selfmaker.services.iam.managed_policies import ManagedPolicies
from selfmaker.services.iam.password_policy import PasswordPolicies
from selfmaker.services.iam.policy_entities import PolicyEntities
from selfmaker.services.iam.roles import Roles
from selfmaker.services.iam.users import Users
from selfmaker.services.identity import CredentialStore


class IAMService(Users, AccessKeys, LoginProfiles, PasswordPolicies, Roles, InlinePolicies, ManagedPolicies,
                 Groups, InstanceProfiles, PolicyEntities, AccountSummary):
    def __init__(self, engine: Engine, credentials: CredentialStore, directory: Directory):
        self.engine = engine
        self.credentials = credentials
        self.directory = directory
        self.key_usage = KeyUsage(engine)  # the gateway notes each key's use here (see gateway/app.py)
