"""Rows as tuples, straight through the driver: the fast write and read layer of the core and of
any plugin.

SQLAlchemy's per-row parameter handling (a dict per row, bind processors looked up per value)
costs tens of microseconds a row, more than the database's own work (profiled: ~60% of a raw
run). This layer takes and gives plain tuples in a fixed column order:

- :class:`RowWriter` writes whole rows in bulk: one ``executemany`` of many-row ``INSERT``
  statements on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL. The indexer writes every raw
  event row through it.
- :func:`insert_rows`, :func:`upsert_rows`, :func:`update_rows` write rows of some of a
  table's columns; :func:`fetch_columns` / :func:`fetch_rows` read by key. For a plugin's big
  per-event tables and per-wallet upserts.
- :func:`upsert` and :func:`fetch_by_key` take and give dict rows through SQLAlchemy: simple,
  fine for a handful of rows.

Values are converted to the driver's form (``ExactInt``, JSON) by a converter compiled once
per table and dialect, and back on reads, so every layer stores the same bytes as SQLAlchemy
would. Everything runs on the caller's connection, in its transaction: the undo journal's
triggers record these writes like any other, so they are rolled back after a fork.
"""

from __future__ import annotations

import importlib
import json
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from ..sqltypes import ExactInt, decode_sqlite, encode_sqlite

__all__ = [
    "RowWriter",
    "TableRows",
    "fetch_by_key",
    "fetch_columns",
    "fetch_rows",
    "insert_rows",
    "row_writer",
    "update_rows",
    "upsert",
    "upsert_rows",
]

T = TypeVar("T")
# A row's values: of a table's columns in order, or of the columns a call names.
Values = tuple[Any, ...]
# Values to the driver's form, or back (RowWriter.converter, _DialectState.decoder).
Convert = Callable[[Values], Values]
# (table name, rows as tuples in the table's column order, in the driver's form)
TableRows = tuple[str, list[Values]]

# SQLite allows 32766 bound parameters per statement; stay well below on both databases.
_CHUNK = 900


def identity(values: Values) -> Values:
    return values


class RowWriter:
    """Bulk inserts of whole rows (tuples in column order), straight through the driver.

    The hot path of the indexer: SQLAlchemy's per-row parameter handling (a dict per row,
    bind processors looked up per value) cost more than the database's own work. SQLite gets
    one DB-API ``executemany`` of many-row INSERTs; PostgreSQL gets ``COPY ... FROM STDIN``
    through psycopg 3, which fires row triggers like INSERT does, so the undo journal still
    records every row.
    Values must already be in the form the driver takes: :meth:`converter` makes that form for
    the column types that need one.
    """

    # Below this many rows COPY's set-up costs more than it saves.
    COPY_MIN_ROWS = 20
    # Rows per INSERT statement on SQLite (see insert).
    SQLITE_ROWS_PER_INSERT = 50

    def __init__(self, dialect: sa.engine.Dialect):
        self.dialect = dialect
        self.postgresql = dialect.name == "postgresql"
        self._inserts: dict[tuple[str, int], str] = {}  # (table, rows) -> its INSERT
        self._types: dict[str, list[str] | None] = {}  # -> its binary COPY types

    def converter(
        self, columns: Iterable[sa.Column[Any]], positions: Sequence[int | None] | None = None
    ) -> Convert:
        """A function taking input tuples to the driver's form of ``columns`` (in that order).

        Output column ``k`` comes from input position ``positions[k]`` (default: ``k``); a
        position of None writes NULL. Per column: ExactInt to its SQLite form (an int or digits)
        (PostgreSQL's NUMERIC takes the int), JSON to compact text, any other type with a bind
        processor (Booleans and bytes aside: both drivers take them) through it; None stays None.
        On PostgreSQL, a NUL in a ``Text`` value (an ABI ``string`` is one) becomes U+FFFD:
        PostgreSQL text cannot hold it, and one event whose string has a NUL (any minter can
        put one in a title) would otherwise stop the indexer for good. (JSON text escapes it,
        and the ``json`` type keeps it.)
        Compiled into one tuple expression: a loop over the columns of every row shows in the
        profile at tens of thousands of rows a batch. Returns ``identity`` when nothing
        changes.
        """
        columns = list(columns)
        if positions is None:
            positions = range(len(columns))
        funcs: dict[str, Any] = {}  # the names the compiled function uses
        parts = []
        for col, i in zip(columns, positions, strict=True):
            if i is None:
                parts.append("None")
                continue
            fn: Callable[[Any], Any] | None
            if isinstance(col.type, ExactInt):
                fn = None if self.postgresql else encode_sqlite
            elif isinstance(col.type, sa.JSON):
                fn = _json_dumps
            elif isinstance(col.type, sa.Boolean | sa.LargeBinary):
                fn = None  # both drivers take a bool and bytes as they are
            else:
                fn = col.type.bind_processor(self.dialect)
            if fn is None and self.postgresql and isinstance(col.type, sa.Text):
                parts.append(f"(r[{i}] if r[{i}] is None or NUL not in r[{i}] else "
                             f"r[{i}].replace(NUL, REPLACEMENT))")
                funcs.update(NUL="\x00", REPLACEMENT="\ufffd")
            elif fn is None:
                parts.append(f"r[{i}]")
            else:
                funcs[f"f{i}"] = fn
                parts.append(f"(None if r[{i}] is None else f{i}(r[{i}]))")
        if not funcs and parts == [f"r[{i}]" for i in range(len(parts))]:
            return identity
        namespace: dict[str, Any] = dict(funcs)
        # Built from column positions and fixed names only, never from user text.
        exec(f"def convert(r):\n    return ({', '.join(parts)},)\n", namespace)
        convert: Convert = namespace["convert"]
        return convert

    def insert(self, conn: Connection, table: sa.Table, rows: list[Values]) -> None:
        if not rows:
            return
        if self.postgresql and len(rows) >= self.COPY_MIN_ROWS:
            self.copy(conn, table, rows)
            return
        if not self.postgresql:
            # SQLite has no COPY: many rows per INSERT instead, so that its per-statement work
            # (reset, bind, step) comes once a group. 550,000 Transfer rows: 1.5 -> 1.1 s.
            per = self._per_statement(table)
            whole = len(rows) - len(rows) % per
            if whole:
                conn.exec_driver_sql(
                    self._insert_sql(table, per),
                    [tuple(chain.from_iterable(rows[i : i + per])) for i in range(0, whole, per)],
                )
                rows = rows[whole:]
        if rows:
            conn.exec_driver_sql(self._insert_sql(table, 1), rows)

    def _per_statement(self, table: sa.Table) -> int:
        """Rows per SQLite INSERT: 50 (200 gained nothing more), within the 999 parameters
        SQLite before 3.32 takes in one statement."""
        return max(1, min(self.SQLITE_ROWS_PER_INSERT, 999 // len(table.columns)))

    def _insert_sql(self, table: sa.Table, rows: int) -> str:
        """``INSERT INTO table (all columns) VALUES`` and ``rows`` groups of placeholders."""
        sql = self._inserts.get((table.name, rows))
        if sql is None:
            q = self.dialect.identifier_preparer.quote
            cols = ", ".join(q(c.name) for c in table.columns)
            marks = ", ".join(["%s" if self.postgresql else "?"] * len(table.columns))
            groups = ", ".join([f"({marks})"] * rows)
            sql = f"INSERT INTO {q(table.name)} ({cols}) VALUES {groups}"
            self._inserts[table.name, rows] = sql
        return sql

    def copy(
        self, conn: Connection, table: sa.Table, rows: Iterable[Values], into: str | None = None
    ) -> None:
        """PostgreSQL: ``COPY`` rows (tuples in the column order of ``table``) into ``table``,
        or into the table named ``into`` (already quoted) that has the same columns.

        In the binary format when every column has a known wire form: the server then skips
        parsing text (bytea hex, NUMERIC digits), which halved its CPU per row of
        the audit table dcmx once had (2.6 -> 1.5 us) at the same cost to the client.
        """
        from psycopg.types.string import BytesBinaryDumper

        q = self.dialect.identifier_preparer.quote
        types = self._binary_types(table)
        cols = ", ".join(q(c.name) for c in table.columns)
        sql = f"COPY {into or q(table.name)} ({cols}) FROM STDIN"
        if types is not None:
            sql += " (FORMAT BINARY)"
        raw = conn.connection.driver_connection
        assert raw is not None  # held by the pool while conn is open
        with raw.cursor() as cur:
            if types is not None:
                # By type name psycopg finds the dumper of its Binary wrapper for bytea, written
                # in Python; the one for bytes is in C (client CPU of a whole run -14%).
                cur.adapters.register_dumper(bytes, BytesBinaryDumper)
            with cur.copy(sql) as out:
                if types is not None:
                    out.set_types(types)
                write = out.write_row
                for row in rows:
                    write(row)

    def _binary_types(self, table: sa.Table) -> list[str] | None:
        """The binary COPY type of each column of ``table``, or None to COPY it as text."""
        if table.name not in self._types:
            types = [_binary_type(col.type, self.dialect) for col in table.columns]
            known = [t for t in types if t is not None]
            self._types[table.name] = known if len(known) == len(types) else None
        return self._types[table.name]


def _binary_type(t: sa.types.TypeEngine[Any], dialect: sa.engine.Dialect) -> str | None:
    """The PostgreSQL type whose binary form psycopg writes for this column's values (as the
    converter leaves them), or None when not sure: that table is COPYed as text."""
    from sqlalchemy.dialects import postgresql

    if isinstance(t, ExactInt):
        return "numeric"
    t = t.dialect_impl(dialect)  # what the column is on this database (variants resolved)
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.SmallInteger):
        return "int2"
    if isinstance(t, sa.BigInteger):
        return "int8"
    if isinstance(t, sa.Integer):
        return "int4"
    if isinstance(t, sa.LargeBinary):
        return "bytea"
    # json and the string types take their text as it is (not jsonb: its binary form differs);
    # the converter has already made JSON text.
    if isinstance(t, sa.JSON) and not isinstance(t, postgresql.JSONB):
        return "text"
    if isinstance(t, sa.String) and not isinstance(t, sa.Enum):
        return "text"
    return None


_json_dumps = json.JSONEncoder(separators=(",", ":")).encode


def upsert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, replacing the non-key columns of rows whose primary key already exists."""
    if not rows:
        return
    # The dialect's package, imported here: importing PostgreSQL's pulls in every driver's
    # dialect module (asyncpg, psycopg, pg8000...), start-up time a SQLite run never needs.
    name = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    insert = importlib.import_module(f"sqlalchemy.dialects.{name}").insert(table)
    keys = [c.name for c in table.primary_key.columns]
    updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    stmt = (
        insert.on_conflict_do_update(index_elements=keys, set_=updates)
        if updates
        else insert.on_conflict_do_nothing(index_elements=keys)
    )
    conn.execute(stmt, list(rows))


def chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def fetch_by_key(
    conn: Connection, table: sa.Table, column: sa.Column[Any], keys: Iterable[Any]
) -> dict[Any, dict[str, Any]]:
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
        self.converters: dict[tuple[Any, ...], Convert | None] = {}
        self.decoders: dict[tuple[Any, ...], Convert] = {}
        self.sql: dict[tuple[Any, ...], str] = {}

    def converter(self, table: sa.Table, names: tuple[str, ...], whole: bool) -> Convert | None:
        """Values of ``names`` to the driver's form: of the same columns, or (``whole``) of
        every column of ``table`` in order, the ones not named as NULL. None when a column
        left out has a default (SQLAlchemy would fill it in: the caller falls back to it)."""
        key = (table, names, whole)
        if key in self.converters:
            return self.converters[key]
        fn = self.converters[key] = self._compile(table, names, whole)
        return fn

    def _compile(self, table: sa.Table, names: tuple[str, ...], whole: bool) -> Convert | None:
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

    def named(self, table: sa.Table, names: tuple[str, ...]) -> Convert:
        """:meth:`converter` of the columns ``names`` alone, which always has one."""
        convert = self.converter(table, names, False)
        assert convert is not None  # every column is named: none is left to a default
        return convert

    def decoder(self, table: sa.Table, names: tuple[str, ...]) -> Convert:
        """Driver values of ``names`` back to what SQLAlchemy's result processing gives."""
        key = (table, names)
        fn = self.decoders.get(key)
        if fn is not None:
            return fn
        convert: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(names):
            t = table.c[name].type
            if isinstance(t, ExactInt):
                convert.append((i, int if self.postgresql else decode_sqlite))
            elif isinstance(t, sa.Boolean) and not self.postgresql:
                convert.append((i, bool))
            elif isinstance(t, sa.JSON) and not self.postgresql:  # psycopg parses json
                convert.append((i, json.loads))
        if not convert:
            fn = identity
        else:

            def fn(values: Values) -> Values:
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
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Values]
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
    rows = [convert(r) for r in rows] if convert is not identity else list(rows)
    state.writer.insert(conn, table, rows)


def upsert_rows(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Values]
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
    rows = [convert(r) for r in rows] if convert is not identity else list(rows)
    if state.postgresql and len(rows) >= RowWriter.COPY_MIN_ROWS:
        # psycopg's executemany runs one statement per row; COPY the rows into a temporary
        # table and upsert them all with one INSERT ... SELECT. Only when no key repeats:
        # one statement may not "affect a row twice", while row after row the last one wins.
        at = state.key_positions(table)
        if len({tuple(r[i] for i in at) for r in rows}) == len(rows):
            _upsert_staged(conn, state, table, sql, rows)
            return
    conn.exec_driver_sql(sql, rows)


def _upsert_staged(
    conn: Connection, state: _DialectState, table: sa.Table, sql: str, rows: list[Values]
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
    conn: Connection, table: sa.Table, key: str, columns: Sequence[str], rows: Sequence[Values]
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
    convert = state.named(table, names)
    rows = [convert(r) for r in rows] if convert is not identity else list(rows)
    conn.exec_driver_sql(sql, rows)


def fetch_columns(
    conn: Connection,
    table: sa.Table,
    key: str,
    columns: Sequence[str],
    keys: Iterable[Any],
    where: Mapping[str, object] | None = None,
) -> dict[Any, Values]:
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
    encode = state.named(table, (key,))
    if encode is not identity:
        params = [encode((k,))[0] for k in wanted]
    else:
        params = wanted
    q, m = state.quote, state.mark
    select = f"SELECT {', '.join(q(n) for n in names)} FROM {q(table.name)} WHERE "
    fixed: Values = ()
    if where:
        fixed = state.named(table, tuple(where))(tuple(where.values()))
        select += "".join(f"{q(c)} = {m} AND " for c in where)
    found = {}
    array = _PG_ARRAY.get(type(table.c[key].type)) if state.postgresql else None
    if array is not None:  # one array parameter instead of chunks of placeholders
        sql = f"{select}{q(key)} = ANY({m}::{array}[])"
        for row in conn.exec_driver_sql(sql, (*fixed, params)):
            values = decode(tuple(row))
            found[values[0]] = values[1:]
        return found
    head = f"{select}{q(key)} IN ("
    for chunk in chunks(params):
        sql = head + ", ".join([m] * len(chunk)) + ")"
        for row in conn.exec_driver_sql(sql, (*fixed, *chunk)):
            values = decode(tuple(row))
            found[values[0]] = values[1:]
    return found


# Key column types whose values PostgreSQL can take as one array (see fetch_columns).
_PG_ARRAY = {
    ExactInt: "numeric",
    sa.String: "text",
    sa.Text: "text",
    sa.Integer: "bigint",
    sa.BigInteger: "bigint",
}


def fetch_rows(
    conn: Connection, table: sa.Table, key: str, names: tuple[str, ...], keys: Iterable[Any]
) -> dict[Any, dict[str, Any]]:
    """:func:`fetch_by_key` through the driver: {key: {column: value}} for ``names``."""
    found = fetch_columns(conn, table, key, names, keys)
    return {k: dict(zip(names, values, strict=True)) for k, values in found.items()}
