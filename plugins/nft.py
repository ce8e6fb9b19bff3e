"""MusicNFT: one row per track edition in ``nft_index``, its owner following transfers; sales
per track (content hash) and hour in ``track_sales_hourly``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt, address
from dcmx_core.store.rows import fetch_columns, fetch_rows, insert_rows, upsert_rows
from dcmx_generated import music_nft, royalty_distributor

from ._sql import ZERO_ADDRESSES

metadata = sa.MetaData()

nft_index = sa.Table(
    "nft_index",
    metadata,
    sa.Column("token_id", ExactInt, primary_key=True),
    sa.Column("contract_address", address(), nullable=False),
    sa.Column("owner", address(), nullable=False),
    sa.Column("artist", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("genre", sa.Text, nullable=False),
    sa.Column("content_hash", sa.LargeBinary(32), nullable=False, index=True),
    sa.Column("edition", sa.Integer, nullable=False),
    sa.Column("max_editions", sa.Integer, nullable=False),
    sa.Column("royalty_receiver", address(), nullable=False),
    sa.Column("royalty_bps", sa.Integer, nullable=False),
    sa.Column("minted_to", address(), nullable=False),
    sa.Column("minted_at", sa.BigInteger, nullable=False),
    sa.Column("minted_block", sa.BigInteger, nullable=False),
    sa.Column("transfers", sa.Integer, nullable=False),
    sa.Column("sales", sa.Integer, nullable=False),
    sa.Column("last_sale_id", ExactInt, nullable=True),
    sa.Column("last_sale_price", ExactInt, nullable=True),
    sa.Column("last_sale_at", sa.BigInteger, nullable=True),
    # The searches filter on one column and page by token id: one ordered index scan each.
    sa.Index("ix_nft_index_owner", "owner", "token_id"),
    sa.Index("ix_nft_index_artist", "artist", "token_id"),
    sa.Index("ix_nft_index_genre", "genre", "token_id"),
)

# Sales per track and hour, so that trending reads one row per track and hour in its window
# rather than every sale (see queries.trending_tracks). Kept here: this plugin already reads
# each sale's token, and the token's content hash is in its own table.
track_sales_hourly = sa.Table(
    "track_sales_hourly",
    metadata,
    sa.Column("hour", sa.BigInteger, primary_key=True, autoincrement=False),  # unix time
    sa.Column("content_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("sales", sa.Integer, nullable=False),
    sa.Column("volume", ExactInt, nullable=False),
)
HOUR = 3600
# All sales per track: the answer for a window holding every sale, its top tracks read in
# index order.
track_sales = sa.Table(
    "track_sales",
    metadata,
    sa.Column("content_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("sales", sa.Integer, nullable=False),
    sa.Column("volume", ExactInt, nullable=False),
)
sa.Index("ix_track_sales_top", track_sales.c.sales.desc(), track_sales.c.content_hash)

# The columns this plugin writes, in table order.
_HOURLY = ("hour", "content_hash", "sales", "volume")
_TOTALS = ("content_hash", "sales", "volume")
_COLUMNS = (
    "token_id", "contract_address", "owner", "artist", "title", "genre", "content_hash",
    "edition", "max_editions", "royalty_receiver", "royalty_bps", "minted_to", "minted_at",
    "minted_block", "transfers", "sales", "last_sale_id", "last_sale_price", "last_sale_at",
)


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="nft",
        consumes=[music_nft.Minted, music_nft.Transfer, royalty_distributor.SaleRecorded],
        tables=[nft_index, track_sales_hourly, track_sales],
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(music_nft.Minted, music_nft.Transfer, royalty_distributor.SaleRecorded)
    if not events:
        return
    new: dict[int, dict[str, Any]] = {}
    # token id -> changed columns, for tokens indexed before
    changes: dict[int, dict[str, Any]] = {}
    sales: list[tuple[int, int, int]] = []  # (token id, hour, amount)
    for d in events:
        e = d.event
        if isinstance(e, music_nft.Minted):
            new[e.token_id] = {
                "token_id": e.token_id,
                "contract_address": d.contract_address,
                "owner": e.to_,
                "artist": e.artist,
                "title": e.title,
                "genre": e.genre,
                "content_hash": e.content_hash,
                "edition": e.edition,
                "max_editions": e.max_editions,
                "royalty_receiver": e.royalty_receiver,
                "royalty_bps": e.royalty_bps,
                "minted_to": e.to_,
                "minted_at": d.timestamp,
                "minted_block": d.log.block_number,
                "transfers": 0,
                "sales": 0,
                "last_sale_id": None,
                "last_sale_price": None,
                "last_sale_at": None,
            }
            continue
        if isinstance(e, music_nft.Transfer) and e.from_ in ZERO_ADDRESSES:
            continue  # the mint's own transfer: the Minted event that follows carries the owner
        token = e.token_id if isinstance(e, music_nft.Transfer) else e.nft_token_id
        row = new.get(token) or changes.setdefault(token, {})
        if isinstance(e, music_nft.Transfer):
            row["owner"] = e.to_
            row["transfers"] = row.get("transfers", 0) + 1
        else:
            row["last_sale_id"], row["last_sale_price"] = e.sale_id, e.amount
            row["last_sale_at"] = d.timestamp
            row["sales"] = row.get("sales", 0) + 1
            sales.append((token, d.timestamp // HOUR * HOUR, e.amount))
    insert_rows(conn, nft_index, _COLUMNS, [tuple(r[c] for c in _COLUMNS) for r in new.values()])
    current = fetch_rows(conn, nft_index, "token_id", _COLUMNS, changes) if changes else {}
    _count_sales(conn, sales, new, current)
    if not changes:
        return
    merged = []
    for token, change in changes.items():
        old = current.get(token)
        if old is None:
            continue  # a transfer or sale of a token minted before the indexed range
        merged.append(
            {
                **old,
                **change,
                "transfers": old["transfers"] + change.get("transfers", 0),
                "sales": old["sales"] + change.get("sales", 0),
            }
        )
    upsert_rows(conn, nft_index, _COLUMNS, [tuple(r[c] for c in _COLUMNS) for r in merged])


def _count_sales(
    conn: sa.Connection,
    sales: list[tuple[int, int, int]],
    new: dict[int, dict[str, Any]],
    current: dict[Any, dict[str, Any]],
) -> None:
    """Add the batch's sales to ``track_sales_hourly`` and ``track_sales``. A sale of a token
    minted before the indexed range has no content hash here and is left out, as a join with
    nft_index would leave it out."""
    hours: dict[int, dict[bytes, list[int]]] = {}  # hour -> content hash -> [sales, volume]
    for token, hour, amount in sales:
        row = new.get(token) or current.get(token)
        if row is None:
            continue
        per = hours.setdefault(hour, {}).setdefault(bytes(row["content_hash"]), [0, 0])
        per[0] += 1
        per[1] += amount
    out = []
    totals: dict[bytes, list[int]] = {}
    for hour, tracks in hours.items():
        stored = {
            bytes(h): values
            for h, values in fetch_columns(
                conn, track_sales_hourly, "content_hash", ("sales", "volume"), tracks,
                where={"hour": hour},
            ).items()
        }
        for h, (n, volume) in tracks.items():
            old_n, old_volume = stored.get(h, (0, 0))
            out.append((hour, h, old_n + n, old_volume + volume))
            total = totals.setdefault(h, [0, 0])
            total[0] += n
            total[1] += volume
    upsert_rows(conn, track_sales_hourly, _HOURLY, out)
    stored = {
        bytes(h): values
        for h, values in fetch_columns(
            conn, track_sales, "content_hash", ("sales", "volume"), totals
        ).items()
    }
    rows = []
    for h, (n, volume) in totals.items():
        old_n, old_volume = stored.get(h, (0, 0))
        rows.append((h, old_n + n, old_volume + volume))
    upsert_rows(conn, track_sales, _TOTALS, rows)
