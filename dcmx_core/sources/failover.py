"""Several nodes behind one source: the platform's redundancy.

One node answers at a time. Every indexing step starts with ``head()``, and only there does the
source choose its node, so the answers that one step checks against each other (head, headers,
logs) always come from the same node. When a node fails in the middle of a step the source moves
to the next one and re-raises; the indexer then runs the whole step again on the new node.

A node is also left when it lags: every ``probe_every`` seconds ``head()`` asks every node for
its head and moves off the current one if it is more than ``max_lag`` blocks behind the best.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TypeVar

from ..chain import Header, Log, Source
from ..errors import ConfigError, SourceError

T = TypeVar("T")

log = logging.getLogger("dcmx.source")


class FailoverSource:
    """A :class:`~dcmx_core.chain.Source` over several nodes of the same chain."""

    # Tells the indexer that a failed step may succeed on another node.
    can_switch = True

    def __init__(self, nodes: Sequence[Source], *, max_lag: int = 5, probe_every: float = 30.0):
        if not nodes:
            raise ConfigError("a failover source needs at least one node")
        self.nodes = list(nodes)
        self.max_lag = max_lag
        self.probe_every = probe_every
        self.current = 0
        self.switches = 0  # times it moved to another node (a metric)
        self._probed_at = float("-inf")

    def head(self) -> int:
        if time.monotonic() - self._probed_at >= self.probe_every:
            self._probe()
        failures = []
        for _ in range(len(self.nodes)):
            try:
                return self.nodes[self.current].head()
            except SourceError as exc:
                failures.append(f"node {self.current}: {exc}")
                self._move(f"it failed: {exc}")
        raise SourceError(f"every node failed: {'; '.join(failures)}")

    def finalized(self) -> int:
        return self._call(lambda node: node.finalized())

    def headers(self, start: int, end: int) -> list[Header]:
        return self._call(lambda node: node.headers(start, end))

    def logs(
        self,
        start: int,
        end: int,
        addresses: Sequence[bytes],
        topics0: Sequence[bytes] | None = None,
    ) -> list[Log]:
        return self._call(lambda node: node.logs(start, end, addresses, topics0))

    def __repr__(self) -> str:
        return f"FailoverSource({', '.join(repr(n) for n in self.nodes)})"

    @property
    def stats(self) -> SimpleNamespace:
        """The nodes' request counters, summed (what metrics show of the source)."""
        names = ("requests", "retries", "timeouts")
        stats = [getattr(n, "stats", None) for n in self.nodes]
        times = [t for t in (getattr(s, "last_request_at", None) for s in stats) if t is not None]
        return SimpleNamespace(
            **{name: sum(getattr(s, name, 0) or 0 for s in stats) for name in names},
            last_request_at=max(times) if times else None,
        )

    def bind_stop(self, stop: threading.Event) -> None:
        """End every node's retry back-offs when ``stop`` is set."""
        for node in self.nodes:
            bind = getattr(node, "bind_stop", None)
            if bind is not None:
                bind(stop)

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def _call(self, ask: Callable[[Source], T]) -> T:
        try:
            return ask(self.nodes[self.current])
        except SourceError as exc:
            self._move(f"it failed: {exc}")
            raise

    def _probe(self) -> None:
        self._probed_at = time.monotonic()
        heads: dict[int, int] = {}
        for i, node in enumerate(self.nodes):
            try:
                heads[i] = node.head()
            except SourceError:
                continue
        if not heads:
            return
        best = max(heads.values())
        if heads.get(self.current, -1) >= best - self.max_lag:
            return
        lagging = heads.get(self.current)
        self.current = next(i for i, h in heads.items() if h >= best - self.max_lag)
        self.switches += 1
        log.warning(
            "node lags (head %s, best %d): moved to node %d", lagging, best, self.current,
            extra={"node": self.current, "best_head": best},
        )

    def _move(self, why: str) -> None:
        old = self.current
        self.current = (self.current + 1) % len(self.nodes)
        self.switches += 1
        log.warning("left node %d because %s; now on node %d", old, why, self.current,
                    extra={"node": self.current})
