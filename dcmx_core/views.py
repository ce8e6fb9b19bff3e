"""Views: relations the database computes from stored rows, never written by the indexer.

A plugin whose table would hold a projection of raw event rows (one row per event, columns
renamed or derived) declares a view instead (``Declaration(views=[...])``): each event is then
stored once, in its raw table. A copy costs as much to write as the raw row itself, its indexes
as much to keep, and it has to be journaled and rolled back; a view has nothing to undo after
a fork and nothing to rebuild.

:func:`view` gives a :class:`sqlalchemy.Table` to query like any other (its columns are the
select's, with their types, so values come back as from the raw table). The core makes it with
``CREATE VIEW`` after the tables, and makes it again when its definition changes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["create_sql", "ensure", "is_view", "view"]

_KEY = "dcmx_view"


def view(name: str, select: sa.Select[Any]) -> sa.Table:
    """A view ``name`` defined by ``select``, for ``Declaration.views`` and for queries.

    ``select`` may read the raw event tables of the events the plugin consumes and the
    plugin's own tables; literals in it are written into the view's SQL. Its column names
    (use ``.label()``) are the view's.
    """
    columns = [sa.Column(c.name, c.type) for c in select.selected_columns]
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"view {name!r} would have two columns named {dupes}; label them")
    return sa.Table(name, sa.MetaData(), *columns, info={_KEY: select})


def is_view(table: sa.Table) -> bool:
    return _KEY in table.info


def create_sql(conn: Connection, table: sa.Table) -> str:
    """``CREATE VIEW`` of ``table`` (made by :func:`view`) for this connection's database."""
    select = table.info[_KEY]
    body = select.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return f"CREATE VIEW {conn.dialect.identifier_preparer.quote(table.name)} AS {body}"


def ensure(conn: Connection, name: str, sql: str | None) -> None:
    """Make view ``name`` the one ``sql`` creates (none when ``sql`` is None); left alone when
    it already is, so that a reader of the view does not hold up the indexer's start.

    The definition is recognised by a digest of ``sql``: in the view's comment on PostgreSQL
    (which keeps a view's query in its own normalised form), by its text on SQLite.
    """
    digest = "dcmx " + hashlib.sha256(sql.encode()).hexdigest() if sql else None
    q = conn.dialect.identifier_preparer.quote
    if conn.dialect.name == "postgresql":
        found = conn.execute(sa.text(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
            "WHERE c.relname = :n AND c.relkind = 'v' AND pg_table_is_visible(c.oid)"
        ), {"n": name}).first()
    else:
        found = conn.execute(sa.text(
            "SELECT :d FROM sqlite_master WHERE type = 'view' AND name = :n AND sql = :s"
        ), {"n": name, "s": sql, "d": digest}).first()
    if found is not None and found[0] == digest:
        return
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {q(name)}")
    if sql:
        conn.exec_driver_sql(sql)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"COMMENT ON VIEW {q(name)} IS '{digest}'")
