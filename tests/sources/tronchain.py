"""Synthetic TRON chains shaped like the recorded HTTP API answers, and a node serving them.

The shapes follow the fixtures in ``tests/data/reference/tron``: ``getblockbylimitnext`` answers
``{"block": [...]}`` with ``blockID`` = 8-byte number + hash tail, ``raw_data`` timestamps in ms;
``gettransactioninfobyblocknum`` answers a list of infos with ``log[].address`` as bare 20-byte
hex, failed transactions with ``result: "FAILED"`` and a non-SUCCESS ``receipt.result``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from httpstub import Faults, Reply, Seen

from dcmx_core.chain import Log


@dataclass
class Tx:
    kind: str = "TriggerSmartContract"
    logs: list[tuple[bytes, tuple[bytes, ...], bytes]] = field(default_factory=list)
    failed: bool = False


class TronChain:
    def __init__(self, first: int = 5000, genesis_ms: int = 1_700_000_000_000) -> None:
        self.first = first
        self.genesis_ms = genesis_ms
        self.blocks: list[dict[str, Any]] = []
        self.infos: dict[int, list[dict[str, Any]]] = {}

    def add(self, txs: list[Tx] | None = None) -> dict[str, Any]:
        number = self.first + len(self.blocks)
        parent = self.blocks[-1]["blockID"] if self.blocks else "00" * 32
        digest = hashlib.sha256(f"{parent}{number}".encode()).hexdigest()
        block_id = number.to_bytes(8, "big").hex() + digest[16:]
        txs = txs or []
        transactions, infos = [], []
        for i, tx in enumerate(txs):
            txid = hashlib.sha256(f"{block_id}/{i}".encode()).hexdigest()
            transactions.append(
                {
                    "raw_data": {"contract": [{"parameter": {}, "type": tx.kind}]},
                    "ret": [{"contractRet": "REVERT" if tx.failed else "SUCCESS"}],
                    "txID": txid,
                }
            )
            info: dict[str, Any] = {
                "blockNumber": number,
                "blockTimeStamp": self.genesis_ms + 3000 * number,
                "id": txid,
                "receipt": {"net_usage": 300},
            }
            if tx.kind == "TriggerSmartContract":
                info["receipt"]["result"] = "REVERT" if tx.failed else "SUCCESS"
            if tx.failed:
                info["result"] = "FAILED"
            if tx.logs:
                info["log"] = [
                    {"address": a.hex(), "topics": [t.hex() for t in topics], "data": d.hex()}
                    for a, topics, d in tx.logs
                ]
            infos.append(info)
        block: dict[str, Any] = {
            "blockID": block_id,
            "block_header": {
                "raw_data": {
                    "number": number,
                    "parentHash": parent,
                    "timestamp": self.genesis_ms + 3000 * number,
                },
            },
        }
        if transactions:  # java-tron leaves the key out of empty blocks
            block["transactions"] = transactions
        self.blocks.append(block)
        self.infos[number] = infos
        return block

    @property
    def head(self) -> int:
        return self.first + len(self.blocks) - 1

    def block(self, number: int) -> dict[str, Any]:
        return self.blocks[number - self.first]

    def expected_logs(self, addresses: set[bytes], topics0: set[bytes] | None = None) -> list[Log]:
        """The logs a correct source returns, computed from what this builder made."""
        out = []
        for block in self.blocks:
            number = block["block_header"]["raw_data"]["number"]
            log_index = 0
            for tx_index, info in enumerate(self.infos[number]):
                if info.get("result") == "FAILED":
                    continue
                for entry in info.get("log", []):
                    address = bytes.fromhex(entry["address"])
                    topics = tuple(bytes.fromhex(t) for t in entry["topics"])
                    if address in addresses and (topics0 is None or topics[0] in topics0):
                        out.append(
                            Log(
                                number,
                                bytes.fromhex(block["blockID"]),
                                bytes.fromhex(info["id"]),
                                tx_index,
                                log_index,
                                address,
                                topics,
                                bytes.fromhex(entry["data"]),
                            )
                        )
                    log_index += 1
        return out


class TronNode:
    """Serves a :class:`TronChain` the way java-tron's HTTP API does, with injectable faults."""

    def __init__(self, chain: TronChain, solid_lag: int = 19) -> None:
        self.chain = chain
        self.solid_lag = solid_lag
        self.faults = Faults()

    def __call__(self, seen: Seen) -> Reply:
        fault = self.faults.next()
        if fault is not None:
            return fault
        body = seen.json()
        chain = self.chain
        if seen.path == "/wallet/getnowblock":
            return Reply(body=chain.blocks[-1])
        if seen.path == "/walletsolidity/getnowblock":
            return Reply(body=chain.block(max(chain.first, chain.head - self.solid_lag)))
        if seen.path == "/wallet/getblockbylimitnext":
            start, end = body["startNum"], body["endNum"]
            if end - start > 100:
                return Reply(body={"Error": "limit exceeded: at most 100 blocks"})
            found = [chain.block(n) for n in range(start, end) if chain.first <= n <= chain.head]
            return Reply(body={"block": found} if found else {})
        if seen.path == "/wallet/gettransactioninfobyblocknum":
            return Reply(body=chain.infos.get(body["num"], []))
        return Reply(status=404, body=b"not found")
