"""The indexer's own record of its work, per minute of wall time (``dcmx_throughput``).

Each committed step adds its events and blocks to the row of the current minute and leaves
there the cursor, the head and the finalized height it saw: one upsert in the step's own
transaction, so a row counts exactly what was committed (a step that fails adds nothing).
The service's Overview page, in another process, reads events per second and lag over the
last hour from it: the indexer is the only one that knows when it committed what and how far
behind the head it was then.

It is history, like the fork log, not state derived from the chain: the undo journal does not
track it and a rollback keeps it (those minutes' work did happen). Rows older than
:data:`RETAIN_SECONDS` are dropped when a new minute starts. It changes only in steps, which
move the cursor's version, so a reader caches it under ``dcmx_cursor``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .tables import throughput_table

__all__ = ["RETAIN_SECONDS", "Throughput", "read", "throughput_table"]

RETAIN_SECONDS = 2 * 24 * 3600
_t = throughput_table.c


class Throughput:
    """Adds each committed step to its minute's row (:meth:`record`)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._minute: int | None = None  # the minute of the last record, to prune once a minute

    def record(
        self, conn: Connection, *, events: int, blocks: int, cursor: int, head: int,
        finalized: int,
    ) -> None:
        """In the step's transaction, after its writes."""
        minute = int(self.clock()) // 60 * 60
        values = {"minute": minute, "events": events, "blocks": blocks, "steps": 1,
                  "cursor_block": cursor, "head_block": max(head, cursor),
                  "finalized_block": finalized}
        name = conn.dialect.name
        if name in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            dialect = sqlite if name == "sqlite" else postgresql
            stmt = dialect.insert(throughput_table).values(values)
            new = stmt.excluded
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[_t.minute],
                set_={"events": _t.events + new.events, "blocks": _t.blocks + new.blocks,
                      "steps": _t.steps + 1, "cursor_block": new.cursor_block,
                      "head_block": new.head_block, "finalized_block": new.finalized_block},
            ))
        else:  # any other database: update, else insert (one writer: no race)
            done = conn.execute(throughput_table.update().where(_t.minute == minute).values(
                events=_t.events + events, blocks=_t.blocks + blocks, steps=_t.steps + 1,
                cursor_block=cursor, head_block=values["head_block"], finalized_block=finalized,
            )).rowcount
            if not done:
                conn.execute(throughput_table.insert().values(values))
        if minute != self._minute:
            self._minute = minute
            conn.execute(throughput_table.delete().where(_t.minute < minute - RETAIN_SECONDS))


def read(conn: Connection, since: int) -> list[dict[str, int]]:
    """The rows of the minutes from ``since`` (unix seconds) on, oldest first."""
    rows = conn.execute(sa.select(throughput_table).where(_t.minute >= since)
                        .order_by(_t.minute)).mappings()
    return [dict(r) for r in rows]
