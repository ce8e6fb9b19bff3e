"""Several nodes for one source: failing and lagging nodes are left, answers never mixed."""

from __future__ import annotations

import sqlalchemy as sa

from dcmx_core import Contract, Indexer, SourceError, Tuning
from dcmx_core.sources.failover import FailoverSource
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("11" * 20)


class Flaky:
    """A node that fails every ``every``-th call of any kind."""

    def __init__(self, inner, every: int):
        self.inner, self.every, self.calls = inner, every, 0

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def call(*args):
            self.calls += 1
            if self.calls % self.every == 0:
                raise SourceError(f"node unavailable (call {self.calls})")
            return method(*args)

        return call


def _chain(salt: bytes, blocks: int = 60) -> MemoryChain:
    chain = MemoryChain(finality_depth=5, salt=salt)
    for n in range(1, blocks + 1):
        chain.append_block([transfer_log(TOKEN, b"\x01" * 20, bytes([n % 5 + 2]) * 20, n)])
    return chain


def _rows(indexer):
    table = dcmx_token.Transfer.TABLE
    with indexer.engine.connect() as conn:
        return conn.execute(sa.select(table.c.block_number, table.c.block_hash, table.c.value)
                            .order_by(table.c.block_number)).all()


def _indexer(source, url):
    return Indexer(source, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))], window=5,
                   poll_interval=0, tuning=Tuning(batch_blocks=4, max_batch_blocks=4))


def test_failing_nodes_are_left_and_the_result_equals_a_clean_run(tmp_path):
    chain = _chain(b"a")
    source = FailoverSource([Flaky(chain, 7), Flaky(chain, 5), chain], probe_every=0)
    indexer = _indexer(source, f"sqlite:///{tmp_path / 'a.db'}")
    assert indexer.run() == 60
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}")
    clean.run()
    assert _rows(indexer) == _rows(clean)


def test_a_lagging_node_is_left_for_one_that_is_caught_up(tmp_path):
    chain = _chain(b"b")
    lagging = chain.view(lag=30)
    source = FailoverSource([lagging, chain], max_lag=5, probe_every=0)
    indexer = _indexer(source, f"sqlite:///{tmp_path / 'b.db'}")
    assert indexer.run() == 60
    assert source.current == 1


def test_answers_of_two_nodes_on_different_forks_are_never_mixed(tmp_path):
    canonical = _chain(b"c")
    stale = canonical.copy()
    canonical.fork(4, logs=[[transfer_log(TOKEN, b"\x03" * 20, b"\x04" * 20, 999)]] * 4)
    # The stale node answers head() but fails on logs: the step must restart on the other
    # node entirely, never checking the stale node's headers against the canonical logs.
    stale_node = Flaky(stale, every=3)
    source = FailoverSource([stale_node, canonical], probe_every=1e9)
    indexer = _indexer(source, f"sqlite:///{tmp_path / 'c.db'}")
    indexer.run()
    fresh = _indexer(canonical, f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh.run(to_block=indexer.cursor())
    assert _rows(indexer) == _rows(fresh)
