"""The Overview page: the indexer's status and health, for any dcmx database.

- Status: cursor (and its block's time), head and finalized height from the node when one is
  configured, lag, backfill, the last fork, the cache; plugins and their tables; rows per
  table (exact counts, and estimates marked so for big tables: PostgreSQL's planner's past a
  million rows, SQLite's largest rowid past 200,000).
- Events per second and lag over the last hour, as charts with their numbers in tables:
  from ``dcmx_throughput``, which the indexer fills in the transaction of each step it
  commits (:mod:`dcmx_core.store.throughput`): the events and blocks it committed per minute
  of wall time, and the cursor and head at its last step in that minute. The service is
  another process than the indexer; this is the indexer's own account of its work. A
  minute without a row is a minute in which the indexer committed nothing (idle, or not
  running): no events, and no lag sample.

``/overview/live`` is the part that changes (status, charts, counts): the page's script
fetches it again every 10 seconds (``/overview?every=<seconds>``, 2 to 300).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from ...store import Store
from ...store import throughput as store_throughput
from ...store import versions as store_versions
from ...store.tables import backfill_table, blocks_table, forks_table, schema_table
from . import charts
from .formats import clock
from .site import Site, cached_data, html_errors, int_param

__all__ = ["COUNT_UP_TO", "ESTIMATE_ABOVE", "add_overview", "overview_data", "row_counts"]

#: On PostgreSQL, tables the planner believes hold more rows than this show its estimate
#: (``pg_class.reltuples``) instead of a count that would scan them.
ESTIMATE_ABOVE = 1_000_000
#: On SQLite, counts stop at this many rows; a bigger table shows its largest rowid, which
#: only rollbacks' deletions make larger than the count (marked as an estimate). Keeps the
#: page within the read's time budget however large the index grows.
COUNT_UP_TO = 200_000
HOUR = 3600


def _state(conn: Connection) -> dict[str, Any]:
    cursor = Store.cursor(conn)
    at = None
    if cursor is not None:
        at = conn.execute(sa.select(blocks_table.c.timestamp).where(
            blocks_table.c.number == cursor.block_number)).scalar()
    fork = conn.execute(sa.select(forks_table).order_by(forks_table.c.id.desc()).limit(1)
                        ).mappings().first()
    owners = conn.execute(sa.select(schema_table.c.table_name, schema_table.c.owner)
                          .order_by(schema_table.c.owner, schema_table.c.table_name)).all()
    inspector = sa.inspect(conn)
    views = set(inspector.get_view_names())
    return {
        "cursor": cursor and cursor.block_number,
        "cursor_hash": cursor and cursor.block_hash,
        "cursor_at": at,
        "backfilling": conn.execute(sa.select(backfill_table.c.id)).first() is not None,
        "last_fork": fork and {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                               for k, v in fork.items()},
        "tables": [{"table": t, "owner": o} for t, o in owners if t not in views],
        "throughput": inspector.has_table(store_throughput.throughput_table.name),
    }


def row_counts(names: list[str]) -> Any:
    """A read of the rows of each table of ``names``: {table: [rows, estimated]}."""

    def q(conn: Connection) -> dict[str, list[Any]]:
        estimates: dict[str, float] = {}
        if conn.dialect.name == "postgresql" and names:
            estimates = dict(conn.execute(sa.text(
                "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND c.relname = ANY(:names)"), {"names": names}).all())
        out: dict[str, list[Any]] = {}
        sqlite = conn.dialect.name == "sqlite"
        for name in names:
            guess = estimates.get(name, -1)
            if guess > ESTIMATE_ABOVE:
                out[name] = [int(guess), True]
                continue
            table = sa.table(name)
            rows = sa.select(sa.literal(1)).select_from(table)
            if sqlite:
                rows = rows.limit(COUNT_UP_TO + 1)
            n = conn.execute(sa.select(sa.func.count()).select_from(rows.subquery())
                             ).scalar_one()
            if sqlite and n > COUNT_UP_TO:
                try:
                    top = conn.execute(sa.select(sa.func.max(sa.column("rowid")))
                                       .select_from(table)).scalar()
                except sa.exc.DBAPIError:  # a table WITHOUT ROWID
                    top = None
                out[name] = [max(int(top or 0), n), True]
            else:
                out[name] = [n, False]
        return out

    return q


def _series(rows: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The last hour's 60 minutes (the current one included) from the recorded rows."""
    this = int(now) // 60 * 60
    minutes = [this - 60 * i for i in range(59, -1, -1)]
    by = {r["minute"]: r for r in rows}
    rates, lags, table = [], [], []
    for m in minutes:
        r = by.get(m)
        seconds = 60 if m < this else max(1, int(now) - m + 1)  # the current minute so far
        events = r["events"] if r else 0
        rates.append(events / seconds)
        lag = None if r is None else max(0, r["head_block"] - r["cursor_block"])
        lags.append(lag)
        if r is not None:
            table.append({"minute": m, "events": events, "per_second": events / seconds,
                          "blocks": r["blocks"], "steps": r["steps"],
                          "cursor": r["cursor_block"], "head": r["head_block"],
                          "finalized": r["finalized_block"], "lag": lag})
    labels = [clock(m) for m in minutes]
    return {
        "rows": table,
        "events_chart": charts.bars(
            "Events indexed per second, each minute of the last hour (UTC)", labels,
            rates, raw=[f"{v:.2f}".rstrip("0").rstrip(".") for v in rates], unit="/s",
            css="events"),
        "lag_chart": charts.line(
            "Blocks behind the head at the last step of each minute (UTC)", labels,
            [None if v is None else float(v) for v in lags], raw=lags, css="lag"),
        "total": sum(r["events"] for r in table),
    }


async def overview_data(svc: Any, now: float | None = None) -> dict[str, Any]:
    """What the Overview shows, read through the service's cache."""
    now = time.time() if now is None else now
    # The cursor's version moves with every step and rollback, and every table made: the
    # state, the per-minute record and the set of tables change only then.
    cursor_only = [store_versions.CURSOR]
    state = await cached_data(svc, "overview:state", cursor_only, _state)
    since = int(now) // 60 * 60 - 59 * 60
    rows = []
    if state["throughput"]:
        rows = await cached_data(svc, f"overview:throughput|{since}", cursor_only,
                                 lambda c: store_throughput.read(c, since))
    names = [t["table"] for t in state["tables"]]
    counts = await cached_data(svc, "overview:rows|" + ",".join(names), names,
                               row_counts(names))
    head, finalized, head_error = await run_in_threadpool(svc.head)
    cursor = state["cursor"]
    lag = None if head is None or cursor is None else max(0, head - cursor)
    last = rows[-1] if rows else None
    return {
        **state,
        "now": int(now),
        "head": head,
        "finalized": finalized,
        "head_error": head_error,
        "lag": lag,
        "last_sample": last,
        "counts": [{**t, "rows": counts[t["table"]][0], "estimated": counts[t["table"]][1]}
                   for t in state["tables"]],
        "plugins": [{"name": p.declaration.name, "origin": p.origin,
                     "tables": [t["table"] for t in state["tables"]
                                if t["owner"] == p.declaration.name]}
                    for p in svc.plugins.plugins],
        "contracts": sorted({cls.CONTRACT for cls in svc.events}),
        "cache": svc.cache.status(),
        **_series(rows, now),
    }


def add_overview(r: APIRouter, svc: Any, site: Site) -> None:
    @r.get("/overview")
    @html_errors(site)
    async def overview(request: Request) -> Response:
        every = int_param(request.query_params.get("every"), 10, 2, 300)
        return site.page(request, "overview.html", o=await overview_data(svc), every=every)

    @r.get("/overview/live")
    @html_errors(site)
    async def live(request: Request) -> Response:
        return site.page(request, "_overview_live.html", o=await overview_data(svc))
