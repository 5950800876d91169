"""Bringing a database to the newest revision when the store opens, under a lock, so that two processes starting
at once on one PostgreSQL migrate it once:
- an empty database gets the models' tables and is stamped at head (what running every migration makes, a test
  checks, in a fraction of the time: a server start does not load Alembic, and the tests start hundreds);
- one made by the Selfmaker of before migrations (``create_all``: tables but no ``alembic_version``) is stamped at
  the baseline, then upgraded; one at an older revision is upgraded;
- one at a revision this Selfmaker does not know (a newer one made it) is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Column, Connection, Engine, MetaData, PrimaryKeyConstraint, String, Table, inspect, text

from selfmaker.store.migrations import head
from selfmaker.store.migrations.schema import target_metadata

BASELINE = "0001"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock's key ("selfmkr" in ASCII): scoped to the one database, held until the migration commits.
MIGRATION_LOCK_KEY = 0x73656C666D6B72
# Alembic's own table, as Alembic creates it, for stamping an empty database without loading Alembic.
_versions = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), nullable=False),
                  PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


class SchemaError(Exception):
    """The database's schema is not one this Selfmaker can bring up to date."""


def upgrade(engine: Engine) -> None:
    """The store at the newest revision; an up-to-date one costs one read, and neither path of a server's usual
    start (up to date, empty) loads Alembic."""
    with engine.connect() as conn:
        if _stored_revisions(conn) == {head()}:
            return
    with engine.connect() as conn, _locked(conn):
        stored = _stored_revisions(conn)  # again: another process may have done it while we waited for the lock
        if stored == {head()}:
            return
        models = target_metadata()
        if not stored and not set(inspect(conn).get_table_names()) & set(models.tables):
            models.create_all(conn)
            _versions.create(conn)
            conn.execute(_versions.insert().values(version_num=head()))
        else:
            _migrate(conn, stored)


def alembic_config(connection: Connection | None = None):
    """Alembic's Config, built in code: the scripts are this package's files, wherever it is installed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def _stored_revisions(conn: Connection) -> set[str]:
    if not inspect(conn).has_table(VERSION_TABLE):
        return set()
    return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


@contextmanager
def _locked(conn: Connection) -> Iterator[None]:
    """One transaction that holds the database's migration lock; committed when the block ends without error."""
    if conn.dialect.name == "postgresql":
        with conn.begin():  # DDL is transactional there: a failed migration leaves nothing half done
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            yield
        return
    # SQLite, as its manual says to change a schema: foreign keys off (a batch operation copies a table and drops
    # the old one, and that DROP would cascade onto the rows pointing at it), then one write transaction
    # (BEGIN IMMEDIATE: a second process waits for the first), checked before it commits.
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise SchemaError(f"the migration left rows pointing at nothing: {broken[:5]}")
        conn.commit()
    finally:
        conn.rollback()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


def _migrate(conn: Connection, stored: set[str]) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(conn)
    scripts = ScriptDirectory.from_config(config)
    unknown = stored - {script.revision for script in scripts.walk_revisions()}
    if unknown:
        raise SchemaError(f"its schema is at revision {', '.join(sorted(unknown))}, which this Selfmaker does not "
                          "know: a newer Selfmaker made it. Run that version (or a newer one); the database was "
                          "left as it is")
    if not stored and _is_legacy(conn, scripts.get_revision(BASELINE).module.TABLES):
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")


def _is_legacy(conn: Connection, baseline_tables: tuple[str, ...]) -> bool:
    """Whether the database was made by ``create_all`` before migrations: it has all the baseline's tables."""
    present = set(inspect(conn).get_table_names()) & set(baseline_tables)
    if not present:
        return False
    missing = sorted(set(baseline_tables) - present)
    if missing:
        raise SchemaError(f"it has some of Selfmaker's tables but not {', '.join(missing)}: it was made by an "
                          "older Selfmaker than this one can migrate, or damaged; the database was left as it is")
    return True
