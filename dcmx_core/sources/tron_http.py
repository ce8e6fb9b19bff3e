"""TRON full-node HTTP API source (``/wallet/*``, ``/walletsolidity/*``), as tronpy talks to it.

The API has no ``getLogs``: logs come from the transaction infos of each block, and those carry
neither the block hash nor a block-wide log index. So :meth:`TronHttpSource.logs` fetches the
blocks first (hash, transaction order) and then the infos of the blocks that ran the VM, and
numbers logs itself. Block and infos are two answers that must agree on the transaction ids;
when they do not (the node switched forks in between, or is missing infos) it raises instead of
guessing. On mainnet nearly every block runs the VM, which makes one request per block: against
a node that allows it, several are kept in flight (``concurrency``) instead of waiting out the
node's latency for each in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..chain import Header, Log, check_range
from ..errors import ConfigError
from ..http import (
    HttpClient,
    Inconsistent,
    Malformed,
    Pacer,
    Stats,
    check_url,
    hex_bytes,
    json_field,
    json_int,
)

# java-tron's getblockbylimitnext answers at most 100 blocks per call.
BLOCKS_PER_CALL = 100

# Only these run TVM code, so only blocks holding one of them can have logs.
_VM_CONTRACTS = frozenset({"TriggerSmartContract", "CreateSmartContract"})


@dataclass(frozen=True, slots=True)
class _Block:
    header: Header
    txids: tuple[bytes, ...]
    runs_vm: bool


class TronHttpSource:
    """A :class:`~dcmx_core.chain.Source` over a java-tron node's HTTP API.

    ``api_key`` is sent as ``TRON-PRO-API-KEY`` (TronGrid) and never shown. The finalized
    (solidified) head comes from ``/walletsolidity/getnowblock`` on ``solidity_url``, which
    defaults to ``url`` (TronGrid serves both; a self-run node serves solidity on port 8091).
    ``concurrency`` is how many transaction-info requests are in flight at once: 1 by
    default; a node of your own takes 4 or 8 (each request waits out the node's latency, so
    the speed-up is nearly linear). ``max_rate`` caps the requests per second, all of them,
    retries included: TronGrid allows 15 a second per key and pauses a client that asks for
    more for 30 s, so against TronGrid take e.g. ``concurrency=4, max_rate=15``.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        solidity_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        concurrency: int = 1,
        max_rate: float | None = None,
    ) -> None:
        if api_key is not None and not api_key.strip():
            raise ConfigError("api_key is empty; pass None to send no key")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None  # made on first use
        headers = {"TRON-PRO-API-KEY": api_key} if api_key else {}
        self.stats = Stats()
        pacer = None if max_rate is None else Pacer(max_rate)  # one for both: one key

        def client(base: str, connections: int = 1) -> HttpClient:
            return HttpClient(
                base, timeout=timeout, max_retries=max_retries, backoff=backoff,
                headers=headers, stats=self.stats, pacer=pacer, connections=connections,
            )

        self._wallet = client(check_url(url, "TRON HTTP API"), concurrency)
        if solidity_url is None:
            self._solidity = self._wallet
        else:
            self._solidity = client(check_url(solidity_url, "TRON solidity API"))

    def __repr__(self) -> str:
        return f"TronHttpSource({self._wallet.safe_url!r})"

    def bind_stop(self, stop: threading.Event) -> None:
        """End retry back-offs when ``stop`` is set (the indexing loop's stop)."""
        self._wallet.stop = self._solidity.stop = stop

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._wallet.close()
        if self._solidity is not self._wallet:
            self._solidity.close()

    def __enter__(self) -> TronHttpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- heights ---------------------------------------------------------------------------

    def head(self) -> int:
        return self._wallet.post(
            "/wallet/getnowblock",
            {},
            lambda b: _block(b).header.number,
            what="/wallet/getnowblock",
        )

    def finalized(self) -> int:
        return self._solidity.post(
            "/walletsolidity/getnowblock",
            {},
            lambda b: _block(b).header.number,
            what="/walletsolidity/getnowblock",
        )

    # -- headers and logs ------------------------------------------------------------------

    def headers(self, start: int, end: int) -> list[Header]:
        return [block.header for block in self._blocks(start, end)]

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        check_range(start, end)
        if not addresses or start > end or (topics0 is not None and not topics0):
            return []
        wanted = frozenset(bytes(a) for a in addresses)
        topic_set = None if topics0 is None else frozenset(bytes(t) for t in topics0)
        out: list[Log] = []
        # Chunk by chunk, so a long range never holds more than 100 full blocks.
        for lo in range(start, end + 1, BLOCKS_PER_CALL):
            hi = min(end, lo + BLOCKS_PER_CALL - 1)
            busy = [block for block in self._blocks(lo, hi) if block.runs_vm]
            for logs in self._map(lambda b: self._block_logs(b, wanted, topic_set), busy):
                out.extend(logs)
        return out

    def _map(self, fn: Callable[[_Block], list[Log]], blocks: list[_Block]) -> Iterable[list[Log]]:
        """``fn`` of each block, in block order, up to ``concurrency`` at a time. The first
        failure (in block order) is raised and the requests not yet sent are dropped."""
        if self._concurrency == 1 or len(blocks) < 2:
            return map(fn, blocks)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="dcmx-tron")
        return self._pool.map(fn, blocks)

    def _blocks(self, start: int, end: int) -> list[_Block]:
        check_range(start, end)
        out: list[_Block] = []
        for lo in range(start, end + 1, BLOCKS_PER_CALL):
            hi = min(end, lo + BLOCKS_PER_CALL - 1)
            blocks = self._wallet.post(
                "/wallet/getblockbylimitnext",
                {"startNum": lo, "endNum": hi + 1},
                partial(_block_range, lo=lo, hi=hi),
                what="/wallet/getblockbylimitnext",
            )
            out.extend(blocks)
        return out

    def _block_logs(
        self, block: _Block, wanted: frozenset[bytes], topic_set: frozenset[bytes] | None
    ) -> list[Log]:
        number = block.header.number
        infos = self._wallet.post(
            "/wallet/gettransactioninfobyblocknum",
            {"num": number},
            lambda body: _matching_infos(body, block),
            what="/wallet/gettransactioninfobyblocknum",
        )
        out: list[Log] = []
        log_index = 0
        for tx_index, txid in enumerate(block.txids):
            for address, topics, data in infos[txid]:
                if address in wanted and (topic_set is None or (topics and topics[0] in topic_set)):
                    out.append(
                        Log(
                            number,
                            block.header.hash,
                            txid,
                            tx_index,
                            log_index,
                            address,
                            topics,
                            data,
                        )
                    )
                log_index += 1
        return out


def _block_list(body: Any) -> list[_Block]:
    if not isinstance(body, dict):
        raise Malformed(f"answer is {type(body).__name__}, expected an object")
    if "Error" in body:
        raise Malformed(f"node error: {str(body['Error'])[:200]}")
    blocks = body.get("block", [])  # java-tron omits the key when there are no blocks
    if not isinstance(blocks, list):
        raise Malformed("'block' is not a list")
    return sorted((_block(b) for b in blocks), key=lambda b: b.header.number)


def _block_range(body: Any, lo: int, hi: int) -> list[_Block]:
    blocks = _block_list(body)
    numbers = [b.header.number for b in blocks]
    if numbers != list(range(lo, hi + 1)):
        # A replica behind the others, or one that pruned: asking again may reach another.
        shown = f"{numbers[0]}..{numbers[-1]} ({len(numbers)})" if numbers else "none"
        raise Inconsistent(
            f"asked for blocks {lo}..{hi}, got {shown}: the node is behind or pruned; "
            "retry later or use another node"
        )
    return blocks


def _matching_infos(body: Any, block: _Block) -> dict[bytes, list[_RawLog]]:
    """The block's transaction infos, which must be those of exactly its transactions."""
    number = block.header.number
    infos = _info_map(body, number)
    if len(infos) != len(block.txids) or set(infos) != set(block.txids):
        missing = len(set(block.txids) - set(infos))
        extra = len(set(infos) - set(block.txids))
        raise Inconsistent(
            f"block {number} lists {len(block.txids)} transactions but its transaction infos "
            f"list {len(infos)} ({missing} missing, {extra} unknown): the node's answers "
            "disagree (fork switch or incomplete indexing); retry later or use another node"
        )
    return infos


def _block(obj: Any) -> _Block:
    if isinstance(obj, dict) and "Error" in obj:
        raise Malformed(f"node error: {str(obj['Error'])[:200]}")
    raw = json_field(json_field(obj, "block_header", "block"), "raw_data", "block_header")
    # Protobuf JSON leaves out zero values, so the genesis block has no number or timestamp.
    number = json_int(raw.get("number", 0), "block number")
    block_id = hex_bytes(json_field(obj, "blockID", "block"), "blockID", 32)
    if int.from_bytes(block_id[:8], "big") != number:
        raise Malformed(f"blockID {block_id.hex()} does not start with block number {number}")
    txs = obj.get("transactions", [])
    if not isinstance(txs, list):
        raise Malformed(f"block {number} transactions is not a list")
    txids = []
    runs_vm = False
    for tx in txs:
        txids.append(hex_bytes(json_field(tx, "txID", "transaction"), "txID", 32))
        contracts = json_field(tx, "raw_data", "transaction").get("contract") or [{}]
        kind = contracts[0].get("type") if isinstance(contracts[0], dict) else None
        # An unknown or missing type is treated as a VM call: fetching infos costs a request,
        # skipping a block that had logs would lose events.
        runs_vm = runs_vm or kind in _VM_CONTRACTS or not isinstance(kind, str)
    return _Block(
        header=Header(
            number=number,
            hash=block_id,
            parent_hash=hex_bytes(raw.get("parentHash"), "parentHash", 32),
            timestamp=json_int(raw.get("timestamp", 0), "block timestamp") // 1000,
        ),
        txids=tuple(txids),
        runs_vm=runs_vm,
    )


_RawLog = tuple[bytes, tuple[bytes, ...], bytes]


def _info_map(body: Any, number: int) -> dict[bytes, list[_RawLog]]:
    """Transaction id -> its logs (none for a failed transaction), from one block's infos."""
    if isinstance(body, dict):
        if "Error" in body:
            raise Malformed(f"node error: {str(body['Error'])[:200]}")
        if body:
            raise Malformed("transaction infos are an object, expected a list")
        body = []  # java-tron answers {} for a block without transactions
    if not isinstance(body, list):
        raise Malformed(f"transaction infos are {type(body).__name__}, expected a list")
    infos: dict[bytes, list[_RawLog]] = {}
    for info in body:
        txid = hex_bytes(json_field(info, "id", "transaction info"), "transaction info id", 32)
        what = f"transaction info {txid.hex()}"
        got = info.get("blockNumber")
        if got is not None and got != number:
            raise Malformed(f"{what} is for block {got}, asked for block {number}")
        receipt = info.get("receipt") or {}
        if not isinstance(receipt, dict):
            raise Malformed(f"{what} receipt is not an object")
        failed = info.get("result") == "FAILED" or receipt.get("result", "SUCCESS") != "SUCCESS"
        entries = info.get("log", [])
        if not isinstance(entries, list):
            raise Malformed(f"{what} log is not a list")
        infos[txid] = [] if failed else [_raw_log(e, what) for e in entries]
    return infos


def _raw_log(entry: Any, what: str) -> _RawLog:
    address = hex_bytes(json_field(entry, "address", f"{what} log"), f"{what} log address")
    if len(address) == 21 and address[0] == 0x41:
        address = address[1:]  # some nodes give the 41-prefixed form
    if len(address) != 20:
        raise Malformed(f"{what} log address has {len(address)} bytes, expected 20")
    topics = entry.get("topics", [])
    if not isinstance(topics, list) or len(topics) > 4:
        raise Malformed(f"{what} log topics is not a list of at most 4")
    return (
        address,
        tuple(hex_bytes(t, f"{what} log topic", 32) for t in topics),
        hex_bytes(entry.get("data", ""), f"{what} log data"),
    )

