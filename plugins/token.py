"""DCMXToken: every transfer, mint and burn; balances per wallet; total supply."""

from __future__ import annotations

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt, address
from dcmx_generated import dcmx_token

from ._sql import ZERO_ADDRESSES, fetch_columns, insert_rows, upsert_rows

metadata = sa.MetaData()

transaction_index = sa.Table(
    "transaction_index",
    metadata,
    sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tx_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("block_timestamp", sa.BigInteger, nullable=False),
    sa.Column("token", address(), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # transfer | mint | burn
    sa.Column("from_address", address(), nullable=False),
    sa.Column("to_address", address(), nullable=False),
    sa.Column("amount", ExactInt, nullable=False),
    # wallet_transactions: newest first per address, one ordered index scan per side
    sa.Index("ix_transaction_index_from_address", "from_address", "block_number", "log_index"),
    sa.Index("ix_transaction_index_to_address", "to_address", "block_number", "log_index"),
)

token_balances = sa.Table(
    "token_balances",
    metadata,
    sa.Column("wallet", address(), primary_key=True),
    sa.Column("balance", ExactInt, nullable=False),
    sa.Column("updated_block", sa.BigInteger, nullable=False),
)

token_supply = sa.Table(
    "token_supply",
    metadata,
    sa.Column("token", address(), primary_key=True),
    sa.Column("total_supply", ExactInt, nullable=False),
    sa.Column("minted", ExactInt, nullable=False),
    sa.Column("burned", ExactInt, nullable=False),
)


# The columns this plugin writes, in table order.
_TRANSACTIONS = (
    "block_number", "log_index", "tx_hash", "block_timestamp", "token", "kind", "from_address",
    "to_address", "amount",
)
_BALANCES = ("wallet", "balance", "updated_block")
_SUPPLY = ("token", "total_supply", "minted", "burned")


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
    rows = []
    deltas: dict[str, int] = {}
    last_block: dict[str, int] = {}
    supply: dict[str, list[int]] = {}  # token -> [minted, burned]
    zero = ZERO_ADDRESSES
    append = rows.append
    get = deltas.get
    for d in transfers:
        e, log = d.event, d.log
        frm, to, value, block = e.from_, e.to_, e.value, log.block_number
        if frm in zero:
            kind = "mint"
        elif to in zero:
            kind = "burn"
        else:
            kind = "transfer"
        append(
            (block, log.log_index, log.tx_hash, d.timestamp, d.contract_address, kind,
             frm, to, value)
        )
        if kind == "transfer":
            deltas[frm] = get(frm, 0) - value
            last_block[frm] = block
            deltas[to] = get(to, 0) + value
            last_block[to] = block
        else:
            if kind == "burn":
                deltas[frm] = get(frm, 0) - value
                last_block[frm] = block
            else:
                deltas[to] = get(to, 0) + value
                last_block[to] = block
            totals = supply.setdefault(d.contract_address, [0, 0])
            totals[0 if kind == "mint" else 1] += value
    insert_rows(conn, transaction_index, _TRANSACTIONS, rows)
    current = fetch_columns(conn, token_balances, "wallet", ("balance",), deltas)
    upsert_rows(
        conn,
        token_balances,
        _BALANCES,
        [
            (w, (current[w][0] if w in current else 0) + delta, last_block[w])
            for w, delta in deltas.items()
        ],
    )
    if not supply:
        return
    known = fetch_columns(conn, token_supply, "token", ("minted", "burned"), supply)
    new_supply = []
    for token, (minted, burned) in supply.items():
        old_m, old_b = known.get(token, (0, 0))
        m, b = old_m + minted, old_b + burned
        new_supply.append((token, m - b, m, b))
    upsert_rows(conn, token_supply, _SUPPLY, new_supply)
