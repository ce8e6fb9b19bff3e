"""The database: engines for SQLite and PostgreSQL, the framework's own tables, the cursor.

SQLAlchemy Core on one connection per transaction, on the indexer's thread: no per-call thread
hops (a driver that hands every call to another thread caps an indexer at a few thousand rows
a second on a 2-core machine).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from . import events_view, views
from .errors import ConfigError, StoreError
from .journal import OLDER_FORMS, Journal, table_hash

log = logging.getLogger("dcmx.indexer")

framework = sa.MetaData()

cursor_table = sa.Table(
    "dcmx_cursor",
    framework,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", sa.LargeBinary(32), nullable=False),
)

# Hashes of the indexed blocks that may still be reorganised (and the newest finalized one, as
# the anchor the next block must link to).
blocks_table = sa.Table(
    "dcmx_blocks",
    framework,
    sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Column("parent_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
)

schema_table = sa.Table(
    "dcmx_schema",
    framework,
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

forks_table = sa.Table(
    "dcmx_forks",
    framework,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("detected_at_block", sa.BigInteger, nullable=False),
    sa.Column("common_ancestor", sa.BigInteger, nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("undone_writes", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# One row while a backfill runs (Store.enter_backfill): secondary indexes and journal triggers
# are dropped until it ends.
backfill_table = sa.Table(
    "dcmx_backfill",
    framework,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
)


def _identity(values: tuple) -> tuple:
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
        self, columns, positions: Sequence[int | None] | None = None  # noqa: ANN001 - columns
    ) -> Callable[[tuple], tuple]:
        """A function taking input tuples to the driver's form of ``columns`` (in that order).

        Output column ``k`` comes from input position ``positions[k]`` (default: ``k``); a
        position of None writes NULL. Per column: ExactInt to the sortable text on SQLite
        (PostgreSQL's NUMERIC takes the int), JSON to compact text, any other type with a bind
        processor (Booleans and bytes aside: both drivers take them) through it; None stays None.
        On PostgreSQL, a NUL in a ``Text`` value (an ABI ``string`` is one) becomes U+FFFD:
        PostgreSQL text cannot hold it, and one event whose string has a NUL (any minter can
        put one in a title) would otherwise stop the indexer for good. (JSON text escapes it,
        and the ``json`` type keeps it.)
        Compiled into one tuple expression: a loop over the columns of every row shows in the
        profile at tens of thousands of rows a batch. Returns ``_identity`` when nothing
        changes.
        """
        from .sqltypes import ExactInt, encode_sortable

        columns = list(columns)
        if positions is None:
            positions = range(len(columns))
        funcs: dict[str, Callable] = {}
        parts = []
        for col, i in zip(columns, positions, strict=True):
            if i is None:
                parts.append("None")
                continue
            if isinstance(col.type, ExactInt):
                fn = None if self.postgresql else encode_sortable
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
            return _identity
        namespace: dict = dict(funcs)
        # Built from column positions and fixed names only, never from user text.
        exec(f"def convert(r):\n    return ({', '.join(parts)},)\n", namespace)  # noqa: S102
        return namespace["convert"]

    def insert(self, conn: Connection, table: sa.Table, rows: list[tuple]) -> None:
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
        self, conn: Connection, table: sa.Table, rows: Iterable[tuple], into: str | None = None
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
        with conn.connection.driver_connection.cursor() as cur:
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
            self._types[table.name] = None if None in types else types
        return self._types[table.name]


def _binary_type(t: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> str | None:
    """The PostgreSQL type whose binary form psycopg writes for this column's values (as the
    converter leaves them), or None when not sure: that table is COPYed as text."""
    from sqlalchemy.dialects import postgresql

    from .sqltypes import ExactInt

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


_json_dumps = __import__("json").JSONEncoder(separators=(",", ":")).encode


# Page size of a new SQLite file. 8 KiB instead of 4: 1M events without plugins 143,000-145,000
# -> 149,000-153,000 events/s, with them +3% and 9 MB less RSS. A rollback deletes index
# entries at random places, dirtying a page for each: undoing 10 blocks on 2M rows stays within
# 1.4x of 20k rows (16 KiB: 2.35x; it was 4.35x while SQLite copied each page it changed to a
# statement journal, see journal.Journal._shadow).
SQLITE_PAGE_SIZE = 8_192
# SQLite page cache per connection, KiB (see create_engine), and while building indexes.
SQLITE_CACHE_KIB = 32_768
SQLITE_BUILD_CACHE_KIB = 2_048
# WAL pages after which a commit copies the log into the database itself (SQLite's default is
# 1,000); below it the indexer does so while it waits for new blocks (Store.checkpoint).
SQLITE_WAL_AUTOCHECKPOINT = 10_000


def _sqlite_file(url: sa.URL) -> str | None:
    """The file of a SQLite URL; None for an in-memory database or another backend."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _set_synchronous(dbapi, journal_mode: str) -> None:  # noqa: ANN001 - cursor or connection
    """NORMAL cannot corrupt a SQLite database in WAL mode; with a rollback journal FULL is
    what can never do so."""
    dbapi.execute(f"PRAGMA synchronous={'NORMAL' if journal_mode == 'wal' else 'FULL'}")


@dataclass(frozen=True, slots=True)
class Cursor:
    block_number: int
    block_hash: bytes


def create_engine(url: str) -> Engine:
    """An engine tuned for indexing: SQLite in WAL mode, PostgreSQL through psycopg 3."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types here
        raise ConfigError(
            f"database URL {url!r} is not valid ({exc}); use e.g. sqlite:///dcmx.db or "
            "postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        # How long a writer waits for another one to finish (seconds; ``?timeout=`` in the URL).
        timeout = float(parsed.query.get("timeout", 30))
        parsed = parsed.difference_update_query(["timeout"])
        engine = sa.create_engine(parsed, connect_args={"timeout": timeout})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
            # The sqlite3 module's own transaction handling would begin late; let SQLAlchemy
            # issue BEGIN so that a batch really is one transaction.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if _sqlite_file(parsed):
                # WAL for a new file; an existing one keeps its mode, which the indexer sets
                # (Store.set_journal: a rollback journal while a backfill runs).
                if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
                    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
                    mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            _set_synchronous(cur, mode)
            # 32 MiB of page cache instead of SQLite's 2 MB: a rollback deletes rows at random
            # places of the secondary indexes, and with 2 MB it spilled and re-read index pages
            # (undoing 10 blocks on 3M rows: 53 -> 38 ms; 64 MiB gave no more, 16 MiB 40 ms).
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
            cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(f"unsupported database {backend!r}: dcmx stores into SQLite or PostgreSQL")


class Store:
    """The framework's tables plus the journaled tables of raw events and plugins."""

    def __init__(
        self,
        engine: Engine,
        tables: Iterable[tuple[sa.Table, str]],
        events: Sequence[type] = (),
        views: Iterable[tuple[sa.Table, str]] = (),
    ):
        """``tables``: each tracked table with its owner (a contract or plugin name);
        ``events``: the generated event classes whose raw tables ``blockchain_events`` shows;
        ``views``: each plugin view (:func:`~dcmx_core.views.view`) with its owner."""
        self.engine = engine
        self.events = list(events)
        owned = list(tables)
        self.views = list(views)
        declared = [(t.name, o) for t, o in owned + self.views] + [(events_view.NAME, "dcmx")]
        names = [n for n, _ in declared]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            owners = {n: [o for m, o in declared if m == n] for n in dupes}
            raise ConfigError(f"two owners declare the same table or view: {owners}; rename one")
        self.owners = {t.name: owner for t, owner in owned}
        self.tables = [t for t, _ in owned]
        self.by_name = {t.name: t for t in self.tables}
        self.journal = Journal(self.tables)
        self.writer = RowWriter(engine.dialect)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def deferrable_indexes(self) -> list[sa.Index]:
        """The indexes a backfill drops and builds again at its end (see enter_backfill)."""
        return [
            index
            for t in self.tables
            for index in sorted(t.indexes, key=lambda i: i.name or "")
            if not index.unique and not index.info.get("dcmx_keep")
        ]

    def checkpoint(self) -> None:
        """SQLite in WAL mode: copy the log into the database now; called when the indexer has
        caught up, before it waits for new blocks.

        Otherwise the commit that takes the log past SQLite's threshold does it, inside a step:
        a fork's step at 1M events took 70 ms, 37 of them checkpointing the pages of the steps
        before. ``PASSIVE``: readers and writers are not waited for, what they hold is left for
        the next time; past ``SQLITE_WAL_AUTOCHECKPOINT`` pages a commit still does it.
        """
        if not _sqlite_file(self.engine.url):
            return
        with self.engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def set_journal(self, backfilling: bool) -> None:
        """SQLite: write a backfill through a rollback journal, everything else through WAL.

        In WAL mode every page is written twice: to the log at the commit, to the database at
        the checkpoint that follows. A backfill only appends, so a rollback journal has almost
        nothing to hold and each page is written once, as safely (a commit is still atomic,
        with ``synchronous=FULL``): 1M events without plugins, 160,000 -> 176,000 events/s.
        The price while it runs: a reader's open transaction holds up the next commit (which
        waits for it, up to the busy timeout), where WAL lets both go on. So the switch is
        made only when no other connection has the database open (it needs that, and it is
        not waited for), and undone when the backfill ends (waiting for readers as a commit
        does). A switch that cannot be made leaves the mode as it was, which is as correct.
        """
        if not _sqlite_file(self.engine.url):
            return
        want = "delete" if backfilling else "wal"
        with self.engine.connect() as conn:
            # The DB-API connection: the mode cannot change inside the transaction SQLAlchemy
            # would begin.
            raw = conn.connection.driver_connection
            mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
            if mode == want:
                return
            timeout = raw.execute("PRAGMA busy_timeout").fetchone()[0]
            if backfilling:
                raw.execute("PRAGMA busy_timeout=0")
            try:
                mode = raw.execute(f"PRAGMA journal_mode={want}").fetchone()[0]
            except sqlite3.OperationalError as exc:  # "database is locked": others have it open
                log.info("journal mode left as %s (%s)", mode, exc, extra={"journal": mode})
            finally:
                raw.execute(f"PRAGMA busy_timeout={timeout}")
            _set_synchronous(raw, mode)
        if mode != want and not backfilling:
            log.warning(
                "the database stays in %s journal mode, readers held it; the next start tries "
                "WAL again",
                mode,
                extra={"journal": mode},
            )

    @staticmethod
    def backfilling(conn: Connection) -> bool:
        """Whether a backfill is under way (see :meth:`enter_backfill`)."""
        return conn.execute(sa.select(backfill_table.c.id)).first() is not None

    def enter_backfill(self, conn: Connection) -> None:
        """Drop the secondary indexes and the journal triggers until the backfill ends: the
        indexer makes the triggers again before the first write that may be rolled back, and
        :meth:`leave_backfill` builds the indexes (after that write, in its transaction).

        For the final blocks of a first sync or a long outage, where nothing is journaled:

        - Inserting into a table with secondary indexes updates one B-tree per index at a
          random place for every row, and the cost grows with the table: measured on SQLite
          with two address indexes, 24 us a row at 500,000 rows, against 4 us without them
          plus 1.6 us a row to build both indexes once at the end. Primary keys and unique
          indexes stay, since plugins read and upsert by them; an index a plugin needs for its
          own reads while indexing stays with ``sa.Index(..., info={"dcmx_keep": True})``.
        - A journal trigger costs its WHEN check on every row even when it records nothing
          (on SQLite a subquery: ~6 us a row, as much as the insert).

        Both databases' DDL is transactional: a row in ``dcmx_backfill`` commits with the
        drops, so a process killed during a backfill leaves a database whose next run knows
        it is in one.
        """
        for index in self.deferrable_indexes():
            conn.execute(sa.schema.DropIndex(index, if_exists=True))
        self.journal.drop_triggers(conn)
        conn.execute(backfill_table.delete())
        conn.execute(backfill_table.insert().values(id=1))

    def leave_backfill(self, conn: Connection) -> None:
        """Build the indexes :meth:`enter_backfill` dropped (those missing) and end the
        backfill; the journal's triggers must be there already (``journal.create_triggers``)."""
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite sorts an index's keys in runs of up to cache_size, merged at the end, and
            # small runs sort faster: the 73 indexes of a 1M-event backfill built in 1.0 s with
            # 2 MiB, 1.2-1.5 s with 8 and 1.8 s with the normal 32 (and they cost RSS). Two
            # helper threads sort runs beside it, on a core the fetch workers no longer use:
            # 1.0 -> 0.9 s.
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BUILD_CACHE_KIB}")
            conn.exec_driver_sql("PRAGMA threads=2")
        try:
            for index in self.deferrable_indexes():
                conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                conn.exec_driver_sql("PRAGMA threads=0")
        conn.execute(backfill_table.delete())

    def upgrade_older(self, changed: list[str]) -> list[str]:
        """Bring tables an older dcmx made up to this one's definitions in place, where the
        difference is one of :data:`~dcmx_core.journal.OLDER_FORMS`:

        - ``collation`` (PostgreSQL): address columns without ``COLLATE "C"`` (see
          :func:`~dcmx_core.sqltypes.address`) are given it; PostgreSQL rebuilds their indexes.
        - ``index``: a raw event table's index on a parameter alone is made again on the
          parameter and the chain position (or left to the end of a backfill under way).

        Nothing is reindexed. ``changed``: the tables :meth:`table_changes` found changed;
        returns those that still differ.
        """
        if not changed:
            return changed
        forms = [*((f,) for f in OLDER_FORMS), tuple(OLDER_FORMS)]
        with self.transaction() as conn:
            recorded = dict(
                conn.execute(sa.select(schema_table.c.table_name, schema_table.c.hash)).all()
            )
            older = {}
            for name in changed:
                table = self.by_name[name]
                match = next(
                    (f for f in forms if recorded[name] == table_hash(table, conn, f)), None
                )
                if match is not None:
                    older[table] = match
            if not older:
                return changed
            # A view keeps the types of the columns it reads; dcmx's views are made again
            # below, a view of the user's own makes the ALTER fail (and says which).
            self._drop_views(conn)
            backfilling = self.backfilling(conn)
            deferred = set(self.deferrable_indexes())
            for t, form in older.items():
                if "collation" in form and conn.dialect.name == "postgresql":
                    self._collate(conn, t)
                if "index" in form:
                    for index in t.indexes:
                        current = str(sa.schema.CreateIndex(index).compile(dialect=conn.dialect))
                        if OLDER_FORMS["index"](current) == current:
                            continue
                        conn.execute(sa.schema.DropIndex(index, if_exists=True))
                        if not (backfilling and index in deferred):
                            conn.execute(sa.schema.CreateIndex(index))
                conn.execute(
                    schema_table.update()
                    .where(schema_table.c.table_name == t.name)
                    .values(hash=table_hash(t, conn))
                )
            self._create_views(conn)
        log.info(
            "%d tables made by an older dcmx brought up to date in place",
            len(older),
            extra={"tables": {t.name: list(f) for t, f in older.items()}},
        )
        done = {t.name for t in older}
        return [name for name in changed if name not in done]

    @staticmethod
    def _collate(conn: Connection, t: sa.Table) -> None:
        q = conn.dialect.identifier_preparer.quote_identifier
        compile_type = conn.dialect.type_compiler_instance.process
        for c in t.columns:
            impl = c.type.dialect_impl(conn.dialect)
            if getattr(impl, "collation", None) != "C":
                continue
            try:
                conn.exec_driver_sql(
                    f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} TYPE {compile_type(impl)}"
                )
            except sa.exc.DBAPIError as exc:  # the transaction is rolled back whole
                raise StoreError(
                    f"could not give column {c.name!r} of table {t.name!r} the collation "
                    f'"C" this dcmx declares for addresses ({exc.orig}); if a view of yours '
                    "reads it, drop the view, run dcmx again and make it again"
                ) from None

    def table_changes(self) -> tuple[list[str], list[str]]:
        """(Tracked tables whose definition differs from the one recorded when they were made,
        tracked tables this database has no recorded definition of: not made yet.)"""
        with self.transaction() as conn:
            framework.create_all(conn)
            recorded = dict(
                conn.execute(sa.select(schema_table.c.table_name, schema_table.c.hash)).all()
            )
            changed = [
                t.name
                for t in self.tables
                if t.name in recorded and recorded[t.name] != table_hash(t, conn)
            ]
        return changed, [t.name for t in self.tables if t.name not in recorded]

    def create(self, conn: Connection) -> None:
        """Create the tables, journals and triggers that are missing, and record definitions.

        A new database starts as a backfill (see :meth:`enter_backfill`): its secondary
        indexes and triggers are made when the indexer first gets near the head, rather than
        made here and dropped by its first batch.
        """
        framework.create_all(conn)
        recorded = set(conn.execute(sa.select(schema_table.c.table_name)).scalars())
        backfilling = self.backfilling(conn)
        new = not recorded and not backfilling
        deferred = set(self.deferrable_indexes())
        for t in self.tables:
            if new:
                conn.execute(sa.schema.CreateTable(t, if_not_exists=True))
                for index in t.indexes - deferred:
                    conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            else:
                t.create(conn, checkfirst=True)
            if t.name not in recorded:
                conn.execute(
                    schema_table.insert().values(
                        table_name=t.name, owner=self.owners[t.name], hash=table_hash(t, conn)
                    )
                )
        self.journal.create(conn)
        if new:
            conn.execute(backfill_table.insert().values(id=1))
        elif not backfilling:
            self.journal.create_triggers(conn)
        self._create_views(conn)

    def _create_views(self, conn: Connection) -> None:
        """``blockchain_events`` and the plugins' views, after the tables they read."""
        tables = set(sa.inspect(conn).get_table_names())
        # An older dcmx (or plugin version) kept a table where there is a view now, a copy of
        # rows the raw tables hold: blockchain_events, transaction_index.
        self.drop(conn, [sa.Table(n, sa.MetaData()) for n in self._view_names() if n in tables])
        events_view.create(conn, self.events)
        q = conn.dialect.identifier_preparer.quote_identifier
        for v, owner in self.views:
            try:
                views.ensure(conn, v.name, views.create_sql(conn, v))
                # SQLite makes a view of a missing table and fails only when it is read
                conn.exec_driver_sql(f"SELECT * FROM {q(v.name)} WHERE 1 = 0")
            except sa.exc.DBAPIError as exc:  # the transaction is rolled back whole
                raise StoreError(
                    f"plugin {owner!r} declares view {v.name!r}, which the database refused: "
                    f"{exc.orig}; a view may read only the plugin's own tables and the raw "
                    "tables of the events it consumes"
                ) from None

    def _view_names(self) -> list[str]:
        return [events_view.NAME, *(v.name for v, _ in self.views)]

    def _drop_views(self, conn: Connection) -> None:
        q = conn.dialect.identifier_preparer.quote_identifier
        present = set(sa.inspect(conn).get_view_names())
        for name in self._view_names():
            if name in present:  # not a table of that name, made by an older dcmx
                conn.exec_driver_sql(f"DROP VIEW {q(name)}")

    def drop(self, conn: Connection, tables: Iterable[sa.Table]) -> None:
        """Drop tables with their journals and recorded definitions (to recreate them), and
        dcmx's views, which may read them (:meth:`create` makes them again)."""
        tables = list(tables)
        if not tables:
            return
        self._drop_views(conn)
        q = conn.dialect.identifier_preparer.quote_identifier
        for t in tables:
            self.journal.drop(conn, t)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(t.name)}")
            conn.execute(schema_table.delete().where(schema_table.c.table_name == t.name))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the database's indexer lock: a second indexer refuses to start, it does not
        interleave writes. The operating system (a file lock for SQLite) or the server (an
        advisory lock for PostgreSQL) releases it when the process dies, even by kill -9."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                key = "dcmx-indexer:"
                got = conn.execute(sa.text(
                    "SELECT pg_try_advisory_lock(hashtextextended(:k || current_schema(), 0))"
                ), {"k": key}).scalar()
                conn.commit()
                if not got:
                    raise StoreError(
                        "another dcmx indexer is running against this database (it holds the "
                        "advisory lock of this schema); stop it before starting another"
                    )
                try:
                    yield
                finally:
                    conn.execute(sa.text(
                        "SELECT pg_advisory_unlock(hashtextextended(:k || current_schema(), 0))"
                    ), {"k": key})
                    conn.commit()
            return
        database = _sqlite_file(self.engine.url)
        if database is None:
            yield
            return
        path = f"{database}.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "?"
                raise StoreError(
                    f"another dcmx indexer (pid {holder}) is running against {database} (it "
                    f"holds {path}); stop it before starting another"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- cursor and recent blocks -------------------------------------------------------------

    @staticmethod
    def cursor(conn: Connection) -> Cursor | None:
        row = conn.execute(
            sa.select(cursor_table.c.block_number, cursor_table.c.block_hash)
        ).first()
        return Cursor(row[0], bytes(row[1])) if row else None

    @staticmethod
    def set_cursor(conn: Connection, number: int, block_hash: bytes) -> None:
        updated = conn.execute(
            cursor_table.update().where(cursor_table.c.id == 1),
            {"block_number": number, "block_hash": block_hash},
        ).rowcount
        if not updated:
            conn.execute(
                cursor_table.insert(), {"id": 1, "block_number": number, "block_hash": block_hash}
            )

    @staticmethod
    def recent_blocks(conn: Connection) -> dict[int, bytes]:
        rows = conn.execute(sa.select(blocks_table.c.number, blocks_table.c.hash)).all()
        return {n: bytes(h) for n, h in rows}

    @staticmethod
    def add_blocks(conn: Connection, headers) -> None:  # noqa: ANN001 - Iterable[Header]
        rows = [
            {
                "number": h.number,
                "hash": h.hash,
                "parent_hash": h.parent_hash,
                "timestamp": h.timestamp,
            }
            for h in headers
        ]
        if rows:
            conn.execute(blocks_table.insert(), rows)

    def finalize(self, conn: Connection, finalized: int) -> None:
        """Drop bookkeeping for blocks that can no longer change, keeping the newest as anchor."""
        anchor = conn.execute(
            sa.select(sa.func.max(blocks_table.c.number)).where(blocks_table.c.number <= finalized)
        ).scalar()
        if anchor is not None:
            conn.execute(blocks_table.delete().where(blocks_table.c.number < anchor))
        self.journal.prune(conn, finalized)

    def rollback_to(self, conn: Connection, ancestor: int, ancestor_hash: bytes) -> int:
        """Undo everything after block ``ancestor``; returns the number of writes undone."""
        undone = self.journal.rollback(conn, ancestor)
        conn.execute(blocks_table.delete().where(blocks_table.c.number > ancestor))
        self.set_cursor(conn, ancestor, ancestor_hash)
        return undone
