"""Rebuilding plugin tables from the raw event tables, without the chain.

Plugin tables are derived from the raw event tables, the record of the chain itself. When a
plugin's table definition changes, a plugin is added to a database that already holds events,
or a user asks (``dcmx rebuild``), the plugin tables are dropped and the stored events are
replayed through the plugins in chain order, in the batches the plugins would have seen.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..addresses import parse
from ..batch import Batch, Decoded
from ..caches import BoundedCache
from ..chain import CHAIN_COLUMNS, Log
from ..plugins import PluginHost
from ..store import Store

__all__ = ["rebuild"]

log = logging.getLogger("dcmx.indexer")


def rebuild(
    store: Store,
    plugins: PluginHost,
    chunk: int = 5_000,
    beat: Callable[[], None] | None = None,
) -> int:
    """Drop every plugin table and replay the raw event tables through the plugins; returns
    the number of events replayed. ``beat`` is called after each chunk (a sign of life).

    One transaction: readers see the old tables until the new ones are complete. Blocks still
    inside the unfinalized window are replayed one by one under the journal, so a fork after a
    rebuild rolls back as exactly as before it.
    """
    replayed = 0
    with store.transaction() as conn:
        store.drop(conn, plugins.tables())
        store.create(conn)
        window = sorted(Store.recent_blocks(conn))
        anchor = window[0] if window else None
        cursor = Store.cursor(conn)
        pending: list[Decoded[Any]] = []
        for d in _stored_events(conn, store, chunk):
            pending.append(d)
            replayed += 1
            if anchor is not None and d.log.block_number > anchor:
                continue  # the window is replayed block by block below
            if len(pending) >= chunk:
                _replay(conn, plugins, pending)
                pending = []
                if beat is not None:
                    beat()
        final = [d for d in pending if anchor is None or d.log.block_number <= anchor]
        if final:
            _replay(conn, plugins, final)
        if window and cursor:
            by_block: dict[int, list[Decoded[Any]]] = {}
            for d in pending[len(final) :]:
                by_block.setdefault(d.log.block_number, []).append(d)
            for number in window[1:]:
                with store.block(conn, number):
                    plugins.handle(Batch(number, number, by_block.get(number, []), False), conn)
    log.info("rebuilt plugin tables from %d events", replayed, extra={"events": replayed})
    return replayed


def _replay(conn: Connection, plugins: PluginHost, events: list[Decoded[Any]]) -> None:
    batch = Batch(events[0].log.block_number, events[-1].log.block_number, events, True)
    plugins.handle(batch, conn)


def _stored_events(conn: Connection, store: Store, chunk: int) -> Iterator[Decoded[Any]]:
    """Every event of the raw tables, in chain order: the batches plugins saw."""
    # contract address text -> its 20 bytes
    addresses: BoundedCache[str, bytes] = BoundedCache(parse, 4096)
    streams = [_table_events(conn, cls, chunk, addresses) for cls in store.schema.events]
    return heapq.merge(*streams, key=lambda d: (d.log.block_number, d.log.log_index))


def _table_events(
    conn: Connection, cls: type[Any], chunk: int, addresses: BoundedCache[str, bytes]
) -> Iterator[Decoded[Any]]:
    """The events of ``cls``'s raw table in chain order, read ``chunk`` rows at a time (by
    key, so that no cursor stays open while the plugins write)."""
    t = cls.TABLE
    k = len(CHAIN_COLUMNS)
    key = (t.c.block_number, t.c.log_index)
    query = sa.select(*t.columns).order_by(*key).limit(chunk)
    after: tuple[int, int] | None = None
    while True:
        q = query if after is None else query.where(sa.tuple_(*key) > after)
        rows = conn.execute(q).all()
        for r in rows:
            number, block_hash, timestamp, tx_hash, tx_index, log_index, address = r[:k]
            # The log's topics and data are not stored: the event holds their decoded values.
            lg = Log(number, bytes(block_hash), bytes(tx_hash), tx_index, log_index,
                     addresses[address], (), b"")
            yield Decoded(cls.from_sql(r[k:]), lg, timestamp, address)
        if len(rows) < chunk:
            return
        after = (number, log_index)
