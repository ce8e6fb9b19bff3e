"""The next finalized range is fetched in a thread while the current one is written: before
the write when the fetch waits on a node, at the commit when the source computes in this
process. Either way the index is the one a sequential run makes."""

from __future__ import annotations

import threading
import time

import dcmx_core
from dcmx_core import Contract, Indexer, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token
from dcmx_plugins import token

from .snapshot import dump_tables

TOKEN = bytes.fromhex("44" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


class _Waiting(MemoryChain):
    """A chain behind a slow network: every logs() call waits 100 ms without computing."""

    in_process = False

    def logs(self, *args, **kwargs):
        time.sleep(0.1)
        return super().logs(*args, **kwargs)


class _Computing(MemoryChain):
    """A chain whose logs() computes for 30 ms (like parsing a file or running an EVM)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.callers: list[str] = []  # the thread of every logs() call

    def logs(self, *args, **kwargs):
        self.callers.append(threading.current_thread().name)
        until = time.thread_time() + 0.03
        while time.thread_time() < until:
            pass
        return super().logs(*args, **kwargs)


class _Watch:
    """Notes, for every batch, whether a prefetch thread was running while plugins ran."""

    def __init__(self) -> None:
        self.overlapped: list[bool] = []

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("watch")

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        if batch.finalized:
            self.overlapped.append(
                any(t.name == "dcmx-prefetch" and t.is_alive() for t in threading.enumerate())
            )


def _fill(chain: MemoryChain, blocks: int = 70) -> MemoryChain:
    for n in range(blocks):
        chain.append_block(
            [transfer_log(TOKEN, WALLETS[n % 5], WALLETS[(n + k) % 5], n + k) for k in (1, 2)]
        )
    return chain


def _run(chain: MemoryChain, url: str, prefetch: bool = True) -> tuple[Indexer, _Watch]:
    watch = _Watch()
    # Ten events a batch of five blocks keeps the batch size steady (Indexer._adapt).
    indexer = Indexer(chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                      plugins=[token, watch], window=5,
                      tuning=Tuning(batch_blocks=5, target_events=10, prefetch=prefetch))
    indexer.run()
    return indexer, watch


def test_a_waiting_fetch_overlaps_the_write(tmp_path):
    _, watch = _run(_fill(_Waiting(finality_depth=5)), f"sqlite:///{tmp_path / 'w.db'}")
    # Every final batch but the last (nothing lies beyond it) had the next range in flight;
    # the first too, unless its writes (it also drops the indexes) outlasted the wait.
    assert len(watch.overlapped) >= 10
    assert all(watch.overlapped[1:-1])


def test_a_computing_fetch_waits_for_the_commit(tmp_path):
    chain = _fill(_Computing(finality_depth=5))
    _, watch = _run(chain, f"sqlite:///{tmp_path / 'c.db'}")
    # No prefetch runs beside the writes...
    assert len(watch.overlapped) >= 10
    assert not any(watch.overlapped)
    # ... yet every final range after the first was still fetched ahead, and used: the main
    # thread fetched only the first range and the window's.
    final_batches = len(watch.overlapped)
    assert chain.callers.count("dcmx-prefetch") == final_batches - 1
    assert chain.callers.count("MainThread") == len(chain.callers) - final_batches + 1


def test_prefetched_index_equals_a_sequential_one(tmp_path):
    chain = _fill(_Computing(finality_depth=5))
    ahead, _ = _run(chain, f"sqlite:///{tmp_path / 'a.db'}")
    sequential, watch = _run(chain, f"sqlite:///{tmp_path / 's.db'}", prefetch=False)
    assert not any(watch.overlapped)
    assert dump_tables(ahead.engine) == dump_tables(sequential.engine)
