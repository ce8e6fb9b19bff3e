"""TronHttpSource against recorded mainnet/testnet answers and synthetic chains of the same shape.

The recorded block (30864542) and the recorded transaction infos (30864600, 1000000) are of
different blocks and partial, so each test says which part it serves as what.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from eth_abi import decode
from httpstub import Reply, Seen
from tronchain import TronChain, TronNode, Tx

from dcmx_core import http as dcmx_http
from dcmx_core.addresses import to_tron
from dcmx_core.chain import Header, Source
from dcmx_core.errors import ConfigError, SourceError
from dcmx_core.sources.memory import TRANSFER_TOPIC, transfer_log
from dcmx_core.sources.tron_http import TronHttpSource

USDT = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
APPROVAL_TOPIC = bytes.fromhex("8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925")
TOKEN_A = bytes.fromhex("11" * 20)
TOKEN_B = bytes.fromhex("22" * 20)
ALICE, BOB = b"\xaa" * 20, b"\xbb" * 20


def _load(tron_reference: Path, name: str):
    return json.loads((tron_reference / name).read_text())


def _router(routes: dict[tuple[str, str], object]):
    """Answer (path, canonical JSON body) from a table; anything else is a 404."""

    def handle(seen: Seen) -> Reply:
        key = (seen.path, json.dumps(seen.json(), sort_keys=True))
        if key in routes:
            return Reply(body=routes[key])
        return Reply(status=404, body=b"no fixture for this request")

    return handle


def _key(path: str, body: dict) -> tuple[str, str]:
    return path, json.dumps(body, sort_keys=True)


def _synthetic_block(number: int, txs: list[tuple[str, str]]) -> dict:
    """A block in getblockbylimitnext shape holding the given (txID, contract type) pairs."""
    return {
        "blockID": number.to_bytes(8, "big").hex() + "ab" * 24,
        "block_header": {
            "raw_data": {"number": number, "parentHash": "cd" * 32, "timestamp": 1623056091000}
        },
        "transactions": [
            {"raw_data": {"contract": [{"type": kind}]}, "txID": txid} for txid, kind in txs
        ],
    }


# -- recorded answers ---------------------------------------------------------------------------


def test_headers_of_recorded_mainnet_block_30864542(tron_reference, stub_server):
    recorded = _load(tron_reference, "mainnet_getblockbylimitnext_30864542.json")
    server = stub_server(
        _router(
            {
                _key(
                    "/wallet/getblockbylimitnext", {"startNum": 30864542, "endNum": 30864543}
                ): recorded,
            }
        )
    )
    with TronHttpSource(server.url) as source:
        assert isinstance(source, Source)
        assert source.headers(30864542, 30864542) == [
            Header(
                number=30864542,
                hash=bytes.fromhex(
                    "0000000001d6f49ebf6a4ff33cc1c1607145c48dc701fbd7ce00f410131e14f8"
                ),
                parent_hash=bytes.fromhex(
                    "0000000001d6f49d0479eee63b80207fb66d24c1b7d50e2c89e0fd492861f508"
                ),
                timestamp=1623055917,
            )
        ]
        # Its only transaction is a TRC-10 transfer: no VM ran, so no infos are fetched.
        assert source.logs(30864542, 30864542, [USDT]) == []
    assert server.paths().count("/wallet/gettransactioninfobyblocknum") == 0


def test_recorded_two_block_answer_missing_a_block_is_refused(tron_reference, stub_server):
    # The recorded answer to {30864542, 30864544} holds 1 of the 2 blocks asked for.
    recorded = _load(tron_reference, "mainnet_getblockbylimitnext_30864542.json")
    server = stub_server(
        _router(
            {
                _key(
                    "/wallet/getblockbylimitnext", {"startNum": 30864542, "endNum": 30864544}
                ): recorded,
            }
        )
    )
    with TronHttpSource(server.url, backoff=0.001) as source:  # retried, then refused
        with pytest.raises(SourceError, match="30864542..30864543"):
            source.headers(30864542, 30864543)


def test_recorded_block_served_as_now_block_gives_head_and_finalized(tron_reference, stub_server):
    block = _load(tron_reference, "mainnet_getblockbylimitnext_30864542.json")["block"][0]
    server = stub_server(
        _router(
            {
                _key("/wallet/getnowblock", {}): block,
                _key("/walletsolidity/getnowblock", {}): block,
            }
        )
    )
    with TronHttpSource(server.url) as source:
        assert source.head() == 30864542
        assert source.finalized() == 30864542


def test_usdt_transfer_from_recorded_infos_30864600_in_a_synthesised_block(
    tron_reference, stub_server
):
    infos = _load(tron_reference, "mainnet_gettransactioninfobyblocknum_30864600.json")
    [expected] = [
        t
        for t in _load(tron_reference, "expected_transfers.json")["transfers"]
        if t["fixture"] == "mainnet_gettransactioninfobyblocknum_30864600.json"
    ]
    block = _synthetic_block(
        30864600, [(infos[0]["id"], "TransferContract"), (infos[1]["id"], "TriggerSmartContract")]
    )
    server = stub_server(
        _router(
            {
                _key("/wallet/getblockbylimitnext", {"startNum": 30864600, "endNum": 30864601}): {
                    "block": [block]
                },
                _key("/wallet/gettransactioninfobyblocknum", {"num": 30864600}): infos,
            }
        )
    )
    with TronHttpSource(server.url) as source:
        [log] = source.logs(30864600, 30864600, [USDT], [TRANSFER_TOPIC])
        assert source.logs(30864600, 30864600, [USDT], [APPROVAL_TOPIC]) == []
        assert source.logs(30864600, 30864600, [TOKEN_A]) == []

    assert (log.block_number, log.tx_index, log.log_index) == (30864600, 1, 0)
    assert log.block_hash == bytes.fromhex(block["blockID"])
    assert log.tx_hash.hex() == expected["txid"]
    assert log.address == USDT and to_tron(log.address) == expected["contract"]
    sender, recipient = decode(["address", "address"], b"".join(log.topics[1:]))
    (value,) = decode(["uint256"], log.data)
    assert to_tron(bytes.fromhex(sender[2:])) == expected["from"]
    assert expected["from"] == "TWpZXLfsvVuQuJZLkdWNY7XY2teePqPpz7"
    assert to_tron(bytes.fromhex(recipient[2:])) == expected["to"]
    assert value == expected["value"] == 532079999


def test_block_order_decides_tx_index_not_infos_order(tron_reference, stub_server):
    infos = _load(tron_reference, "mainnet_gettransactioninfobyblocknum_30864600.json")
    block = _synthetic_block(
        30864600, [(infos[1]["id"], "TriggerSmartContract"), (infos[0]["id"], "TransferContract")]
    )
    server = stub_server(
        _router(
            {
                _key("/wallet/getblockbylimitnext", {"startNum": 30864600, "endNum": 30864601}): {
                    "block": [block]
                },
                _key("/wallet/gettransactioninfobyblocknum", {"num": 30864600}): infos,
            }
        )
    )
    with TronHttpSource(server.url) as source:
        [log] = source.logs(30864600, 30864600, [USDT])
    assert log.tx_index == 0


def test_recorded_infos_30864600_against_a_block_missing_one_txid(tron_reference, stub_server):
    infos = _load(tron_reference, "mainnet_gettransactioninfobyblocknum_30864600.json")
    block = _synthetic_block(30864600, [(infos[1]["id"], "TriggerSmartContract")])
    server = stub_server(
        _router(
            {
                _key("/wallet/getblockbylimitnext", {"startNum": 30864600, "endNum": 30864601}): {
                    "block": [block]
                },
                _key("/wallet/gettransactioninfobyblocknum", {"num": 30864600}): infos,
            }
        )
    )
    with (
        TronHttpSource(server.url, backoff=0.001) as source,
        pytest.raises(SourceError, match="disagree"),
    ):
        source.logs(30864600, 30864600, [USDT])


def test_recorded_multilog_infos_1000000_number_logs_across_the_block(tron_reference, stub_server):
    infos = _load(tron_reference, "gettransactioninfobyblocknum_1000000_multilog.json")
    block = _synthetic_block(1000000, [(i["id"], "TriggerSmartContract") for i in infos])
    contracts = [bytes.fromhex(i["contract_address"][2:]) for i in infos]
    server = stub_server(
        _router(
            {
                _key("/wallet/getblockbylimitnext", {"startNum": 1000000, "endNum": 1000001}): {
                    "block": [block]
                },
                _key("/wallet/gettransactioninfobyblocknum", {"num": 1000000}): infos,
            }
        )
    )
    with TronHttpSource(server.url) as source:
        logs = source.logs(1000000, 1000000, contracts)
    assert [log.log_index for log in logs] == list(range(10))
    assert [log.tx_index for log in logs] == [0, 1, 1, 1, 2, 3, 3, 4, 4, 4]
    assert all(log.address == contracts[log.tx_index] for log in logs)
    assert [len(log.topics) for log in logs] == [1, 2, 1, 2, 1, 2, 2, 2, 1, 2]
    assert [len(log.data) for log in logs] == [160, 96, 32, 256, 32, 96, 256, 96, 32, 256]


def test_recorded_failed_usdt_call_gives_no_log(tron_reference, stub_server):
    ledger = _load(tron_reference, "mainnet_gettransactioninfobyid_ledger.json")
    failed = ledger["13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a"]
    # Served as the only info of a synthesised block, with a log added that must be ignored.
    info = dict(failed, log=[{"address": USDT.hex(), "topics": [TRANSFER_TOPIC.hex()]}])
    block = _synthetic_block(52299981, [(failed["id"], "TriggerSmartContract")])
    server = stub_server(
        _router(
            {
                _key("/wallet/getblockbylimitnext", {"startNum": 52299981, "endNum": 52299982}): {
                    "block": [block]
                },
                _key("/wallet/gettransactioninfobyblocknum", {"num": 52299981}): [info],
            }
        )
    )
    with TronHttpSource(server.url) as source:
        assert source.logs(52299981, 52299981, [USDT]) == []


# -- synthetic chains ---------------------------------------------------------------------------


def _busy_chain(blocks: int = 250) -> TronChain:
    chain = TronChain(first=5000)
    for i in range(blocks):
        txs = []
        if i % 3 == 0:
            txs.append(Tx("TransferContract"))
        if i % 4 == 1:
            txs.append(
                Tx(
                    logs=[
                        transfer_log(TOKEN_A, ALICE, BOB, i),
                        transfer_log(TOKEN_B, BOB, ALICE, i),
                    ]
                )
            )
        if i % 10 == 5:
            txs.append(Tx(logs=[transfer_log(TOKEN_A, BOB, ALICE, 7)], failed=True))
            txs.append(Tx(logs=[(TOKEN_A, (APPROVAL_TOPIC,), b"")]))
        chain.add(txs)
    return chain


def test_synthetic_range_is_fetched_in_chunks_of_100(stub_server):
    chain = _busy_chain()
    node = TronNode(chain)
    server = stub_server(node)
    with TronHttpSource(server.url) as source:
        headers = source.headers(5000, 5249)
        logs = source.logs(5000, 5249, [TOKEN_A, TOKEN_B])
        only_a_transfers = source.logs(5000, 5249, [TOKEN_A], [TRANSFER_TOPIC])
        assert source.head() == 5249
        assert source.finalized() == 5249 - 19

    assert [h.number for h in headers] == list(range(5000, 5250))
    assert all(h.parent_hash == p.hash for p, h in zip(headers, headers[1:], strict=False))
    assert headers[10].timestamp == (chain.genesis_ms + 3000 * 5010) // 1000
    assert logs == chain.expected_logs({TOKEN_A, TOKEN_B})
    assert only_a_transfers == chain.expected_logs({TOKEN_A}, {TRANSFER_TOPIC})
    assert len(only_a_transfers) == 63 and all(
        log.data != (7).to_bytes(32, "big") for log in only_a_transfers
    )
    spans = [
        s.json()["endNum"] - s.json()["startNum"]
        for s in server.seen
        if s.path == "/wallet/getblockbylimitnext"
    ]
    assert spans == [100, 100, 50] * 3
    # Infos are fetched only for blocks where the VM ran.
    vm_blocks = sum(1 for i in range(250) if i % 4 == 1 or i % 10 == 5)
    # Two logs() calls.
    assert server.paths().count("/wallet/gettransactioninfobyblocknum") == 2 * vm_blocks


def test_failed_transaction_logs_are_dropped_and_not_numbered(stub_server):
    chain = TronChain()
    chain.add(
        [
            Tx(logs=[transfer_log(TOKEN_A, ALICE, BOB, 1)]),
            Tx(logs=[transfer_log(TOKEN_A, ALICE, BOB, 2)], failed=True),
            Tx(logs=[transfer_log(TOKEN_A, ALICE, BOB, 3)]),
        ]
    )
    server = stub_server(TronNode(chain))
    with TronHttpSource(server.url) as source:
        logs = source.logs(5000, 5000, [TOKEN_A])
    assert [(log.tx_index, log.log_index, log.data[-1]) for log in logs] == [(0, 0, 1), (2, 1, 3)]


def test_infos_of_another_fork_are_an_inconsistent_answer(stub_server):
    chain = TronChain()
    chain.add([Tx(logs=[transfer_log(TOKEN_A, ALICE, BOB, 1)])])
    chain.infos[5000][0]["id"] = "ee" * 32  # as if the node switched forks between the calls
    server = stub_server(TronNode(chain))
    with (
        TronHttpSource(server.url, backoff=0.001) as source,
        pytest.raises(SourceError) as err,
    ):
        source.logs(5000, 5000, [TOKEN_A])
    assert "block 5000" in str(err.value) and "retry" in str(err.value)


def test_503_and_429_are_retried_and_counted(stub_server):
    chain = _busy_chain(5)
    node = TronNode(chain)
    node.faults.add(Reply(status=503, body=b"busy"), times=2)
    node.faults.add(Reply(status=429, body=b"slow down", headers={"Retry-After": "0"}))
    server = stub_server(node)
    with TronHttpSource(server.url, backoff=0.01) as source:
        assert source.head() == 5004
        assert source.stats.retries == 3
    assert server.paths() == ["/wallet/getnowblock"] * 4


def test_retry_after_is_honoured(stub_server):
    import time

    node = TronNode(_busy_chain(1))
    node.faults.add(Reply(status=429, headers={"Retry-After": "1"}))
    server = stub_server(node)
    with TronHttpSource(server.url, backoff=0.001) as source:
        started = time.monotonic()
        assert source.head() == 5000
        assert time.monotonic() - started >= 0.95


def test_giving_up_names_the_call_and_hides_the_key(stub_server):
    node = TronNode(_busy_chain(1))
    node.faults.add(Reply(status=503), times=10)
    server = stub_server(node)
    key = "0f6c2a1e-5d4b-4c3a-9e8f-7a6b5c4d3e2f"
    url = server.url.replace("http://", "http://user:hunter2@") + "/?apikey=topsecret"
    source = TronHttpSource(url, api_key=key, max_retries=2, backoff=0.001)
    with source, pytest.raises(SourceError) as err:
        source.head()
    message = str(err.value)
    assert "/wallet/getnowblock" in message and "3 attempt" in message and "HTTP 503" in message
    for secret in (key, "hunter2", "topsecret"):
        assert secret not in message and secret not in repr(source)
    assert all(s.headers.get("tron-pro-api-key") == key for s in server.seen)
    assert len(server.seen) == 3
    assert server.seen[0].path == "/wallet/getnowblock?apikey=topsecret"


def test_malformed_json_is_retried_a_few_times_then_refused(stub_server):
    node = TronNode(_busy_chain(3))
    node.faults.add(Reply(body=b'{"block": [{"blockID": '))  # truncated body
    server = stub_server(node)
    with TronHttpSource(server.url, backoff=0.001) as source:
        assert [h.number for h in source.headers(5000, 5002)] == [5000, 5001, 5002]
        node.faults.add(Reply(body={"block": [{"blockID": "zz"}]}), times=10)
        with pytest.raises(SourceError, match="malformed"):
            source.headers(5000, 5002)
    assert len(server.seen) == 2 + 3  # 1 bad + 1 good, then 3 bad (2 retries) and it stops


def test_node_error_object_is_not_taken_for_an_empty_answer(stub_server):
    node = TronNode(_busy_chain(3))
    node.faults.add(Reply(body={"Error": "class java.lang.NullPointerException : null"}), times=10)
    server = stub_server(node)
    with (
        TronHttpSource(server.url, backoff=0.001) as source,
        pytest.raises(SourceError, match="NullPointerException"),
    ):
        source.logs(5000, 5002, [TOKEN_A])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_keep_alive_reuses_one_connection_per_request_in_flight(stub_server, concurrency):
    server = stub_server(TronNode(_busy_chain(250)))
    with TronHttpSource(server.url, concurrency=concurrency) as source:
        source.logs(5000, 5249, [TOKEN_A])
    assert len(server.seen) > 50
    assert 1 <= len({s.client_port for s in server.seen}) <= concurrency


class SlowInfos:
    """A node whose transaction infos take a while, recording how many were asked at once."""

    def __init__(self, node: TronNode, delay: float = 0.03) -> None:
        self.node, self.delay = node, delay
        self.in_flight = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        if seen.path != "/wallet/gettransactioninfobyblocknum":
            return self.node(seen)
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(self.delay)
            return self.node(seen)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_infos_are_fetched_several_at_a_time_and_logs_stay_in_chain_order(stub_server):
    chain = _busy_chain(250)
    slow = SlowInfos(TronNode(chain))
    server = stub_server(slow)
    with TronHttpSource(server.url, concurrency=4) as source:
        logs = source.logs(5000, 5249, [TOKEN_A, TOKEN_B])
    assert logs == chain.expected_logs({TOKEN_A, TOKEN_B})
    assert slow.most == 4
    serial = SlowInfos(TronNode(chain))
    server = stub_server(serial)
    with TronHttpSource(server.url, concurrency=1) as source:
        assert source.logs(5000, 5249, [TOKEN_A, TOKEN_B]) == logs
    assert serial.most == 1


def test_max_rate_spaces_every_request_and_keeps_several_in_flight(stub_server):
    chain = _busy_chain(200)  # blocks 1 in 4 run the VM: 50 transaction infos
    slow = SlowInfos(TronNode(chain), delay=0.1)
    arrivals: list[float] = []

    def handler(seen: Seen) -> Reply:
        arrivals.append(time.monotonic())
        return slow(seen)

    server = stub_server(handler)
    with TronHttpSource(server.url, concurrency=8, max_rate=40) as source:
        logs = source.logs(5000, 5199, [TOKEN_A, TOKEN_B])
    assert logs == chain.expected_logs({TOKEN_A, TOKEN_B})
    # The infos and the block pages: never faster than 40 a second over the whole run (each
    # request is sent at its slot or later; 8 in flight unpaced would take half the time),
    # while the 0.1 s answers still overlap.
    assert len(arrivals) >= 50
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) / 40 * 0.95
    assert slow.most >= 2


def test_pacer_is_shared_by_threads_and_refuses_nonsense():
    pacer = dcmx_http.Pacer(200)
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda: [pacer.wait() for _ in range(5)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 >= 39 / 200 * 0.95  # 40 slots 5 ms apart, whatever the threads
    for bad in (0, -1, "15", True, None):
        with pytest.raises(ConfigError, match="max_rate"):
            dcmx_http.Pacer(bad)


def test_a_block_whose_infos_keep_failing_fails_the_range_and_the_source_goes_on(stub_server):
    chain = _busy_chain(40)
    node = TronNode(chain)

    def handler(seen: Seen) -> Reply:
        if seen.path == "/wallet/gettransactioninfobyblocknum" and seen.json()["num"] == 5021:
            return Reply(status=503)
        return node(seen)

    server = stub_server(handler)
    with TronHttpSource(server.url, max_retries=1, backoff=0.001, concurrency=4) as source:
        with pytest.raises(SourceError, match="gettransactioninfobyblocknum.*HTTP 503"):
            source.logs(5000, 5039, [TOKEN_A])
        assert source.logs(5022, 5039, [TOKEN_A]) == [
            log for log in chain.expected_logs({TOKEN_A}) if log.block_number >= 5022
        ]


def test_concurrency_must_be_a_positive_whole_number():
    for bad in (0, -1, 2.5, None):
        with pytest.raises(ConfigError, match="concurrency"):
            TronHttpSource("http://127.0.0.1:1", concurrency=bad)


def test_trongrid_frequency_limit_is_a_pause_not_a_refusal(stub_server, monkeypatch):
    """TronGrid answers 403 to a client over its request rate and stops answering it for 30 s;
    any other 403 is a refusal (a wrong key) and fails at once."""
    monkeypatch.setattr(dcmx_http, "RATE_LIMIT_PAUSE", 0.01)
    node = TronNode(_busy_chain(3))
    limited = {"Error": "The key exceeds the frequency limit(15), and the query server is "
                        "suspended for 30s"}
    node.faults.add(Reply(status=403, body=limited), times=2)
    server = stub_server(node)
    with TronHttpSource(server.url, backoff=0.001) as source:
        assert source.head() == 5002
        assert source.stats.retries == 2
        node.faults.add(Reply(status=403, body={"Error": "invalid api key"}))
        with pytest.raises(SourceError, match="HTTP 403.*check the API key"):
            source.head()
        assert source.stats.retries == 2
