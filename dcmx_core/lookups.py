"""Reads every indexer needs, over the raw event tables: a transaction's events, and pages of
one event type's rows.

Both take the generated event classes whose raw tables to read and a connection; they bind
every value (nothing from a caller is ever written into SQL text) and return plain rows.

``transaction`` looks in every raw table: each has an index on ``tx_hash``
(:func:`~dcmx_core.abi_runtime.tx_index_name`), so it is one index probe per table whatever
the tables' size (during a backfill the secondary indexes are dropped, and it scans).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .chain import CHAIN_COLUMNS
from .store import Cursor
from .store.ledger import cursor as read_cursor

__all__ = ["EventRow", "TxLookup", "event_page", "transaction"]


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event: where it is, what it is, its parameters (column name -> value)."""

    block_number: int
    log_index: int
    block_hash: bytes
    block_timestamp: int
    tx_hash: bytes
    tx_index: int
    contract_address: str
    contract: str
    event: str
    args: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TxLookup:
    """What the index says about one transaction: its events (chain order), the block they
    are in, and the cursor at the time of the read."""

    tx_hash: bytes
    events: tuple[EventRow, ...]
    cursor: Cursor | None

    @property
    def block_number(self) -> int | None:
        return self.events[0].block_number if self.events else None


def _row(cls: type, r: sa.Row[Any]) -> EventRow:
    m = r._mapping
    k = len(CHAIN_COLUMNS)
    args = {name: m[name] for name in list(m.keys())[k:]}
    return EventRow(
        m["block_number"], m["log_index"], bytes(m["block_hash"]), m["block_timestamp"],
        bytes(m["tx_hash"]), m["tx_index"], m["contract_address"],
        cls.CONTRACT, cls.NAME, args,  # type: ignore[attr-defined]
    )


def transaction(
    conn: Connection, events: Sequence[type], tx_hash: bytes, block: int | None = None
) -> TxLookup:
    """The events of transaction ``tx_hash`` (32 bytes) across the raw tables of ``events``,
    in chain order, read in the caller's transaction with the cursor. With ``block`` (when
    the receipt says it), only that block is looked at: a primary-key range per table."""
    if len(tx_hash) != 32:
        raise ValueError(f"a transaction hash is 32 bytes, got {len(tx_hash)}")
    found: list[EventRow] = []
    for cls in events:
        t: sa.Table = cls.TABLE  # type: ignore[attr-defined]
        stmt = sa.select(t).where(t.c.tx_hash == tx_hash)
        if block is not None:
            stmt = stmt.where(t.c.block_number == block)
        rows = conn.execute(stmt).all()
        found.extend(_row(cls, r) for r in rows)
    found.sort(key=lambda e: (e.block_number, e.log_index))
    return TxLookup(tx_hash, tuple(found), read_cursor(conn))


def event_page(
    conn: Connection,
    cls: type,
    *,
    limit: int,
    after: tuple[int, int] | None = None,
    from_block: int | None = None,
    to_block: int | None = None,
    tx_hash: bytes | None = None,
    contract_address: str | None = None,
    where: Mapping[str, Any] | None = None,
    newest_first: bool = False,
) -> list[EventRow]:
    """Up to ``limit`` rows of ``cls``'s raw table, in chain order (or newest first), after
    the keyset position ``after`` = (block, log index) of the last row of the page before.

    ``where`` filters parameter columns by equality (an indexed parameter is one ordered index
    scan); unknown column names raise ``KeyError``.
    """
    t: sa.Table = cls.TABLE  # type: ignore[attr-defined]
    key = (t.c.block_number, t.c.log_index)
    stmt = sa.select(t)
    if after is not None:
        pos = sa.tuple_(*key)
        stmt = stmt.where(pos < after if newest_first else pos > after)
    if from_block is not None:
        stmt = stmt.where(t.c.block_number >= from_block)
    if to_block is not None:
        stmt = stmt.where(t.c.block_number <= to_block)
    if tx_hash is not None:
        stmt = stmt.where(t.c.tx_hash == tx_hash)
    if contract_address is not None:
        stmt = stmt.where(t.c.contract_address == contract_address)
    chain = set(CHAIN_COLUMNS)
    for name, value in (where or {}).items():
        if name in chain or name not in t.c:
            raise KeyError(name)
        stmt = stmt.where(t.c[name] == value)
    order = [c.desc() for c in key] if newest_first else list(key)
    return [_row(cls, r) for r in conn.execute(stmt.order_by(*order).limit(limit))]
