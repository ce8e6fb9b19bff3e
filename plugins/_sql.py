"""Set-based write helpers shared by the built-in plugins (SQLite and PostgreSQL alike).

Two layers:

* ``upsert`` / ``fetch_by_key`` take and give dict rows through SQLAlchemy: simple, fine for a
  handful of rows;
* ``insert_rows`` / ``upsert_rows`` / ``fetch_columns`` take and give plain tuples in a fixed
  column order and go straight through the driver (the core's :class:`RowWriter`: one
  ``executemany``, or ``COPY`` on PostgreSQL). SQLAlchemy's per-row parameter handling costs
  tens of microseconds a row; these are for the big per-event tables and per-wallet upserts.
  Values are converted to the driver's form (ExactInt, JSON) by a converter built once per
  table and dialect, and converted back on reads, so both layers store the same bytes.

Hand-written SQL still goes through the connection, in its transaction, so the journal's
triggers record every row exactly as they do for SQLAlchemy statements.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from dcmx_core.addresses import to_evm, to_tron
from dcmx_core.sqltypes import ExactInt, decode_sortable
from dcmx_core.store import RowWriter, _identity

# SQLite allows 32766 bound parameters per statement; stay well below on both databases.
_CHUNK = 900


def upsert(conn: Connection, table: sa.Table, rows: Sequence[dict]) -> None:
    """Insert rows, replacing the non-key columns of rows whose primary key already exists."""
    if not rows:
        return
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    keys = [c.name for c in table.primary_key.columns]
    updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    stmt = (
        insert.on_conflict_do_update(index_elements=keys, set_=updates)
        if updates
        else insert.on_conflict_do_nothing(index_elements=keys)
    )
    conn.execute(stmt, list(rows))


def chunks(items: Sequence) -> Iterable[Sequence]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def fetch_by_key(conn: Connection, table: sa.Table, column: sa.Column, keys: Iterable) -> dict:
    """The rows of ``table`` whose ``column`` is in ``keys``, as {key: row mapping}."""
    wanted = list(dict.fromkeys(keys))
    found = {}
    for chunk in chunks(wanted):
        for row in conn.execute(sa.select(table).where(column.in_(chunk))).mappings():
            found[row[column.name]] = dict(row)
    return found


# -- the fast layer: tuples through the driver -----------------------------------------------


class _DialectState:
    """Per-dialect caches: the RowWriter, converters, decoders and SQL text per table."""

    def __init__(self, dialect: Dialect):
        self.writer = RowWriter(dialect)
        self.dialect = dialect
        self.postgresql = dialect.name == "postgresql"
        self.mark = "%s" if self.postgresql else "?"
        self.quote = dialect.identifier_preparer.quote
        self.converters: dict[tuple, Callable[[tuple], tuple]] = {}
        self.decoders: dict[tuple, Callable[[tuple], tuple]] = {}
        self.sql: dict[tuple, str] = {}

    def converter(self, table: sa.Table, names: tuple[str, ...], whole: bool) -> Callable | None:
        """Values of ``names`` to the driver's form: of the same columns, or (``whole``) of
        every column of ``table`` in order, the ones not named as NULL. None when a column
        left out has a default (SQLAlchemy would fill it in: the caller falls back to it)."""
        key = (table, names, whole)
        if key in self.converters:
            return self.converters[key]
        fn = self.converters[key] = self._compile(table, names, whole)
        return fn

    def _compile(self, table: sa.Table, names: tuple[str, ...], whole: bool) -> Callable | None:
        """The core RowWriter's conversion, fed from the positions of ``names``."""
        position = {n: i for i, n in enumerate(names)}
        columns = list(table.columns) if whole else [table.c[n] for n in names]
        positions = [position.get(c.name) for c in columns]
        for col, i in zip(columns, positions, strict=True):
            # A column this plugin version does not know (a newer layout) is written as NULL,
            # unless it has a default, which only SQLAlchemy fills in: the caller falls back.
            if i is None and (col.default is not None or col.server_default is not None):
                return None
        return self.writer.converter(columns, positions)

    def key_positions(self, table: sa.Table) -> tuple[int, ...]:
        names = [c.name for c in table.columns]
        return tuple(names.index(c.name) for c in table.primary_key.columns)

    def decoder(self, table: sa.Table, names: tuple[str, ...]) -> Callable[[tuple], tuple]:
        """Driver values of ``names`` back to what SQLAlchemy's result processing gives."""
        key = (table, names)
        fn = self.decoders.get(key)
        if fn is not None:
            return fn
        convert: list[tuple[int, Callable]] = []
        for i, name in enumerate(names):
            t = table.c[name].type
            if isinstance(t, ExactInt):
                convert.append((i, int if self.postgresql else decode_sortable))
            elif isinstance(t, sa.Boolean) and not self.postgresql:
                convert.append((i, bool))
            elif isinstance(t, sa.JSON):
                convert.append((i, json.loads))
        if not convert:
            fn = _identity
        else:

            def fn(values: tuple) -> tuple:
                out = list(values)
                for i, f in convert:
                    if out[i] is not None:
                        out[i] = f(out[i])
                return tuple(out)

        self.decoders[key] = fn
        return fn


_STATES: weakref.WeakKeyDictionary[Dialect, _DialectState] = weakref.WeakKeyDictionary()


def _state(conn: Connection) -> _DialectState:
    dialect = conn.dialect
    state = _STATES.get(dialect)
    if state is None:
        state = _STATES[dialect] = _DialectState(dialect)
    return state


def row_writer(conn: Connection) -> RowWriter:
    """The core's bulk writer for this connection's dialect (one per dialect, cached)."""
    return _state(conn).writer


def insert_rows(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[tuple]
) -> None:
    """Insert rows (tuples of Python values for ``columns``) in bulk, through the driver.

    Columns of ``table`` not named are NULL, as SQLAlchemy leaves them; a table whose other
    columns have defaults goes through SQLAlchemy instead.
    """
    if not rows:
        return
    state = _state(conn)
    convert = state.converter(table, columns, True)
    if convert is None:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    rows = [convert(r) for r in rows] if convert is not _identity else list(rows)
    state.writer.insert(conn, table, rows)


def upsert_rows(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[tuple]
) -> None:
    """:func:`upsert` for rows given as tuples of ``columns``, through the driver."""
    if not rows:
        return
    state = _state(conn)
    convert = state.converter(table, columns, True)
    if convert is None:
        upsert(conn, table, [dict(zip(columns, r, strict=True)) for r in rows])
        return
    key = (table, "upsert")
    sql = state.sql.get(key)
    if sql is None:
        q = state.quote
        keys = [c.name for c in table.primary_key.columns]
        names = [c.name for c in table.columns]
        updates = ", ".join(f"{q(n)} = excluded.{q(n)}" for n in names if n not in keys)
        sql = (
            f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
            f"VALUES ({', '.join([state.mark] * len(names))}) "
            f"ON CONFLICT ({', '.join(q(k) for k in keys)}) "
            + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
        )
        state.sql[key] = sql
    rows = [convert(r) for r in rows] if convert is not _identity else list(rows)
    if state.postgresql and len(rows) >= RowWriter.COPY_MIN_ROWS:
        # psycopg's executemany runs one statement per row; COPY the rows into a temporary
        # table and upsert them all with one INSERT ... SELECT. Only when no key repeats:
        # one statement may not "affect a row twice", while row after row the last one wins.
        keys = state.key_positions(table)
        if len({tuple(r[i] for i in keys) for r in rows}) == len(rows):
            _upsert_staged(conn, state, table, sql, rows)
            return
    conn.exec_driver_sql(sql, rows)


def _upsert_staged(
    conn: Connection, state: _DialectState, table: sa.Table, sql: str, rows: list[tuple]
) -> None:
    """PostgreSQL: COPY ``rows`` into a session-private staging table, then upsert from it."""
    q = state.quote
    stage = q(f"_dcmx_stage_{table.name}"[:63])
    cols = ", ".join(q(c.name) for c in table.columns)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
        f"(LIKE {q(table.name)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    state.writer.copy(conn, table, rows, into=stage)
    values = sql.index(" VALUES (")
    end = sql.index(") ON CONFLICT")
    conn.exec_driver_sql(f"{sql[:values]} SELECT {cols} FROM {stage}{sql[end + 1 :]}")
    conn.exec_driver_sql(f"DELETE FROM {stage}")


def update_rows(
    conn: Connection, table: sa.Table, key: str, columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    """``UPDATE table SET columns... WHERE key = ?`` for each row (values of ``columns``, key)."""
    if not rows:
        return
    state = _state(conn)
    names = (*columns, key)
    skey = (table, "update", names)
    sql = state.sql.get(skey)
    if sql is None:
        q, m = state.quote, state.mark
        sets = ", ".join(f"{q(c)} = {m}" for c in columns)
        sql = state.sql[skey] = f"UPDATE {q(table.name)} SET {sets} WHERE {q(key)} = {m}"
    convert = state.converter(table, names, False)
    rows = [convert(r) for r in rows] if convert is not _identity else list(rows)
    conn.exec_driver_sql(sql, rows)


def fetch_columns(
    conn: Connection,
    table: sa.Table,
    key: str,
    columns: Sequence[str],
    keys: Iterable,
    where: Mapping[str, object] | None = None,
) -> dict:
    """{key: (values of ``columns``)} for the rows of ``table`` whose ``key`` is in ``keys``
    (and whose columns named in ``where`` equal the values given there).

    Values come back as SQLAlchemy would give them (ExactInt as int, Boolean as bool).
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    state = _state(conn)
    names = (key, *columns)
    decode = state.decoder(table, names)
    encode = state.converter(table, (key,), False)
    if encode is not _identity:
        params = [encode((k,))[0] for k in wanted]
    else:
        params = wanted
    q, m = state.quote, state.mark
    select = f"SELECT {', '.join(q(n) for n in names)} FROM {q(table.name)} WHERE "
    fixed: tuple = ()
    if where:
        fixed = state.converter(table, tuple(where), False)(tuple(where.values()))
        select += "".join(f"{q(c)} = {m} AND " for c in where)
    found = {}
    array = _PG_ARRAY.get(type(table.c[key].type)) if state.postgresql else None
    if array is not None:  # one array parameter instead of chunks of placeholders
        sql = f"{select}{q(key)} = ANY({m}::{array}[])"
        for row in conn.exec_driver_sql(sql, (*fixed, params)):
            row = decode(tuple(row))
            found[row[0]] = row[1:]
        return found
    head = f"{select}{q(key)} IN ("
    for chunk in chunks(params):
        sql = head + ", ".join([m] * len(chunk)) + ")"
        for row in conn.exec_driver_sql(sql, (*fixed, *chunk)):
            row = decode(tuple(row))
            found[row[0]] = row[1:]
    return found


# Key column types whose values PostgreSQL can take as one array (see fetch_columns).
_PG_ARRAY = {
    ExactInt: "numeric",
    sa.String: "text",
    sa.Text: "text",
    sa.Integer: "bigint",
    sa.BigInteger: "bigint",
}


@lru_cache(maxsize=4096)
def day(timestamp: int) -> str:
    """The UTC calendar day of a block timestamp, as YYYY-MM-DD."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


# The zero address as each chain profile renders it: mints come from it, burns go to it.
ZERO_ADDRESSES = frozenset({to_tron(bytes(20)), to_evm(bytes(20))})


def fetch_rows(
    conn: Connection, table: sa.Table, key: str, names: tuple[str, ...], keys: Iterable
) -> dict:
    """:func:`fetch_by_key` through the driver: {key: {column: value}} for ``names``."""
    found = fetch_columns(conn, table, key, names, keys)
    return {k: dict(zip(names, values, strict=True)) for k, values in found.items()}
