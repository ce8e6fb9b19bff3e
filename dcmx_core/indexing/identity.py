"""What a database was built from, checked against this run: its contracts, and its chain.

A database records the contracts (name -> addresses) and plugins it was built from and an
anchor block, the newest block it indexed that was final (:mod:`dcmx_core.store.identity`).
A run that configures a recorded contract at other addresses is refused (its tables would mix
two contracts' events); a node that has another block at the anchor follows another chain,
unless it still has the oldest indexed block as indexed, in which case the chain forked below
the window (:meth:`~.reorg.Reorg.too_deep`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..chain import Source, check_headers
from ..contracts import Contract
from ..errors import ConfigError, InconsistentAnswer, SourceError
from ..store import Origin, Store
from .reorg import Reorg

__all__ = ["Identity"]

log = logging.getLogger("dcmx.indexer")


class Identity:
    """The checks of one indexer's run against its database's record."""

    def __init__(self, engine: Engine, source: Source, contracts: Sequence[Contract],
                 origin: Origin, render: Callable[[bytes], str], reorg: Reorg) -> None:
        self.engine = engine
        self.source = source
        self.contracts = contracts
        self.origin = origin
        self.render = render
        self.reorg = reorg
        self.anchor_checked = False  # the node was checked against the anchor block

    def check_origin(self) -> None:
        """Refuse contracts that contradict what the database was built from; say which
        recorded plugins this run leaves out (their tables fall behind)."""
        with self.engine.connect() as conn:
            Store.check_origin(conn, self.origin, self.render)
            missing = sorted(Store.recorded_plugins(conn) - self.origin.plugins)
        if missing:
            log.warning(
                "plugin(s) %s built tables in this database and are not loaded: their tables "
                "are not kept up to date by this run (`dcmx rebuild` with them makes them "
                "whole again)", ", ".join(missing), extra={"plugins": missing},
            )

    def check_anchor(self, head: int) -> None:
        """Before the first step: the node must have the database's anchor block, a block
        that was final when indexed. Another hash there is another chain, not a fork. Once
        checked, nothing more is asked."""
        if self.anchor_checked:
            return
        with self.engine.connect() as conn:
            anchor = Store.anchor(conn)
        if anchor is None:  # a new database: its first step with a final block records one
            self.anchor_checked = True
            return
        if anchor.number > head:
            return  # the node is behind it (syncing, lagging): checked at a later step
        seen = self.source.headers(anchor.number, anchor.number)
        check_headers(seen, anchor.number, anchor.number)
        if seen[0].hash != anchor.block_hash:
            older = self._oldest_indexed_block()
            if older is not None and older[0] < anchor.number and self._on_chain(*older):
                # The node still has an older block as indexed: the same chain, forked below.
                raise self.reorg.too_deep(
                    f"the node's block {anchor.number}, final when indexed, is another one now, "
                    f"while block {older[0]} is still the indexed one"
                )
            raise ConfigError(
                f"the node follows another chain than the one this database was built from: "
                f"its block {anchor.number} is 0x{seen[0].hash.hex()}, the database's (final "
                f"when indexed) is 0x{anchor.block_hash.hex()}. Point --source at a node of "
                "that chain, or index this one into a new database (--db)"
            )
        self.anchor_checked = True

    def _oldest_indexed_block(self) -> tuple[int, bytes] | None:
        """The number and hash of the oldest block an indexed event is in (each raw table's
        first row by its primary key), or None when no event is indexed."""
        found: list[tuple[int, bytes]] = []
        with self.engine.connect() as conn:
            for cls in {cls for c in self.contracts for cls in c.module.EVENTS}:
                t = cls.TABLE
                row = conn.execute(
                    sa.select(t.c.block_number, t.c.block_hash)
                    .order_by(t.c.block_number, t.c.log_index).limit(1)
                ).first()
                if row is not None:
                    found.append((row[0], bytes(row[1])))
        return min(found) if found else None

    def _on_chain(self, number: int, block_hash: bytes) -> bool:
        """Whether the node has this block; a node that cannot serve it (pruned) says no."""
        try:
            seen = self.source.headers(number, number)
            check_headers(seen, number, number)
        except (SourceError, InconsistentAnswer):
            return False
        return seen[0].hash == block_hash
