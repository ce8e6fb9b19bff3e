"""The write side every indexer with configured contracts gets: broadcasting a transaction a
wallet signed, and waiting until a transaction is indexed (``?wait=indexed``), so an app can
read its own write.

:func:`answer` is what every write route returns: the transaction id, and with
``wait=indexed`` (bounded by ``timeout``) its block and events once the indexer has
committed that block; 202 with ``indexed: false`` when the bound passes first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .. import lookups
from .context import Service
from .core_routes import event_json
from .errors import ApiError
from .jsonenc import dumps
from .writes import Sent

__all__ = ["WAIT", "TIMEOUT", "answer", "write_router"]

WAIT = Query("none", pattern="^(none|indexed)$",
             description="indexed: answer once the indexer has committed the transaction's "
                         "block (bounded by timeout)")
PAYLOAD = Body(description='EVM: {"raw": "0x..."}; TRON: {"raw_data": {...}, "signature": '
               '"<65 bytes hex>"}')
TIMEOUT = Query(20.0, gt=0, le=60, description="seconds to wait at most")


async def answer(svc: Service, sent: Sent, wait: str, timeout: float,
                 **more: Any) -> Response:
    body: dict[str, Any] = {"txid": sent.txid, "block_number": sent.block_number, **more}
    if wait != "indexed":
        return Response(dumps(body), media_type="application/json")
    deadline = time.monotonic() + timeout
    block = sent.block_number
    if block is None:
        block = await run_in_threadpool(svc.writes.block_of, sent.txid, timeout)
    h = bytes.fromhex(sent.txid)
    found: lookups.TxLookup | None = None
    while block is not None:
        found = await svc.read(lambda c: lookups.transaction(c, svc.events, h, block))
        if found is None or found.events or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    events = found.events if found is not None else ()
    indexed = bool(events)
    body.update(block_number=block, indexed=indexed, events=[event_json(e) for e in events])
    return Response(dumps(body), status_code=200 if indexed else 202,
                    media_type="application/json")


def write_router(svc: Service) -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    @r.post("/tx/broadcast", tags=["writes"],
            summary="Send a transaction the signed-in wallet signed (as a write route "
                    "returned it unsigned)")
    async def broadcast(
        payload: dict[str, Any] = PAYLOAD,
        wallet: str = svc.wallet, wait: str = WAIT, timeout: float = TIMEOUT,
    ) -> Response:
        if not isinstance(payload, dict):
            raise ApiError(400, "invalid_body", "the body must be a JSON object")
        raw_wallet = svc.auth.wallet(wallet)
        sent = await run_in_threadpool(svc.writes.broadcast, payload, raw_wallet)
        return await answer(svc, sent, wait, timeout)

    return r
