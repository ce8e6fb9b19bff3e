"""The database as Prometheus sees it: query latency, pool usage, size.

:func:`time_queries` times every statement an engine runs through SQLAlchemy (the indexer's
bulk row writes go straight to the driver and are timed as batches instead);
:class:`DatabaseCollector` reads the pool's counters and the index's size at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily

from .store.engine import sqlite_file

__all__ = ["QUERY_BUCKETS", "DatabaseCollector", "index_size", "time_queries"]

QUERY_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                 2.5, 10)

# What each index's size takes on PostgreSQL: the schema's tables with their indexes and TOAST.
_PG_SIZE = sa.text(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm', 'p')"
)


def time_queries(engine: sa.Engine, histogram: Histogram) -> None:
    """Observe the time of every statement ``engine`` runs in ``histogram``."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, _cursor: Any, _stmt: Any, _params: Any, context: Any,
               _many: bool) -> None:
        conn.info.setdefault("dcmx_query_started", []).append(time.perf_counter())

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, _cursor: Any, _stmt: Any, _params: Any, context: Any,
             _many: bool) -> None:
        started = conn.info.get("dcmx_query_started")
        if started:
            histogram.observe(time.perf_counter() - started.pop())

    @sa.event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        conn = context.connection
        if conn is not None and conn.info.get("dcmx_query_started"):
            conn.info["dcmx_query_started"].pop()


def index_size(engine: sa.Engine, path: str | None = None) -> int:
    """Bytes the index takes: the SQLite file (``path``, default the engine's) with its WAL,
    or the PostgreSQL schema."""
    path = path or sqlite_file(engine.url)
    if path is not None:
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as conn:
        return int(conn.execute(_PG_SIZE).scalar_one())


class DatabaseCollector:
    """Pool usage and index size of ``engine``, read when Prometheus scrapes."""

    def __init__(self, engine: sa.Engine, path: str | None = None) -> None:
        self.engine = engine
        self.path = path  # the SQLite file, when the engine's URL does not say it plainly

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        for name, doc, read in (
            ("dcmx_db_pool_size", "connections the pool keeps", "size"),
            ("dcmx_db_pool_checked_out", "connections in use now", "checkedout"),
            ("dcmx_db_pool_overflow", "connections open beyond the pool's size", "overflow"),
        ):
            fn = getattr(pool, read, None)
            if fn is not None:  # a pool of one connection per thread has no such counters
                yield GaugeMetricFamily(name, doc, value=float(max(0, fn())))
        try:
            size = index_size(self.engine, self.path)
        except (OSError, sa.exc.SQLAlchemyError):
            return  # the database is away: the query latency and the logs say so
        yield GaugeMetricFamily("dcmx_db_size_bytes", "bytes the index takes (SQLite: the "
                                "file and its WAL; PostgreSQL: the schema's tables)", value=size)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []
