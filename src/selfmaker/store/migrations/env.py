"""Alembic's environment: run by every Alembic command, with the Config that upgrade.py builds in code (there is
no alembic.ini). At run time the store hands over its connection, already locked; the developer's commands
(``python -m selfmaker.store.migrations …``) name a database with ``-x database=URL``, or get a scratch one."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from selfmaker.store.migrations.schema import COMPARE_OPTIONS, target_metadata


def _run(connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch operations copy the table instead.
    context.configure(connection=connection, target_metadata=target_metadata(), render_as_batch=True,
                      **COMPARE_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()
