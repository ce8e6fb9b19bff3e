"""RoyaltyDistributor: splits, sales, credits, pending amount per recipient, withdrawals."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt, address
from dcmx_core.store.rows import fetch_columns, insert_rows, upsert_rows
from dcmx_generated import royalty_distributor as rd

metadata = sa.MetaData()

royalty_splits = sa.Table(  # the current split of each NFT, in split order
    "royalty_splits",
    metadata,
    sa.Column("nft_token_id", ExactInt, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("recipient", address(), nullable=False, index=True),
    sa.Column("bps", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

royalty_sales = sa.Table(
    "royalty_sales",
    metadata,
    sa.Column("sale_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("nft_token_id", ExactInt, nullable=False, index=True),
    sa.Column("buyer", address(), nullable=False, index=True),
    sa.Column("seller", address(), nullable=False, index=True),
    sa.Column("amount", ExactInt, nullable=False),
    sa.Column("split_version", sa.Integer, nullable=False),
    sa.Column("distributed", sa.Boolean, nullable=False),
    sa.Column("sold_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("block_number", sa.BigInteger, nullable=False),
)

royalty_credits = sa.Table(
    "royalty_credits",
    metadata,
    sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sale_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("recipient", address(), nullable=False, index=True),
    sa.Column("amount", ExactInt, nullable=False),
    sa.Column("credited_at", sa.BigInteger, nullable=False),
)

royalty_withdrawals = sa.Table(
    "royalty_withdrawals",
    metadata,
    sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("recipient", address(), nullable=False, index=True),
    sa.Column("amount", ExactInt, nullable=False),
    sa.Column("withdrawn_at", sa.BigInteger, nullable=False),
)

royalty_balances = sa.Table(
    "royalty_balances",
    metadata,
    sa.Column("recipient", address(), primary_key=True),
    sa.Column("pending", ExactInt, nullable=False),
    sa.Column("total_credited", ExactInt, nullable=False),
    sa.Column("total_withdrawn", ExactInt, nullable=False),
)

# The columns this plugin writes, in table order.
_SPLITS = ("nft_token_id", "position", "recipient", "bps", "version")
_SALES = (
    "sale_id", "nft_token_id", "buyer", "seller", "amount", "split_version", "distributed",
    "sold_at", "block_number",
)
_CREDITS = ("block_number", "log_index", "sale_id", "recipient", "amount", "credited_at")
_WITHDRAWALS = ("block_number", "log_index", "recipient", "amount", "withdrawn_at")
_BALANCES = ("recipient", "pending", "total_credited", "total_withdrawn")

EVENTS = (
    rd.RoyaltySplitsSet,
    rd.SaleRecorded,
    rd.RoyaltyCredited,
    rd.RoyaltiesDistributed,
    rd.RoyaltiesWithdrawn,
)


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="royalty",
        consumes=EVENTS,
        tables=[
            royalty_splits,
            royalty_sales,
            royalty_credits,
            royalty_withdrawals,
            royalty_balances,
        ],
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(*EVENTS)
    if not events:
        return
    splits: dict[int, list[tuple[Any, ...]]] = {}
    sales: dict[int, dict[str, Any]] = {}
    distributed: set[int] = set()
    credits, withdrawals = [], []
    moves: dict[str, list[int]] = {}  # recipient -> [credited, withdrawn]
    for d in events:
        e, at = d.event, d.timestamp
        if isinstance(e, rd.RoyaltySplitsSet):
            splits[e.nft_token_id] = [
                (e.nft_token_id, i, r, b, e.version)
                for i, (r, b) in enumerate(zip(e.recipients, e.bps, strict=True))
            ]
        elif isinstance(e, rd.SaleRecorded):
            sales[e.sale_id] = {
                "sale_id": e.sale_id,
                "nft_token_id": e.nft_token_id,
                "buyer": e.buyer,
                "seller": e.seller,
                "amount": e.amount,
                "split_version": e.split_version,
                "distributed": False,
                "sold_at": at,
                "block_number": d.log.block_number,
            }
        elif isinstance(e, rd.RoyaltyCredited):
            credits.append(
                (d.log.block_number, d.log.log_index, e.sale_id, e.recipient, e.amount, at)
            )
            moves.setdefault(e.recipient, [0, 0])[0] += e.amount
        elif isinstance(e, rd.RoyaltiesDistributed):
            if e.sale_id in sales:
                sales[e.sale_id]["distributed"] = True
            else:
                distributed.add(e.sale_id)
        else:
            withdrawals.append(
                (d.log.block_number, d.log.log_index, e.recipient, e.amount, at)
            )
            moves.setdefault(e.recipient, [0, 0])[1] += e.amount
    if splits:
        conn.execute(royalty_splits.delete().where(royalty_splits.c.nft_token_id.in_(splits)))
        insert_rows(conn, royalty_splits, _SPLITS, [r for rows in splits.values() for r in rows])
    insert_rows(conn, royalty_sales, _SALES, [tuple(s[c] for c in _SALES) for s in sales.values()])
    if distributed:
        conn.execute(
            royalty_sales.update()
            .where(royalty_sales.c.sale_id.in_(distributed))
            .values(distributed=True)
        )
    insert_rows(conn, royalty_credits, _CREDITS, credits)
    insert_rows(conn, royalty_withdrawals, _WITHDRAWALS, withdrawals)
    current = fetch_columns(
        conn, royalty_balances, "recipient", ("total_credited", "total_withdrawn"), moves
    )
    rows = []
    for recipient, (credited, withdrawn) in moves.items():
        old_c, old_w = current.get(recipient, (0, 0))
        c, w = old_c + credited, old_w + withdrawn
        rows.append((recipient, c - w, c, w))
    upsert_rows(conn, royalty_balances, _BALANCES, rows)
