"""The FastAPI application of ``dcmx serve``: core routes, plugins' routers, errors as JSON.

:func:`create_app` builds it from settings (and, when embedding, a plugin host, the event
classes, a write gateway); :func:`app_from_env` is the factory each uvicorn worker calls,
with the settings ``dcmx serve`` resolved handed over in the environment.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from ..errors import DcmxError, TransactionError
from ..plugins import PluginHost
from ..redaction import redact
from ..settings import Settings
from .context import Service, load_events
from .core_routes import core_router, probes_router
from .errors import ApiError, error_body
from .guard import Guard

if TYPE_CHECKING:
    from .db import ReadDB

__all__ = ["SETTINGS_ENV", "app_from_env", "create_app"]

log = logging.getLogger("dcmx.api")

#: The settings ``dcmx serve`` resolved, as JSON flags, for its workers.
SETTINGS_ENV = "DCMX_SERVE_SETTINGS"
SECRET_ENV = "DCMX_API_SECRET"

DESCRIPTION = """Reads come from the indexed database, writes go to the contracts.

* Integers beyond 2**53 are JSON strings of their exact decimal value; bytes are 0x hex.
* Errors are `{"error": code, "message": text, "field": name}`.
* Sign in: `POST /api/v1/auth/nonce`, sign the message with the wallet, `POST
  /api/v1/auth/login`, then `Authorization: Bearer <token>`.
* Pages are keyset pages: pass `next` back as `after`.
"""


def _json(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def create_app(
    settings: Settings,
    *,
    secret: bytes,
    plugins: PluginHost | None = None,
    events: Sequence[type[Any]] | None = None,
    writes: Any = None,
    head: Callable[[], tuple[int | None, int | None]] | None = None,
) -> FastAPI:
    """The service over ``settings.database_url``. ``plugins`` default: the installed ones
    (``settings.plugins`` picks), ``events``: of the configured contracts or those the
    database holds; ``writes``: made from the settings when contracts and a node are set."""
    from .db import ReadDB

    probe = ReadDB(settings.database_url)
    try:
        tracked = _tracked(probe)
    finally:
        probe.dispose()
    if plugins is None:
        plugins = PluginHost(entry_points=True, only=settings.plugins)
    if events is None:
        events = load_events(settings, tracked)
    plugins.check_consumed(set(events))
    if writes is None and settings.contracts:
        from .writes import writes_from_settings

        writes = writes_from_settings(settings)
    svc = Service(settings, secret=secret, plugins=plugins, events=events, writes=writes,
                  head=head)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await svc.cache.ping()
        yield
        await svc.close()

    app = FastAPI(title="dcmx", description=DESCRIPTION, version="1", lifespan=lifespan)
    app.state.service = svc
    app.include_router(probes_router(svc))
    app.include_router(core_router(svc))
    if writes is not None:
        from .write_routes import write_router

        app.include_router(write_router(svc))
    from .pages import pages_router  # the Overview and sign-in pages; plugins add theirs

    app.include_router(pages_router(svc))
    for name, router in plugins.routers(svc):
        log.info("API routes of plugin %s mounted", name, extra={"plugin": name})
        app.include_router(router)
    _errors(app)
    app.add_middleware(Guard, service=svc)
    return app


def _tracked(db: ReadDB) -> dict[str, str]:
    import sqlalchemy as sa

    from ..store.tables import schema_table

    def q(conn: Any) -> dict[str, str]:
        rows = conn.execute(sa.select(schema_table.c.table_name, schema_table.c.owner)).all()
        return {str(t): str(o) for t, o in rows}

    try:
        return db.read(q)
    except ApiError as exc:
        from ..errors import StoreError

        raise StoreError(f"{db!r} holds no dcmx index or cannot be read ({exc}); run "
                         "`dcmx run` (or `dcmx demo`) first, or check --db") from None


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return _json(exc.status, error_body(exc.code, str(exc), exc.field), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        fields = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            fields.append({"field": where, "message": str(e.get("msg", "invalid"))[:200]})
        first = fields[0] if fields else {"field": None, "message": "invalid request"}
        return _json(422, error_body("invalid_request", f"{first['field']}: "
                                     f"{first['message']}", first["field"], fields=fields))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(exc.status_code, error_body(code, str(exc.detail)), exc.headers)

    @app.exception_handler(TransactionError)
    async def refused(_request: Request, exc: TransactionError) -> Response:
        return _json(409, error_body("transaction_failed", str(exc), None,
                                     txid=exc.txid, reason=exc.reason))

    @app.exception_handler(DcmxError)
    async def dcmx_error(_request: Request, exc: DcmxError) -> Response:
        return _json(502, error_body("upstream_error", str(exc)))

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> Response:
        log.error("internal error: %s: %s", type(exc).__name__, redact(str(exc))[:500],
                  exc_info=exc)
        return _json(500, error_body("internal_error", "internal error; it was logged"))


def app_from_env() -> FastAPI:
    """The factory a uvicorn worker calls: settings and key from ``dcmx serve``."""
    from ..logs import setup_logging
    from ..redaction import register_secret
    from ..settings import load

    flags = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    config = flags.pop("_config", None)
    settings = load(config, flags)
    setup_logging(settings.log_format, settings.log_level)
    secret = os.environ.get(SECRET_ENV, "")
    register_secret(secret)
    register_secret(settings.private_key)
    return create_app(settings, secret=secret.encode())
