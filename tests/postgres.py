"""A private PostgreSQL cluster for the test session: Debian's initdb and pg_ctl into a temporary directory, started
on first use, one database per server, stopped and removed when the session ends. Skips where PostgreSQL is not
installed.

With SELFMAKER_TEST_STORE=postgresql every server and store the tests open lives in a database of its own on
that cluster (``store_at``); otherwise SQLite, and only the store's own tests use the cluster (``postgres``)."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """One cluster, listening on a free loopback port and on a socket in its own directory."""

    def __init__(self, bin_dir: Path):
        from tests.conftest import free_port  # here: conftest imports this module for its fixture

        self.bin_dir = bin_dir
        # initdb refuses to run as root: as root (the tests' usual case) the cluster belongs to `postgres`.
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.base = Path(tempfile.mkdtemp(prefix="selfmaker-pg-"))  # not under pytest's root-only tmp dirs
        shutil.chown(self.base, self.user)
        self.data = self.base / "data"
        self.port = free_port()
        self.databases = 0

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([str(self.bin_dir / tool), *args], check=True, capture_output=True, timeout=120,
                       cwd=self.base, user=self.user if os.geteuid() == 0 else None)

    def start(self) -> PostgresCluster:
        # C.UTF-8: text sorts by code point, as SQLite and AWS sort it, whatever the host's locale.
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        # Every server holds a pool of connections, and a whole suite's worth of them may be open at once.
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c max_connections=1000 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self) -> str:
        """A new, empty database; its URL, in the form `selfmaker up --database` takes."""
        self.databases += 1
        name = f"selfmaker{self.databases}"
        self._run("createdb", "-h", str(self.base), "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


_cluster: PostgresCluster | None = None
_databases: dict[Path, str] = {}  # a SQLite path the tests asked for → the database that stands in for it


def session_cluster() -> PostgresCluster:
    """The session's cluster, started on first use and stopped when the session's process ends."""
    global _cluster
    if _cluster is None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it with SELFMAKER_EXTRAS=test)")
        _cluster = PostgresCluster(bin_dir).start()
        atexit.register(_cluster.stop)
    return _cluster


def on_postgresql() -> bool:
    """Whether this run keeps the tests' stores on PostgreSQL (./test runs the suite both ways)."""
    return os.environ.get("SELFMAKER_TEST_STORE", "sqlite") == "postgresql"


def store_at(sqlite_path: Path) -> str | Path:
    """Where a test's store lives: the SQLite file given, or on a PostgreSQL run a database of its own, the same
    one each time for the same path (a server restarted on its data dir finds its data again)."""
    if not on_postgresql():
        return sqlite_path
    key = sqlite_path.resolve()
    if key not in _databases:
        _databases[key] = session_cluster().create_database()
    return _databases[key]


@pytest.fixture(scope="session")
def postgres() -> PostgresCluster:
    return session_cluster()
