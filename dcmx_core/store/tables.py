"""The framework's own tables, beside the tracked tables of raw events and plugins."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "backfill_table",
    "blocks_table",
    "cursor_table",
    "forks_table",
    "framework",
    "identity_table",
    "schema_table",
    "throughput_table",
    "versions_table",
    "views_table",
]

framework = sa.MetaData()

cursor_table = sa.Table(
    "dcmx_cursor",
    framework,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", sa.LargeBinary(32), nullable=False),
)

# Hashes of the indexed blocks that may still be reorganised (and the newest finalized one, as
# the anchor the next block must link to).
blocks_table = sa.Table(
    "dcmx_blocks",
    framework,
    sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Column("parent_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
)

schema_table = sa.Table(
    "dcmx_schema",
    framework,
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# The views dcmx made (blockchain_events and the plugins' views), beside dcmx_schema, its record
# of the tables it made: dcmx drops or replaces a view or table only when it is in one of them,
# never one of the same name that something else made in the database.
views_table = sa.Table(
    "dcmx_views",
    framework,
    sa.Column("view_name", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
)

# What the database was built from (see identity.py): contracts with their addresses, plugins,
# and an anchor block. Outside the undo journal.
identity_table = sa.Table(
    "dcmx_identity",
    framework,
    sa.Column("fact", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(128), primary_key=True),
)

forks_table = sa.Table(
    "dcmx_forks",
    framework,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("detected_at_block", sa.BigInteger, nullable=False),
    sa.Column("common_ancestor", sa.BigInteger, nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("undone_writes", sa.BigInteger, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# One row while a backfill runs (Store.enter_backfill): secondary indexes and journal triggers
# are dropped until it ends.
backfill_table = sa.Table(
    "dcmx_backfill",
    framework,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
)


# A version per tracked table (and the cursor), moved in the transaction of every change of
# the table (see versions.py); outside the undo journal, it only grows.
versions_table = sa.Table(
    "dcmx_versions",
    framework,
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)


# What the indexer committed per minute of wall time: events and blocks summed over its steps,
# the cursor, head and finalized height at the minute's last step (see throughput.py). A record
# of the indexer's own work, read by the service's Overview page, which runs in another process.
# History, like the fork log: outside the undo journal, kept through rollbacks.
throughput_table = sa.Table(
    "dcmx_throughput",
    framework,
    sa.Column("minute", sa.BigInteger, primary_key=True, autoincrement=False),  # unix s, floored
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("blocks", sa.BigInteger, nullable=False),
    sa.Column("steps", sa.Integer, nullable=False),
    sa.Column("cursor_block", sa.BigInteger, nullable=False),
    sa.Column("head_block", sa.BigInteger, nullable=False),
    sa.Column("finalized_block", sa.BigInteger, nullable=False),
)
