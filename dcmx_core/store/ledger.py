"""The ledger of what is indexed: the cursor, the hashes of blocks that may still change, forks.

Every function runs on the caller's connection, inside its transaction: the cursor moves in the
same transaction as the batch it follows, so a crash loses nothing and duplicates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..chain import Header
from . import versions
from .journal import Journal
from .tables import blocks_table, cursor_table, forks_table

__all__ = [
    "Cursor",
    "add_blocks",
    "cursor",
    "finalize",
    "last_fork",
    "recent_blocks",
    "record_fork",
    "rollback_to",
    "set_cursor",
]


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last indexed block."""

    block_number: int
    block_hash: bytes


def cursor(conn: Connection) -> Cursor | None:
    row = conn.execute(sa.select(cursor_table.c.block_number, cursor_table.c.block_hash)).first()
    return Cursor(row[0], bytes(row[1])) if row else None


def set_cursor(conn: Connection, number: int, block_hash: bytes) -> None:
    updated = conn.execute(
        cursor_table.update().where(cursor_table.c.id == 1),
        {"block_number": number, "block_hash": block_hash},
    ).rowcount
    if not updated:
        conn.execute(
            cursor_table.insert(), {"id": 1, "block_number": number, "block_hash": block_hash}
        )


def recent_blocks(conn: Connection) -> dict[int, bytes]:
    """Number -> hash of the indexed blocks that may still change, and of the newest final
    one (the anchor the next block must link to)."""
    rows = conn.execute(sa.select(blocks_table.c.number, blocks_table.c.hash)).all()
    return {n: bytes(h) for n, h in rows}


def add_blocks(conn: Connection, headers: Iterable[Header]) -> None:
    rows = [
        {"number": h.number, "hash": h.hash, "parent_hash": h.parent_hash, "timestamp": h.timestamp}
        for h in headers
    ]
    if rows:
        conn.execute(blocks_table.insert(), rows)


def finalize(conn: Connection, journal: Journal, finalized: int) -> Header | None:
    """Drop bookkeeping for blocks that can no longer change, keeping the newest as anchor;
    returns that anchor (None while no indexed block is final)."""
    b = blocks_table.c
    row = conn.execute(
        sa.select(b.number, b.hash, b.parent_hash, b.timestamp)
        .where(b.number <= finalized).order_by(b.number.desc()).limit(1)
    ).first()
    if row is not None:
        conn.execute(blocks_table.delete().where(b.number < row[0]))
    journal.prune(conn, finalized)
    return None if row is None else Header(row[0], bytes(row[1]), bytes(row[2]), row[3])


def rollback_to(conn: Connection, journal: Journal, ancestor: int, ancestor_hash: bytes) -> int:
    """Undo everything after block ``ancestor``; returns the number of writes undone. The
    versions of the tables it changes move in the same transaction."""
    versions.bump(conn, journal.changed_after(conn, ancestor))
    undone = journal.rollback(conn, ancestor)
    conn.execute(blocks_table.delete().where(blocks_table.c.number > ancestor))
    set_cursor(conn, ancestor, ancestor_hash)
    return undone


def record_fork(
    conn: Connection, detected_at: int, common_ancestor: int, depth: int, undone_writes: int
) -> None:
    conn.execute(
        forks_table.insert(),
        {
            "detected_at_block": detected_at,
            "common_ancestor": common_ancestor,
            "depth": depth,
            "undone_writes": undone_writes,
        },
    )


def last_fork(engine: Engine) -> dict[str, Any] | None:
    """The newest fork rolled back in this database, as a row mapping; None if none."""
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(forks_table).order_by(forks_table.c.id.desc()).limit(1))
            .mappings()
            .first()
        )
    return dict(row) if row else None
