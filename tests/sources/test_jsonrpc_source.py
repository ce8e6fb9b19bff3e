"""JsonRpcSource against recorded TRON JSON-RPC answers and a real anvil (directly and through a
misbehaving proxy)."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from pathlib import Path

import pytest
from eth_abi import decode
from httpstub import Faults, Reply, Seen
from web3 import Web3

from dcmx_core.addresses import to_tron
from dcmx_core.chain import Header, Log, Source
from dcmx_core.errors import SourceError
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_core.sources.memory import TRANSFER_TOPIC

USDT = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
OTHER_TOPIC = bytes.fromhex("c66625d03b4a832d8245f0df593e32e0fbbbad96d4aa45440aa1535b80983083")


def _load(tron_reference: Path, name: str):
    return json.loads((tron_reference / name).read_text())


def _serve_result(result_for):
    """A JSON-RPC node answering every request with ``result_for(request)`` under its id."""

    def handle(seen: Seen) -> Reply:
        request = seen.json()
        return Reply(body={"jsonrpc": "2.0", "id": request["id"], "result": result_for(request)})

    return handle


# -- recorded TRON JSON-RPC answers -------------------------------------------------------------


def _receipt_log(tron_reference: Path) -> dict:
    receipt = _load(tron_reference, "mainnet_jsonrpc_eth_getTransactionReceipt_usdt.json")
    return receipt["result"]["logs"][0]


def test_usdt_log_of_recorded_tron_receipt_served_as_getlogs(tron_reference, stub_server):
    [expected] = [
        t
        for t in _load(tron_reference, "expected_transfers.json")["transfers"]
        if t["fixture"] == "mainnet_jsonrpc_eth_getTransactionReceipt_usdt.json"
    ]
    entry = _receipt_log(tron_reference)
    server = stub_server(_serve_result(lambda request: [entry]))
    with JsonRpcSource(server.url) as source:
        assert isinstance(source, Source)
        [log] = source.logs(39507235, 39507235, [USDT], [TRANSFER_TOPIC])
    assert (log.block_number, log.tx_index, log.log_index) == (39507235, 62, 30)
    assert log.block_hash.hex().startswith("00000000025ad523")
    assert log.tx_hash.hex() == expected["txid"]
    sender, recipient = decode(["address", "address"], b"".join(log.topics[1:]))
    assert to_tron(bytes.fromhex(sender[2:])) == expected["from"]
    assert to_tron(bytes.fromhex(recipient[2:])) == expected["to"]
    assert decode(["uint256"], log.data) == (expected["value"],)
    [request] = [s.json() for s in server.seen]
    assert request["method"] == "eth_getLogs"
    assert request["params"] == [
        {
            "fromBlock": "0x25ad523",
            "toBlock": "0x25ad523",
            "address": ["0x" + USDT.hex()],
            "topics": [["0x" + TRANSFER_TOPIC.hex()]],
        }
    ]


def test_recorded_tron_log_with_0x_stripped_parses_the_same(tron_reference, stub_server):
    entry = _receipt_log(tron_reference)
    bare = {
        k: (v[2:] if k in ("address", "blockHash", "transactionHash", "data") else v)
        for k, v in entry.items()
    }
    bare["topics"] = [t[2:] for t in entry["topics"]]
    with_0x = stub_server(_serve_result(lambda request: [entry]))
    without = stub_server(_serve_result(lambda request: [bare]))
    with JsonRpcSource(with_0x.url) as a, JsonRpcSource(without.url) as b:
        assert a.logs(39507235, 39507235, [USDT]) == b.logs(39507235, 39507235, [USDT])


def test_removed_logs_are_ignored(tron_reference, stub_server):
    entry = dict(_receipt_log(tron_reference), removed=True)
    server = stub_server(_serve_result(lambda request: [entry]))
    with JsonRpcSource(server.url) as source:
        assert source.logs(39507235, 39507235, [USDT]) == []


def test_recorded_log_outside_the_asked_range_is_refused(tron_reference, stub_server):
    entry = _receipt_log(tron_reference)
    server = stub_server(_serve_result(lambda request: [entry]))
    with (
        JsonRpcSource(server.url, backoff=0.001) as source,
        pytest.raises(SourceError, match="outside"),
    ):
        source.logs(39507236, 39507300, [USDT])


def test_recorded_nile_log_with_abbreviated_data_is_refused_not_guessed(
    tron_reference, stub_server
):
    recorded = _load(tron_reference, "nile_jsonrpc_eth_getLogs.json")
    nile = bytes.fromhex("9ff8fc48fb114ccd5bbdc24a86f0c73082f08825")

    def handle(seen: Seen) -> Reply:
        return Reply(body=dict(recorded, id=seen.json()["id"]))

    server = stub_server(handle)
    with JsonRpcSource(server.url, backoff=0.001) as source:
        with pytest.raises(SourceError, match="data is not hex"):
            source.logs(66985120, 66985120, [nile])
    assert len(server.seen) == 3  # retried twice: a garbled answer may be a transient fault


def test_recorded_nile_log_shape_parses_once_its_data_is_whole(tron_reference, stub_server):
    recorded = _load(tron_reference, "nile_jsonrpc_eth_getLogs.json")
    entry = dict(recorded["result"][0], data="0x" + "00" * 223 + "5f")  # made-up, whole data
    nile = bytes.fromhex("9ff8fc48fb114ccd5bbdc24a86f0c73082f08825")
    server = stub_server(_serve_result(lambda request: [entry]))
    with JsonRpcSource(server.url) as source:
        [log] = source.logs(66985120, 66985120, [nile], [OTHER_TOPIC])
    assert (log.block_number, log.tx_index, log.log_index, len(log.topics)) == (66985120, 0, 0, 3)
    assert int.from_bytes(log.topics[2], "big") == 7


def test_mismatched_id_and_missing_fields_are_malformed(tron_reference, stub_server):
    entry = _receipt_log(tron_reference)
    broken = {k: v for k, v in entry.items() if k != "logIndex"}
    answers = iter(
        [
            Reply(body={"jsonrpc": "2.0", "id": "getblock.io", "result": [entry]}),  # wrong id
            Reply(body=b"<html>502 bad gateway</html>"),
        ]
    )

    def handle(seen: Seen) -> Reply:
        reply = next(answers, None)
        if reply is not None:
            return reply
        return Reply(body={"jsonrpc": "2.0", "id": seen.json()["id"], "result": [broken]})

    server = stub_server(handle)
    with JsonRpcSource(server.url, backoff=0.001) as source:
        with pytest.raises(SourceError, match="lacks 'logIndex'"):
            source.logs(39507235, 39507235, [USDT])
    assert len(server.seen) == 3


# -- anvil --------------------------------------------------------------------------------------

# Hand-written EVM code, no compiler needed. Runtime (23 bytes): copy the calldata to memory and
# LOG3(mem[96:], topic0=cd[0:32], topic1=cd[32:64], topic2=cd[64:96]); STOP.
#   36 6000 6000 37      CALLDATACOPY(0, 0, CALLDATASIZE)
#   6040 35 6020 35 6000 35   push cd[64], cd[32], cd[0]
#   6060 36 03 6060 a2 00     LOG3(96, CALLDATASIZE - 96, ...); STOP
# Init code: CODECOPY(0, 12, 23); RETURN(0, 23).
EMITTER_RUNTIME = "366000600037604035602035600035606036036060a200"
EMITTER_INIT = "0x6017600c60003960176000f3" + EMITTER_RUNTIME


def _rpc(w3: Web3, method: str, params: list):
    response = w3.provider.make_request(method, params)
    assert "error" not in response, response
    return response["result"]


def _deploy(w3: Web3) -> bytes:
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": EMITTER_INIT})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert w3.eth.get_code(receipt.contractAddress).hex() == EMITTER_RUNTIME
    return bytes.fromhex(receipt.contractAddress[2:])


def _emit_tx(emitter: bytes, topic0: bytes, a: int, b: int, data: bytes, sender: str) -> dict:
    calldata = topic0 + a.to_bytes(32, "big") + b.to_bytes(32, "big") + data
    return {
        "from": sender,
        "to": Web3.to_checksum_address(emitter),
        "data": "0x" + calldata.hex(),
        "gas": 200_000,
    }


def _populate(w3: Web3, blocks: int = 40, gap: int = 300) -> list[bytes]:
    """Two emitters; 0-3 logs per block over ``blocks`` blocks with ``gap`` empty ones between."""
    emitters = [_deploy(w3), _deploy(w3)]
    sender = w3.eth.accounts[0]
    rng = random.Random(7)
    _rpc(w3, "evm_setAutomine", [False])
    for i in range(blocks):
        for k in range(rng.randrange(4)):
            data = bytes(rng.randrange(256) for _ in range(rng.choice([0, 32, 64, 100])))
            topic0 = rng.choice([TRANSFER_TOPIC, OTHER_TOPIC])
            w3.eth.send_transaction(_emit_tx(rng.choice(emitters), topic0, i, k, data, sender))
        _rpc(w3, "evm_mine", [])
        if i == blocks // 2:
            _rpc(w3, "anvil_mine", [hex(gap)])
    _rpc(w3, "evm_setAutomine", [True])
    return emitters


def _web3_logs(w3: Web3, start: int, end: int, emitters: list[bytes], topics0=None) -> list[Log]:
    flt = {
        "fromBlock": start,
        "toBlock": end,
        "address": [Web3.to_checksum_address(e) for e in emitters],
    }
    if topics0 is not None:
        flt["topics"] = [["0x" + t.hex() for t in topics0]]
    return [
        Log(
            e.blockNumber,
            bytes(e.blockHash),
            bytes(e.transactionHash),
            e.transactionIndex,
            e.logIndex,
            bytes.fromhex(e.address[2:]),
            tuple(bytes(t) for t in e.topics),
            bytes(e.data),
        )
        for e in w3.eth.get_logs(flt)
    ]


def _web3_headers(w3: Web3, start: int, end: int) -> list[Header]:
    blocks = [w3.eth.get_block(n) for n in range(start, end + 1)]
    return [Header(b.number, bytes(b.hash), bytes(b.parentHash), b.timestamp) for b in blocks]


@pytest.mark.anvil
def test_logs_and_headers_match_web3(anvil):
    w3 = Web3(Web3.HTTPProvider(anvil))
    emitters = _populate(w3)
    head = w3.eth.block_number
    with JsonRpcSource(anvil, max_range=64, batch_size=50) as source:
        assert source.head() == head
        logs = source.logs(0, head, emitters)
        assert logs == _web3_logs(w3, 0, head, emitters)
        assert len(logs) > 40 and len({log.tx_index for log in logs}) > 1
        assert source.logs(0, head, emitters[:1], [OTHER_TOPIC]) == _web3_logs(
            w3, 0, head, emitters[:1], [OTHER_TOPIC]
        )
        assert source.logs(5, 5 + 200, emitters) == _web3_logs(w3, 5, 205, emitters)
        assert source.headers(0, head) == _web3_headers(w3, 0, head)
        assert source.stats.range_grows == 0  # never above max_range


@pytest.mark.anvil
def test_after_anvil_reorg_the_source_returns_the_new_branch(anvil):
    w3 = Web3(Web3.HTTPProvider(anvil))
    emitters = _populate(w3, blocks=12, gap=0)
    head = w3.eth.block_number
    with JsonRpcSource(anvil) as source:
        before_headers = source.headers(0, head)
        before_logs = source.logs(0, head, emitters)
        replacement = _emit_tx(
            emitters[0], TRANSFER_TOPIC, 99, 99, b"new branch", w3.eth.accounts[1]
        )
        _rpc(w3, "anvil_reorg", [3, [[replacement, 0]]])
        assert source.head() == head
        after_headers = source.headers(0, head)
        after_logs = source.logs(0, head, emitters)

    assert after_headers[: head - 2] == before_headers[: head - 2]
    assert all(
        a.hash != b.hash for a, b in zip(after_headers[-3:], before_headers[-3:], strict=True)
    )
    assert all(
        h.parent_hash == p.hash for p, h in zip(after_headers, after_headers[1:], strict=False)
    )
    assert after_headers == _web3_headers(w3, 0, head)
    assert after_logs == _web3_logs(w3, 0, head, emitters)
    assert [log for log in before_logs if log.block_number <= head - 3] == [
        log for log in after_logs if log.block_number <= head - 3
    ]
    assert any(log.data == b"new branch" for log in after_logs)


@pytest.mark.anvil
def test_finalized_uses_the_tag_where_anvil_has_it(anvil):
    w3 = Web3(Web3.HTTPProvider(anvil))
    with JsonRpcSource(anvil, confirmations=5) as source:
        assert source.finalized() == 0
        _rpc(w3, "anvil_mine", [hex(100)])
        # anvil finalises two epochs (64 blocks) behind the head, not head - confirmations.
        assert source.finalized() == 100 - 64
        assert source.uses_finalized_tag is True


class MisbehavingProxy:
    """Forwards to anvil, refusing wide eth_getLogs spans, stalling, or failing on demand."""

    def __init__(
        self,
        upstream: str,
        *,
        refuse_above: int | None = None,
        stall_above: int | None = None,
        stall: float = 0.0,
        refuse_finalized: bool = False,
    ) -> None:
        self.upstream = upstream
        self.refuse_above = refuse_above
        self.stall_above = stall_above
        self.stall = stall
        self.refuse_finalized = refuse_finalized
        self.faults = Faults()
        self.spans: list[int] = []  # eth_getLogs spans forwarded to anvil

    def __call__(self, seen: Seen) -> Reply:
        fault = self.faults.next()
        if fault is not None:
            return fault
        request = seen.json()
        delay = 0.0
        if isinstance(request, dict) and request["method"] == "eth_getLogs":
            flt = request["params"][0]
            span = int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) + 1
            if self.refuse_above is not None and span > self.refuse_above:
                return self._error(request, -32005, "query returned more than 10000 results")
            if self.stall_above is not None and span > self.stall_above:
                delay = self.stall
            else:
                self.spans.append(span)
        if (
            self.refuse_finalized
            and isinstance(request, dict)
            and request["params"][:1] == ["finalized"]
        ):
            return self._error(request, -32602, "invalid block tag 'finalized'")
        forwarded = urllib.request.Request(
            self.upstream, data=seen.body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(forwarded, timeout=10) as response:
            return Reply(body=response.read(), delay=delay)

    @staticmethod
    def _error(request: dict, code: int, message: str) -> Reply:
        return Reply(
            body={
                "jsonrpc": "2.0",
                "id": request["id"],
                "error": {"code": code, "message": message},
            }
        )


@pytest.mark.anvil
def test_range_refusals_shrink_and_rate_limits_are_retried(anvil, stub_server):
    w3 = Web3(Web3.HTTPProvider(anvil))
    emitters = _populate(w3)
    head = w3.eth.block_number
    proxy = MisbehavingProxy(anvil, refuse_above=40)
    proxy.faults.add(Reply(status=429, headers={"Retry-After": "0"}), times=2)
    proxy.faults.add(Reply(status=503, body=b"upstream unavailable"), times=2)
    server = stub_server(proxy)
    with JsonRpcSource(server.url, max_range=1000, sparse_logs=1000, backoff=0.001) as source:
        logs = source.logs(0, head, emitters)
        assert source.stats.retries == 4
        assert source.stats.range_shrinks >= 5  # 1000 -> 500 -> ... -> 31
        assert source.stats.range_grows >= 1  # sparse answers let it grow back (and fail again)
    assert logs == _web3_logs(w3, 0, head, emitters)
    assert max(proxy.spans) <= 40
    assert len({s.client_port for s in server.seen}) <= 3  # keep-alive, bar the 5xx hang-ups


@pytest.mark.anvil
def test_slow_wide_queries_shrink_on_time_out(anvil, stub_server):
    w3 = Web3(Web3.HTTPProvider(anvil))
    emitters = _populate(w3, blocks=20, gap=100)
    head = w3.eth.block_number
    proxy = MisbehavingProxy(anvil, stall_above=30, stall=1.0)
    server = stub_server(proxy)
    with JsonRpcSource(server.url, timeout=0.3, max_range=200, backoff=0.001) as source:
        logs = source.logs(0, head, emitters)
        assert source.stats.timeouts >= 3 and source.stats.range_shrinks >= 3
    assert logs == _web3_logs(w3, 0, head, emitters)


@pytest.mark.anvil
def test_finalized_falls_back_to_confirmations_and_remembers(anvil, stub_server):
    w3 = Web3(Web3.HTTPProvider(anvil))
    _rpc(w3, "anvil_mine", [hex(30)])
    server = stub_server(MisbehavingProxy(anvil, refuse_finalized=True))
    with JsonRpcSource(server.url, confirmations=12) as source:
        assert source.finalized() == 30 - 12
        assert source.uses_finalized_tag is False
        _rpc(w3, "anvil_mine", [hex(5)])
        assert source.finalized() == 35 - 12
    asked_for_tag = [s for s in server.seen if b'"finalized"' in s.body]
    assert len(asked_for_tag) == 1
    with JsonRpcSource(server.url, confirmations=100) as source:
        assert source.finalized() == 0  # clamped, never negative


def test_a_node_that_never_answers_in_time_gives_up_with_a_useful_message(stub_server):
    server = stub_server(lambda seen: Reply(body={}, delay=0.5))
    key = "9aa3d95b3bc440fa88ea12eaa4456161"
    url = server.url.replace("http://", "http://me:s3cr3t@") + "/v3/" + key
    with JsonRpcSource(url, timeout=0.1, max_retries=2, backoff=0.001) as source:
        started = time.monotonic()
        with pytest.raises(SourceError) as err:
            source.head()
        assert time.monotonic() - started < 2
    message = str(err.value)
    assert "eth_blockNumber" in message and "timed out" in message and "3 attempt" in message
    assert "s3cr3t" not in message and "9aa3d95b" not in message
    assert "127.0.0.1" in message


def test_a_single_block_still_refused_is_an_error_not_a_loop(stub_server):
    def handle(seen: Seen) -> Reply:
        refusal = "query returned more than 10000 results"
        return MisbehavingProxy._error(seen.json(), -32005, refusal)

    server = stub_server(handle)
    with JsonRpcSource(server.url, max_range=8) as source:
        with pytest.raises(SourceError, match="single block"):
            source.logs(0, 100, [USDT])
    assert len(server.seen) == 4  # spans 8, 4, 2, 1


def test_headers_are_fetched_in_json_rpc_batches(stub_server):
    def block(n: int) -> dict:
        return {
            "number": hex(n),
            "hash": "0x" + f"{n:064x}",
            "parentHash": "0x" + f"{n - 1:064x}" if n else "0x" + "00" * 32,
            "timestamp": hex(1000 + n),
        }

    def handle(seen: Seen) -> Reply:
        batch = seen.json()
        replies = [
            {"jsonrpc": "2.0", "id": r["id"], "result": block(int(r["params"][0], 16))}
            for r in batch
        ]
        return Reply(body=list(reversed(replies)))  # batch replies may come in any order

    server = stub_server(handle)
    with JsonRpcSource(server.url, batch_size=10) as source:
        headers = source.headers(0, 24)
    assert [h.number for h in headers] == list(range(25))
    assert [len(s.json()) for s in server.seen] == [10, 10, 5]
    assert headers[3] == Header(3, (3).to_bytes(32, "big"), (2).to_bytes(32, "big"), 1003)


def test_a_block_the_node_does_not_have_is_an_error(stub_server):
    def handle(seen: Seen) -> Reply:
        return Reply(body=[{"jsonrpc": "2.0", "id": r["id"], "result": None} for r in seen.json()])

    server = stub_server(handle)
    with (
        JsonRpcSource(server.url, backoff=0.001) as source,
        pytest.raises(SourceError, match="no block 7"),
    ):
        source.headers(7, 8)


def test_nodes_without_batches_get_single_requests(stub_server):
    def handle(seen: Seen) -> Reply:
        request = seen.json()
        if isinstance(request, list):
            return Reply(
                body={
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32600, "message": "batch not supported"},
                }
            )
        n = int(request["params"][0], 16)
        return Reply(
            body={
                "jsonrpc": "2.0",
                "id": request["id"],
                "result": {
                    "number": hex(n),
                    "hash": "0x" + "11" * 32,
                    "parentHash": "0x" + "22" * 32,
                    "timestamp": "0x5",
                },
            }
        )

    server = stub_server(handle)
    with JsonRpcSource(server.url) as source:
        assert [h.number for h in source.headers(3, 5)] == [3, 4, 5]
        assert [h.number for h in source.headers(6, 6)] == [6]
    assert [isinstance(s.json(), list) for s in server.seen] == [True] + [False] * 4
