"""Forks: telling one from a lagging node, finding the common ancestor, rolling back to it.

Inside the unfinalized window every indexed block's hash is kept (the ledger). When a new
range does not link to the last indexed block, or, once caught up, the node no longer agrees
with the newest indexed block, the newest block the node still agrees with is the common
ancestor: every tracked table is restored to exactly its state at that block by the undo
journal, in one transaction with the fork's record. A node whose head went backwards (a
lagging replica) is checked by hash, not taken for a fork. A fork deeper than the window
stops with :class:`~dcmx_core.errors.DeepForkError` and changes nothing.
"""

from __future__ import annotations

import logging

from ..chain import Source, check_headers
from ..errors import DeepForkError
from ..store import Cursor, Store
from .reports import ForkReport

__all__ = ["Reorg"]

log = logging.getLogger("dcmx.indexer")


class Reorg:
    """Fork handling for one source and one store."""

    def __init__(self, source: Source, store: Store, window: int) -> None:
        self.source, self.store, self.window = source, store, window

    def tip_moved(self, cursor: Cursor | None, head: int) -> bool:
        """Caught up: whether the node disagrees with our newest block it has (a fork)."""
        if cursor is None:
            return False
        probe = min(cursor.block_number, head)
        with self.store.engine.connect() as conn:
            stored = Store.recent_blocks(conn)
        if probe not in stored:
            return False
        seen = self.source.headers(probe, probe)
        check_headers(seen, probe, probe)
        return seen[0].hash != stored[probe]  # a lagging node (head behind ours) is no fork

    def too_deep(self, what: str) -> DeepForkError:
        """The error of a fork below the window, saying ``what`` showed it, and what to do."""
        return DeepForkError(
            f"the chain reorganised deeper than the {self.window}-block window: {what}. "
            "The database is unchanged, and no rollback reaches below its window. If the "
            "node is right, reindex into a new database (`dcmx run --db NEW_DATABASE`), "
            f"with a --window above {self.window} to survive such forks; if it is wrong, "
            "use another node"
        )

    def roll_back(self, cursor: Cursor, head: int) -> ForkReport:
        """Find the common ancestor and restore every table to it; what was done."""
        with self.store.engine.connect() as conn:
            stored = Store.recent_blocks(conn)
        if not stored:
            raise DeepForkError(
                f"block {cursor.block_number + 1} does not link to the indexed block "
                f"{cursor.block_number}, and no recent block hashes are kept to find where the "
                "chains split. The database is unchanged; reindex into a new database"
            )
        low, high = min(stored), min(max(stored), head)
        theirs = {h.number: h.hash for h in self.source.headers(low, high)} if low <= high else {}
        ancestor = next(
            (n for n in sorted(stored, reverse=True) if n <= high and theirs.get(n) == stored[n]),
            None,
        )
        if ancestor is None:
            raise self.too_deep(f"none of the indexed blocks {low}..{max(stored)} is on the "
                                "node's chain any more")
        depth = cursor.block_number - ancestor
        with self.store.transaction() as conn:
            undone = self.store.rollback_to(conn, ancestor, stored[ancestor])
            report = ForkReport(cursor.block_number + 1, ancestor, depth, undone)
            Store.record_fork(
                conn, report.detected_at, report.common_ancestor, report.depth, undone
            )
        log.warning(
            "chain fork: rolled back %d blocks to %d (%d writes undone)",
            depth,
            ancestor,
            undone,
            extra={"ancestor": ancestor, "depth": depth, "undone": undone},
        )
        return report
