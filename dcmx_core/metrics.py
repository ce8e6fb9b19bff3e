"""Prometheus metrics, health and readiness of a running indexer.

:class:`Metrics` owns a private ``CollectorRegistry`` and is fed by the indexer's listeners and
its ``head``/``safe``/``last_step_at`` attributes. :func:`serve` starts a small HTTP server in
a daemon thread with ``/metrics`` (Prometheus text format), ``/health`` (200 while the loop
keeps stepping) and ``/ready`` (200 when caught up within ``ready_lag`` blocks).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .dbstats import QUERY_BUCKETS, DatabaseCollector, time_queries
from .errors import ConfigError
from .figures import FiguresCollector
from .transports import tally

if TYPE_CHECKING:
    from .indexing.reports import BatchReport, ForkReport

__all__ = ["Metrics", "MetricsServer", "serve"]


class _SourceStats:
    """Exposes a source's ``.stats`` (requests, retries, timeouts) as counters at scrape time."""

    def __init__(self, source: object) -> None:
        self.source = source

    def collect(self) -> Iterable[CounterMetricFamily]:
        stats = getattr(self.source, "stats", None)
        for name, doc in (
            ("requests", "requests sent to the chain node"),
            ("retries", "requests retried after a transient failure"),
            ("timeouts", "requests that timed out"),
        ):
            family = CounterMetricFamily(f"dcmx_source_{name}", doc)
            family.add_metric([], float(getattr(stats, name, 0) or 0))
            yield family
        family = CounterMetricFamily(
            "dcmx_source_switches", "times a failover source moved to another node"
        )
        family.add_metric([], float(getattr(self.source, "switches", 0) or 0))
        yield family

    def describe(self) -> list[CounterMetricFamily]:
        return []


class Metrics:
    """The indexer's Prometheus metrics in their own registry."""

    def __init__(self, *, poll_interval: float = 3.0, ready_lag: int = 3) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.poll_interval = poll_interval
        self.ready_lag = ready_lag
        self.started = time.monotonic()
        self.indexer: Any = None
        self.alive = True
        self._cursor: int | None = None
        self.events = Counter("dcmx_events_indexed", "decoded events indexed", registry=r)
        self.blocks = Counter("dcmx_blocks_indexed", "blocks indexed", registry=r)
        self.batch_seconds = Histogram(
            "dcmx_batch_seconds",
            "time to fetch, decode and commit one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.forks = Counter("dcmx_forks", "chain forks rolled back", registry=r)
        self.rollback_depth = Histogram(
            "dcmx_rollback_depth_blocks",
            "blocks undone per fork",
            buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233),
            registry=r,
        )
        self.undone_writes = Counter(
            "dcmx_rollback_undone_writes", "journaled writes undone by forks", registry=r
        )
        self.cursor = Gauge("dcmx_cursor_block", "last indexed block", registry=r)
        self.head = Gauge("dcmx_head_block", "the node's head block", registry=r)
        self.finalized = Gauge("dcmx_finalized_block", "height counted as final", registry=r)
        self.lag = Gauge("dcmx_lag_blocks", "head minus cursor", registry=r)
        self.finalized_lag = Gauge(
            "dcmx_finalized_lag_blocks", "finalized height minus cursor (0 when past it)",
            registry=r,
        )
        self.last_step_age = Gauge(
            "dcmx_last_step_age_seconds", "seconds since the loop last completed a step",
            registry=r,
        )
        self.cursor.set_function(lambda: float(self._cursor if self._cursor is not None else -1))
        self.head.set_function(lambda: float(self._head()))
        self.finalized.set_function(lambda: float(self._safe()))
        self.lag.set_function(lambda: float(self.lag_blocks() or 0))
        self.finalized_lag.set_function(
            lambda: float(max(0, self._safe() - (self._cursor if self._cursor is not None else -1)))
        )
        self.last_step_age.set_function(self.step_age)
        self.query_seconds = Histogram(
            "dcmx_db_query_seconds", "time of one database statement (row writes are timed "
            "as batches)", buckets=QUERY_BUCKETS, registry=r,
        )
        self._reader: Any = None

    # -- wiring -------------------------------------------------------------------------------

    def attach(self, indexer: Any) -> None:
        """Watch ``indexer``: listen to its batches and forks, read its source's stats."""
        self.indexer = indexer
        self.registry.register(_SourceStats(indexer.source))
        time_queries(indexer.engine, self.query_seconds)
        self.registry.register(DatabaseCollector(indexer.engine))
        self.registry.register(FiguresCollector(indexer.plugins, self._read))
        for collector in tally.COLLECTORS:
            self.registry.register(collector)
        indexer.subscribe(on_batch=self.on_batch, on_fork=self.on_fork)
        try:
            self._cursor = indexer.cursor()
        except Exception:  # noqa: BLE001 - a store error surfaces in the loop itself
            self._cursor = None

    def on_batch(self, report: BatchReport) -> None:
        self.events.inc(report.events)
        self.blocks.inc(report.end - report.start + 1)
        self.batch_seconds.observe(report.seconds)
        self._cursor = report.end

    def on_fork(self, report: ForkReport) -> None:
        self.forks.inc()
        self.rollback_depth.observe(report.depth)
        self.undone_writes.inc(report.undone_writes)
        self._cursor = report.common_ancestor

    def _read(self, fn: Any) -> Any:
        """``fn(conn)`` on a read-only connection of its own: a scrape never takes the
        indexer's write lock (on SQLite a transaction of the indexer's engine would)."""
        if self._reader is None:
            from .service.db import ReadDB
            from .store.engine import Pool

            self._reader = ReadDB(str(self.indexer.engine.url.render_as_string(False)),
                                  Pool(size=1, max_overflow=1, timeout=5.0, recycle=-1))
        return self._reader.read(fn)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.dispose()
            self._reader = None

    def set_cursor(self, cursor: int | None) -> None:
        self._cursor = cursor

    # -- derived values -------------------------------------------------------------------------

    def _head(self) -> int:
        head = getattr(self.indexer, "head", None)
        return -1 if head is None else head

    def _safe(self) -> int:
        return getattr(self.indexer, "safe", -1) if self.indexer is not None else -1

    def lag_blocks(self) -> int | None:
        head: int | None = getattr(self.indexer, "head", None)
        if head is None or self._cursor is None:
            return None
        return max(0, head - self._cursor)

    def step_age(self) -> float:
        last = getattr(self.indexer, "last_step_at", None)
        return time.monotonic() - (last if last is not None else self.started)

    def healthy(self) -> tuple[bool, dict[str, Any]]:
        limit = max(3 * self.poll_interval, 30.0)
        age = self.step_age()
        ok = self.alive and age <= limit
        return ok, {"alive": self.alive, "last_step_age_s": round(age, 3), "limit_s": limit}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        lag = self.lag_blocks()
        ok = self.alive and lag is not None and lag <= self.ready_lag
        return ok, {"lag_blocks": lag, "ready_lag": self.ready_lag, "cursor": self._cursor,
                    "head": getattr(self.indexer, "head", None)}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics: Metrics


class _MetricsHandler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # http.server's naming
        m = self.server.metrics
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, m.exposition(), CONTENT_TYPE_LATEST)
        elif path in ("/health", "/healthz"):
            self._json(*m.healthy())
        elif path in ("/ready", "/readyz"):
            self._json(*m.ready())
        else:
            self._send(404, b"not found: try /metrics, /health or /ready\n", "text/plain")

    def _json(self, ok: bool, body: dict[str, Any]) -> None:
        body = {"status": "ok" if ok else "unavailable", **body}
        self._send(200 if ok else 503, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # base signature
        pass  # scrapes every few seconds would drown the indexer's own logs


class MetricsServer:
    """``/metrics``, ``/health`` and ``/ready`` on one port, served from a daemon thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1") -> None:
        try:
            self.httpd = _Server((host, port), _MetricsHandler)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; choose another "
                "--metrics-port"
            ) from None
        self.httpd.metrics = metrics
        self.port = self.httpd.server_address[1]
        self.host = host
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="dcmx-metrics", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(metrics: Metrics, port: int, host: str = "127.0.0.1") -> MetricsServer:
    return MetricsServer(metrics, port, host)
