"""Without plugins, a long backfill from a source that can be opened in another process
(``opener()``) is fetched, decoded and turned into rows by a worker process; the index is the
one a sequential run makes, whatever the worker does: fail a range, die, or never start."""

from __future__ import annotations

import logging
import time

import pytest

from dcmx_core import Contract, Indexer, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token

from . import worker_sources
from .snapshot import dump_tables
from .worker_sources import CountingFileChain

TOKEN = bytes.fromhex("44" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 8)]
BLOCKS = 240  # with five-block ranges: 48 ranges, the last ones inside the window


@pytest.fixture(scope="module")
def chain_file(tmp_path_factory) -> str:
    chain = MemoryChain(finality_depth=5)
    for n in range(BLOCKS):
        # values past 2**64 exercise ExactInt's text form on SQLite and NUMERIC on PostgreSQL
        chain.append_block(
            [transfer_log(TOKEN, WALLETS[n % 7], WALLETS[(n + k) % 7], n * 2**70 + k)
             for k in range(1, 4)]
        )
    path = tmp_path_factory.mktemp("chain") / "chain.bin"
    chain.save(path)
    return str(path)


def _run(source, url: str, *, plugins=(), prefetch=True) -> Indexer:
    indexer = Indexer(source, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                      plugins=plugins, window=5,
                      tuning=Tuning(batch_blocks=5, target_events=15, prefetch=prefetch))

    def wait_for_the_workers(_report) -> None:
        # Once started, wait for them to be ready (imports take ~0.3 s), so that the ranges
        # after it are theirs whatever this machine's speed.
        until = time.monotonic() + 60
        for worker in indexer.readahead.workers:
            while not worker.ready and not worker.failed:
                assert time.monotonic() < until, "the worker process did not start in 60 s"
                time.sleep(0.01)

    indexer.subscribe(on_batch=wait_for_the_workers)
    indexer.run()
    return indexer


def _sequential(chain_file: str, url: str) -> dict:
    ix = _run(CountingFileChain(chain_file), url, prefetch=False)
    return dump_tables(ix.engine)


def test_worker_builds_the_rows_of_a_long_backfill(chain_file, db_url, tmp_path):
    source = CountingFileChain(chain_file)
    ix = _run(source, db_url)
    ranges = BLOCKS // 5
    # The main process read the ranges before the worker was ready and the window's; the
    # worker all the others.
    assert source.reads <= 12, source.reads
    assert ix.cursor() == BLOCKS
    assert ix.readahead.workers == []  # stopped at the window and at the end of run()
    assert ranges - source.reads >= 30
    expected = _sequential(chain_file, f"sqlite:///{tmp_path / 'seq.db'}")
    assert dump_tables(ix.engine) == expected


@pytest.mark.parametrize("opener", ["failing", "dying", "missing"])
def test_a_failing_worker_changes_nothing(chain_file, sqlite_url, tmp_path, opener, caplog):
    caplog.set_level(logging.INFO, logger="dcmx.indexer")
    source = CountingFileChain(chain_file, opener=getattr(worker_sources, opener)(chain_file))
    ix = _run(source, sqlite_url)
    assert ix.cursor() == BLOCKS
    assert "fetching ahead in 2 worker processes" in caplog.text
    if opener == "failing":  # half the ranges came back failed and were read here
        assert 24 <= source.reads < BLOCKS // 5
    else:
        assert "fetching in a thread" in caplog.text  # the worker was given up on
    expected = _sequential(chain_file, f"sqlite:///{tmp_path / 'seq.db'}")
    assert dump_tables(ix.engine) == expected


def test_no_worker_when_plugins_need_the_events(chain_file, sqlite_url, caplog):
    from dcmx_plugins import token

    caplog.set_level(logging.INFO, logger="dcmx.indexer")
    source = CountingFileChain(chain_file)
    ix = _run(source, sqlite_url, plugins=[token])
    assert ix.cursor() == BLOCKS
    assert "worker process" not in caplog.text
    assert source.reads >= BLOCKS // 5  # every range read here


def test_no_worker_for_a_contract_module_made_at_run_time(chain_file, sqlite_url, caplog):
    import types

    module = types.ModuleType("made_here")  # importable nowhere else
    module.__dict__.update(
        {k: getattr(dcmx_token, k) for k in ("EVENTS", "decode_log", "metadata")}
    )
    caplog.set_level(logging.INFO, logger="dcmx.indexer")
    source = CountingFileChain(chain_file)
    ix = Indexer(source, sqlite_url, [Contract("DCMXToken", module, (TOKEN,))],
                 window=5,
                 tuning=Tuning(batch_blocks=5, target_events=15))
    ix.run()
    assert ix.cursor() == BLOCKS
    assert "worker process" not in caplog.text


def test_no_worker_for_an_opener_that_cannot_be_sent(chain_file, sqlite_url, caplog):
    caplog.set_level(logging.INFO, logger="dcmx.indexer")
    source = CountingFileChain(chain_file, opener=lambda: None)  # a lambda does not pickle
    ix = _run(source, sqlite_url)
    assert ix.cursor() == BLOCKS
    assert "no fetch worker process" in caplog.text
    assert source.reads >= BLOCKS // 5
