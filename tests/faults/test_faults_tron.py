"""The TRON HTTP API source behind the fault proxy: the index ends equal to a clean run.

The synthetic TRON node serves the simulator's five-contract activity (copied from anvil), and
reorganises on command. Every fault kind fires; a transaction info left out of a block, a
replica that lacks the newest block or whose head goes back, a blockID that changed between
the headers and the logs call, and a reorganisation in between are all caught before anything
is written.
"""

from __future__ import annotations

import copy

import pytest
from core.snapshot import dump_tables

from dcmx_core import Indexer, Tuning
from dcmx_core.sources.tron_http import TronHttpSource
from dcmx_plugins import platform_contracts

from .proxy import FAULTS, FaultProxy

pytestmark = pytest.mark.anvil  # the activity is made on anvil
WINDOW = 8

EVERY = {
    "timeout": 101,
    "http_429": 13,
    "http_429_retry_after": 127,
    "http_5xx": 11,
    "drop": 17,
    "truncated": 19,
    "malformed": 23,
    "missing_logs": 3,
    "wrong_block_hash": 5,
    "lagging_head": 4,
    "missing_block": 7,
    "reorg": 9,
}


def indexer(url: str, db: str, addresses) -> Indexer:
    source = TronHttpSource(url, timeout=0.5, backoff=0.01, max_retries=8)
    return Indexer(
        source, db, platform_contracts(addresses), entry_points=True, window=WINDOW,
        poll_interval=0, tuning=Tuning(batch_blocks=16),
    )


def test_every_fault_kind_at_once_ends_equal_to_a_clean_run(platform, tmp_path):
    chain = copy.deepcopy(platform.tron)
    with FaultProxy(chain, EVERY, protocol="tron", stall=0.8,
                    reorg=lambda: chain.reorg(3)) as proxy:
        live = indexer(proxy.url, f"sqlite:///{tmp_path / 'live.db'}", platform.addresses)
        live.run()
        proxy.every = {k: v for k, v in EVERY.items() if k != "reorg"}
        live.run_once()  # sees a reorg that came after the last headers
        head = live.run(chain.head)
        assert set(proxy.injected) == set(FAULTS), proxy.injected
    assert head == chain.head
    with FaultProxy(chain, {}, protocol="tron") as plain:
        clean = indexer(plain.url, f"sqlite:///{tmp_path / 'clean.db'}", platform.addresses)
        clean.run(to_block=head)
    got, expected = dump_tables(live.engine), dump_tables(clean.engine)
    assert sum(map(len, expected.values())) > 250
    assert got == expected
