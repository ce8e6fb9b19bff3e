"""The indexer's per-minute record (``dcmx_throughput``): it counts exactly the committed
work, is kept through rollbacks and failed steps add nothing, old minutes are dropped."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core import Contract, Indexer, PluginError, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store.tables import throughput_table
from dcmx_core.store.throughput import RETAIN_SECONDS
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("11" * 20)
A, B = bytes([1]) * 20, bytes([2]) * 20


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Failing:
    fail = False

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("failing", consumes=[dcmx_token.Transfer])

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        if self.fail:
            raise RuntimeError("simulated failure")


def rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(throughput_table).order_by(throughput_table.c.minute)).mappings()]


def raw_events(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(
            dcmx_token.Transfer.TABLE)).scalar_one()


def test_counts_committed_steps_per_minute_through_a_fork_and_a_failure(db_url):
    chain = MemoryChain(finality_depth=4)
    plugin = Failing()
    indexer = Indexer(chain, db_url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                      plugins=[plugin], window=4, poll_interval=0,
                      tuning=Tuning(batch_blocks=3))
    clock = indexer.throughput.clock = Clock(1_800_000_000.0)
    chain.extend(12, [transfer_log(TOKEN, A, B, 1), transfer_log(TOKEN, B, A, 2)])  # 2 a block
    steps = 0
    while indexer.run_once():
        steps += 1
    first = rows(indexer.engine)
    assert [r["minute"] for r in first] == [1_800_000_000]  # one minute so far
    assert first[0]["events"] == raw_events(indexer.engine) == 24
    assert first[0]["blocks"] == 13 and first[0]["steps"] == steps  # genesis too
    assert first[0]["cursor_block"] == indexer.cursor() == first[0]["head_block"] == 12

    clock.now += 60  # the next minute: a fork replaces 2 blocks with 3 holding one event each
    chain.fork(2, length=3, logs=[[transfer_log(TOKEN, B, A, 7)]] * 3)
    while indexer.run_once():
        pass
    second = rows(indexer.engine)
    assert len(second) == 2 and second[0] == first[0]  # the rollback kept the history
    assert second[1]["events"] == 3 and second[1]["cursor_block"] == 13
    assert second[1]["finalized_block"] == indexer.safe

    plugin.fail = True  # a failed step commits nothing, its work is not counted
    chain.extend(1, [transfer_log(TOKEN, A, B, 99)])
    with pytest.raises(PluginError):
        indexer.run_once()
    assert rows(indexer.engine) == second

    plugin.fail = False
    clock.now += RETAIN_SECONDS + 60  # much later: a new minute drops those past retention
    assert indexer.run_once()
    last = rows(indexer.engine)
    assert [r["events"] for r in last] == [1] and last[0]["cursor_block"] == 14
    indexer.engine.dispose()
