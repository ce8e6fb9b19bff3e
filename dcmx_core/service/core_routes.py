"""The routes every indexer gets: health, readiness, status, a transaction's events, sign-in,
and paged reads of every raw event table (so a contract without plugins has an API too)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Connection

from .. import lookups
from ..chain import CHAIN_COLUMNS
from ..sqltypes import ExactInt
from ..store import Store
from ..store import versions as store_versions
from ..store.tables import backfill_table, forks_table, schema_table
from .context import Service
from .errors import ApiError, shown
from .jsonenc import dumps

__all__ = ["core_router", "probes_router"]

MAX_PAGE = 500
_HEX32 = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_AFTER = re.compile(r"(\d{1,19}):(\d{1,9})")


def tx_hash(text: str, field: str = "txid") -> bytes:
    if not _HEX32.fullmatch(text):
        raise ApiError(400, "invalid_txid", f"{shown(text)} is not a transaction id: 64 hex "
                       "digits, 0x optional", field=field)
    return bytes.fromhex(text.removeprefix("0x"))


def event_json(e: lookups.EventRow) -> dict[str, Any]:
    return {"block_number": e.block_number, "log_index": e.log_index,
            "tx_hash": e.tx_hash, "block_timestamp": e.block_timestamp,
            "contract": e.contract, "event": e.event, "contract_address": e.contract_address,
            "args": dict(e.args)}


def probes_router(svc: Service) -> APIRouter:
    r = APIRouter()

    @r.get("/health", tags=["service"], summary="The process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "cache": svc.cache.status()["backend"],
                "cache_degraded": svc.cache.degraded}

    @r.get("/ready", tags=["service"], summary="The database answers and is caught up")
    async def ready() -> Response:
        def q(conn: Connection) -> tuple[Any, bool]:
            return Store.cursor(conn), Store.backfilling(conn)

        cursor, backfilling = await svc.read(q)
        head, _final, error = await _head(svc)
        lag = None if head is None or cursor is None else max(0, head - cursor.block_number)
        ok = cursor is not None and not backfilling and (lag is None or
                                                         lag <= svc.settings.ready_lag)
        body = {"status": "ok" if ok else "unavailable", "cursor": cursor and
                cursor.block_number, "lag": lag, "backfilling": backfilling,
                "head_error": error}
        return JSONResponse(body, status_code=200 if ok else 503)

    @r.get("/metrics", tags=["service"], summary="Prometheus metrics")
    async def metrics() -> Response:
        from .observe import CONTENT_TYPE_LATEST

        return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return r


async def _head(svc: Service) -> tuple[int | None, int | None, str | None]:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(svc.head)


def core_router(svc: Service) -> APIRouter:
    r = APIRouter(prefix="/api/v1")  # in the router: route.path is then the whole template
    by_name = {(cls.CONTRACT, cls.NAME): cls for cls in svc.events}

    @r.get("/status", tags=["service"], summary="Cursor, head, finalized, lag, last fork, plugins")
    async def status() -> Response:
        def q(conn: Connection) -> dict[str, Any]:
            cursor = Store.cursor(conn)
            fork = conn.execute(
                sa.select(forks_table).order_by(forks_table.c.id.desc()).limit(1)
            ).mappings().first()
            owners: dict[str, list[str]] = {}
            for table, owner in conn.execute(sa.select(schema_table.c.table_name,
                                                       schema_table.c.owner)):
                owners.setdefault(owner, []).append(table)
            backfilling = conn.execute(sa.select(backfill_table.c.id)).first() is not None
            return {"cursor": cursor, "fork": fork and dict(fork), "owners": owners,
                    "backfilling": backfilling}

        got = await svc.read(q)
        head, finalized, error = await _head(svc)
        cursor = got["cursor"]
        fork = got["fork"]
        body = {
            "cursor": cursor and cursor.block_number,
            "cursor_hash": cursor and cursor.block_hash,
            "head": head, "finalized": finalized, "head_error": error,
            "lag": None if head is None or cursor is None else max(0, head - cursor.block_number),
            "backfilling": got["backfilling"],
            "last_fork": fork and {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                   for k, v in fork.items()},
            "plugins": [{"name": p.declaration.name, "tables": got["owners"].get(
                p.declaration.name, [])} for p in svc.plugins.plugins],
            "contracts": sorted({cls.CONTRACT for cls in svc.events}),
            "cache": svc.cache.status(),
            "rate_limits": {"per_ip": svc.settings.rate_limit_ip,
                            "per_wallet": svc.settings.rate_limit_wallet,
                            "shared": svc.limiter.degraded is None,
                            "degraded": svc.limiter.degraded},
            "writes": None if svc.writes is None else svc.writes.describe(),
        }
        return Response(dumps(body), media_type="application/json")

    @r.get("/tx/{txid}", tags=["chain"], summary="Is a transaction indexed, where, which events")
    async def transaction(txid: str = Path(description="64 hex digits, 0x optional")) -> Response:
        h = tx_hash(txid)

        def q(conn: Connection) -> dict[str, Any]:
            found = lookups.transaction(conn, svc.events, h)
            return {"txid": h, "indexed": bool(found.events), "block_number": found.block_number,
                    "cursor": found.cursor and found.cursor.block_number,
                    "events": [event_json(e) for e in found.events]}

        tables = [cls.TABLE.name for cls in svc.events] + [store_versions.CURSOR]
        return await svc.cached(f"tx|{h.hex()}", tables, q)

    @r.get("/events", tags=["chain"], summary="The raw event tables: contract, event, filters")
    async def event_types() -> list[dict[str, Any]]:
        return [{"contract": cls.CONTRACT, "event": cls.NAME, "signature": cls.SIGNATURE,
                 "table": cls.TABLE.name, "path": f"/api/v1/events/{cls.CONTRACT}/{cls.NAME}",
                 "filters": _indexed(cls)} for cls in svc.events]

    @r.get("/events/{contract}/{event}", tags=["chain"],
           summary="A page of one event type's rows (keyset: pass `next` back as `after`); "
                   "filter by indexed parameters with ?<parameter>=<value>")
    async def events(
        request: Request,
        contract: str,
        event: str,
        from_block: int | None = Query(None, ge=0, le=2**62),
        to_block: int | None = Query(None, ge=0, le=2**62),
        tx: str | None = Query(None, description="transaction id"),
        contract_address: str | None = Query(None, description="one deployment's address"),
        after: str | None = Query(None, description="`next` of the page before: block:log"),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        order: str = Query("asc", pattern="^(asc|desc)$"),
    ) -> Response:
        cls = by_name.get((contract, event))
        if cls is None:
            raise ApiError(404, "unknown_event", f"no raw table for {shown(contract)}."
                           f"{shown(event)}; GET /api/v1/events lists them", field="event")
        known = {"from_block", "to_block", "tx", "contract_address", "after", "limit", "order"}
        filters = {}
        indexed = set(_indexed(cls))
        for name, value in request.query_params.multi_items():
            if name in known:
                continue
            if name not in indexed:
                raise ApiError(400, "unknown_filter", f"{shown(name)} is not an indexed "
                               f"parameter of {contract}.{event} (filters: "
                               f"{', '.join(sorted(indexed)) or 'none'})", field=name)
            filters[name] = _param(svc, cls.TABLE.c[name], value, name)
        position = None
        if after is not None:
            m = _AFTER.fullmatch(after)
            if m is None:
                raise ApiError(400, "invalid_after", "after must be block:log_index, the "
                               "`next` of the page before", field="after")
            position = (int(m[1]), int(m[2]))
        h = tx_hash(tx, "tx") if tx is not None else None
        where_address = (svc.address(contract_address, "contract_address")
                         if contract_address is not None else None)

        def q(conn: Connection) -> dict[str, Any]:
            rows = lookups.event_page(
                conn, cls, limit=limit, after=position, from_block=from_block,
                to_block=to_block, tx_hash=h, contract_address=where_address, where=filters,
                newest_first=order == "desc",
            )
            last = rows[-1] if len(rows) == limit else None
            return {"items": [event_json(e) for e in rows],
                    "next": f"{last.block_number}:{last.log_index}" if last else None}

        key = "events|" + "|".join(f"{k}={v}" for k, v in sorted(
            [("c", contract), ("e", event), ("from", from_block), ("to", to_block),
             ("tx", h and h.hex()), ("addr", where_address), ("after", position),
             ("limit", limit), ("order", order), *sorted(filters.items())], key=str))
        return await svc.cached(key, [cls.TABLE.name], q)

    @r.post("/auth/nonce", tags=["auth"], summary="A nonce and the message to sign with it")
    async def nonce(wallet: str = Body(embed=True, max_length=100)) -> dict[str, Any]:
        return svc.auth.nonce(svc.auth.wallet(wallet))

    @r.post("/auth/login", tags=["auth"],
            summary="Exchange the signed message for a short-lived bearer token")
    async def login(
        wallet: str = Body(max_length=100),
        nonce: str = Body(max_length=200),
        signature: str = Body(max_length=140, description="65 bytes hex"),
    ) -> dict[str, Any]:
        return await svc.auth.login(svc.auth.wallet(wallet), nonce, signature)

    @r.get("/auth/me", tags=["auth"], summary="The wallet the token names")
    async def me(wallet: str = svc.wallet) -> dict[str, Any]:
        return {"wallet": wallet}

    return r


def _indexed(cls: type[Any]) -> list[str]:
    """The parameter columns an index leads with: the filters a page can use."""
    t: sa.Table = cls.TABLE
    chain = set(CHAIN_COLUMNS)
    return sorted({list(i.columns)[0].name for i in t.indexes} - chain)


def _param(svc: Service, column: sa.Column[Any], value: str, field: str) -> Any:
    """A filter value from the query string as the column stores it; 400 naming the field."""
    t = column.type
    if isinstance(t, sa.LargeBinary):
        text = value.removeprefix("0x")
        length = t.length or 32
        if len(text) != 2 * length or not re.fullmatch(r"[0-9a-fA-F]*", text):
            raise ApiError(400, "invalid_value", f"{field} must be {length} bytes of hex",
                           field=field)
        return bytes.fromhex(text)
    if isinstance(t, ExactInt | sa.Integer | sa.BigInteger):
        if not re.fullmatch(r"-?\d{1,78}", value):
            raise ApiError(400, "invalid_value", f"{field} must be an integer", field=field)
        n = int(value)
        if isinstance(t, sa.Integer | sa.BigInteger) and not -(2**63) <= n < 2**63:
            raise ApiError(400, "invalid_value", f"{field} is out of range", field=field)
        return n
    if isinstance(t, sa.Boolean):
        if value not in ("true", "false"):
            raise ApiError(400, "invalid_value", f"{field} must be true or false", field=field)
        return value == "true"
    if isinstance(t, sa.String) and t.length == 64:  # an address column
        return svc.address(value, field)
    if len(value) > 1000:
        raise ApiError(400, "invalid_value", f"{field} is too long", field=field)
    return value
