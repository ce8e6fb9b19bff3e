"""A bounded memo of a one-argument function, for the hot paths (address text, hex values).

Used as ``cache[key]``: a hit is one dict lookup in C (``dict.__getitem__``, no Python frame),
and only a miss runs Python (:meth:`BoundedCache.__missing__`). ``functools.lru_cache`` costs
a call frame and its bookkeeping on every hit, which showed at millions of lookups a run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(dict[K, V], Generic[K, V]):
    """``fn`` of each key, kept; a miss that finds ``size`` entries empties the cache first,
    so memory stays flat however many keys pass. What ``fn`` raises is raised and not kept.

    A key is what the caller passed (hashable, or the lookup raises TypeError): a memoryview
    of some bytes finds the entry of those bytes.
    """

    __slots__ = ("_fn", "size")

    def __init__(self, fn: Callable[[K], V], size: int) -> None:
        super().__init__()
        self._fn, self.size = fn, size

    def __missing__(self, key: K) -> V:
        value = self._fn(key)
        if len(self) >= self.size:
            self.clear()
        self[key] = value
        return value
