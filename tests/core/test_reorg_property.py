"""Property: whatever the chain does, the index equals a fresh index of the canonical chain.

A hypothesis state machine extends the memory chain, forks it at any depth up to the window
(shorter, equal or longer branches, with different logs), indexes one step at a time and
crashes in the middle of batches. After every step every table (raw events, the built-in
token plugin and a plugin that writes raw SQL) equals what a fresh index of the canonical chain
up to the same block holds. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import dcmx_core
from dcmx_core import Contract, Indexer, PluginError, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store import Store, create_engine
from dcmx_generated import dcmx_token
from dcmx_plugins import token as token_plugin

from .snapshot import dump_tables

WINDOW = 6
TOKEN = bytes.fromhex("11" * 20)
IMPOSTOR = bytes.fromhex("66" * 20)  # emits the same Transfer event; must never be indexed
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]

counts = sa.Table(
    "raw_sql_counts",
    sa.MetaData(),
    sa.Column("wallet", sa.String(64), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)


class RawSqlPlugin:
    """Writes with hand-written SQL only (the writes DipDup's rollback used to miss)."""

    def __init__(self):
        self.fail_at_block: int | None = None

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("rawsql", consumes=[dcmx_token.Transfer], tables=[counts])

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        for d in batch.of(dcmx_token.Transfer):
            conn.execute(
                sa.text(
                    "INSERT INTO raw_sql_counts (wallet, n) VALUES (:w, 1) "
                    "ON CONFLICT (wallet) DO UPDATE SET n = raw_sql_counts.n + 1"
                ),
                {"w": d.event.to_},
            )
            conn.execute(
                sa.text("DELETE FROM raw_sql_counts WHERE wallet = :w AND n > 3"),
                {"w": d.event.from_},
            )
        if self.fail_at_block is not None and batch.start <= self.fail_at_block <= batch.end:
            raise RuntimeError("simulated crash in the middle of a batch")


def make_indexer(chain, url: str, plugin: RawSqlPlugin) -> Indexer:
    return Indexer(
        chain,
        url,
        [Contract("DCMXToken", dcmx_token, (TOKEN,))],
        plugins=[token_plugin, plugin],
        window=WINDOW,
        poll_interval=0,
        tuning=Tuning(batch_blocks=4),
    )


transfers = st.lists(
    st.tuples(
        st.sampled_from([TOKEN, TOKEN, TOKEN, IMPOSTOR]),
        st.sampled_from(WALLETS),
        st.sampled_from(WALLETS),
        # Wider than 64 bits, yet no sum of a run's transfers overflows a uint256 balance
        # (random transfers are not checked against balances the way the chain checks them).
        st.one_of(st.integers(0, 1000), st.just(2**200)),
    ),
    max_size=3,
)


def specs(items):
    return [transfer_log(c, a, b, v) for c, a, b, v in items]


_fresh_cache: dict[bytes, dict] = {}


def fresh_dump(chain: MemoryChain, upto: int, tmp_factory) -> dict:
    """What a fresh index of the canonical chain up to ``upto`` holds (memoised by hash)."""
    key = chain.headers(upto, upto)[0].hash
    if key not in _fresh_cache:
        path = tmp_factory.mktemp("fresh") / "fresh.db"
        indexer = make_indexer(chain, f"sqlite:///{path}", RawSqlPlugin())
        indexer.run(to_block=upto)
        _fresh_cache[key] = dump_tables(indexer.engine)
        indexer.engine.dispose()
    return _fresh_cache[key]


class ReorgMachine(RuleBasedStateMachine):
    url: str = ""
    tmp_factory = None

    @initialize()
    def start(self):
        engine = create_engine(self.url)
        with engine.begin() as conn:  # a fresh database for every example
            for view in sa.inspect(conn).get_view_names():  # they read the tables
                conn.exec_driver_sql(f"DROP VIEW {view}")
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
        engine.dispose()
        # Hashes do not cover logs: a salt of its own keeps examples apart in the fresh cache.
        self.chain = MemoryChain(finality_depth=WINDOW, salt=os.urandom(8))
        self.final_floor = 0  # a real chain never un-finalizes a block, even if its head shrinks
        self.plugin = RawSqlPlugin()
        self.indexer = make_indexer(self.chain, self.url, self.plugin)

    def teardown(self):
        if hasattr(self, "indexer"):
            self.indexer.engine.dispose()

    @rule(n=st.integers(1, 3), items=transfers)
    def extend(self, n, items):
        self.chain.extend(n, specs(items))

    @precondition(lambda self: self.chain.head() > self.final_floor)
    @rule(data=st.data())
    def fork(self, data):
        deepest = min(WINDOW, self.chain.head() - self.final_floor)
        depth = data.draw(st.integers(1, deepest), label="depth")
        length = data.draw(st.integers(0, depth + 2), label="length")
        new_logs = data.draw(
            st.one_of(st.none(), st.lists(transfers, min_size=length, max_size=length)),
            label="logs",
        )
        self.chain.fork(
            depth, length=length, logs=None if new_logs is None else [specs(x) for x in new_logs]
        )

    @rule()
    def index_step(self):
        self.indexer.run_once()

    @rule()
    def crash_mid_batch(self):
        cursor = self.indexer.cursor()
        self.plugin.fail_at_block = (cursor if cursor is not None else -1) + 1
        try:
            self.indexer.run_once()
        except PluginError:
            pass
        finally:
            self.plugin.fail_at_block = None

    @invariant()
    def equals_fresh_index(self):
        if not hasattr(self, "indexer"):
            return
        cursor = self.indexer.cursor()
        if cursor is None or cursor > self.chain.head():
            return
        with self.indexer.engine.connect() as conn:
            ours = Store.cursor(conn)
        if self.chain.headers(cursor, cursor)[0].hash != ours.block_hash:
            return  # indexed a branch the chain has since left; the next step rolls it back
        ours, fresh = (
            dump_tables(self.indexer.engine),
            fresh_dump(self.chain, cursor, self.tmp_factory),
        )
        differ = {
            t: (ours.get(t), fresh.get(t))
            for t in set(ours) | set(fresh)
            if ours.get(t) != fresh.get(t)
        }
        assert not differ, f"at block {cursor}: {differ}"

    @invariant()
    def versions_move_with_rows(self):
        """Readers' caches are keyed by table versions (dcmx_versions, bookkeeping outside
        the journal): every table whose rows changed since the last look, by a commit or a
        rollback, has a new version, and versions never go back."""
        if not hasattr(self, "indexer"):
            return
        rows = dump_tables(self.indexer.engine)
        with self.indexer.engine.connect() as conn:
            now = dict(
                conn.execute(sa.text("SELECT table_name, version FROM dcmx_versions")).all()
            )
        before, self.seen = getattr(self, "seen", None), (rows, now)
        if before is None:
            return
        old_rows, old_versions = before
        for table, version in now.items():
            assert version >= old_versions.get(table, 0), table
        stale = [t for t in rows if t in now and rows[t] != old_rows.get(t)
                 and now[t] == old_versions.get(t)]
        assert not stale, f"rows changed, versions did not: {stale}"

    @invariant()
    def finality_never_goes_back(self):
        if hasattr(self, "chain"):
            self.final_floor = max(self.final_floor, self.chain.finalized())

    @invariant()
    def impostor_never_indexed(self):
        if not hasattr(self, "indexer"):
            return
        with self.indexer.engine.connect() as conn:
            addresses = set(
                conn.execute(
                    sa.select(dcmx_token.Transfer.TABLE.c.contract_address).distinct()
                ).scalars()
            )
        assert addresses <= {dcmx_core.render_address(TOKEN, "tron")}


def run_machine(url: str, tmp_factory, examples: int) -> None:
    ReorgMachine.url = url
    ReorgMachine.tmp_factory = tmp_factory
    machine = ReorgMachine.TestCase
    machine.settings = settings(
        max_examples=examples,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()


def test_index_equals_fresh_index_sqlite(tmp_path, tmp_path_factory):
    run_machine(f"sqlite:///{tmp_path / 'index.db'}", tmp_path_factory, examples=60)


def test_index_equals_fresh_index_postgresql(pg_url, tmp_path_factory):
    run_machine(pg_url, tmp_path_factory, examples=25)


def test_fork_deeper_than_window_stops_and_changes_nothing(sqlite_url):
    chain = MemoryChain(finality_depth=WINDOW)
    chain.extend(20, specs([(TOKEN, WALLETS[0], WALLETS[1], 5)]))
    indexer = make_indexer(chain, sqlite_url, RawSqlPlugin())
    indexer.run()
    before = dump_tables(indexer.engine)
    chain.fork(WINDOW + 3, logs=[specs([(TOKEN, WALLETS[2], WALLETS[3], 7)])] * (WINDOW + 3))
    with pytest.raises(dcmx_core.DeepForkError, match="deeper than the 6-block window"):
        indexer.run()
    assert dump_tables(indexer.engine) == before


def test_lagging_node_is_not_a_fork(sqlite_url):
    chain = MemoryChain(finality_depth=WINDOW)
    chain.extend(12, specs([(TOKEN, WALLETS[0], WALLETS[1], 5)]))
    forks = []
    indexer = make_indexer(chain, sqlite_url, RawSqlPlugin())
    indexer.subscribe(on_fork=forks.append)
    indexer.run()
    lagging = chain.view(lag=4)  # a replica 4 blocks behind: its head went backwards
    indexer.source = lagging
    assert indexer.run_once() is False
    assert forks == []
    assert indexer.cursor() == 12
