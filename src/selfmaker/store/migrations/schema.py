"""Every table of the control plane, on the one shared ``MetaData``: what the migrations must produce, and what
``alembic revision --autogenerate`` compares a database with."""

from __future__ import annotations

from importlib import import_module

from sqlalchemy import MetaData

# Each module that puts tables on the shared metadata (a test checks that a server defines no others).
TABLE_MODULES = (
    "selfmaker.store.tables",
    "selfmaker.store.leases",
    "selfmaker.console.tables",
    "selfmaker.services.budgets.tables",
    "selfmaker.services.cloudformation.tables",
    "selfmaker.services.iam.tables",
    "selfmaker.services.metering.tables",
    "selfmaker.services.quotas.tables",
    "selfmaker.services.sagemaker.code_repositories",
    "selfmaker.services.sns.tables",
)

# How a database is compared with the models, by autogenerate and by the tests' check alike.
COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True}


def target_metadata() -> MetaData:
    for name in TABLE_MODULES:
        import_module(name)
    from selfmaker.store.tables import metadata

    return metadata
