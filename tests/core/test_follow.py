"""Follow mode: new blocks reach SQL within a poll interval; stop() ends the loop cleanly."""

from __future__ import annotations

import threading
import time

from dcmx_core import Contract, Indexer
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("11" * 20)


def test_follow_picks_up_new_blocks_and_stops_on_request(sqlite_url):
    chain = MemoryChain(finality_depth=3)
    chain.extend(5, [transfer_log(TOKEN, b"\x01" * 20, b"\x02" * 20, 1)])
    reports = []
    indexer = Indexer(chain, sqlite_url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                      window=3, poll_interval=0.05, on_batch=reports.append)
    loop = threading.Thread(target=indexer.follow)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while indexer.cursor() != 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert indexer.cursor() == 5
        chain.append_block([transfer_log(TOKEN, b"\x02" * 20, b"\x03" * 20, 2)])
        while indexer.cursor() != 6 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert indexer.cursor() == 6
    finally:
        indexer.stop()
        loop.join(timeout=5)
    assert not loop.is_alive()
    assert sum(r.events for r in reports) == 6
    assert indexer.last_step_at is not None and indexer.head == 6
