"""Dump an index's data tables in a database-independent form, to compare two indexes."""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa

from dcmx_core.sqltypes import decode_sqlite

# Bookkeeping that legitimately differs between an index that lived through forks and a fresh
# one: journals, recent block hashes, the fork log, recorded table definitions, the backfill flag.
# The table versions (dcmx_versions) count changes, and the indexer's per-minute record of its
# steps (dcmx_throughput) counts work done, both of which differ by history too; so does the
# anchor block of what the database was built from (dcmx_identity: the newest final block
# indexed, which depends on the steps taken). dcmx_views records the views made, as
# dcmx_schema does the tables.
_BOOKKEEPING = ("dcmx_blocks", "dcmx_schema", "dcmx_forks", "dcmx_backfill", "dcmx_versions",
                "dcmx_throughput", "dcmx_identity", "dcmx_views", "_dcmx")


def _norm(value):
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, bytes) and value.lstrip(b"-").isdigit() and len(value) >= 78:
        return decode_sqlite(value)  # ExactInt beyond 64 bits on SQLite (reflection loses it)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def dump_tables(engine: sa.Engine) -> dict[str, list[tuple]]:
    meta = sa.MetaData()
    with engine.connect() as conn:
        meta.reflect(conn)
        out = {}
        for name, table in sorted(meta.tables.items()):
            if name.startswith(_BOOKKEEPING):
                continue
            # generated columns (an amount's <column>_num on SQLite) are derived, not stored
            stored = [c for c in table.columns if c.computed is None]
            rows = conn.execute(sa.select(*stored)).all()
            out[name] = sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)
    return out
