"""A private PostgreSQL cluster for the test session: Debian's initdb and pg_ctl into a temporary directory, one
database per server, stopped and removed at the end. Skips where PostgreSQL is not installed."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
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
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it with SELFMAKER_EXTRAS=test)")
    cluster = PostgresCluster(bin_dir).start()
    try:
        yield cluster
    finally:
        cluster.stop()
