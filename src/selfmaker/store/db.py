"""Opening the store: SQLite in WAL mode under the data dir, or PostgreSQL; migrated to the newest schema."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from selfmaker.store.migrations.upgrade import SchemaError, upgrade

log = logging.getLogger(__name__)
# Orders in which names sort as SQLite sorts them (by code point), so that listings and their page tokens agree.
_CODE_POINT_COLLATIONS = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}


def database_url(path_or_url: Path | str) -> str:
    """A SQLAlchemy URL for a SQLite file path or a database URL; plain postgresql:// (and postgres://, as
    libpq spells it) means psycopg 3, the driver Selfmaker depends on, not SQLAlchemy's default psycopg2."""
    url = str(path_or_url)
    if "://" not in url:
        return f"sqlite:///{url}"
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


class StoreError(Exception):
    """The store cannot be opened: a malformed URL, an unknown database kind, a server that refuses us, or a
    schema this Selfmaker cannot migrate (a newer one's)."""


def open_store(path_or_url: Path | str) -> Engine:
    try:
        return _open(database_url(path_or_url))
    except (ArgumentError, NoSuchModuleError, ValueError) as err:  # ValueError: a port that is no number
        raise StoreError(f"{redacted(path_or_url)}: {err}") from None
    except OperationalError as err:
        raise StoreError(f"cannot reach {redacted(path_or_url)}: {str(err.orig).strip()}") from None
    except SchemaError as err:
        raise StoreError(f"{redacted(path_or_url)}: {err}") from None


def _open(url: str) -> Engine:
    if make_url(url).get_backend_name() not in ("sqlite", "postgresql"):  # the two the tests run on
        raise ArgumentError("only postgresql:// URLs (or SQLite, the default) are supported")
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if make_url(url).get_backend_name() == "postgresql":
        # A database server may drop idle connections (restarts, failovers): check each before use.
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    else:
        engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    upgrade(engine)
    if engine.dialect.name == "postgresql":
        _check_collation(engine)
    return engine


def _check_collation(engine: Engine) -> None:
    with engine.connect() as conn:
        collation = conn.execute(text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
                                 ).scalar()
    if collation not in _CODE_POINT_COLLATIONS:
        log.warning("the database sorts text by %s: lists come out in another order than AWS's (create it with "
                    "createdb --template=template0 --locale=C.UTF-8)", collation)


def redacted(path_or_url: Path | str) -> str:
    """The store's location for messages: a URL without its password."""
    url = str(path_or_url)
    if "://" not in url:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL at all: its scheme says enough
        return url.split("://", 1)[0] + "://…"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL sync is durable across process crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
