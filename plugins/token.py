"""DCMXToken: every transfer, mint and burn (a view of the raw rows); balances per wallet;
total supply."""

from __future__ import annotations

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt, address
from dcmx_core.store.rows import fetch_columns, upsert_rows
from dcmx_generated import dcmx_token

from ._sql import ZERO_ADDRESSES

metadata = sa.MetaData()

# Every transfer, mint and burn: the raw Transfer rows under the names the platform reads.
# A view, not a copy: a table of its own cost as much to write as the raw rows themselves (1M
# events with plugins: 16% of the SQLite run). The raw table's index on each address column
# and the chain position serves ``wallet_transactions``: newest first, one ordered index scan
# per side.
_transfer = dcmx_token.Transfer.TABLE.c
_zero = sorted(ZERO_ADDRESSES)
transaction_index = dcmx_core.view(
    "transaction_index",
    sa.select(
        _transfer.block_number,
        _transfer.log_index,
        _transfer.tx_hash,
        _transfer.block_timestamp,
        _transfer.contract_address.label("token"),
        sa.case(
            (_transfer.from_.in_(_zero), "mint"), (_transfer.to_.in_(_zero), "burn"),
            else_="transfer",
        ).label("kind"),
        _transfer.from_.label("from_address"),
        _transfer.to_.label("to_address"),
        _transfer.value.label("amount"),
    ),
)

token_balances = sa.Table(
    "token_balances",
    metadata,
    sa.Column("wallet", address(), primary_key=True),
    sa.Column("balance", ExactInt, nullable=False, index=True),  # top holders
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
_BALANCES = ("wallet", "balance", "updated_block")
_SUPPLY = ("token", "total_supply", "minted", "burned")


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="token",
        consumes=[dcmx_token.Transfer],
        tables=[token_balances, token_supply],
        views=[transaction_index],
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    transfers = batch.of(dcmx_token.Transfer)
    if not transfers:
        return
    deltas: dict[str, int] = {}
    last_block: dict[str, int] = {}
    supply: dict[str, list[int]] = {}  # token -> [minted, burned]
    zero = ZERO_ADDRESSES
    get = deltas.get
    for d in transfers:
        e = d.event
        frm, to, value, block = e.from_, e.to_, e.value, d.log.block_number
        if frm in zero:  # a mint: only the receiver's balance moves
            deltas[to] = get(to, 0) + value
            last_block[to] = block
            supply.setdefault(d.contract_address, [0, 0])[0] += value
        elif to in zero:  # a burn: only the sender's
            deltas[frm] = get(frm, 0) - value
            last_block[frm] = block
            supply.setdefault(d.contract_address, [0, 0])[1] += value
        else:
            deltas[frm] = get(frm, 0) - value
            last_block[frm] = block
            deltas[to] = get(to, 0) + value
            last_block[to] = block
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
