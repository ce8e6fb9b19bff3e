"""A backfill drops the secondary indexes and builds them once caught up; plugins added to an
indexed database are built from its raw event tables."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time

import sqlalchemy as sa

from dcmx_core import Contract, Indexer, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store import Store, create_engine, framework
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


def _indexer(chain, url, plugins=(token,), **tuning) -> Indexer:
    return Indexer(
        chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))], plugins=plugins, window=5,
        tuning=Tuning(**tuning),
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
    assert {"ix_dcmx_token__transfer__from_", "ix_dcmx_token__transfer__to_"} <= declared
    indexer.setup()  # a new database starts as a backfill: nothing made only to be dropped
    assert _state(indexer) == (_indexes(indexer.engine) - declared, 0, True)
    triggers = 3 * len(indexer.store.tables) if "sqlite" in db_url else len(indexer.store.tables)
    during: list[tuple[bool, tuple]] = []
    indexer.subscribe(on_batch=lambda r: during.append((r.finalized, _state(indexer))))
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
    clean._worth_backfill = lambda *_: False  # the reference never backfills
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)


def test_the_step_that_ends_a_backfill_is_journaled_and_a_fork_into_it_rolls_back(
    db_url, tmp_path
):
    chain = _chain(200)
    indexer = _indexer(chain, db_url, batch_blocks=40, max_batch_blocks=40)
    steps: list[tuple[int, int, bool, bool]] = []
    indexer.subscribe(
        on_batch=lambda r: steps.append((r.start, r.end, r.finalized, _state(indexer)[2]))
    )
    indexer.run()
    # The first step of blocks that may change wrote them, then built the indexes (same step).
    first_window = next(s for s in steps if not s[2])
    assert first_window[1] == chain.head() and first_window[3] is False
    chain.fork(3, logs=[[transfer_log(TOKEN, WALLETS[0], WALLETS[4], 7)], [], []])
    indexer.run()
    assert indexer.cursor() == chain.head()
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}", batch_blocks=1)
    clean._worth_backfill = lambda *_: False  # the reference never backfills
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)


def test_run_to_a_final_block_ends_with_every_index_and_trigger(db_url):
    chain = _chain(120)
    indexer = _indexer(chain, db_url, batch_blocks=10, max_batch_blocks=10)
    declared = {ix.name for ix in indexer.store.deferrable_indexes()}
    dropped = []
    indexer.subscribe(on_batch=lambda r: dropped.append(not (_indexes(indexer.engine) & declared)))
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
    indexer.subscribe(on_batch=lambda r: present.append(declared <= _indexes(indexer.engine)))
    indexer.run()  # 15 final blocks ahead of 81 indexed ones: not worth rebuilding the indexes
    assert len(present) > 5 and all(present)


def _tables(url: str) -> set[str]:
    return set(sa.inspect(sa.create_engine(url)).get_table_names())


def test_plugins_added_later_are_built_from_the_raw_tables(db_url, tmp_path):
    """A database indexed without plugins takes them later: their tables are built from the
    raw event tables (the last blocks under the journal), equal to indexing with them."""
    chain = _chain(40)
    _indexer(chain, db_url, plugins=()).run(to_block=30)
    later = _indexer(chain, db_url)
    later.setup()
    later.run()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    _indexer(chain, fresh).run()
    plugin_tables = {t.name for t in token.metadata.sorted_tables}
    got, want = dump_tables(later.engine), dump_tables(sa.create_engine(fresh))
    assert plugin_tables <= set(want)
    assert {t: got[t] for t in plugin_tables} == {t: want[t] for t in plugin_tables}
    assert later.rebuild() == 2 * 40
    assert dump_tables(later.engine) == got
    # and a fork inside the window after it rolls the rebuilt tables back exactly
    chain.fork(3)
    later.run()
    _fresh_after_fork = f"sqlite:///{tmp_path / 'fork.db'}"
    _indexer(chain, _fresh_after_fork).run()
    got, want = dump_tables(later.engine), dump_tables(sa.create_engine(_fresh_after_fork))
    assert {t: got[t] for t in plugin_tables} == {t: want[t] for t in plugin_tables}


def test_the_blockchain_events_table_of_an_older_dcmx_becomes_the_view(db_url):
    chain = _chain(20)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:  # what dcmx wrote before the view: a table, and its record
        conn.exec_driver_sql(
            "CREATE TABLE blockchain_events (block_number BIGINT, log_index INTEGER, "
            "args TEXT, PRIMARY KEY (block_number, log_index))"
        )
        framework.create_all(conn)
        conn.exec_driver_sql(
            "INSERT INTO dcmx_schema (table_name, owner, hash) VALUES ('blockchain_events', "
            "'dcmx', 'old')"
        )
    indexer = _indexer(chain, db_url)
    indexer.run()
    inspector = sa.inspect(indexer.engine)
    assert "blockchain_events" not in inspector.get_table_names()
    assert "blockchain_events" in inspector.get_view_names()
    with indexer.engine.connect() as conn:
        events = conn.exec_driver_sql("SELECT count(*) FROM blockchain_events").scalar()
        recorded = conn.exec_driver_sql("SELECT table_name FROM dcmx_schema").scalars().all()
    assert events == 2 * 20 and "blockchain_events" not in recorded


def _journal_mode(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_sqlite_backfill_writes_through_a_rollback_journal_then_wal(tmp_path):
    """Pages written once while backfilling (no WAL to checkpoint), WAL again once caught up:
    readers then never hold up the writer."""
    path = tmp_path / "index.db"
    indexer = _indexer(_chain(200), f"sqlite:///{path}", batch_blocks=20, max_batch_blocks=20)
    modes: list[tuple[bool, str]] = []
    indexer.subscribe(on_batch=lambda r: modes.append((r.finalized, _journal_mode(path))))
    indexer.run()
    assert {mode for final, mode in modes if final} == {"delete"}
    assert {mode for final, mode in modes if not final} == {"wal"}
    assert _journal_mode(path) == "wal"
    with indexer.engine.connect() as conn:  # the writer's own connection syncs as WAL needs
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 8192  # a new file's


def test_a_backfill_stays_in_wal_while_another_connection_has_the_database_open(
    tmp_path, caplog
):
    path = tmp_path / "index.db"
    create_engine(f"sqlite:///{path}").connect().close()  # a new file: WAL
    reader = sqlite3.connect(path)
    reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
    caplog.set_level(logging.INFO, logger="dcmx.indexer")
    indexer = _indexer(_chain(200), f"sqlite:///{path}", batch_blocks=20, max_batch_blocks=20)
    modes: list[str] = []
    indexer.subscribe(on_batch=lambda r: modes.append(_journal_mode(path)))
    started = time.monotonic()
    indexer.run()
    assert time.monotonic() - started < 20  # the switch was not waited for (busy timeout 30 s)
    assert set(modes) == {"wal"}
    assert "journal mode left as wal" in caplog.text
    reader.close()
    clean = _indexer(_chain(200), f"sqlite:///{tmp_path / 'clean.db'}")
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)


def test_a_reader_holding_a_transaction_delays_a_backfill_commit_and_loses_nothing(tmp_path):
    """In rollback-journal mode a reader's open transaction holds up the next commit until it
    ends (within the busy timeout); the backfill then goes on and the index is complete."""
    path = tmp_path / "index.db"
    chain = _chain(200)
    indexer = _indexer(chain, f"sqlite:///{path}", batch_blocks=20, max_batch_blocks=20)
    held: list[float] = []

    def read_for_a_while() -> None:
        with sqlite3.connect(path, isolation_level=None) as reader:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM dcmx_token__transfer").fetchone()
            time.sleep(0.5)
            reader.execute("COMMIT")
        held.append(time.monotonic())

    thread: list[threading.Thread] = []
    committed: list[float] = []

    def on_batch(report) -> None:
        committed.append(time.monotonic())
        if not thread and report.finalized:
            thread.append(threading.Thread(target=read_for_a_while))
            thread[0].start()
            time.sleep(0.1)  # the reader has its transaction open before the next step writes

    indexer.subscribe(on_batch=on_batch)
    indexer.run()
    thread[0].join()
    assert held and committed[1] >= held[0]  # the next commit waited for the reader
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}")
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)


def _wal_frames(path) -> tuple[int, int]:
    """(frames in the WAL, frames of it copied into the database), read from the wal-index
    header in the -shm file (sqlite.org/walformat.html: mxFrame at byte 16, nBackfill at 96),
    without a checkpoint of our own."""
    shm = (path.parent / (path.name + "-shm")).read_bytes()
    return int.from_bytes(shm[16:20], sys.byteorder), int.from_bytes(shm[96:100], sys.byteorder)


def test_wal_is_checkpointed_when_caught_up_not_in_the_steps_commits(tmp_path):
    path = tmp_path / "index.db"
    chain = _chain(40)
    indexer = _indexer(chain, f"sqlite:///{path}")
    indexer.run()
    assert _journal_mode(path) == "wal"
    for n in range(30):  # live steps, each committing its blocks to the WAL
        chain.append_block([transfer_log(TOKEN, WALLETS[n % 5], WALLETS[(n + 1) % 5], n)])
        assert indexer.run_once()
    frames, copied = _wal_frames(path)
    assert frames > copied  # the commits left the log to be copied later
    assert not indexer.run_once()  # caught up: the log is copied while nothing else happens
    frames, copied = _wal_frames(path)
    assert frames == copied > 0
