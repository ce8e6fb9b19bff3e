"""After simulated activity, and after forks, the read model equals the chain."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from core.snapshot import dump_tables

from dcmx_core.store.ledger import last_fork

from .conftest import assert_matches_chain, make_indexer, make_platform


def test_index_equals_chain(simulated, db_url):
    indexer = make_indexer(simulated, db_url)
    assert indexer.run() == simulated.chain.head
    assert_matches_chain(indexer.engine, simulated)


WINDOW = 120


def test_forks_roll_back_to_the_chain(db_url, tmp_path):
    p = make_platform(seed=11, rounds=2, wallets=12)
    indexer = make_indexer(p, db_url, window=WINDOW, confirmations=WINDOW)
    indexer.run()
    assert_matches_chain(indexer.engine, p)

    for fork, (seed_a, seed_b) in enumerate([(21, 22), (31, 32)]):
        base = p.chain.head
        snapshot = p.chain.snapshot()
        other = p.sim.branch(seed_b)
        p.sim = p.sim.branch(seed_a)
        p.sim.run(1)  # branch A, indexed
        head_a = p.chain.head
        assert indexer.run() == head_a

        p.chain.revert(snapshot)
        p.sim = other
        while p.chain.head <= head_a:  # branch B: different activity, longer
            p.sim.run(1)
        assert head_a - base < WINDOW  # the fork's depth
        indexer.run()
        assert indexer.cursor() == p.chain.head
        fork_row = last_fork(indexer.engine)
        assert fork_row is not None and fork_row["depth"] > 0, fork
        assert_matches_chain(indexer.engine, p)

    fresh = make_indexer(p, f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh.run()
    assert dump_tables(indexer.engine) == dump_tables(fresh.engine)


def test_rebuild_replays_to_the_same_rows(simulated, db_url):
    # Blocks in the window are replayed block by block under the journal: cover that path too.
    indexer = make_indexer(simulated, db_url, window=19, confirmations=19)
    indexer.run()
    before = dump_tables(indexer.engine)
    replayed = indexer.rebuild()
    with indexer.engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM blockchain_events")).scalar()
    assert replayed == events > 200
    assert dump_tables(indexer.engine) == before


@pytest.mark.parametrize("seed", [3])
def test_simulator_is_deterministic(seed):
    def calls(p):
        evm = p.chain.tester.backend.chain  # web3's get_block(full) is quadratic on eth-tester
        return [
            (tx.sender, tx.to, tx.data, tx.value)
            for n in range(1, p.chain.head + 1)
            for tx in evm.get_canonical_block_by_number(n).transactions
        ]

    a, b = (
        make_platform(seed=seed, rounds=3, wallets=10),
        make_platform(seed=seed, rounds=3, wallets=10),
    )
    assert calls(a) == calls(b)
    c = make_platform(seed=seed + 1, rounds=2, wallets=8)
    assert calls(c) != calls(a)
