"""JsonRpcSource bounds the size of its eth_getLogs answers: a span whose answer holds more than
``dense_logs`` logs is halved for the requests after it (the JSON text of an answer and the
objects parsed from it are in memory at once), and grows back once answers are sparse."""

from __future__ import annotations

import pytest
from httpstub import Reply, Seen

from dcmx_core.errors import ConfigError
from dcmx_core.sources.jsonrpc import JsonRpcSource

TOKEN = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
TRANSFER = "0x" + "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
PER_BLOCK = 10


def _chain(per_block):
    """A node whose block n holds per_block(n) Transfer logs of TOKEN (no blooms: no headers)."""

    def handle(seen: Seen) -> Reply:
        request = seen.json()
        flt = request["params"][0]
        lo, hi = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
        logs = [
            {
                "address": "0x" + TOKEN.hex(),
                "topics": [TRANSFER, "0x" + f"{n:064x}", "0x" + f"{i:064x}"],
                "data": "0x" + f"{i:064x}",
                "blockHash": "0x" + f"{n + 1:064x}",
                "blockNumber": hex(n),
                "transactionHash": "0x" + f"{n * 1000 + i:064x}",
                "transactionIndex": hex(i),
                "logIndex": hex(i),
                "removed": False,
            }
            for n in range(lo, hi + 1)
            for i in range(per_block(n))
        ]
        return Reply(body={"jsonrpc": "2.0", "id": request["id"], "result": logs})

    return handle


def _spans(server) -> list[int]:
    spans = []
    for seen in server.seen:
        flt = seen.json()["params"][0]
        spans.append(int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) + 1)
    return spans


def test_dense_answers_halve_the_span_and_sparse_ones_let_it_grow_back(stub_server):
    server = stub_server(_chain(lambda n: PER_BLOCK if n < 128 else 0))
    with JsonRpcSource(server.url, max_range=64, sparse_logs=50, dense_logs=200) as source:
        logs = source.logs(0, 63, [TOKEN])  # 640 logs > 200: the next spans are halved
        assert len(logs) == 64 * PER_BLOCK
        assert source.chunk == 32
        logs = source.logs(64, 127, [TOKEN])  # 320 logs > 200, then 160: neither dense nor sparse
        assert [(log.block_number, log.log_index) for log in logs] == [
            (n, i) for n in range(64, 128) for i in range(PER_BLOCK)
        ]
        assert _spans(server) == [64, 32, 16, 16]
        assert source.chunk == 16 and source.stats.range_shrinks == 2
        assert source.logs(128, 255, [TOKEN]) == []  # sparse answers: the span doubles
        assert _spans(server)[4:] == [16, 32, 64, 16]
        assert source.chunk == 64 and source.stats.range_grows == 2


def test_a_single_dense_block_is_still_asked_for_whole(stub_server):
    server = stub_server(_chain(lambda n: 300))
    with JsonRpcSource(server.url, max_range=4, sparse_logs=10, dense_logs=100) as source:
        assert len(source.logs(0, 5, [TOKEN])) == 6 * 300
        assert len(source.logs(6, 7, [TOKEN])) == 2 * 300
    assert _spans(server) == [4, 2, 1, 1]  # never below one block, which is never refused
    assert source.chunk == 1


def test_dense_logs_must_be_above_sparse_logs():
    with pytest.raises(ConfigError):
        JsonRpcSource("http://127.0.0.1:1", sparse_logs=1000, dense_logs=1000)
