"""Ethereum-style JSON-RPC source: any EVM node, anvil, and TRON's ``/jsonrpc`` endpoint.

Hosted nodes cap ``eth_getLogs`` by block span or result count, each with its own wording and
limit, and the limits change. Rather than configure them, :meth:`JsonRpcSource.logs` learns a
chunk size: it halves the span when the node refuses or times out and doubles it again while
answers stay small.

A node behind a load balancer may answer from a replica that lags, is mid-reorg, or dropped part
of an answer. Every answer is checked before it is returned: logs must lie in the range, come
from the addresses asked for and agree on their block's hash; and each block's ``logsBloom``
(kept from :meth:`JsonRpcSource.headers`, which the indexer calls first) must not promise logs
of the wanted contracts that the ``eth_getLogs`` answer lacks, nor deny logs it holds. A bloom
cannot see one log missing from a block whose other logs came back: ``verify_receipts=True``
cross-checks every such block with ``eth_getBlockReceipts`` (one more call per block with
events). A bloom also says "maybe" wrongly, often in busy blocks (with 400 addresses and topics
in a block, ~9% per wanted address): each such block costs one ``eth_getBlockReceipts`` to
settle (or, on nodes without it, one ``eth_getLogs`` of that block and one header).
java-tron computes no bloom (it answers zeros): nothing is checked there but the answers' own
consistency.
"""

from __future__ import annotations

import itertools
import operator
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache, partial, reduce
from typing import Any, TypeVar

from eth_hash.auto import keccak

from ..caches import BoundedCache
from ..chain import Header, Log, check_range
from ..errors import ConfigError, InconsistentAnswer, SourceError
from ..http import (
    HttpClient,
    Inconsistent,
    Malformed,
    Pacer,
    Stats,
    TimedOut,
    check_url,
    hex_bytes,
    hex_int,
    json_field,
    pause,
)

T = TypeVar("T")

# How nodes say "ask for less": geth/erigon, Infura, Alchemy, QuickNode, Ankr, BSC, TRON.
_RANGE_REFUSALS = re.compile(
    r"too many results|query returned more than|exceeds? (the )?max(imum)? block range"
    r"|block range (is )?too (large|wide)|limit exceeded|range (is )?too large"
    r"|response size (should not|exceeded)|max(imum)? block range|too many blocks",
    re.IGNORECASE,
)


class RpcError(SourceError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, message: str, code: Any, node_message: str) -> None:
        super().__init__(message)
        self.code = code
        self.node_message = node_message


class RangeRefused(RpcError):
    """The node refused an ``eth_getLogs`` span as too large or too many results."""


class JsonRpcSource:
    """A :class:`~dcmx_core.chain.Source` over Ethereum JSON-RPC.

    ``confirmations`` is how far below the head a block counts as final on nodes without the
    ``finalized`` tag. ``max_range`` caps (and starts) the ``eth_getLogs`` span; ``sparse_logs``
    is the result size under which the span grows back, ``dense_logs`` the one over which it
    is halved (to bound the memory one answer takes while it is parsed). ``batch_size``
    headers go in one JSON-RPC batch. ``max_rate`` caps the requests per second (hosted
    nodes' plans: TronGrid's ``/jsonrpc`` shares the key's 15 a second).
    """

    def __init__(
        self,
        url: str,
        *,
        confirmations: int = 20,
        timeout: float = 10.0,
        max_retries: int = 5,
        max_range: int = 2000,
        sparse_logs: int = 1000,
        dense_logs: int = 10_000,
        batch_size: int = 100,
        backoff: float = 0.25,
        headers: dict[str, str] | None = None,
        verify_receipts: bool = False,
        max_rate: float | None = None,
    ) -> None:
        if confirmations < 0 or max_range < 1 or batch_size < 1 or dense_logs <= sparse_logs:
            raise ConfigError(
                "confirmations must be >= 0, max_range and batch_size >= 1, dense_logs above "
                "sparse_logs"
            )
        self.stats = Stats()
        # The attribute keeps its old name (tests/cli reads it); it is the HTTP client.
        self._transport = HttpClient(
            check_url(url, "JSON-RPC"),
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            headers=headers,
            stats=self.stats,
            pacer=None if max_rate is None else Pacer(max_rate),
        )
        self.confirmations = confirmations
        self.max_range = max_range
        self.sparse_logs = sparse_logs
        self.dense_logs = dense_logs
        self.batch_size = batch_size
        self.chunk = max_range  # the eth_getLogs span learnt so far; shared by all calls
        # None until the first finalized() call finds out whether the node knows the tag.
        self.uses_finalized_tag: bool | None = None
        self._batches = True
        self._ids = itertools.count(1)
        self.verify_receipts = verify_receipts
        self._receipts: bool | None = None  # whether the node has eth_getBlockReceipts
        self.max_retries = max_retries
        self.backoff = backoff
        # number -> (hash, logsBloom as an int) of the blocks headers() returned lately, to check
        # logs by.
        self._blooms: OrderedDict[int, tuple[bytes, int | None]] = OrderedDict()
        # Hex text -> bytes of the addresses and topics seen lately (logs repeat them: a token's
        # address, topic0, its holders): only checked, converted values get in; bounded.
        self._addresses = BoundedCache(partial(_fixed_hex, size=20), _HEX_CACHE)
        self._topics = BoundedCache(partial(_fixed_hex, size=32), _HEX_CACHE)

    def __repr__(self) -> str:
        return f"JsonRpcSource({self._transport.safe_url!r})"

    def bind_stop(self, stop: threading.Event) -> None:
        """End retry back-offs when ``stop`` is set (the indexing loop's stop)."""
        self._transport.stop = stop

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> JsonRpcSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- heights ---------------------------------------------------------------------------

    def head(self) -> int:
        return self._call("eth_blockNumber", [], lambda r: hex_int(r, "eth_blockNumber"))

    def finalized(self) -> int:
        if self.uses_finalized_tag is not False:
            try:
                number = self._call("eth_getBlockByNumber", ["finalized", False], _number_or_none)
            except RangeRefused:
                raise  # "limit exceeded" is a rate limit here, not an unknown tag
            except RpcError:
                # Nodes before the Merge (and TRON's) reject the tag: count confirmations.
                self.uses_finalized_tag = False
            else:
                if number is not None:
                    self.uses_finalized_tag = True
                    return max(0, number)
                # null: the node knows the tag but has nothing finalized yet (a fresh devnet).
        return max(0, self.head() - self.confirmations)

    # -- headers ---------------------------------------------------------------------------

    def headers(self, start: int, end: int) -> list[Header]:
        check_range(start, end)
        out: list[Header] = []
        for lo in range(start, end + 1, self.batch_size):
            numbers = range(lo, min(end, lo + self.batch_size - 1) + 1)
            for header, bloom in self._header_batch(numbers):
                self._blooms[header.number] = (header.hash, bloom)
                self._blooms.move_to_end(header.number)
                out.append(header)
        while len(self._blooms) > _KEPT_BLOOMS:
            self._blooms.popitem(last=False)
        return out

    def _header_batch(self, numbers: range) -> list[tuple[Header, int | None]]:
        if self._batches:
            ids = {next(self._ids): n for n in numbers}
            payload = [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "eth_getBlockByNumber",
                    "params": [hex(n), False],
                }
                for i, n in ids.items()
            ]
            try:
                return self._transport.post(
                    "",
                    payload,
                    lambda body: self._parse_batch(body, ids),
                    what="eth_getBlockByNumber (batch)",
                )
            except _BatchesUnsupported:
                self._batches = False
        return [
            self._call("eth_getBlockByNumber", [hex(n), False], partial(_header, number=n))
            for n in numbers
        ]

    def _parse_batch(self, body: Any, ids: dict[int, int]) -> list[tuple[Header, int | None]]:
        if isinstance(body, dict) and body.get("error"):
            raise _BatchesUnsupported()
        if not isinstance(body, list):
            raise Malformed(f"batch answer is {type(body).__name__}, expected a list")
        by_id: dict[Any, Any] = {}
        for item in body:
            if not isinstance(item, dict) or "id" not in item:
                raise Malformed("batch answer holds an item without an id")
            by_id[item["id"]] = item
        headers = []
        for i, n in ids.items():
            item = by_id.get(i)
            if item is None:
                raise Malformed(f"batch answer lacks the reply to request {i} (block {n})")
            headers.append(_header(self._result(item, "eth_getBlockByNumber"), n))
        return headers

    # -- logs ------------------------------------------------------------------------------

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
        flt: dict[str, Any] = {"address": ["0x" + a.hex() for a in sorted(wanted)]}
        if topic_set is not None:
            flt["topics"] = [["0x" + t.hex() for t in sorted(topic_set)]]
        for attempt in range(self.max_retries + 1):
            out = self._fetch_logs(start, end, flt, wanted, topic_set)
            problem = self._verify(out, start, end, flt, wanted, topic_set)
            if problem is None:
                return out
            self.stats.count("retries")
            if attempt < self.max_retries and pause(self._transport.stop,
                                                    self.backoff * 2**attempt):
                break
        raise SourceError(
            f"eth_getLogs at {self._transport.safe_url} for blocks {start}..{end} stayed "
            f"inconsistent after {self.max_retries + 1} tries: {problem}; the node (or a replica "
            "behind it) is faulty: use another node"
        )

    def _fetch_logs(
        self,
        start: int,
        end: int,
        flt: dict[str, Any],
        wanted: frozenset[bytes],
        topic_set: frozenset[bytes] | None,
    ) -> list[Log]:
        out: list[Log] = []
        lo = start
        while lo <= end:
            hi = min(end, lo + self.chunk - 1)
            try:
                found = self._get_logs(lo, hi, flt, wanted, topic_set, patient=lo == hi)
            except (RangeRefused, TimedOut) as exc:
                if lo == hi:
                    raise SourceError(
                        f"eth_getLogs at {self._transport.safe_url} refuses even a single block "
                        f"({lo}): {exc}. Narrow the address/topic filter or use another node."
                    ) from None
                self.chunk = max(1, (hi - lo + 1) // 2)
                self.stats.count("range_shrinks")
                continue
            out.extend(found)
            if len(found) < self.sparse_logs and self.chunk < self.max_range:
                self.chunk = min(self.max_range, self.chunk * 2)
                self.stats.count("range_grows")
            elif len(found) > self.dense_logs and hi > lo:
                # An answer this big costs memory (its JSON text and then its objects, ~2.5 kB
                # a log, all at once) and saves nothing: ask for less at a time from now on.
                self.chunk = max(1, (hi - lo + 1) // 2)
                self.stats.count("range_shrinks")
            lo = hi + 1
        return out

    def _get_logs(
        self,
        lo: int,
        hi: int,
        flt: dict[str, Any],
        wanted: frozenset[bytes],
        topic_set: frozenset[bytes] | None,
        *,
        patient: bool,
    ) -> list[Log]:
        params = [{"fromBlock": hex(lo), "toBlock": hex(hi), **flt}]

        def parse(result: Any) -> list[Log]:
            return self._parse_logs(result, lo, hi, wanted, topic_set)

        # A one-block span cannot shrink, so its time-outs are retried like any other.
        return self._call("eth_getLogs", params, parse, timeout_raises=not patient)

    def _verify(
        self,
        logs: list[Log],
        start: int,
        end: int,
        flt: dict[str, Any],
        wanted: frozenset[bytes],
        topic_set: frozenset[bytes] | None,
    ) -> str | None:
        """Check a range's logs against the blocks' blooms (and receipts); None when they agree.

        A problem worth asking again for is returned; headers that are no longer on the node's
        chain raise :class:`InconsistentAnswer` (the caller must fetch its headers again).
        """
        by_block: dict[int, list[Log]] = {}
        for number, run in itertools.groupby(logs, _block_number):  # runs: logs come sorted
            by_block.setdefault(number, []).extend(run)
        for number in range(start, end + 1):
            known = self._blooms.get(number)
            if known is None or known[1] is None:
                continue  # headers not fetched through this source, or a node without blooms
            block_hash, bloom = known[0], known[1]  # a bloom, as checked above
            got = by_block.get(number, [])
            if got and got[0].block_hash != block_hash:
                continue  # the caller compares hashes with its headers and fetches again
            if got:
                # Every address and topic of the block's logs must be in its bloom: each distinct
                # one once (logs repeat them), all at once (the OR of their bloom bits).
                items = set(map(_address, got))
                items.update(itertools.chain.from_iterable(map(_topics, got)))
                need = reduce(operator.or_, map(_bloom_mask, items), 0)
                if bloom & need != need:
                    for log in got:
                        if any(not _in_bloom(bloom, x) for x in (log.address, *log.topics)):
                            return (
                                f"log {log.log_index} of block {number} is not in the block's "
                                "logsBloom"
                            )
            if not got and (
                any(_in_bloom(bloom, a) for a in wanted)
                and (topic_set is None or any(_in_bloom(bloom, t) for t in topic_set))
            ):
                # A bloom may say yes wrongly (often, in busy blocks): ask about that block alone,
                # through the receipts the bloom was made from, not eth_getLogs again (whose
                # index is what fails on real nodes, and which a flaky proxy spoils twice).
                confirmed: list[Any] = []
                if self._receipts is not False:
                    try:
                        confirmed = self._receipt_logs(number, block_hash, wanted, topic_set)
                        self._receipts = True
                    except RpcError:
                        if self._receipts or isinstance(sys.exc_info()[1], RangeRefused):
                            raise
                        self._receipts = False  # no eth_getBlockReceipts on this node
                if self._receipts is False:
                    confirmed = self._block_logs(number, block_hash, flt, wanted, topic_set)
                if confirmed:
                    return (
                        f"the answer lacks the {len(confirmed)} log(s) of block {number} that "
                        "the block holds"
                    )
            elif got and self.verify_receipts:
                expected = self._receipt_logs(number, block_hash, wanted, topic_set)
                if expected != [log.log_index for log in got]:
                    return (
                        f"the answer holds logs {[log.log_index for log in got]} of block "
                        f"{number}, its receipts hold {expected}"
                    )
        return None

    def _block_logs(
        self,
        number: int,
        block_hash: bytes,
        flt: dict[str, Any],
        wanted: frozenset[bytes],
        topic_set: frozenset[bytes] | None,
    ) -> list[Log]:
        """One block's wanted logs, asked for alone; raises when that block left the chain.

        By number, not by ``blockHash`` (EIP-234 is not everywhere), so the answer's hashes
        and, when it is empty, the block's header say whether the block is still the one
        the caller holds.
        """
        found = self._get_logs(number, number, flt, wanted, topic_set, patient=True)
        if found and found[0].block_hash != block_hash:
            raise self._stale(number, block_hash, "its logs carry another hash")
        if not found:
            now = self._call(
                "eth_getBlockByNumber", [hex(number), False], lambda r: _header(r, number)[0]
            )
            if now.hash != block_hash:
                raise self._stale(number, block_hash, f"the node now has 0x{now.hash.hex()}")
        return found

    def _receipt_logs(
        self,
        number: int,
        block_hash: bytes,
        wanted: frozenset[bytes],
        topic_set: frozenset[bytes] | None,
    ) -> list[int]:
        """The log indexes of the wanted logs of a block, from its receipts."""

        def parse(result: Any) -> list[int]:
            if result is None:
                raise Inconsistent(f"the node has no receipts for block {number} (yet)")
            if not isinstance(result, list):
                raise Malformed(f"receipts are {type(result).__name__}, expected a list")
            found = []
            for r, receipt in enumerate(result):
                entries = json_field(receipt, "logs", f"receipt #{r}")
                got = json_field(receipt, "blockHash", f"receipt #{r}")
                if hex_bytes(got, "blockHash", 32) != block_hash:
                    raise _Stale()
                if not isinstance(entries, list):
                    raise Malformed(f"receipt #{r} logs is not a list")
                for i, obj in enumerate(entries):
                    log = _log(obj, i)
                    if log is None:
                        continue
                    if log.block_hash != block_hash:
                        raise _Stale()
                    if log.address in wanted and (
                        topic_set is None or (log.topics and log.topics[0] in topic_set)
                    ):
                        found.append(log.log_index)
            return sorted(found)

        try:
            return self._call("eth_getBlockReceipts", [hex(number)], parse)
        except _Stale:
            raise self._stale(number, block_hash, "its receipts carry another hash") from None

    def _stale(self, number: int, block_hash: bytes, why: object) -> InconsistentAnswer:
        return InconsistentAnswer(
            f"block {number} (0x{block_hash.hex()}) is no longer on the chain of the node at "
            f"{self._transport.safe_url} ({why}): it reorganised between the headers and the "
            "logs; fetch the headers again"
        )

    def _parse_logs(
        self,
        result: Any,
        lo: int,
        hi: int,
        wanted: frozenset[bytes],
        topic_set: frozenset[bytes] | None,
    ) -> list[Log]:
        """An ``eth_getLogs`` result as logs sorted by (block, log index), or an exception.

        Refuses answers that cannot be right (an indexer must never store them): logs outside
        the range, from addresses or with a topic0 not asked for, two hashes for one block
        number, one log twice. Such a problem is raised as :class:`Inconsistent` (the HTTP client
        asks again, then gives up with a SourceError that says the node is inconsistent) once
        the whole answer parsed: a malformed entry anywhere is reported as such first.

        This runs for every log the indexer gets over the wire, so the usual shape (a dict of
        ``0x`` hex strings) is read inline: hashes, the block number and the transaction index
        are converted once per run of equal text, addresses and topics once per distinct text
        (cached). Anything else goes through :func:`_log`, whose checks are the reference (the
        fast path accepts nothing it refuses and returns the same values).
        """
        if not isinstance(result, list):
            raise Malformed(f"eth_getLogs result is {type(result).__name__}, expected a list")
        addresses, topic_of = self._addresses, self._topics.__getitem__
        fromhex = bytes.fromhex
        hashes: dict[int, bytes] = {}
        out: list[Log] = []
        append = out.append
        problem: str | None = None
        ordered = True
        # The text last converted, and its value: runs of logs share a block and a transaction.
        # (Not None at first: that is JSON's null, which must not pass for "as before".)
        bn_text: Any = _NOTHING
        bh_text: Any = _NOTHING
        tx_text: Any = _NOTHING
        ti_text: Any = _NOTHING
        bn = ti = prev_bn = prev_li = -1
        bh = tx = b""
        for i, obj in enumerate(result):
            new_block = False
            try:
                if type(obj) is not dict or obj.get("removed", False) is not False:
                    raise _Unusual
                text = obj["blockNumber"]
                if text != bn_text:
                    if text[:2] != "0x":
                        raise _Unusual
                    bn = int(text, 16)
                    bn_text, bh_text, new_block = text, _NOTHING, True
                text = obj["blockHash"]
                if text != bh_text:
                    if text[:2] != "0x" or len(value := fromhex(text[2:])) != 32:
                        raise _Unusual
                    bh, bh_text, new_block = value, text, True
                text = obj["transactionHash"]
                if text != tx_text:
                    if text[:2] != "0x" or len(value := fromhex(text[2:])) != 32:
                        raise _Unusual
                    tx, tx_text = value, text
                text = obj["transactionIndex"]
                if text != ti_text:
                    if text[:2] != "0x":
                        raise _Unusual
                    ti, ti_text = int(text, 16), text
                text = obj["logIndex"]
                if text[:2] != "0x":
                    raise _Unusual
                li = int(text, 16)
                address = addresses[obj["address"]]
                entries = obj["topics"]
                if type(entries) is not list or len(entries) > 4:
                    raise _Unusual
                topics = tuple(map(topic_of, entries))
                text = obj["data"]
                if text[:2] != "0x":
                    raise _Unusual
                log = Log(bn, bh, tx, ti, li, address, topics, fromhex(text[2:]))
            except (_Unusual, KeyError, TypeError, ValueError, AttributeError, IndexError):
                slow = _log(obj, i)  # raises Malformed with the reason, or agrees
                bn_text = bh_text = tx_text = ti_text = _NOTHING
                if slow is None:
                    continue  # removed by a reorg
                log = slow
                bn, bh, li, address, topics = (
                    log.block_number,
                    log.block_hash,
                    log.log_index,
                    log.address,
                    log.topics,
                )
                new_block = True
            append(log)
            if bn > prev_bn or (bn == prev_bn and li > prev_li):
                prev_bn, prev_li = bn, li
            else:
                ordered = False
            if problem is not None:
                continue
            if not lo <= bn <= hi:
                problem = f"a log of block {bn}, outside the requested {lo}..{hi}"
            elif address not in wanted:
                problem = f"a log of 0x{address.hex()}, which was not asked for"
            elif topic_set is not None and (not topics or topics[0] not in topic_set):
                problem = "a log whose topic0 was not asked for"
            elif new_block and hashes.setdefault(bn, bh) != bh:
                problem = f"logs of two different blocks numbered {bn}"
        if problem is not None:
            raise Inconsistent(f"eth_getLogs returned {problem} (the node is mid-reorg or faulty)")
        if not ordered:
            out.sort(key=_position)
            for a, b in zip(out, out[1:], strict=False):
                if (a.block_number, a.log_index) == (b.block_number, b.log_index):
                    raise Inconsistent(
                        f"eth_getLogs returned log {a.log_index} of block {a.block_number} twice"
                    )
        return out

    # -- one call --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        params: list[Any],
        parse_result: Callable[[Any], T],
        *,
        timeout_raises: bool = False,
    ) -> T:
        request_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}

        def parse(body: Any) -> T:
            if not isinstance(body, dict):
                raise Malformed(f"answer is {type(body).__name__}, expected a JSON-RPC object")
            if body.get("id") != request_id:
                raise Malformed(f"answer id {body.get('id')!r} is not the request id {request_id}")
            return parse_result(self._result(body, method))

        return self._transport.post("", payload, parse, what=method, timeout_raises=timeout_raises)

    def _result(self, envelope: dict[str, Any], method: str) -> Any:
        error = envelope.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            text = str(error.get("message", error) if isinstance(error, dict) else error)
            kind = RangeRefused if _RANGE_REFUSALS.search(text) else RpcError
            raise kind(
                f"{method} at {self._transport.safe_url} returned error {code}: {text[:300]}",
                code,
                text,
            )
        if "result" not in envelope:
            raise Malformed("JSON-RPC answer has neither result nor error")
        return envelope["result"]


class _BatchesUnsupported(Exception):
    """The node answered a batch with one error object: send requests one by one."""


class _Stale(Exception):
    """A block's receipts carry another hash than its header: the chain moved."""


class _Unusual(Exception):
    """A log entry off the usual shape: parsed again by :func:`_log`, which says what is wrong."""


# How many distinct address and topic texts are kept converted (each cache is emptied when
# full): ~200 bytes an entry.
_HEX_CACHE = 16384


def _fixed_hex(text: Any, size: int) -> bytes:
    """``0x`` hex of ``size`` bytes (an address, a topic) as bytes; :class:`_Unusual` else."""
    if text[:2] != "0x" or len(value := bytes.fromhex(text[2:])) != size:
        raise _Unusual
    return value


_NOTHING: Any = object()  # a text no answer holds
_block_number = operator.attrgetter("block_number")
_address = operator.attrgetter("address")
_topics = operator.attrgetter("topics")
_position = operator.attrgetter("block_number", "log_index")


# How many recent headers' blooms are kept to check logs against (the indexer asks for logs
# of the blocks whose headers it fetched just before).
_KEPT_BLOOMS = 4096


def _in_bloom(bloom: int, item: bytes) -> bool:
    """Whether ``item`` (an address or topic) may be in a 2048-bit Ethereum logs bloom (as a
    big-endian int)."""
    mask = _bloom_mask(item)
    return bloom & mask == mask


@lru_cache(maxsize=16384)
def _bloom_mask(item: bytes) -> int:
    """The three bloom bits of an item as an int (the bloom read big-endian): a keccak each, so
    cached, since logs repeat their addresses and topics (it was 40% of the time indexing over
    the wire)."""
    digest = keccak(item)
    mask = 0
    for i in (0, 2, 4):
        mask |= 1 << (int.from_bytes(digest[i : i + 2], "big") & 2047)
    return mask


def _number_or_none(result: Any) -> int | None:
    if result is None:
        return None
    return hex_int(json_field(result, "number", "block"), "block number")


def _header(result: Any, number: int) -> tuple[Header, int | None]:
    """A block's header and its ``logsBloom`` as a big-endian int (None when the node leaves it
    out)."""
    if result is None:
        # A replica behind the one that gave the head: asking again usually reaches another.
        raise Inconsistent(
            f"the node has no block {number} (yet): it is behind, or its head moved back"
        )
    got = hex_int(json_field(result, "number", "block"), "block number")
    if got != number:
        raise Malformed(f"asked for block {number}, got block {got}")
    bloom = result.get("logsBloom")
    header = Header(
        number=got,
        hash=hex_bytes(json_field(result, "hash", "block"), "block hash", 32),
        parent_hash=hex_bytes(json_field(result, "parentHash", "block"), "parentHash", 32),
        timestamp=hex_int(json_field(result, "timestamp", "block"), "timestamp"),
    )
    if bloom is None:
        return header, None
    raw = int.from_bytes(hex_bytes(bloom, "logsBloom", 256), "big")
    # java-tron's /jsonrpc answers 256 zero bytes: it computes no bloom. An empty block's bloom
    # is zero too, and holds nothing to check, so zero always means "no bloom".
    return header, raw or None


def _log(obj: Any, i: int) -> Log | None:
    """One ``eth_getLogs`` entry; ``None`` for a log the node marks as removed by a reorg."""
    what = f"log #{i}"
    if not isinstance(obj, dict):
        raise Malformed(f"{what} is {type(obj).__name__}, expected an object")
    removed = obj.get("removed", False)
    if removed is True:
        return None
    if removed is not False:
        raise Malformed(f"{what} 'removed' is {removed!r}, expected a boolean")
    topics = json_field(obj, "topics", what)
    if not isinstance(topics, list) or len(topics) > 4:
        raise Malformed(f"{what} topics is not a list of at most 4")
    return Log(
        block_number=hex_int(json_field(obj, "blockNumber", what), f"{what} blockNumber"),
        block_hash=hex_bytes(json_field(obj, "blockHash", what), f"{what} blockHash", 32),
        tx_hash=hex_bytes(json_field(obj, "transactionHash", what), f"{what} transactionHash", 32),
        tx_index=hex_int(json_field(obj, "transactionIndex", what), f"{what} transactionIndex"),
        log_index=hex_int(json_field(obj, "logIndex", what), f"{what} logIndex"),
        address=hex_bytes(json_field(obj, "address", what), f"{what} address", 20),
        topics=tuple(hex_bytes(t, f"{what} topic", 32) for t in topics),
        data=hex_bytes(json_field(obj, "data", what), f"{what} data"),
    )

