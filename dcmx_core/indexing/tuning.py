"""The loop's knobs: how it trades memory, latency and speed.

The defaults are what the benchmarks in ``bench/`` measured best on a 2-core machine; every
optimisation can be switched off here, which is how ``bench/ablation.py`` measures what each
one buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..batch import Decoded
from ..errors import ConfigError

__all__ = ["LOG_BYTES", "Tuning", "batch_bytes"]

# The bytes of a log besides its data and topics, as a raw row holds them (block and
# transaction hashes, address, numbers).
LOG_BYTES = 120


def batch_bytes(events: Sequence[Decoded[Any]]) -> int:
    """The bytes of the logs of ``events``, as :attr:`Tuning.target_bytes` counts them."""
    return sum(len(d.log.data) + 32 * len(d.log.topics) for d in events) + LOG_BYTES * len(
        events
    )


@dataclass(frozen=True, slots=True)
class Tuning:
    #: Blocks in the first range below the finalized height; ranges then adapt (doubling
    #: while sparse, so a sparse chain reaches long ranges in a few batches). Small, since
    #: nothing is known of the chain's density yet: 500 blocks of a dense token (290 events a
    #: block) made one batch of 145,000 events and a peak RSS of 305 MB (bench/user.py).
    batch_blocks: int = 50
    #: Ranges never grow past this many blocks.
    max_batch_blocks: int = 20_000
    #: Ranges grow while a batch holds fewer than half this many events and shrink above
    #: twice it (40,000: 5-13% faster than 20,000 on 1M events, bench/RESULTS.md).
    target_events: int = 40_000
    #: ... and the same for the bytes of the batch's logs (data, topics and the per-log
    #: columns, :func:`batch_bytes`): a batch of events with large payloads is held, decoded
    #: and written in fewer of them. What a batch costs in memory scales with both. 16 MiB:
    #: the platform's mix (~250 bytes a log) stays bound by the events, as it was tuned; 8 MiB
    #: held its batches to about half and cost e2e 15% (bench/RESULTS.md, 2026-12-08).
    target_bytes: int = 16 << 20
    #: Tries of a step whose cause may pass (an inconsistent answer, a lost database
    #: connection, a failed node when the source can switch) before giving up.
    retries: int = 5
    #: Fetch and decode the next final range while the current one is written.
    prefetch: bool = True
    #: When that fetch starts: at the commit (True) or before the writes (False). None lets the
    #: loop decide: at the commit for a source that computes in this process on SQLite
    #: (see :mod:`.readahead`).
    prefetch_at_commit: bool | None = None
    #: Fetch worker processes for a long backfill without plugins, each a range ahead.
    worker_processes: int = 2
    #: Ranges of final blocks that must lie ahead for the workers to be worth starting.
    worker_min_ranges: int = 4
    #: Drop secondary indexes and journal triggers while far behind (:mod:`.backfill`).
    backfill: bool = True
    #: Hold the cyclic garbage collector off during a step (see ``indexer._gc_paused``).
    pause_gc: bool = True

    def __post_init__(self) -> None:
        for name in (
            "batch_blocks", "max_batch_blocks", "target_events", "target_bytes",
            "worker_min_ranges",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"Tuning.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("retries", "worker_processes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Tuning.{name} must be >= 0, got {getattr(self, name)}")
