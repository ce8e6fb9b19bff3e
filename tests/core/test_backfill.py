"""A backfill drops the secondary indexes and builds them once caught up; blockchain_events is
kept exactly when plugins need it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dcmx_core import Contract, Indexer, StoreError
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store import Store
from dcmx_generated import dcmx_token
from dcmx_plugins import token

from .snapshot import dump_tables

TOKEN = bytes.fromhex("33" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def _chain(blocks: int) -> MemoryChain:
    chain = MemoryChain(finality_depth=5)
    for n in range(blocks):
        chain.append_block(
            [transfer_log(TOKEN, WALLETS[n % 5], WALLETS[(n + k) % 5], n + k) for k in (1, 2)]
        )
    return chain


def _indexer(chain, url, plugins=(token,), **kw) -> Indexer:  # noqa: ANN001
    return Indexer(
        chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))], plugins=plugins, window=5, **kw
    )


def _indexes(engine: sa.Engine) -> set[str]:
    """Names of the secondary (deferrable) indexes present in the database."""
    inspector = sa.inspect(engine)
    return {
        ix["name"]
        for t in inspector.get_table_names()
        for ix in inspector.get_indexes(t)
        if not ix["unique"] and not t.startswith("_dcmx_undo_")
    }


def _triggers(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        else:
            sql = (
                "SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
                "WHERE NOT g.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            )
        return conn.exec_driver_sql(sql).scalar()


def _state(indexer: Indexer) -> tuple[set[str], int, bool]:
    with indexer.engine.connect() as conn:
        flag = Store.backfilling(conn)
    return _indexes(indexer.engine), _triggers(indexer.engine), flag


def test_backfill_drops_indexes_and_triggers_and_builds_them_when_caught_up(db_url, tmp_path):
    chain = _chain(200)
    indexer = _indexer(chain, db_url, batch_blocks=20, max_batch_blocks=20)
    declared = {ix.name for ix in indexer.store.deferrable_indexes()}
    assert {"ix_transaction_index_from_address", "ix_blockchain_events_tx_hash"} <= declared
    indexer.setup()  # a new database starts as a backfill: nothing made only to be dropped
    assert _state(indexer) == (_indexes(indexer.engine) - declared, 0, True)
    triggers = 3 * len(indexer.store.tables) if "sqlite" in db_url else len(indexer.store.tables)
    during: list[tuple[bool, tuple]] = []
    indexer.on_batch = lambda r: during.append((r.finalized, _state(indexer)))
    indexer.run()
    final = [state for finalized, state in during if finalized]
    window = [state for finalized, state in during if not finalized]
    assert final and window
    # None during the backfill; all of them before the first block that may change.
    assert all(not (present & declared) and n == 0 and flag for present, n, flag in final)
    assert all(declared <= present and n == triggers and not flag for present, n, flag in window)
    assert _state(indexer) == (_indexes(indexer.engine) | declared, triggers, False)
    # Same tables, same rows as an index that never dropped anything.
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}", batch_blocks=1)
    clean._worth_backfill = lambda *_: False  # noqa: SLF001 - the reference never backfills
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)


def test_run_to_a_final_block_ends_with_every_index_and_trigger(db_url):
    chain = _chain(120)
    indexer = _indexer(chain, db_url, batch_blocks=10, max_batch_blocks=10)
    declared = {ix.name for ix in indexer.store.deferrable_indexes()}
    dropped = []
    indexer.on_batch = lambda r: dropped.append(not (_indexes(indexer.engine) & declared))
    assert indexer.run(to_block=60) == 60  # every batch final
    assert dropped[0] and all(dropped)
    present, triggers, flag = _state(indexer)
    assert declared <= present and triggers >= len(indexer.store.tables) and not flag


def test_indexes_lost_in_a_crashed_backfill_come_back(db_url):
    chain = _chain(60)
    first = _indexer(chain, db_url)
    first.run()
    triggers = _triggers(first.engine)
    with first.store.transaction() as conn:  # as a kill -9 in the middle of a backfill leaves it
        first.store.enter_backfill(conn)
    declared = {ix.name for ix in first.store.deferrable_indexes()}
    assert _state(first) == (_indexes(first.engine) - declared, 0, True)
    chain.append_block([transfer_log(TOKEN, WALLETS[0], WALLETS[1], 5)])
    second = _indexer(chain, db_url)
    second.setup()
    assert _triggers(first.engine) == 0  # setup knows it is in a backfill: no triggers yet
    second.run()
    present, n, flag = _state(first)
    assert declared <= present and n == triggers and not flag


def test_a_short_catch_up_on_a_large_index_keeps_the_indexes(sqlite_url):
    chain = _chain(100)
    _indexer(chain, sqlite_url).run(to_block=80)
    indexer = _indexer(chain, sqlite_url, batch_blocks=2, max_batch_blocks=2)
    declared = {ix.name for ix in indexer.store.deferrable_indexes()}
    present = []
    indexer.on_batch = lambda r: present.append(declared <= _indexes(indexer.engine))
    indexer.run()  # 15 final blocks ahead of 81 indexed ones: not worth rebuilding the indexes
    assert len(present) > 5 and all(present)


def _tables(url: str) -> set[str]:
    return set(sa.inspect(sa.create_engine(url)).get_table_names())


def test_blockchain_events_is_kept_only_for_plugins(sqlite_url, tmp_path):
    chain = _chain(40)
    raw = _indexer(chain, sqlite_url, plugins=())
    raw.run()
    assert "blockchain_events" not in _tables(sqlite_url)
    assert "dcmx_token__transfer" in _tables(sqlite_url)
    # Plugins on a database indexed without them would see only what comes next: refused.
    with pytest.raises(StoreError, match="without plugins"):
        _indexer(chain, sqlite_url).run()
    assert raw.rebuild() == 0

    # A database indexed with plugins keeps its blockchain_events complete without them.
    both = f"sqlite:///{tmp_path / 'both.db'}"
    _indexer(chain, both).run(to_block=20)
    _indexer(chain, both, plugins=()).run()
    engine = sa.create_engine(both)
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT count(*) FROM blockchain_events")).scalar()
    assert events == 2 * 40
    # ... so the plugins can catch up on it: rebuild replays all of it.
    assert _indexer(chain, both).rebuild() == 2 * 40
