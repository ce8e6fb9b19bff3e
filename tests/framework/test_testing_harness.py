"""The public test harness (dcmx_core.testing): chains from typed events, the real indexer over
them, a fork that rolls a plugin's table back, tables read as rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core.addresses import to_tron
from dcmx_core.errors import ConfigError
from dcmx_core.sqltypes import ExactInt, address
from dcmx_core.testing import TestChain, TestIndexer, contract, rows, tuples
from dcmx_generated import dcmx_token, music_nft

TOKEN = to_tron(b"\x70" * 20)
OTHER_TOKEN = to_tron(b"\x71" * 20)
ALICE, BOB, CAROL = (to_tron(bytes([b]) * 20) for b in (0xA1, 0xB0, 0xC4))


def _totals_plugin() -> SimpleNamespace:
    """Received amounts per wallet, updated in place: rows a rollback has to restore."""
    meta = sa.MetaData()
    totals = sa.Table(
        "received_totals", meta,
        sa.Column("wallet", address(), primary_key=True),
        sa.Column("transfers", sa.Integer, nullable=False),
        sa.Column("received", ExactInt(), nullable=False),
    )

    def dcmx_declare() -> dcmx_core.Declaration:
        return dcmx_core.Declaration(
            name="received", consumes=[dcmx_token.Transfer], tables=[totals]
        )

    def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
        count: Counter[str] = Counter()
        amount: Counter[str] = Counter()
        for d in batch.of(dcmx_token.Transfer):
            count[d.event.to_] += 1
            amount[d.event.to_] += d.event.value
        for wallet in count:
            old = conn.execute(
                sa.select(totals.c.transfers, totals.c.received).where(totals.c.wallet == wallet)
            ).first()
            if old is None:
                conn.execute(totals.insert().values(
                    wallet=wallet, transfers=count[wallet], received=amount[wallet]
                ))
            else:
                conn.execute(totals.update().where(totals.c.wallet == wallet).values(
                    transfers=old[0] + count[wallet], received=old[1] + amount[wallet]
                ))

    return SimpleNamespace(
        dcmx_declare=dcmx_core.hookimpl(dcmx_declare),
        dcmx_handle_batch=dcmx_core.hookimpl(dcmx_handle_batch),
        table=totals,
    )


def _send(sender: str, to: str, value: int, token: str = TOKEN):
    return (token, dcmx_token.Transfer(from_=sender, to_=to, value=value))


def test_a_fork_rolls_the_plugin_table_back(db_url):
    plugin = _totals_plugin()
    chain = TestChain()
    chain.block(_send(ALICE, BOB, 5), _send(ALICE, CAROL, 2**255))
    chain.block(_send(CAROL, BOB, 7))
    chain.block(_send(BOB, ALICE, 1))
    with TestIndexer(chain, [plugin], database=None if "sqlite" in db_url else db_url) as idx:
        assert idx.run() == 3
        assert idx.rows("received_totals") == [
            {"wallet": ALICE, "transfers": 1, "received": 1},
            {"wallet": BOB, "transfers": 2, "received": 12},
            {"wallet": CAROL, "transfers": 1, "received": 2**255},
        ]
        # Blocks 2 and 3 are replaced: Bob's 7 and Alice's 1 never happened, Carol got 9.
        chain.fork(2, [_send(BOB, CAROL, 9)])
        assert idx.run() == 3
        assert [(f.common_ancestor, f.depth) for f in idx.forks] == [(1, 2)]
        after = idx.rows("received_totals")
        assert after == [
            {"wallet": BOB, "transfers": 1, "received": 5},
            {"wallet": CAROL, "transfers": 2, "received": 2**255 + 9},
        ]
        # the raw event table was rolled back with it
        raw = idx.rows(dcmx_token.Transfer.TABLE)
        assert [(r["block_number"], r["to_"], r["value"]) for r in raw] == [
            (1, BOB, 5), (1, CAROL, 2**255), (2, CAROL, 9)
        ]
    # a fresh index of the chain as it is now gives the same table
    with TestIndexer(chain, [_totals_plugin()]) as fresh:
        fresh.run()
        assert fresh.rows("received_totals") == after


def test_contracts_come_from_the_events_or_are_named(sqlite_url):
    chain = TestChain()
    chain.block(_send(ALICE, BOB, 1), _send(ALICE, BOB, 2, token=OTHER_TOKEN))
    chain.block((TOKEN, dcmx_token.Transfer(from_=BOB, to_=ALICE, value=3), 0),
                (TOKEN, dcmx_token.Approval(owner=BOB, spender=ALICE, value=4), 0))
    with TestIndexer(chain) as idx:  # both addresses, raw tables only
        idx.run()
        transfers = idx.rows("dcmx_token__transfer")
        assert [(r["contract_address"], r["value"]) for r in transfers] == [
            (TOKEN, 1), (OTHER_TOKEN, 2), (TOKEN, 3)
        ]
        # one transaction for both logs of block 2, given its index
        assert transfers[2]["tx_hash"] == idx.rows("dcmx_token__approval")[0]["tx_hash"]
    only = contract(dcmx_token, TOKEN, name="Token")
    with TestIndexer(chain, contracts=[only], database=sqlite_url) as idx:
        idx.run()
        assert [r[-1] for r in idx.tuples(dcmx_token.Transfer.TABLE)] == [1, 3]
    # read again from the URL, the way a test reads what `dcmx run` wrote
    assert [r["value"] for r in rows(sqlite_url, dcmx_token.Transfer.TABLE)] == [1, 3]
    # by name the table is read as the database describes it (ExactInt is text on SQLite)
    assert len(tuples(sqlite_url, "dcmx_token__transfer")) == 2


def test_mistakes_are_named():
    chain = TestChain()
    with pytest.raises(ConfigError, match="holds no event of generated bindings"):
        TestIndexer(chain)
    with pytest.raises(TypeError, match=r"\(address, event\)"):
        chain.block(dcmx_token.Transfer(from_=ALICE, to_=BOB, value=1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no generated event"):
        chain.block((TOKEN, "Transfer"))
    chain.block(_send(ALICE, BOB, 1))
    chain.block((TOKEN, music_nft.BaseURIUpdated(base_uri="x")))
    with pytest.raises(ConfigError, match="several bindings"):
        TestIndexer(chain)
    with TestIndexer(chain, contracts=[contract(dcmx_token, TOKEN)]) as idx:
        idx.run()
        with pytest.raises(ConfigError, match="no table or view 'nope'"):
            idx.rows("nope")
    with pytest.raises(ValueError, match="at least one block"):
        chain.fork(0)
