"""What the loop tells its listeners: a committed batch, a fork rolled back."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BatchReport", "ForkReport"]


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one committed step did; passed to ``on_batch`` listeners."""

    start: int
    end: int
    events: int
    finalized: bool
    seconds: float
    head: int
    safe: int  # the height below which nothing is journaled any more


@dataclass(frozen=True, slots=True)
class ForkReport:
    """A fork the loop rolled back; passed to ``on_fork`` listeners."""

    detected_at: int
    common_ancestor: int
    depth: int
    undone_writes: int
