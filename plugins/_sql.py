"""Set-based write helpers shared by the built-in plugins (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dcmx_core.addresses import to_evm, to_tron

# SQLite allows 32766 bound parameters per statement; stay well below on both databases.
_CHUNK = 900


def upsert(conn: Connection, table: sa.Table, rows: Sequence[dict]) -> None:
    """Insert rows, replacing the non-key columns of rows whose primary key already exists."""
    if not rows:
        return
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    keys = [c.name for c in table.primary_key.columns]
    updates = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    stmt = (
        insert.on_conflict_do_update(index_elements=keys, set_=updates)
        if updates
        else insert.on_conflict_do_nothing(index_elements=keys)
    )
    conn.execute(stmt, list(rows))


def chunks(items: Sequence) -> Iterable[Sequence]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def fetch_by_key(conn: Connection, table: sa.Table, column: sa.Column, keys: Iterable) -> dict:
    """The rows of ``table`` whose ``column`` is in ``keys``, as {key: row mapping}."""
    wanted = list(dict.fromkeys(keys))
    found = {}
    for chunk in chunks(wanted):
        for row in conn.execute(sa.select(table).where(column.in_(chunk))).mappings():
            found[row[column.name]] = dict(row)
    return found


def day(timestamp: int) -> str:
    """The UTC calendar day of a block timestamp, as YYYY-MM-DD."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


# The zero address as each chain profile renders it: mints come from it, burns go to it.
ZERO_ADDRESSES = frozenset({to_tron(bytes(20)), to_evm(bytes(20))})
