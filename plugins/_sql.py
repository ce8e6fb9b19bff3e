"""What the DCMX plugins share besides the core's row layer (:mod:`dcmx_core.store.rows`)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from dcmx_core.addresses import to_evm, to_tron

__all__ = ["ZERO_ADDRESSES", "day"]


@lru_cache(maxsize=4096)
def day(timestamp: int) -> str:
    """The UTC calendar day of a block timestamp, as YYYY-MM-DD."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


# The zero address as each chain profile renders it: mints come from it, burns go to it.
ZERO_ADDRESSES = frozenset({to_tron(bytes(20)), to_evm(bytes(20))})
