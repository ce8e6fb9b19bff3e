"""The database: what the indexing loop writes through, and nothing it has to reach inside.

:class:`Store` is one database with the tables dcmx tracks in it. It is made of small parts,
each in its own module:

- :mod:`.engine`: engines tuned for SQLite and PostgreSQL, the SQLite file's journal modes;
- :mod:`.rows`: rows as tuples straight through the driver (public: plugins use it too);
- :mod:`.schema`: the tracked tables' definitions, views, upgrades of older databases, the
  backfill's dropped indexes and triggers;
- :mod:`.journal`: the undo journal that database triggers fill, for exact rollbacks;
- :mod:`.ledger`: the cursor, the hashes of blocks that may still change, the forks;
- :mod:`.identity`: what the database was built from (contracts, plugins, an anchor block);
- :mod:`.lock`: the single-writer lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..chain import Header
from . import identity, ledger, versions
from .engine import checkpoint, create_engine, set_journal_mode
from .identity import Anchor, Origin
from .ledger import Cursor
from .lock import writer_lock
from .rows import RowWriter, TableRows
from .schema import Schema
from .tables import framework, schema_table

__all__ = [
    "Anchor",
    "Cursor",
    "Origin",
    "RowWriter",
    "Store",
    "TableRows",
    "create_engine",
    "framework",
    "schema_table",
]


class Store:
    """One database and the tables dcmx tracks in it (raw event tables and plugin tables)."""

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
        self.schema = Schema(tables, events, views)
        self._writer = RowWriter(engine.dialect)
        self._open = 0  # transactions open (see in_transaction)

    @property
    def tables(self) -> list[sa.Table]:
        return self.schema.tables

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self._open += 1
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            self._open -= 1

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction of this store is open (counted from before it begins until
        after it committed or rolled back): outside one, stopping the program at any
        instant loses nothing the database holds."""
        return self._open > 0

    def lock(self) -> AbstractContextManager[None]:
        """The single-writer lock (:func:`.lock.writer_lock`)."""
        return writer_lock(self.engine)

    def checkpoint(self) -> None:
        checkpoint(self.engine)

    def set_journal_mode(self, backfilling: bool) -> None:
        set_journal_mode(self.engine, backfilling)

    # -- schema ---------------------------------------------------------------------------------

    def table_changes(self) -> tuple[list[str], list[str]]:
        return self.schema.table_changes(self.engine)

    def upgrade_older(self, changed: list[str]) -> list[str]:
        return self.schema.upgrade_older(self.engine, changed)

    def create(self, conn: Connection) -> None:
        self.schema.create(conn)

    def drop(self, conn: Connection, tables: Iterable[sa.Table]) -> None:
        self.schema.drop(conn, tables)

    # -- backfill -------------------------------------------------------------------------------

    backfilling = staticmethod(Schema.backfilling)

    def deferrable_indexes(self) -> list[sa.Index]:
        return self.schema.deferrable_indexes()

    def enter_backfill(self, conn: Connection) -> None:
        self.schema.enter_backfill(conn)

    def start_journal(self, conn: Connection) -> None:
        """Make the journal's triggers (dropped during a backfill) before writes to journal."""
        self.schema.journal.create_triggers(conn)

    def leave_backfill(self, conn: Connection) -> None:
        self.schema.leave_backfill(conn)

    # -- writing --------------------------------------------------------------------------------

    def write_rows(self, conn: Connection, rows: Iterable[TableRows]) -> None:
        """Bulk-insert whole rows into tracked tables, by table name."""
        by_name, insert = self.schema.by_name, self._writer.insert
        for name, table_rows in rows:
            insert(conn, by_name[name], table_rows)

    @contextmanager
    def block(self, conn: Connection, number: int) -> Iterator[None]:
        """Journal the writes made inside, on ``conn``, under block ``number``."""
        self.schema.journal.set_block(conn, number)
        yield
        # Not in a finally: after an error the transaction is rolled back whole, and PostgreSQL
        # refuses any statement in an aborted transaction, which would hide the error.
        self.schema.journal.set_block(conn, None)

    # -- the ledger -----------------------------------------------------------------------------

    cursor = staticmethod(ledger.cursor)
    set_cursor = staticmethod(ledger.set_cursor)
    recent_blocks = staticmethod(ledger.recent_blocks)

    @staticmethod
    def add_blocks(conn: Connection, headers: Iterable[Header]) -> None:
        ledger.add_blocks(conn, headers)

    def finalize(self, conn: Connection, finalized: int) -> None:
        """Forget the journal and block hashes of blocks that can no longer change; the
        newest final block indexed is the database's anchor (:mod:`.identity`)."""
        anchor = ledger.finalize(conn, self.schema.journal, finalized)
        if anchor is not None:
            identity.set_anchor(conn, anchor.number, anchor.hash)

    def rollback_to(self, conn: Connection, ancestor: int, ancestor_hash: bytes) -> int:
        """Restore every tracked table to its state at the end of block ``ancestor`` and move
        the cursor there; returns the number of journaled writes undone."""
        return ledger.rollback_to(conn, self.schema.journal, ancestor, ancestor_hash)

    record_fork = staticmethod(ledger.record_fork)

    # -- what the database was built from ------------------------------------------------------

    check_origin = staticmethod(identity.check)
    record_origin = staticmethod(identity.record)
    anchor = staticmethod(identity.anchor)
    recorded_contracts = staticmethod(identity.contracts)
    recorded_plugins = staticmethod(identity.plugins)

    # -- versions (for readers' caches) --------------------------------------------------------

    def bump_versions(self, conn: Connection, *, final: bool, start: int) -> None:
        """Move the versions of the tables a step of blocks from ``start`` changed, in its
        transaction (:mod:`.versions`): every table for final blocks, which are not journaled,
        else those the journal recorded writes of."""
        if final:
            versions.bump(conn, self.schema.by_name)
        else:
            versions.bump(conn, self.schema.journal.changed_after(conn, start - 1))
