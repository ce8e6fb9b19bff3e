"""The service's Prometheus metrics and its access log.

Metrics: request latency by route (the route's template, never the raw path), answers by
status, errors (5xx), rate-limited requests by scope, cache hits and misses; the database's
statement latency, pool use and size; the plugins' business figures (``dcmx_metrics``) and
the transactions this process sent (:mod:`dcmx_core.transports.tally`). With several
workers ``dcmx serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a folder of its own, and
``/metrics`` adds up every worker's values.

Access log: one record per request on the ``dcmx.access`` logger (method, route, status,
milliseconds, client address, signed-in wallet), formatted by :mod:`dcmx_core.logs`; the
raw path goes only into a field, ``repr``-escaped and cut short; no header, token or body.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..dbstats import QUERY_BUCKETS, DatabaseCollector, time_queries
from ..figures import FiguresCollector
from ..transports import tally

if TYPE_CHECKING:
    from .db import ReadDB

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics", "access_log"]

access_log = logging.getLogger("dcmx.access")

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        # Under several workers the values live in files the multiprocess collector gathers;
        # they stay registered where prometheus_client expects them (its default registry).
        r = REGISTRY if self.multiprocess else self.registry
        self.latency = Histogram("dcmx_api_request_seconds", "time to answer, by route",
                                 ["route", "method"], buckets=_BUCKETS, registry=r)
        self.answers = Counter("dcmx_api_responses", "answers by route and status",
                               ["route", "status"], registry=r)
        self.errors = Counter("dcmx_api_errors", "answers with a 5xx status, by route",
                              ["route"], registry=r)
        self.limited = Counter("dcmx_api_rate_limited", "requests refused with 429, by scope",
                               ["scope"], registry=r)
        self.cache = Counter("dcmx_api_cache", "cached reads by result", ["result"], registry=r)
        self.query_seconds = Histogram("dcmx_db_query_seconds", "time of one database "
                                       "statement", buckets=QUERY_BUCKETS, registry=r)
        self._scraped: list[Any] = []  # collectors read at scrape time, in this worker
        if not self.multiprocess:
            for collector in tally.COLLECTORS:  # with workers, in the multiprocess files
                self.registry.register(collector)

    def watch(self, db: ReadDB, plugins: Any) -> None:
        """Add the database's latency, pool and size, and the plugins' business figures."""
        time_queries(db.engine, self.query_seconds)
        self._scraped = [DatabaseCollector(db.engine, db.path), FiguresCollector(plugins, db.read)]
        if not self.multiprocess:
            for collector in self._scraped:
                self.registry.register(collector)

    def exposition(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            for collector in self._scraped:
                registry.register(collector)
            return generate_latest(registry)
        return generate_latest(self.registry)
