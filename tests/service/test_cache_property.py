"""Property: a cached answer is always the answer the database gives at that moment.

A hypothesis state machine extends the memory chain, forks it at any depth in the window,
indexes a step at a time (crashing mid-batch too), and reads through ``Service.cached``
between any two of those: balances, a page of raw transfers, the supply. Every answer,
served from the cache or not, must equal the same query run afresh right then; and the
cache must actually serve (hits happen).
"""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dcmx_core import PluginError, PluginHost
from dcmx_core.lookups import event_page
from dcmx_core.service.context import Service
from dcmx_core.service.jsonenc import dumps
from dcmx_core.settings import Settings
from dcmx_core.sources.memory import MemoryChain
from dcmx_generated import dcmx_token
from dcmx_plugins import token as token_plugin
from tests.core.test_reorg_property import (
    TOKEN,
    WALLETS,
    WINDOW,
    RawSqlPlugin,
    make_indexer,
    specs,
    transfers,
)


def balance(wallet: str):
    t = token_plugin.token_balances.c
    return lambda conn: conn.execute(sa.select(t.balance).where(t.wallet == wallet)).scalar()


def supply(conn):
    return [tuple(r) for r in conn.execute(sa.select(token_plugin.token_supply)).all()]


def page(newest: bool):
    return lambda conn: event_page(conn, dcmx_token.Transfer, limit=4, newest_first=newest)


class CacheMachine(RuleBasedStateMachine):
    url = ""
    hits = 0  # over all examples: the cache must have served some answers
    by_url_hits = 0

    @initialize()
    def start(self):
        from dcmx_core.store import create_engine

        engine = create_engine(self.url)
        with engine.begin() as conn:
            for view in sa.inspect(conn).get_view_names():
                conn.exec_driver_sql(f"DROP VIEW {view}")
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
        engine.dispose()
        self.chain = MemoryChain(finality_depth=WINDOW, salt=os.urandom(8))
        self.chain.extend(1, specs([(TOKEN, WALLETS[0], WALLETS[1], 1)]))
        self.plugin = RawSqlPlugin()
        self.indexer = make_indexer(self.chain, self.url, self.plugin)
        self.indexer.run_once()
        self.loop = asyncio.new_event_loop()
        self.svc = Service(Settings(database_url=self.url), secret=b"k" * 32,
                           plugins=PluginHost([token_plugin]), events=dcmx_token.EVENTS)
        self.final_floor = 0

    def teardown(self):
        if hasattr(self, "svc"):
            CacheMachine.hits += self.svc.cache.hits
            self.loop.run_until_complete(self.svc.close())
            self.loop.close()
            self.indexer.engine.dispose()

    @rule(n=st.integers(1, 3), items=transfers)
    def extend(self, n, items):
        self.chain.extend(n, specs(items))

    @rule(data=st.data())
    def fork(self, data):
        deepest = min(WINDOW, self.chain.head() - self.final_floor)
        if deepest < 1:
            return
        depth = data.draw(st.integers(1, deepest))
        self.chain.fork(depth, length=data.draw(st.integers(0, depth + 2)))

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

    @rule(which=st.integers(0, 6))
    def read(self, which):
        from dcmx_core.addresses import to_tron

        reads = [
            (f"balance|{w.hex()}", ["token_balances"], balance(to_tron(w))) for w in WALLETS
        ] + [("supply", ["token_supply"], supply),
             ("page|asc", [dcmx_token.Transfer.TABLE], page(False))]
        key, tables, fn = reads[which % len(reads)]
        got = self.loop.run_until_complete(self.svc.cached(key, tables, fn))
        fresh = dumps(self.svc.db.read(fn))
        assert got.body == fresh, (key, got.headers["x-cache"], got.body, fresh)
        # the guard's way for a URL answered before: the key and tables, no route run
        names = frozenset(self.svc.tables_of(tables) | {"dcmx_instance"})
        by_url = self.loop.run_until_complete(self.svc.hit(key, names))
        if by_url is not None:
            CacheMachine.by_url_hits += 1
            assert by_url == dumps(self.svc.db.read(fn)), (key, by_url)

    @rule(which=st.integers(0, 6))
    def read_again(self, which):
        self.read(which)
        self.read(which)  # a hit unless a commit came between: both must equal the database

    @invariant()
    def finality_never_goes_back(self):
        if hasattr(self, "chain"):
            self.final_floor = max(self.final_floor, self.chain.finalized())


def test_cached_answers_equal_the_database_sqlite(tmp_path):
    CacheMachine.url = f"sqlite:///{tmp_path / 'cache.db'}"
    case = CacheMachine.TestCase
    case.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                             suppress_health_check=list(HealthCheck))
    CacheMachine.hits = CacheMachine.by_url_hits = 0
    case().runTest()
    assert CacheMachine.hits > 20 and CacheMachine.by_url_hits > 10


def test_cached_answers_equal_the_database_postgresql(pg_url):
    CacheMachine.url = pg_url
    case = CacheMachine.TestCase
    case.settings = settings(max_examples=15, stateful_step_count=30, deadline=None,
                             suppress_health_check=list(HealthCheck))
    CacheMachine.hits = CacheMachine.by_url_hits = 0
    case().runTest()
    assert CacheMachine.hits > 5 and CacheMachine.by_url_hits > 3
