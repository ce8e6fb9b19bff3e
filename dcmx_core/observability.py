"""Logs, metrics, health and progress for a running indexer.

Logs: the ``dcmx.*`` loggers carry structured fields in ``extra`` (block range, event counts,
durations). :func:`setup_logging` renders them for humans (the default) or as JSON lines, one
object per record with every extra field. Anything that looks like a secret (the password of a
URL, a registered key) is redacted from messages and fields before a record is written.

Metrics: :class:`Metrics` owns a private ``CollectorRegistry`` and is fed from the indexer's
``on_batch``/``on_fork`` callbacks and its ``head``/``safe``/``last_step_at`` attributes.
:func:`serve` starts a small HTTP server in a daemon thread with ``/metrics`` (Prometheus text
format), ``/health`` (200 while the loop keeps stepping) and ``/ready`` (200 when caught up
within ``ready_lag`` blocks).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .indexer import BatchReport, ForkReport
from .redaction import redact

# -- logging ----------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed in ``extra``."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in extra_fields(record).items():
            out.setdefault(key, _clean(value))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS level  logger: message`` with secrets redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _Handler(logging.StreamHandler):
    """Writes to stderr (looked up per record, so test runners that swap it see the output),
    clearing a progress line first when one is showing."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed or sys.stderr
        if Progress.active is not None:
            Progress.active.clear()
        super().emit(record)


def setup_logging(fmt: str = "human", level: str = "info", stream: IO[str] | None = None) -> None:
    """Route the ``dcmx`` loggers to stderr (or ``stream``) in the chosen format."""
    logger = logging.getLogger("dcmx")
    for h in list(logger.handlers):
        if isinstance(h, _Handler):
            logger.removeHandler(h)
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


# -- progress -------------------------------------------------------------------------------


class Progress:
    """Catch-up progress: blocks/s, events/s and ETA.

    On a terminal one line is redrawn in place; otherwise a log line is written every
    ``interval`` seconds (through ``dcmx.progress``, so it is JSON when logs are).
    """

    active: Progress | None = None

    def __init__(self, stream: IO[str] | None = None, *, tty: bool | None = None,
                 interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.started = time.monotonic()
        self.blocks = 0
        self.events = 0
        self.first: int | None = None
        self.cursor: int | None = None
        self.head: int | None = None
        self._last_print = 0.0
        self._shown = False
        self._log = logging.getLogger("dcmx.progress")

    def __enter__(self) -> Progress:
        if self.tty:
            Progress.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def on_batch(self, report: BatchReport) -> None:
        if self.first is None:
            self.first = report.start
        self.blocks += report.end - report.start + 1
        self.events += report.events
        self.cursor, self.head = report.end, report.head
        now = time.monotonic()
        if self.tty:
            if now - self._last_print >= 0.1 or report.end >= report.head:
                self._draw(now)
        elif now - self._last_print >= self.interval:
            self._last_print = now
            self._log.info(self.line(now), extra=self.fields(now))

    def fields(self, now: float | None = None) -> dict[str, Any]:
        elapsed = max(1e-9, (now or time.monotonic()) - self.started)
        bps, eps = self.blocks / elapsed, self.events / elapsed
        remaining = max(0, (self.head or 0) - (self.cursor or 0))
        eta = remaining / bps if bps > 0 else None
        return {
            "cursor": self.cursor,
            "head": self.head,
            "blocks_per_s": round(bps, 1),
            "events_per_s": round(eps, 1),
            "remaining_blocks": remaining,
            "eta_s": None if eta is None else round(eta, 1),
        }

    def line(self, now: float | None = None) -> str:
        f = self.fields(now)
        eta = "--" if f["eta_s"] is None else _duration(f["eta_s"])
        pct = ""
        if self.head and self.first is not None and self.head > self.first:
            done = ((self.cursor or 0) - self.first + 1) / (self.head - self.first + 1)
            pct = f"{100 * min(1.0, done):5.1f}% "
        return (
            f"{pct}block {f['cursor']}/{f['head']}  {f['blocks_per_s']:,.1f} blocks/s  "
            f"{f['events_per_s']:,.1f} events/s  ETA {eta}"
        )

    def _draw(self, now: float) -> None:
        self._last_print = now
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def finish(self) -> None:
        if self.tty:
            if self.cursor is not None:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
                self._shown = False
            if Progress.active is self:
                Progress.active = None
        elif self.cursor is not None:
            now = time.monotonic()
            self._log.info(self.line(now), extra=self.fields(now))


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# -- metrics --------------------------------------------------------------------------------


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

    def describe(self) -> list:
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

    # -- wiring -------------------------------------------------------------------------------

    def attach(self, indexer: Any) -> None:
        """Watch ``indexer``: chain its callbacks and read its source's stats."""
        self.indexer = indexer
        self.registry.register(_SourceStats(indexer.source))
        batch_cb, fork_cb = indexer.on_batch, indexer.on_fork

        def on_batch(report: BatchReport) -> None:
            self.on_batch(report)
            if batch_cb:
                batch_cb(report)

        def on_fork(report: ForkReport) -> None:
            self.on_fork(report)
            if fork_cb:
                fork_cb(report)

        indexer.on_batch, indexer.on_fork = on_batch, on_fork
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

    def set_cursor(self, cursor: int | None) -> None:
        self._cursor = cursor

    # -- derived values -------------------------------------------------------------------------

    def _head(self) -> int:
        head = getattr(self.indexer, "head", None)
        return -1 if head is None else head

    def _safe(self) -> int:
        return getattr(self.indexer, "safe", -1) if self.indexer is not None else -1

    def lag_blocks(self) -> int | None:
        head = getattr(self.indexer, "head", None)
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

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass  # scrapes every few seconds would drown the indexer's own logs


class MetricsServer:
    """``/metrics``, ``/health`` and ``/ready`` on one port, served from a daemon thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1") -> None:
        from .errors import ConfigError

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


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
