"""``blockchain_events``: every indexed event in one relation, a view over the raw event tables.

Each event is stored once, in its raw table (typed columns, one table per event type). The
view puts them side by side for people reading the database: the chain columns, the contract
and event names, and the event's parameters as a JSON object keyed by column name. Order is
``ORDER BY block_number, log_index``, as for any relation.

It was a table once, written beside the raw tables: a second copy of every event that cost
as much as the first (a third of SQLite's time in a backfill with plugins). ``rebuild`` reads
the raw tables themselves now (``from_sql`` of the generated classes).

JSON values, per column type:

* ExactInt: a number, exact: NUMERIC on PostgreSQL; on SQLite the INTEGER, or the digits of
  a value beyond 64 bits (see :mod:`.sqltypes`).
* bytes: ``"0x..."`` hex; booleans: true/false; arrays and structs: as stored (JSON).

On PostgreSQL the JSON is of type ``json`` (``jsonb`` refuses the ``\u0000`` that a string
with a NUL has in a JSON column), ``jsonb`` only for an event of over 40 parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import views
from .chain import CHAIN_COLUMNS
from .sqltypes import ExactInt

__all__ = ["NAME", "create", "view_sql"]

NAME = "blockchain_events"

# The chain columns (chain.CHAIN_COLUMNS) in the order the view shows them: the key first.
_CHAIN = (
    "block_number", "log_index", "block_hash", "block_timestamp", "tx_hash", "tx_index",
    "contract_address",
)
# Function arguments are limited (PostgreSQL 100, SQLite 127): objects of more parameters
# are built in parts and merged.
_PAIRS = 40


def view_sql(conn: Connection, events: Sequence[type[Any]]) -> str | None:
    """``CREATE VIEW`` of ``events``' raw tables for this connection's database; None if none."""
    if not events:
        return None
    postgresql = conn.dialect.name == "postgresql"
    q = conn.dialect.identifier_preparer.quote
    parts = []
    for cls in events:
        table: sa.Table = cls.TABLE
        params = list(table.columns)[len(CHAIN_COLUMNS) :]
        pairs = [f"{_literal(c.name)}, {_value(c, q(c.name), postgresql)}" for c in params]
        if not postgresql:
            build = "json_object"
        else:  # jsonb only where its || is needed to merge the parts
            build = "jsonb_build_object" if len(pairs) > _PAIRS else "json_build_object"
        chunks = [pairs[i : i + _PAIRS] for i in range(0, len(pairs), _PAIRS)] or [[]]
        objects = [f"{build}({', '.join(chunk)})" for chunk in chunks]
        args = objects[0]
        for more in objects[1:]:
            args = f"{args} || {more}" if postgresql else f"json_patch({args}, {more})"
        if postgresql and len(objects) > 1:
            args = f"({args})::json"
        text = "::text" if postgresql else ""
        parts.append(
            f"SELECT {', '.join(q(c) for c in _CHAIN)}, "
            f"{_literal(cls.CONTRACT)}{text} AS contract, {_literal(cls.NAME)}{text} AS event, "
            f"{args} AS args FROM {q(table.name)}"
        )
    return f"CREATE VIEW {q(NAME)} AS\n" + "\nUNION ALL\n".join(parts)


def create(conn: Connection, events: Sequence[type]) -> None:
    """Make the view match ``events`` (see :func:`.views.ensure`)."""
    views.ensure(conn, NAME, view_sql(conn, events))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(column: sa.Column[Any], name: str, postgresql: bool) -> str:
    t = column.type
    if isinstance(t, sa.LargeBinary):
        return f"'0x' || encode({name}, 'hex')" if postgresql else f"'0x' || lower(hex({name}))"
    if postgresql:
        return name
    if isinstance(t, ExactInt):  # an INTEGER, or the digits of a larger value as a BLOB
        digits = f"CAST({name} AS TEXT)"
        return (
            f"CASE WHEN typeof({name}) <> 'blob' THEN {name} "
            f"WHEN substr({digits}, 1, 1) = '-' "
            f"THEN json('-' || ltrim(substr({digits}, 2), '0')) "
            f"ELSE json(ltrim({digits}, '0')) END"
        )
    if isinstance(t, sa.Boolean):
        return f"json(CASE WHEN {name} THEN 'true' ELSE 'false' END)"
    if isinstance(t, sa.JSON):
        return f"json({name})"
    return name

