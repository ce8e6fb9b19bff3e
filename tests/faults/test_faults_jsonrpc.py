"""Index the five DCMX contracts through a proxy that breaks every Nth answer: same database.

anvil holds the simulator's activity; :class:`~faults.proxy.FaultProxy` sits between it and
:class:`JsonRpcSource`. With every fault kind on (time-outs, 429s, 5xx, dropped connections,
truncated and malformed JSON, logs missing from a block, a log with another block's hash, a
replica whose head goes back or lacks a block, and ``anvil_reorg`` between the headers and the
logs of a step) the index ends equal to a clean run against anvil directly, and what a fault
spoilt was never committed.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from core.snapshot import dump_tables

from dcmx_core import Indexer, SourceError, Tuning
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_plugins import platform_contracts

from .proxy import FAULTS, FaultProxy, http_upstream

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]
WINDOW = 8

# Co-prime periods, so that faults land on ever other requests and calls.
EVERY = {
    "timeout": 29,
    "http_429": 13,
    "http_429_retry_after": 31,
    "http_5xx": 11,
    "drop": 17,
    "truncated": 19,
    "malformed": 23,
    "missing_logs": 3,
    "wrong_block_hash": 4,
    "lagging_head": 5,
    "missing_block": 7,
    "reorg": 4,
}


def source(url: str, **kw) -> JsonRpcSource:
    options = dict(confirmations=WINDOW, timeout=0.5, backoff=0.01, max_retries=8)
    return JsonRpcSource(url, **{**options, **kw})


def indexer(src, db: str, addresses) -> Indexer:
    return Indexer(
        src, db, platform_contracts(addresses), entry_points=True, window=WINDOW, poll_interval=0,
        tuning=Tuning(batch_blocks=16),
    )


def reorganiser(w3, depth: int = 3):
    def reorg() -> None:
        response = w3.provider.make_request("anvil_reorg", [depth, []])
        assert "error" not in response, response

    return reorg


def test_every_fault_kind_at_once_ends_equal_to_a_clean_run(platform, pg_url, tmp_path):
    with FaultProxy(platform.url, EVERY, stall=0.8, reorg=reorganiser(platform.w3)) as proxy:
        live = indexer(source(proxy.url), pg_url, platform.addresses)
        head = live.run()
        proxy.every = {k: v for k, v in EVERY.items() if k != "reorg"}
        # A reorg after the last headers is seen by the next poll: the tip check rolls back.
        live.run_once()
        head = live.run(platform.w3.eth.block_number)
        assert set(proxy.injected) == set(FAULTS), proxy.injected
    assert head == platform.w3.eth.block_number
    clean = indexer(source(platform.url), f"sqlite:///{tmp_path / 'clean.db'}", platform.addresses)
    clean.run(to_block=head)
    got, expected = dump_tables(live.engine), dump_tables(clean.engine)
    assert sum(map(len, expected.values())) > 250
    assert got == expected


def test_a_node_that_always_drops_logs_stops_the_indexer_with_nothing_written(platform, tmp_path):
    # A node that drops a block's logs from every answer fools a check made with eth_getLogs
    # alone; receipts, another code path of the node, catch it.
    with FaultProxy(platform.url, {"missing_logs": 1}) as proxy:
        src = source(proxy.url, max_retries=2, verify_receipts=True)
        ix = indexer(src, f"sqlite:///{tmp_path / 'x.db'}", platform.addresses)
        with pytest.raises(SourceError, match="lacks the .* log|stayed inconsistent"):
            ix.run()
    assert ix.cursor() is None
    with ix.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM blockchain_events")).scalar() == 0


def test_one_log_missing_from_a_block_is_caught_by_receipts_not_by_the_bloom(platform):
    truth_source = source(platform.url)
    head = platform.w3.eth.block_number
    wanted = list(platform.addresses.values())
    truth_source.headers(0, head)
    truth = truth_source.logs(0, head, wanted)
    with FaultProxy(platform.url, {"missing_logs": 1}, missing="some") as proxy:
        blind = source(proxy.url)
        blind.headers(0, head)
        spoilt = blind.logs(0, head, wanted)
        assert len(spoilt) == len(truth) - 1  # a bloom cannot see it: documented limitation

        proxy.every = {"missing_logs": 2}
        checked = source(proxy.url, verify_receipts=True)
        checked.headers(0, head)
        assert checked.logs(0, head, wanted) == truth
        assert proxy.injected["missing_logs"] >= 2


def test_java_tron_zero_blooms_check_nothing_and_refuse_nothing(platform):
    """java-tron's /jsonrpc answers 256 zero bytes as every block's logsBloom (see the recorded
    receipt in tests/data/reference/tron): logs must not be refused for being absent from it."""
    forward = http_upstream(platform.url)

    def zero_blooms(path: str, body: bytes) -> tuple[int, bytes]:
        status, answer = forward(path, body)
        return status, re.sub(rb'"logsBloom":"0x[0-9a-f]{512}"',
                              b'"logsBloom":"0x' + b"0" * 512 + b'"', answer)

    head = platform.w3.eth.block_number
    wanted = list(platform.addresses.values())
    truth = source(platform.url)
    truth.headers(0, head)
    with FaultProxy(zero_blooms, {}) as proxy:
        tron_like = source(proxy.url)
        tron_like.headers(0, head)
        assert all(bloom is None for _, bloom in tron_like._blooms.values())
        assert tron_like.logs(0, head, wanted) == truth.logs(0, head, wanted)
