"""Cached answers found by their URL, before routing: the cached read's fast path.

Routing, parameter validation and dependencies cost several times what finding a cached
answer does (a FastAPI app of many routes matches them one by one). A read whose answer
depends on its URL alone (``Service.cached(..., by_url=True)``: no clock, no caller) is
remembered here as URL -> (its route's cache key, the tables it reads) once it answered 200;
the next request of the same URL, from a client sending neither a token nor a cookie, looks
the answer up under the tables' current versions (:mod:`.cache`) before any routing. A miss
goes on to the route as before, so the answer is still never staler than the database: the
versions are the same check, only the way to the key is shorter.
"""

from __future__ import annotations

from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Answer", "ByUrl", "Served", "served"]

ITEMS = 16_384


@dataclass(frozen=True, slots=True)
class Answer:
    route: str  # the route's template, for metrics and the access log
    key: str  # the route's own cache key
    tables: frozenset[str]
    missing: tuple[str, str | None] | None = None  # the 404 a null answer stands for


Served = tuple[str, frozenset[str], tuple[str, str | None] | None]


#: What the current request's cached read answered (set by the route, read by the guard).
served: ContextVar[list[Served] | None] = ContextVar(
    "dcmx_served_by_url", default=None)


class ByUrl:
    """An LRU of URL -> :class:`Answer`."""

    def __init__(self, items: int = ITEMS) -> None:
        self._known: OrderedDict[bytes, Answer] = OrderedDict()
        self._max = items

    def get(self, url: bytes) -> Answer | None:
        return self._known.get(url)

    def remember(self, url: bytes, answer: Answer) -> None:
        self._known[url] = answer
        self._known.move_to_end(url)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
