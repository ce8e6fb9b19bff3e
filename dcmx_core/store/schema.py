"""The tracked tables' definitions in the database: creating, recognising, upgrading, dropping.

Every table dcmx tracks (raw event tables, plugin tables) has its definition recorded in
``dcmx_schema`` as a hash of its DDL when it is made, so that a later run knows whether the
code still declares the same table (:meth:`Schema.table_changes`). Views (``blockchain_events``
and the plugins' own) are made after the tables they read and again whenever their definition
changes. A backfill (:meth:`Schema.enter_backfill`) drops secondary indexes and journal
triggers while far behind, and :meth:`Schema.leave_backfill` builds them again.

dcmx makes, replaces, drops and attaches triggers only to what it can prove it made: the tables
recorded in ``dcmx_schema`` and the views recorded in ``dcmx_views``. A database may hold other
programs' tables and views; one whose name a contract or plugin declares is refused
(:meth:`Schema.claim`), never adopted, dropped or journaled.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .. import events_view, views
from ..abi_runtime import tx_index_name
from ..errors import ConfigError, StoreError
from ..sqltypes import SQLITE_TYPE, ExactInt, decode_sortable, encode_sqlite, numeric_columns
from . import versions
from .engine import SQLITE_BUILD_CACHE_KIB, SQLITE_CACHE_KIB
from .journal import Journal, journal_name
from .tables import backfill_table, framework, schema_table, views_table

__all__ = ["OLDER_FORMS", "Schema", "table_hash"]

log = logging.getLogger("dcmx.indexer")


class Schema:
    """The tracked tables and views of one database, with their owners and undo journal."""

    def __init__(
        self,
        tables: Iterable[tuple[sa.Table, str]],
        events: Sequence[type] = (),
        views: Iterable[tuple[sa.Table, str]] = (),
    ):
        """``tables``: each tracked table with its owner (a contract or plugin name);
        ``events``: the generated event classes whose raw tables ``blockchain_events`` shows;
        ``views``: each plugin view (:func:`~dcmx_core.views.view`) with its owner."""
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
        self.view_owners = {v.name: owner for v, owner in self.views}
        self.view_owners[events_view.NAME] = "dcmx"
        self.tables = [t for t, _ in owned]
        self.by_name = {t.name: t for t in self.tables}
        self.journal = Journal(self.tables)

    def deferrable_indexes(self) -> list[sa.Index]:
        """The indexes a backfill drops and builds again at its end (see enter_backfill)."""
        return [
            index
            for t in self.tables
            for index in sorted(t.indexes, key=lambda i: i.name or "")
            if not index.unique and not index.info.get("dcmx_keep")
        ]

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
        backfill; the journal's triggers must be there already (``Journal.create_triggers``)."""
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
    def upgrade_older(self, engine: Engine, changed: list[str]) -> list[str]:
        """Bring tables an older dcmx made up to this one's definitions in place, where the
        difference is one of :data:`OLDER_FORMS`:

        - ``collation`` (PostgreSQL): address columns without ``COLLATE "C"`` (see
          :func:`~dcmx_core.sqltypes.address`) are given it; PostgreSQL rebuilds their indexes.
        - ``index``: a raw event table's index on a parameter alone is made again on the
          parameter and the chain position (or left to the end of a backfill under way).
        - ``exact`` (SQLite): ExactInt columns held the sortable text ``"p000…"``, which SQL
          reads as 0; the table and its journal are made again with the numbers in the form
          :mod:`~dcmx_core.sqltypes` describes (one ``INSERT … SELECT`` each).
        - ``tx_index``: a raw event table without the index on ``tx_hash`` gets it (or at the
          end of a backfill under way); building it reads the table once.

        Nothing is reindexed. ``changed``: the tables :meth:`table_changes` found changed;
        returns those that still differ.
        """
        if not changed:
            return changed
        forms = [
            combo for n in range(1, len(OLDER_FORMS) + 1) for combo in combinations(OLDER_FORMS, n)
        ]
        with engine.begin() as conn:
            recorded = dict(
                conn.execute(sa.select(schema_table.c.table_name, schema_table.c.hash)).all()
            )
            older = {}
            for name in changed:
                table = self.by_name[name]
                raw = tx_index_name(name) in {index.name for index in table.indexes}
                match = next(
                    (
                        f
                        for f in forms
                        if (raw or "tx_index" not in f)
                        and recorded[name] == table_hash(table, conn, f)
                    ),
                    None,
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
                if "exact" in form and conn.dialect.name == "sqlite":
                    self._exact_values(conn, t, backfilling, deferred)
                elif "index" in form:
                    for index in t.indexes:
                        current = str(sa.schema.CreateIndex(index).compile(dialect=conn.dialect))
                        if OLDER_FORMS["index"](current) == current:
                            continue
                        conn.execute(sa.schema.DropIndex(index, if_exists=True))
                        if not (backfilling and index in deferred):
                            conn.execute(sa.schema.CreateIndex(index))
                if "tx_index" in form:
                    for index in t.indexes:
                        if index.name == tx_index_name(t.name) and not (
                            backfilling and index in deferred
                        ):
                            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
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

    def _exact_values(
        self, conn: Connection, t: sa.Table, backfilling: bool, deferred: set[sa.Index]
    ) -> None:
        """Make ``t`` and its journal again with ExactInt values in their current SQLite form
        (the older form ``exact`` of upgrade_older). SQLite cannot change a column's type in
        place; renaming a table rewrites the triggers naming it, so they go first (made
        again by ``create``)."""
        q = conn.dialect.identifier_preparer.quote_identifier
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.create_function("dcmx_older_exact", 1, _older_exact, deterministic=True)
        self.journal.drop_triggers(conn, [t])
        for table in (t, self.journal.shadow(t)):
            old = f"{table.name}__dcmx_older"
            conn.exec_driver_sql(f"ALTER TABLE {q(table.name)} RENAME TO {q(old)}")
            for (index,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL", (old,)
            ).all():  # a renamed table's indexes keep their names
                conn.exec_driver_sql(f"DROP INDEX {q(index)}")
            conn.execute(sa.schema.CreateTable(table))
            names = ", ".join(q(c.name) for c in table.columns)
            values = ", ".join(
                f"dcmx_older_exact({q(c.name)})" if isinstance(c.type, ExactInt) else q(c.name)
                for c in table.columns
            )
            conn.exec_driver_sql(
                f"INSERT INTO {q(table.name)} ({names}) SELECT {values} FROM {q(old)}"
            )
            conn.exec_driver_sql(f"DROP TABLE {q(old)}")
            for index in table.indexes:
                if not (table is t and backfilling and index in deferred):
                    conn.execute(sa.schema.CreateIndex(index))

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

    def table_changes(self, engine: Engine) -> tuple[list[str], list[str]]:
        """(Tracked tables whose definition differs from the one recorded when they were made,
        tracked tables this database has no recorded definition of: not made yet.)"""
        with engine.begin() as conn:
            framework.create_all(conn)
            self.claim(conn)  # before anything commits: a refused database is left as it was
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
        self.claim(conn)
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
        if conn.dialect.name == "sqlite":
            self._numeric_columns(conn)
        self.journal.create(conn)
        # Tables made or made again (a rebuild drops them first) hold other rows now.
        versions.ensure(conn, self.by_name)
        versions.bump(conn, self.by_name)
        if new:
            conn.execute(backfill_table.insert().values(id=1))
        elif not backfilling:
            self.journal.create_triggers(conn)
        self._create_views(conn)

    def claim(self, conn: Connection) -> None:
        """Refuse when the database holds a table or view of a name this schema declares that
        dcmx did not make (not in ``dcmx_schema`` or ``dcmx_views``): it belongs to someone
        else, and dcmx would otherwise drop it, replace it, or journal and write into it."""
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        present = tables | set(inspector.get_view_names())
        recorded = set(conn.execute(sa.select(schema_table.c.table_name)).scalars())
        made = self.made_views(conn)
        for t in self.tables:
            if t.name in recorded:  # and so is its undo journal
                continue
            declares = _declares(self.owners[t.name], "a table")
            if t.name in present:
                raise _foreign(t.name, t.name in tables, declares + " of that name")
            journal = journal_name(t.name)
            if journal in present:
                raise _foreign(journal, journal in tables,
                               f"the undo journal of table {t.name!r}, which {declares}")
        for name, owner in self.view_owners.items():
            # A table where a view is declared is dcmx's when recorded: an older dcmx's
            # blockchain_events or plugin table, replaced by the view (see _create_views).
            ours = name in recorded if name in tables else name in made
            if name in present and not ours:
                raise _foreign(name, name in tables, _declares(owner, "a view") + " of that name")

    def made_views(self, conn: Connection) -> set[str]:
        """The views dcmx made in this database (``dcmx_views``).

        A database an older dcmx made, before views were recorded, holds tables recorded in
        ``dcmx_schema`` and no view in the record: the views of the names declared here are
        that dcmx's (it made them, replacing anything of their names), and are recorded now.
        """
        made = set(conn.execute(sa.select(views_table.c.view_name)).scalars())
        if made or conn.execute(sa.select(schema_table.c.table_name).limit(1)).first() is None:
            return made
        older = sorted(set(sa.inspect(conn).get_view_names()) & set(self.view_owners))
        if older:
            conn.execute(
                views_table.insert(),
                [{"view_name": n, "owner": self.view_owners[n]} for n in older],
            )
        return set(older)
    def _numeric_columns(self, conn: Connection) -> None:
        """The ``<column>_num`` REAL columns beside ExactInt columns on SQLite, where missing
        (:func:`~dcmx_core.sqltypes.numeric_columns`): generated, so no write, trigger or
        journal ever names them."""
        q = conn.dialect.identifier_preparer.quote_identifier
        for t in self.tables:
            wanted = numeric_columns(t)
            if not wanted:
                continue
            present = {
                row[1] for row in conn.exec_driver_sql(f"PRAGMA table_xinfo({q(t.name)})")
            }
            for name, definition in wanted:
                if name not in present:
                    conn.exec_driver_sql(
                        f"ALTER TABLE {q(t.name)} ADD COLUMN {q(name)} {definition}"
                    )

    def _create_views(self, conn: Connection) -> None:
        """``blockchain_events`` and the plugins' views, after the tables they read."""
        self.claim(conn)
        tables = set(sa.inspect(conn).get_table_names())
        # An older dcmx (or plugin version) kept a table where there is a view now, a copy of
        # rows the raw tables hold: blockchain_events, transaction_index (claim() made sure
        # each is recorded as dcmx's).
        self.drop(conn, [sa.Table(n, sa.MetaData()) for n in self._view_names() if n in tables])
        made = self.made_views(conn)
        sql = events_view.view_sql(conn, self.events)
        if sql is not None or events_view.NAME in made:  # none to drop that dcmx did not make
            views.ensure(conn, events_view.NAME, sql)
            self._record_view(conn, made, events_view.NAME, sql is not None)
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
            self._record_view(conn, made, v.name, True)

    def _record_view(self, conn: Connection, made: set[str], name: str, exists: bool) -> None:
        if exists and name not in made:
            conn.execute(views_table.insert().values(view_name=name, owner=self.view_owners[name]))
        elif not exists and name in made:
            conn.execute(views_table.delete().where(views_table.c.view_name == name))

    def _view_names(self) -> list[str]:
        return [events_view.NAME, *(v.name for v, _ in self.views)]

    def _drop_views(self, conn: Connection) -> None:
        q = conn.dialect.identifier_preparer.quote_identifier
        present = set(sa.inspect(conn).get_view_names()) & self.made_views(conn)
        for name in self._view_names():
            if name in present:  # not a table of that name, made by an older dcmx
                conn.exec_driver_sql(f"DROP VIEW {q(name)}")

    def drop(self, conn: Connection, tables: Iterable[sa.Table]) -> None:
        """Drop tables with their journals and recorded definitions (to recreate them), and
        dcmx's views, which may read them (:meth:`create` makes them again)."""
        tables = list(tables)
        if not tables:
            return
        self.claim(conn)
        self._drop_views(conn)
        q = conn.dialect.identifier_preparer.quote_identifier
        for t in tables:
            self.journal.drop(conn, t)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(t.name)}")
            conn.execute(schema_table.delete().where(schema_table.c.table_name == t.name))


def _declares(owner: str, what: str) -> str:
    return "dcmx declares its event view" if owner == "dcmx" else f"{owner!r} declares {what}"


def _foreign(name: str, is_table: bool, why: str) -> StoreError:
    """A table or view of someone else's where dcmx would make one (``why`` it would)."""
    found = "table" if is_table else "view"
    return StoreError(
        f"the database already holds a {found} {name!r} that dcmx did not make ({why}); dcmx "
        "never replaces, drops or writes into what it did not make: index into another "
        f"database (or PostgreSQL schema), or rename that {found} yourself"
    )


# How older dcmx versions defined the tables this one defines, for Schema.upgrade_older: each
# name is a change made since, undone on the current definition's DDL.
OLDER_FORMS: dict[str, Callable[[str], str]] = {
    # address columns in the database's collation (before dcmx_core.sqltypes.address())
    "collation": lambda ddl: ddl.replace(' COLLATE "C"', ""),
    # a raw event table's index on its parameter alone (before the chain position was added)
    "index": lambda ddl: re.sub(r", block_number, log_index\)$", ")", ddl, flags=re.M),
    # SQLite: ExactInt as the sortable text "p000…" (before INTEGERs and digit BLOBs)
    "exact": lambda ddl: ddl.replace(f" {SQLITE_TYPE}", " VARCHAR(79)"),
    # a raw event table without its index on tx_hash (before lookups by transaction used one)
    "tx_index": lambda ddl: re.sub(r"\nCREATE INDEX [^\n]* \(tx_hash\)$", "", ddl, flags=re.M),
}


def _older_exact(value: object) -> object:
    """An ExactInt value of the older SQLite form (see OLDER_FORMS) in the current one."""
    if isinstance(value, str) and value[:1] in ("p", "n"):
        return encode_sqlite(decode_sortable(value))
    return value


def table_hash(table: sa.Table, engine: Engine | Connection, older: Iterable[str] = ()) -> str:
    """A stable fingerprint of a table's definition, to detect schema changes between runs;
    ``older``: of the definition as it was before the changes named (see OLDER_FORMS)."""
    ddl = str(sa.schema.CreateTable(table).compile(dialect=engine.dialect)).strip()
    for index in sorted(table.indexes, key=lambda i: i.name or ""):
        ddl += "\n" + str(sa.schema.CreateIndex(index).compile(dialect=engine.dialect)).strip()
    for form in older:
        ddl = OLDER_FORMS[form](ddl)
    return hashlib.sha256(ddl.encode()).hexdigest()
