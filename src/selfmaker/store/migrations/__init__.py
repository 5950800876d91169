"""The store's schema migrations (Alembic): the environment (env.py), the revisions (versions/), and the code
that brings a database to the newest revision when the store opens (upgrade.py).

Revisions are numbered (0001, 0002, …) and each file is named after its number (``python -m
selfmaker.store.migrations revision`` numbers a new one), so that the newest is known from the file names alone:
opening an up-to-date store then reads one row, and neither Alembic nor the scripts are loaded.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).with_name("versions")


@cache
def head() -> str:
    """The newest revision (a test checks that it is Alembic's head)."""
    return max(path.name[:4] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
