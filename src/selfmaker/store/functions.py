"""SQL functions that each database spells its own way, for queries that must run on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction


class position_in(GenericFunction):  # noqa: N801  (a SQL function's name)
    """``position_in(text, part)``: where ``part`` first occurs in ``text`` (1-based; 0 if not at all), case-
    sensitively: SQLite's instr, PostgreSQL's strpos (LIKE would ignore case in SQLite and treat % and _)."""

    type = Integer()
    inherit_cache = True


@compiles(position_in)
def _strpos(element, compiler, **kw) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(position_in, "sqlite")
def _instr(element, compiler, **kw) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"
