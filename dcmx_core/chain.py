"""What every chain source returns, and the protocol it implements.

Data flows one way: a :class:`Source` yields :class:`Header` and :class:`Log` values, the
indexer decodes logs with generated code and hands batches to plugins. Hashes are 32 raw bytes,
addresses 20 raw bytes; rendering for humans happens at the edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from .errors import InconsistentAnswer

# Above any height a chain reaches (a block every 250 ms for 7,900 years) and within the
# databases' 64-bit integers: a block number past it is a typo, or a node answering nonsense.
MAX_BLOCK = 10**12

# The columns every raw event table starts with: a log's place on the chain (the generated
# tables are made with them, and the indexer writes them from the Log and its Header).
CHAIN_COLUMNS = (
    "block_number",
    "block_hash",
    "block_timestamp",
    "tx_hash",
    "tx_index",
    "log_index",
    "contract_address",
)


@dataclass(frozen=True, slots=True)
class Header:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int  # unix seconds (TRON's milliseconds are divided by 1000 by its source)


class Log(NamedTuple):
    # A named tuple, not a frozen dataclass like Header: one is made per log on the hot path,
    # and a frozen dataclass's __init__ sets each field with object.__setattr__ (8 fields:
    # 2.5 us, against 0.4 us for the tuple).

    block_number: int
    block_hash: bytes
    tx_hash: bytes
    tx_index: int
    log_index: int  # position in the block, over all its transactions
    address: bytes  # 20 bytes, the emitting contract
    topics: tuple[bytes, ...]
    data: bytes


@runtime_checkable
class Source(Protocol):
    """A chain node, or anything that answers like one.

    Ranges are inclusive on both ends. ``logs`` returns logs sorted by (block number, log index)
    and filtered to ``addresses`` (and to ``topics0`` unless it is None). Implementations raise
    :class:`~dcmx_core.errors.SourceError` when the node fails for good or answers inconsistently;
    transient failures are retried inside the source.

    Optional attribute: ``in_process = True`` for a source whose answers are computed in this
    process (a file, an in-process chain) rather than waited for from a node; the indexer then
    fetches ahead while a batch commits instead of while it is written
    (``Indexer._prefetch_next``).

    Optional method: ``opener()``, a picklable callable without arguments that opens an
    equivalent source in another process. With it, a long backfill fetches and decodes in a
    worker process while the main one writes (:class:`dcmx_core.prefetch.Worker`).
    """

    def head(self) -> int: ...

    def finalized(self) -> int: ...

    def headers(self, start: int, end: int) -> list[Header]: ...

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]: ...

    def close(self) -> None: ...


def check_range(start: int, end: int) -> None:
    """Refuse a block range with a negative bound (a caller's mistake, not a node's)."""
    if start < 0 or end < 0:
        raise ValueError(f"block range {start}..{end} has a negative bound")


def check_headers(headers: list[Header], start: int, end: int) -> None:
    """Raise :class:`~dcmx_core.errors.InconsistentAnswer` unless ``headers`` are the blocks
    ``start``..``end``, each linking to the one before it."""
    if [h.number for h in headers] != list(range(start, end + 1)):
        raise InconsistentAnswer(f"asked for headers {start}..{end}, got {len(headers)} others")
    for prev, h in zip(headers, headers[1:], strict=False):
        if h.parent_hash != prev.hash:
            raise InconsistentAnswer(f"block {h.number} does not link to block {prev.number}")
