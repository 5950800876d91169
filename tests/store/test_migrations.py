"""Schema migrations (Alembic), on SQLite and PostgreSQL: every migration run on an empty database gives exactly
the models' schema (the check that fails when someone changes a table without a migration), and so does opening
an empty store; a store made by ``create_all`` before migrations is stamped and served; a newer Selfmaker's store
is refused and left alone; two processes migrating one PostgreSQL at once both succeed; a server's usual start
(an empty store or an up-to-date one) does not load Alembic."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

import selfmaker.gateway.app  # noqa: F401  (every table a server defines, on the shared metadata)
from selfmaker.store.db import StoreError, database_url, open_store
from selfmaker.store.migrations import VERSIONS, head
from selfmaker.store.migrations.schema import COMPARE_OPTIONS
from selfmaker.store.migrations.upgrade import BASELINE, MIGRATION_LOCK_KEY, alembic_config
from selfmaker.store.tables import metadata
from tests.conftest import ACCOUNT, REGION, VENV_BIN, ServerProcess, free_port, running_server

FUTURE = "9999_from_a_newer_selfmaker"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> str:
    """An empty database, as ``open_store`` and ``--database`` take it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres").create_database()


def _revisions(url: str) -> list[str]:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def _differences(url: str) -> list:
    """What autogenerate would still write: nothing, when the database has the models' schema."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts=COMPARE_OPTIONS), metadata)
    finally:
        engine.dispose()


def _make_legacy(url: str) -> None:
    """A store as Selfmaker made it before migrations: the baseline's tables and no ``alembic_version`` (the
    baseline was written from what ``create_all`` made then, and creates the same schema to the byte)."""
    engine = create_engine(database_url(url))
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), BASELINE)
            conn.execute(text("DROP TABLE alembic_version"))
    finally:
        engine.dispose()


def test_the_migrations_make_the_models_schema(store):
    engine = create_engine(database_url(store))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    assert _revisions(store) == [head()]
    assert _differences(store) == []


def test_an_empty_store_opens_at_head_with_the_models_schema(store):
    open_store(store).dispose()
    assert _revisions(store) == [head()]
    assert _differences(store) == []


def test_the_revisions_are_numbered_after_their_files():
    """What lets the store find its head from the file names alone."""
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_current_head() == head()
    names = {script.revision: Path(script.path).name for script in scripts.walk_revisions()}
    assert all(name.startswith(f"{revision}_") and revision.isdigit() for revision, name in names.items()), names
    assert sorted(path.name for path in VERSIONS.glob("*.py")) == sorted(names.values())


def test_the_baseline_creates_the_tables_it_names(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _make_legacy(url)
    baseline = ScriptDirectory.from_config(alembic_config()).get_revision(BASELINE).module
    assert sorted(inspect(create_engine(url)).get_table_names()) == sorted(baseline.TABLES)


def test_the_migrations_know_every_table_a_server_defines():
    """env.py's list of table modules: a module missing from it would make autogenerate drop its tables."""
    listed = subprocess.run([sys.executable, "-c", "from selfmaker.store.migrations.schema import target_metadata; "
                             "print(' '.join(sorted(target_metadata().tables)))"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert listed.stdout.split() == sorted(metadata.tables)


def test_the_developers_check_command_finds_nothing_to_migrate():
    checked = subprocess.run([sys.executable, "-m", "selfmaker.store.migrations", "check"],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr


def test_a_store_made_before_migrations_is_stamped_and_served(store, tmp_path):
    _make_legacy(store)
    engine = create_engine(database_url(store))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO log_groups (account_id, region, name, creation_time) "
                          "VALUES (:account, :region, '/made/before/migrations', 1700000000000)"),
                     {"account": ACCOUNT, "region": REGION})
    engine.dispose()
    with running_server(tmp_path, database_url=store) as server:
        logs = server.client("logs")
        logs.create_log_group(logGroupName="/made/after")
        names = [group["logGroupName"] for group in logs.describe_log_groups()["logGroups"]]
    assert names == ["/made/after", "/made/before/migrations"]
    assert _revisions(store) == [head()]
    assert _differences(store) == []


def test_a_store_missing_some_of_the_baselines_tables_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _make_legacy(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE budgets"))
    with pytest.raises(StoreError, match="not budgets"):
        open_store(url)
    assert "alembic_version" not in inspect(engine).get_table_names()


def test_a_store_from_a_newer_selfmaker_is_refused_untouched(store, tmp_path):
    open_store(store).dispose()
    engine = create_engine(database_url(store))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :future"), {"future": FUTURE})
    tables = sorted(inspect(engine).get_table_names())
    engine.dispose()
    server = ServerProcess(tmp_path / "data", tmp_path / "home", database_url=store)
    started = subprocess.run([str(VENV_BIN / "selfmaker"), "up", "--port", str(free_port()), "--data-dir",
                              str(server.data_dir), *server.database_args()],
                             env=server.env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 2
    assert f"its schema is at revision {FUTURE}, which this Selfmaker does not know" in started.stderr
    assert _revisions(store) == [FUTURE]
    assert sorted(inspect(create_engine(database_url(store))).get_table_names()) == tables


@pytest.mark.parametrize("made", ["empty", "before migrations"])
def test_two_processes_migrating_one_postgresql_at_once_both_succeed(postgres, made):
    """Both wait at the migration lock (held here until they do), then one migrates and the other finds it done."""
    url = postgres.create_database()
    if made == "before migrations":
        _make_legacy(url)  # stamped, then upgraded by Alembic: the most there is to do at once
    engine = create_engine(database_url(url))
    opener = "import sys; from selfmaker.store.db import open_store; open_store(sys.argv[1]).dispose()"
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        processes = [subprocess.Popen([sys.executable, "-c", opener, url], stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
        try:
            _wait_for_lock_waiters(holder, processes)
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    assert _revisions(url) == [head()]
    assert _differences(url) == []


def _wait_for_lock_waiters(conn, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                                    )).scalar()
        conn.commit()  # each look in a transaction of its own (the session's lock stays)
        if waiting == len(processes):
            return
        assert all(process.poll() is None for process in processes), "a process ended before the lock was free"
        time.sleep(0.05)
    raise AssertionError("the processes never waited for the migration lock")


def test_a_servers_usual_start_does_not_load_alembic(store):
    """Opening an empty store, then opening it again up to date: Alembic costs a server start 0.3 s or more."""
    opener = ("import sys; from selfmaker.store.db import open_store; open_store(sys.argv[1]).dispose(); "
              "print('alembic' in sys.modules)")
    for _ in ("empty", "up to date"):
        opened = subprocess.run([sys.executable, "-c", opener, store], capture_output=True, text=True, timeout=60,
                                check=True)
        assert opened.stdout.strip() == "False"
    assert _revisions(store) == [head()]
