"""A synthetic TRON chain serving real DCMX activity through java-tron's HTTP API shapes.

The blocks and logs are copied from an anvil chain the simulator drove (one TRON block per
anvil block, one transaction per anvil transaction, its logs in order), so the TRON source
indexes the same five-contract activity as the JSON-RPC one. Answer shapes follow
``tests/sources/tronchain.py`` (and the recorded answers in ``tests/data/reference/tron``):
``blockID`` = 8-byte number + hash tail, millisecond timestamps, bare 20-byte log addresses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# (address, topics, data) per log; a transaction is its id and its logs.
RawLog = tuple[bytes, tuple[bytes, ...], bytes]
Tx = tuple[bytes, list[RawLog]]

GENESIS_MS = 1_700_000_000_000


class TronChain:
    def __init__(self, solid_lag: int = 19) -> None:
        self.solid_lag = solid_lag
        self.blocks: list[dict[str, Any]] = []
        self.infos: list[list[dict[str, Any]]] = []
        self.salt = 0

    @property
    def head(self) -> int:
        return len(self.blocks) - 1

    def add(self, txs: list[Tx]) -> None:
        number = len(self.blocks)
        parent = self.blocks[-1]["blockID"] if self.blocks else "00" * 32
        digest = hashlib.sha256(f"{parent}/{number}/{self.salt}".encode()).hexdigest()
        block_id = number.to_bytes(8, "big").hex() + digest[16:]
        ms = GENESIS_MS + 3000 * number
        block: dict[str, Any] = {
            "blockID": block_id,
            "block_header": {
                "raw_data": {"number": number, "parentHash": parent, "timestamp": ms}
            },
        }
        if txs:  # java-tron leaves the key out of empty blocks
            block["transactions"] = [
                {
                    "raw_data": {"contract": [{"parameter": {}, "type": "TriggerSmartContract"}]},
                    "ret": [{"contractRet": "SUCCESS"}],
                    "txID": txid.hex(),
                }
                for txid, _ in txs
            ]
        infos = []
        for txid, logs in txs:
            info: dict[str, Any] = {
                "blockNumber": number,
                "blockTimeStamp": ms,
                "id": txid.hex(),
                "receipt": {"result": "SUCCESS", "energy_usage_total": 21000},
            }
            if logs:
                info["log"] = [
                    {"address": a.hex(), "topics": [t.hex() for t in topics], "data": d.hex()}
                    for a, topics, d in logs
                ]
            infos.append(info)
        self.blocks.append(block)
        self.infos.append(infos)

    def reorg(self, depth: int) -> None:
        """Replace the newest ``depth`` blocks: same transactions but the newest block's, other
        hashes (so every row of those blocks changes, and the newest block's events vanish)."""
        kept = [(self._txs(n)) for n in range(self.head - depth + 1, self.head + 1)]
        kept[-1] = []
        del self.blocks[-depth:]
        del self.infos[-depth:]
        self.salt += 1
        for txs in kept:
            self.add(txs)

    def _txs(self, number: int) -> list[Tx]:
        out = []
        for info in self.infos[number]:
            logs = [
                (
                    bytes.fromhex(e["address"]),
                    tuple(bytes.fromhex(t) for t in e["topics"]),
                    bytes.fromhex(e["data"]),
                )
                for e in info.get("log", [])
            ]
            out.append((bytes.fromhex(info["id"]), logs))
        return out

    # -- the node -----------------------------------------------------------------------------

    def __call__(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Answer one HTTP API call as java-tron does: (status, body)."""
        request = json.loads(body or b"{}")
        if path == "/wallet/getnowblock":
            return 200, json.dumps(self.blocks[-1]).encode()
        if path == "/walletsolidity/getnowblock":
            return 200, json.dumps(self.blocks[max(0, self.head - self.solid_lag)]).encode()
        if path == "/wallet/getblockbylimitnext":
            start, end = request["startNum"], request["endNum"]
            if end - start > 100:
                return 200, b'{"Error": "limit exceeded: at most 100 blocks"}'
            found = [self.blocks[n] for n in range(start, end) if 0 <= n <= self.head]
            return 200, json.dumps({"block": found} if found else {}).encode()
        if path == "/wallet/gettransactioninfobyblocknum":
            number = request["num"]
            infos = self.infos[number] if 0 <= number <= self.head else []
            return 200, json.dumps(infos).encode()
        return 404, b"not found"


def from_anvil(w3: Any) -> TronChain:
    """Copy an anvil chain (blocks, transactions, logs) into a TRON chain."""
    chain = TronChain()
    for number in range(w3.eth.block_number + 1):
        receipts = w3.provider.make_request("eth_getBlockReceipts", [hex(number)])["result"]
        txs = []
        for receipt in receipts:
            logs = [
                (
                    bytes.fromhex(log["address"][2:]),
                    tuple(bytes.fromhex(t[2:]) for t in log["topics"]),
                    bytes.fromhex(log["data"][2:]),
                )
                for log in receipt["logs"]
            ]
            if receipt["status"] != "0x1":
                logs = []
            txs.append((bytes.fromhex(receipt["transactionHash"][2:]), logs))
        chain.add(txs)
    return chain
