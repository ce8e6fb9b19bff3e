"""Catching up fast: while far behind, write final blocks into primary-key-only tables.

When more final blocks lie ahead than have been indexed (a first sync, a long outage), the
loop drops every tracked table's secondary indexes and the journal's triggers
(:meth:`~dcmx_core.store.Store.enter_backfill`) and builds them once at the end, in the
transaction of the first blocks that may still change: the triggers before that step's writes
(they are journaled), the indexes after them (its rows then go into the indexes with their
build, not one by one at random places: 85 us an event on SQLite, and a 46 MB write-ahead log
to copy back). On SQLite a backfill also writes through a rollback journal instead of WAL
(:func:`~dcmx_core.store.engine.set_journal_mode`).

The state is a row in ``dcmx_backfill``, committed with the DDL, so a run killed during a
backfill is resumed by the next one.
"""

from __future__ import annotations

import logging
import time
from enum import Enum

from sqlalchemy.engine import Connection

from ..store import Store

__all__ = ["Backfill", "Move"]

log = logging.getLogger("dcmx.indexer")


class Move(Enum):
    """What a step does to the backfill, in its own transaction."""

    ENTER = "enter"  # drop indexes and triggers before this step's writes
    END = "end"  # triggers before this step's writes, indexes built after them


class Backfill:
    """Whether a backfill is under way, and when to start and end one."""

    def __init__(self, store: Store, start_block: int, *, enabled: bool = True) -> None:
        self.store = store
        self.start_block = start_block
        self.enabled = enabled
        self.active = False

    def resume(self) -> None:
        """Read the state a previous run left (a new database starts as a backfill)."""
        with self.store.engine.connect() as conn:
            self.active = Store.backfilling(conn)
        self.store.set_journal_mode(self.active)
        if self.active and not self.enabled:
            self.leave()

    def move(self, *, final: bool, start: int, end: int, ahead_to: int) -> Move | None:
        """What the step of blocks ``start``..``end`` does to the backfill.

        It starts one when final blocks up to ``ahead_to`` lie ahead and building the indexes
        once at the end pays: about what the rows already indexed cost, so when more final
        blocks lie ahead than were indexed before. Blocks stand in for rows: counting rows is
        itself a scan. The first step of blocks that may still change ends one.
        """
        if not final:
            return Move.END if self.active else None
        if self.active or not self.enabled:
            return None
        ahead = ahead_to - end
        return Move.ENTER if ahead > 0 and ahead >= start - self.start_block else None

    def before_writes(self, conn: Connection, move: Move | None) -> None:
        if move is Move.ENTER:
            self.store.enter_backfill(conn)
        elif move is Move.END:
            self.store.start_journal(conn)

    def after_writes(self, conn: Connection, move: Move | None) -> None:
        if move is Move.END:
            self._build_indexes(conn)

    def committed(self, move: Move | None, from_block: int, safe: int) -> None:
        """Follow a committed ``move`` (the journal mode changes outside any transaction)."""
        if move is Move.END:
            self._ended()
        elif move is Move.ENTER:
            self.active = True
            self.store.set_journal_mode(True)
            log.info(
                "backfill: secondary indexes and journal triggers dropped until caught up",
                extra={"from_block": from_block, "safe": safe},
            )

    def leave(self) -> None:
        """End a backfill that reached no block that may still change: at the end of a run,
        or when caught up."""
        if not self.active:
            return
        with self.store.transaction() as conn:
            self.store.start_journal(conn)
            self._build_indexes(conn)
        self._ended()

    def _build_indexes(self, conn: Connection) -> None:
        count = len(self.store.deferrable_indexes())
        log.info("backfill caught up: building %d indexes", count)
        t0 = time.perf_counter()
        self.store.leave_backfill(conn)
        seconds = time.perf_counter() - t0
        log.info(
            "backfill done: %d indexes built in %.1f s",
            count,
            seconds,
            extra={"seconds": seconds, "indexes": count},
        )

    def _ended(self) -> None:
        self.active = False
        self.store.set_journal_mode(False)
