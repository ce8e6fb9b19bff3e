"""An in-memory chain that forks on command: the source for property tests and benchmarks.

Hashes are derived (keccak of parent, number, salt and a fork counter), so the same calls give
the same chain on every run. Logs are kept packed, one ``bytes`` per block, and turned into
:class:`~dcmx_core.chain.Log` values only when asked for: a million Transfer logs take ~150 MB
as packed bytes instead of ~500 MB as objects, and :meth:`MemoryChain.logs` costs what it
returns. Transaction hashes are derived (sha256 of block hash and transaction index), so they
change with a fork like everything else in a replaced block.
"""

from __future__ import annotations

import functools
import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, BinaryIO

from eth_hash.auto import keccak

from ..chain import Header, Log, check_range
from ..errors import SourceError

TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")

# (address, topics, data) or (address, topics, data, tx_index). Without a tx_index every log is
# its own transaction; with one, indexes must not decrease within a block.
LogSpec = tuple[bytes, Sequence[bytes], bytes] | tuple[bytes, Sequence[bytes], bytes, int]

# Per packed log: tx index, address id, topic count, data length; then topics, then data.
_LOG = struct.Struct("<IIBI")
# Per saved block: number, hash, parent hash, timestamp, log count, packed length.
_BLOCK = struct.Struct("<Q32s32sQII")
_MAGIC = b"DCMXMEM1\n"


def transfer_log(token: bytes, sender: bytes, recipient: bytes, value: int) -> LogSpec:
    """An ERC-20/TRC-20 ``Transfer`` log spec, the event benchmarks replay most."""
    return (
        token,
        (TRANSFER_TOPIC, sender.rjust(32, b"\0"), recipient.rjust(32, b"\0")),
        value.to_bytes(32, "big"),
    )


@dataclass(frozen=True, slots=True)
class _Block:
    header: Header
    count: int
    packed: bytes


class MemoryChain:
    """A :class:`~dcmx_core.chain.Source` over blocks held in memory.

    Block 0 is an empty genesis block; :meth:`fork` never replaces it. ``finalized()`` is
    ``head - finality_depth`` (at least 0) unless :meth:`set_finalized` pinned a number.
    """

    in_process = True  # answers are computed here, not waited for (see chain.Source)

    def __init__(
        self,
        *,
        finality_depth: int = 12,
        salt: bytes = b"",
        genesis_time: int = 1_600_000_000,
        block_time: int = 3,
    ) -> None:
        if finality_depth < 0:
            raise ValueError("finality_depth must be >= 0")
        self.finality_depth = finality_depth
        self.salt = salt
        self.genesis_time = genesis_time
        self.block_time = block_time
        self.forks = 0  # part of every hash, so a replaced block never hashes the same
        self._pinned_finalized: int | None = None
        self._addresses: list[bytes] = []
        self._address_ids: dict[bytes, int] = {}
        self._blocks: list[_Block] = []
        self._push(b"\0" * 32, 0, b"")

    # -- Source ----------------------------------------------------------------------------

    def head(self) -> int:
        return len(self._blocks) - 1

    def finalized(self) -> int:
        return _final(self.head(), self._pinned_finalized, self.finality_depth)

    def headers(self, start: int, end: int) -> list[Header]:
        self._check(start, end)
        return [b.header for b in self._blocks[start : end + 1]]

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        self._check(start, end)
        return _matching(self._blocks[start : end + 1], self._addresses, self._address_ids,
                         addresses, topics0)

    def close(self) -> None:
        pass

    # -- building --------------------------------------------------------------------------

    def append_block(
        self, logs_spec: Iterable[LogSpec] = (), *, timestamp: int | None = None
    ) -> Header:
        count, packed = self._pack(logs_spec)
        return self._push(self._blocks[-1].header.hash, count, packed, timestamp)

    def extend(self, n: int, logs_spec: Iterable[LogSpec] = ()) -> list[Header]:
        """Append ``n`` blocks, each with the logs of ``logs_spec`` (none by default)."""
        count, packed = self._pack(logs_spec)
        return [self._push(self._blocks[-1].header.hash, count, packed) for _ in range(n)]

    def fork(
        self,
        depth: int,
        *,
        length: int | None = None,
        logs: Sequence[Iterable[LogSpec]] | None = None,
    ) -> list[Header]:
        """Replace the last ``depth`` blocks by ``length`` (default ``depth``) new ones.

        Without ``logs`` a new block keeps the logs of the block it replaces (and blocks past
        the old head are empty), so only hashes change; with it, ``logs[i]`` is the spec of new
        block ``i``. Forking below :meth:`finalized` is allowed: tests use it for deep forks.
        """
        if not 0 <= depth <= self.head():
            raise ValueError(f"fork depth {depth} is outside 0..{self.head()} (genesis stays)")
        length = depth if length is None else length
        if length < 0 or (logs is not None and len(logs) != length):
            raise ValueError("length must be >= 0 and logs, when given, hold one spec per block")
        old = self._blocks[len(self._blocks) - depth :]
        del self._blocks[len(self._blocks) - depth :]
        self.forks += 1
        new = []
        for i in range(length):
            if logs is not None:
                count, packed = self._pack(logs[i])
            elif i < len(old):
                count, packed = old[i].count, old[i].packed
            else:
                count, packed = 0, b""
            new.append(self._push(self._blocks[-1].header.hash, count, packed))
        return new

    def set_finalized(self, number: int | None) -> None:
        """Pin ``finalized()`` (clamped to the head), or go back to ``head - finality_depth``."""
        self._pinned_finalized = number

    # -- inspection and other views --------------------------------------------------------

    @property
    def log_count(self) -> int:
        return sum(b.count for b in self._blocks)

    def block_logs(self, number: int) -> list[Log]:
        """Every log of one block, unfiltered."""
        self._check(number, number)
        block = self._blocks[number]
        return list(_unpack(block, self._addresses, None, None))

    def copy(self) -> MemoryChain:
        """An independent snapshot: a node that stays on today's branch while this one forks."""
        other = MemoryChain.__new__(MemoryChain)
        other.__dict__.update(self.__dict__)
        other._addresses = list(self._addresses)
        other._address_ids = dict(self._address_ids)
        other._blocks = list(self._blocks)  # blocks are immutable; sharing them is safe
        return other

    def view(self, lag: int = 0) -> LaggingView:
        """This chain as seen by a node ``lag`` blocks behind; change ``view.lag`` at will."""
        return LaggingView(self, lag)

    # -- files -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the chain to one binary file (see :meth:`iter_file` for streaming it back)."""
        meta = {
            "finality_depth": self.finality_depth,
            "salt": self.salt.hex(),
            "genesis_time": self.genesis_time,
            "block_time": self.block_time,
            "forks": self.forks,
            "pinned_finalized": self._pinned_finalized,
            "addresses": len(self._addresses),
            "blocks": len(self._blocks),
        }
        with open(path, "wb") as f:
            meta_bytes = json.dumps(meta).encode()
            f.write(_MAGIC + struct.pack("<I", len(meta_bytes)) + meta_bytes)
            f.write(b"".join(self._addresses))
            for b in self._blocks:
                h = b.header
                f.write(
                    _BLOCK.pack(
                        h.number, h.hash, h.parent_hash, h.timestamp, b.count, len(b.packed)
                    )
                )
                f.write(b.packed)

    @classmethod
    def load(cls, path: str | Path) -> MemoryChain:
        with open(path, "rb") as f:
            meta, addresses = _read_preamble(f, path)
            chain = cls(
                finality_depth=meta["finality_depth"],
                salt=bytes.fromhex(meta["salt"]),
                genesis_time=meta["genesis_time"],
                block_time=meta["block_time"],
            )
            chain.forks = meta["forks"]
            chain._pinned_finalized = meta["pinned_finalized"]
            chain._addresses = addresses
            chain._address_ids = {a: i for i, a in enumerate(addresses)}
            chain._blocks = [
                _Block(header, count, packed) for header, count, packed in _read_blocks(f, path)
            ]
        return chain

    @staticmethod
    def open(path: str | Path) -> FileChain:
        """A read-only source over a saved chain that reads logs from the file when asked.

        Unlike :meth:`load` it keeps only the block headers and file offsets in memory, so
        replaying a chain of any length costs the memory of one range (benchmarks of peak RSS
        replay through this).
        """
        return FileChain(path)

    @staticmethod
    def iter_file(path: str | Path) -> Iterator[tuple[Header, list[Log]]]:
        """Stream a saved chain block by block, holding one block's logs at a time."""
        with open(path, "rb") as f:
            _, addresses = _read_preamble(f, path)
            for header, count, packed in _read_blocks(f, path):
                yield header, list(_unpack(_Block(header, count, packed), addresses, None, None))

    # -- internals -------------------------------------------------------------------------

    def _check(self, start: int, end: int) -> None:
        _within(self.head(), start, end)

    def _push(
        self, parent: bytes, count: int, packed: bytes, timestamp: int | None = None
    ) -> Header:
        number = len(self._blocks)
        digest = keccak(
            parent + number.to_bytes(8, "big") + self.forks.to_bytes(8, "big") + self.salt
        )
        header = Header(
            number=number,
            hash=digest,
            parent_hash=parent,
            timestamp=self.genesis_time + number * self.block_time
            if timestamp is None
            else timestamp,
        )
        self._blocks.append(_Block(header, count, packed))
        return header

    def _pack(self, logs_spec: Iterable[LogSpec]) -> tuple[int, bytes]:
        parts: list[bytes] = []
        last_tx = -1
        count = 0
        for position, spec in enumerate(logs_spec):
            address, topics, data = spec[0], spec[1], spec[2]
            tx_index = spec[3] if len(spec) > 3 else position
            if len(address) != 20 or len(topics) > 4 or any(len(t) != 32 for t in topics):
                raise ValueError("a log needs a 20-byte address and at most 4 topics of 32 bytes")
            if tx_index < last_tx:
                raise ValueError("transaction indexes must not decrease within a block")
            last_tx = tx_index
            address_id = self._address_ids.get(address)
            if address_id is None:
                address_id = self._address_ids[address] = len(self._addresses)
                self._addresses.append(bytes(address))
            parts.append(_LOG.pack(tx_index, address_id, len(topics), len(data)))
            parts.extend(topics)
            parts.append(data)
            count += 1
        return count, b"".join(parts)


class FileChain:
    """A :class:`~dcmx_core.chain.Source` over a file written by :meth:`MemoryChain.save`.

    Headers and the offset of each block's packed logs are read once; ``logs`` reads the
    (contiguous) bytes of the range asked for with one ``pread`` and unpacks them.
    """

    in_process = True  # answers are computed here, not waited for (see chain.Source)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb")  # closed by close()
        meta, self._addresses = _read_preamble(self._file, path)
        self._address_ids = {a: i for i, a in enumerate(self._addresses)}
        self._finality_depth = meta["finality_depth"]
        self._pinned = meta["pinned_finalized"]
        self._headers: list[Header] = []
        self._counts: list[int] = []
        self._offsets: list[int] = []  # where each block's packed logs start
        self._lengths: list[int] = []
        f = self._file
        while head := f.read(_BLOCK.size):
            if len(head) != _BLOCK.size:
                raise SourceError(f"{path} is truncated (block header); re-create it")
            number, block_hash, parent, timestamp, count, length = _BLOCK.unpack(head)
            self._headers.append(Header(number, block_hash, parent, timestamp))
            self._counts.append(count)
            self._offsets.append(f.tell())
            self._lengths.append(length)
            f.seek(length, 1)

    def opener(self) -> Callable[[], FileChain]:
        """Opens this file again in another process (see :class:`~dcmx_core.chain.Source`)."""
        return functools.partial(FileChain, self.path)

    @property
    def log_count(self) -> int:
        return sum(self._counts)

    def head(self) -> int:
        return len(self._headers) - 1

    def finalized(self) -> int:
        return _final(self.head(), self._pinned, self._finality_depth)

    def headers(self, start: int, end: int) -> list[Header]:
        self._check(start, end)
        return self._headers[start : end + 1]

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        self._check(start, end)
        return _matching(self._blocks(start, end), self._addresses, self._address_ids,
                         addresses, topics0)

    def _blocks(self, start: int, end: int) -> Iterator[_Block]:
        """The blocks ``start``..``end``, their packed logs read with one ``pread``."""
        first = self._offsets[start]
        raw = os.pread(self._file.fileno(), self._offsets[end] + self._lengths[end] - first, first)
        view = memoryview(raw)
        for n in range(start, end + 1):
            at = self._offsets[n] - first
            yield _Block(self._headers[n], self._counts[n], bytes(view[at : at + self._lengths[n]]))

    def close(self) -> None:
        self._file.close()

    def _check(self, start: int, end: int) -> None:
        _within(self.head(), start, end)


class LaggingView:
    """A :class:`~dcmx_core.chain.Source` over a :class:`MemoryChain`, ``lag`` blocks behind.

    Lowering the head by raising ``lag`` is how tests make a node's head go backwards (a load
    balancer switching to a slower node). Asking beyond the view's head fails like a node would.
    """

    in_process = True  # answers are computed here, not waited for (see chain.Source)

    def __init__(self, chain: MemoryChain, lag: int = 0) -> None:
        self.chain = chain
        self.lag = lag

    def head(self) -> int:
        return max(0, self.chain.head() - self.lag)

    def finalized(self) -> int:
        return min(self.chain.finalized(), self.head())

    def headers(self, start: int, end: int) -> list[Header]:
        self._check(end)
        return self.chain.headers(start, end)

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        self._check(end)
        return self.chain.logs(start, end, addresses, topics0)

    def close(self) -> None:
        pass

    def _check(self, end: int) -> None:
        if end > self.head():
            raise SourceError(f"block {end} is beyond the head {self.head()} of this node")


def _within(head: int, start: int, end: int) -> None:
    check_range(start, end)
    if end > head:
        raise SourceError(f"block {end} is beyond the head {head} of this chain")


def _final(head: int, pinned: int | None, depth: int) -> int:
    return min(pinned, head) if pinned is not None else max(0, head - depth)


def _matching(
    blocks: Iterable[_Block],
    known: list[bytes],
    known_ids: dict[bytes, int],
    addresses: Sequence[bytes],
    topics0: Sequence[bytes] | None,
) -> list[Log]:
    """The logs of ``blocks`` emitted by ``addresses`` (with topic0 in ``topics0`` unless it
    is None), from their packed form; ``known`` and ``known_ids``: the chain's address table."""
    ids = {known_ids[a] for a in addresses if a in known_ids}
    if not ids:
        return []  # before the blocks are read at all
    topic_set = None if topics0 is None else frozenset(topics0)
    out: list[Log] = []
    for block in blocks:
        if block.count:
            out.extend(_unpack(block, known, ids, topic_set))
    return out


def _unpack(
    block: _Block,
    addresses: list[bytes],
    ids: set[int] | None,
    topic_set: frozenset[bytes] | None,
) -> Iterator[Log]:
    number, block_hash = block.header.number, block.header.hash
    packed = block.packed
    unpack_from = _LOG.unpack_from
    size = _LOG.size
    new_tuple = tuple.__new__
    pos = 0
    tx_hashes: dict[int, bytes] = {}
    for log_index in range(block.count):
        tx_index, address_id, n_topics, data_len = unpack_from(packed, pos)
        topics_at = pos + size
        data_at = topics_at + 32 * n_topics
        pos = data_at + data_len
        if ids is not None and address_id not in ids:
            continue
        if topic_set is not None and (
            not n_topics or packed[topics_at : topics_at + 32] not in topic_set
        ):
            continue
        tx_hash = tx_hashes.get(tx_index)
        if tx_hash is None:
            # sha256, not keccak: this runs per transaction on the benchmarks' hot path, and
            # pycryptodome's keccak costs several times as much from Python.
            tx_hash = sha256(block_hash + tx_index.to_bytes(4, "big")).digest()
            tx_hashes[tx_index] = tx_hash
        topics: tuple[bytes, ...]
        if n_topics == 3:  # the common case (Transfer, Approval), sliced without a generator
            topics = (
                packed[topics_at : topics_at + 32],
                packed[topics_at + 32 : topics_at + 64],
                packed[topics_at + 64 : data_at],
            )
        else:
            topics = tuple(packed[t : t + 32] for t in range(topics_at, data_at, 32))
        # Log's own __new__ is a Python function: calling tuple's directly halves the cost.
        yield new_tuple(
            Log,
            (
                number,
                block_hash,
                tx_hash,
                tx_index,
                log_index,
                addresses[address_id],
                topics,
                packed[data_at:pos],
            ),
        )


def _read_preamble(f: BinaryIO, path: str | Path) -> tuple[dict[str, Any], list[bytes]]:
    if f.read(len(_MAGIC)) != _MAGIC:
        raise SourceError(f"{path} is not a saved MemoryChain (bad magic); re-create it")
    (meta_len,) = struct.unpack("<I", f.read(4))
    meta = json.loads(f.read(meta_len))
    raw = f.read(20 * meta["addresses"])
    if len(raw) != 20 * meta["addresses"]:
        raise SourceError(f"{path} is truncated (address table); re-create it")
    return meta, [raw[i : i + 20] for i in range(0, len(raw), 20)]


def _read_blocks(f: BinaryIO, path: str | Path) -> Iterator[tuple[Header, int, bytes]]:
    while head := f.read(_BLOCK.size):
        if len(head) != _BLOCK.size:
            raise SourceError(f"{path} is truncated (block header); re-create it")
        number, block_hash, parent, timestamp, count, length = _BLOCK.unpack(head)
        packed = f.read(length)
        if len(packed) != length:
            raise SourceError(f"{path} is truncated (block {number}); re-create it")
        yield Header(number, block_hash, parent, timestamp), count, packed
