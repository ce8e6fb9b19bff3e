"""DCMXToken: every transfer, mint and burn; balances per wallet; total supply."""

from __future__ import annotations

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt
from dcmx_generated import dcmx_token

from ._sql import ZERO_ADDRESSES, fetch_by_key, upsert

metadata = sa.MetaData()

transaction_index = sa.Table(
    "transaction_index",
    metadata,
    sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tx_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("block_timestamp", sa.BigInteger, nullable=False),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # transfer | mint | burn
    sa.Column("from_address", sa.String(64), nullable=False),
    sa.Column("to_address", sa.String(64), nullable=False),
    sa.Column("amount", ExactInt, nullable=False),
    # wallet_transactions: newest first per address, one ordered index scan per side
    sa.Index("ix_transaction_index_from_address", "from_address", "block_number", "log_index"),
    sa.Index("ix_transaction_index_to_address", "to_address", "block_number", "log_index"),
)

token_balances = sa.Table(
    "token_balances",
    metadata,
    sa.Column("wallet", sa.String(64), primary_key=True),
    sa.Column("balance", ExactInt, nullable=False),
    sa.Column("updated_block", sa.BigInteger, nullable=False),
)

token_supply = sa.Table(
    "token_supply",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("total_supply", ExactInt, nullable=False),
    sa.Column("minted", ExactInt, nullable=False),
    sa.Column("burned", ExactInt, nullable=False),
)


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="token",
        consumes=[dcmx_token.Transfer],
        tables=[transaction_index, token_balances, token_supply],
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    transfers = batch.of(dcmx_token.Transfer)
    if not transfers:
        return
    rows, deltas, last_block = [], {}, {}
    supply: dict[str, list[int]] = {}  # token -> [minted, burned]
    for d in transfers:
        e = d.event
        kind = (
            "mint"
            if e.from_ in ZERO_ADDRESSES
            else "burn"
            if e.to_ in ZERO_ADDRESSES
            else "transfer"
        )
        rows.append(
            {
                "block_number": d.log.block_number,
                "log_index": d.log.log_index,
                "tx_hash": d.log.tx_hash,
                "block_timestamp": d.timestamp,
                "token": d.contract_address,
                "kind": kind,
                "from_address": e.from_,
                "to_address": e.to_,
                "amount": e.value,
            }
        )
        if kind != "mint":
            deltas[e.from_] = deltas.get(e.from_, 0) - e.value
            last_block[e.from_] = d.log.block_number
        if kind != "burn":
            deltas[e.to_] = deltas.get(e.to_, 0) + e.value
            last_block[e.to_] = d.log.block_number
        if kind != "transfer":
            totals = supply.setdefault(d.contract_address, [0, 0])
            totals[0 if kind == "mint" else 1] += e.value
    conn.execute(transaction_index.insert(), rows)
    current = fetch_by_key(conn, token_balances, token_balances.c.wallet, deltas)
    upsert(
        conn,
        token_balances,
        [
            {
                "wallet": w,
                "balance": (current[w]["balance"] if w in current else 0) + delta,
                "updated_block": last_block[w],
            }
            for w, delta in deltas.items()
        ],
    )
    known = fetch_by_key(conn, token_supply, token_supply.c.token, supply)
    new_supply = []
    for token, (minted, burned) in supply.items():
        old = known.get(token, {"minted": 0, "burned": 0})
        m, b = old["minted"] + minted, old["burned"] + burned
        new_supply.append({"token": token, "total_supply": m - b, "minted": m, "burned": b})
    upsert(conn, token_supply, new_supply)
