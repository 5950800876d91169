"""Alembic's command line on the store's migrations, for developers (there is no alembic.ini):

    python -m selfmaker.store.migrations revision --autogenerate -m "what changes"
    python -m selfmaker.store.migrations check            # do the models and the migrations agree?
    python -m selfmaker.store.migrations history

Commands that need a database get a scratch SQLite one that every migration has been run on (what autogenerate
compares the models with); ``-x database=postgresql://…`` names a real one instead, left at its revision.

New revisions are numbered: the next number unless ``--rev-id`` gives one."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import CommandLine

from selfmaker.store.db import database_url
from selfmaker.store.migrations import head
from selfmaker.store.migrations.upgrade import alembic_config


def main(argv: list[str]) -> None:
    cli = CommandLine(prog="python -m selfmaker.store.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    if hasattr(options, "rev_id"):  # `revision`: numbered, so that the store knows its head from the file names
        options.rev_id = options.rev_id or f"{int(head()) + 1:04d}"
        if not (len(options.rev_id) == 4 and options.rev_id.isdigit()):
            cli.parser.error("--rev-id: a revision's id is its number, four digits")
    named = dict(arg.split("=", 1) for arg in options.x or [] if "=" in arg)
    with tempfile.TemporaryDirectory() as scratch:
        config = alembic_config()
        url = database_url(named.get("database") or Path(scratch) / "head.db")
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # no interpolation
        if "database" not in named:
            command.upgrade(config, "head")  # the migrations, not the models' create_all: what they compare
        # New revisions come out in the house style (ruff is a test dependency).
        for key, value in {"hooks": "ruff", "ruff.type": "exec", "ruff.executable": sys.executable,
                           "ruff.options": "-m ruff format REVISION_SCRIPT_FILENAME"}.items():
            config.set_section_option("post_write_hooks", key, value)
        cli.run_cmd(config, options)


if __name__ == "__main__":
    main(sys.argv[1:])
