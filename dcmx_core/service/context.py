"""What a route needs, in one object: :class:`Service`, handed to plugins' routers.

A plugin's router (the ``dcmx_api_router`` hook) reads through :meth:`Service.cached` (an
answer cached under the versions of the tables it reads) or :meth:`Service.read`, parses
addresses with :meth:`Service.address`, asks who is calling with :attr:`Service.wallet` and
:meth:`Service.role` (FastAPI dependencies), and writes through :attr:`Service.writes`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from .. import events_view
from ..addresses import Profile, parse, render
from ..errors import AddressError, DcmxError
from ..plugins import PluginHost
from ..settings import Settings
from ..store import versions as store_versions
from ..views import is_view
from .auth import Auth
from .cache import Cache, cache_key
from .db import ReadDB
from .errors import ApiError
from .jsonenc import dumps
from .observe import ApiMetrics
from .once import Once
from .ratelimit import RateLimiter

__all__ = ["Service"]

log = logging.getLogger("dcmx.api")

JSON = "application/json"
HEAD_SECONDS = 2.0  # how long the node's head, asked for /status, is reused


class Service:
    """The running service's parts, shared by every route of one worker."""

    def __init__(
        self,
        settings: Settings,
        *,
        secret: bytes,
        plugins: PluginHost,
        events: Sequence[type[Any]] = (),
        writes: Any = None,
        head: Callable[[], tuple[int | None, int | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.profile: Profile = settings.profile  # type: ignore[assignment]
        self.db = ReadDB(settings.database_url, settings.pool("serve"))
        self.cache = Cache(settings.redis_url)
        self.limiter = RateLimiter(settings.redis_url)
        self.once = Once(settings.redis_url)
        self.auth = Auth(secret, self.profile, settings.token_ttl, self.once)
        self.metrics = ApiMetrics()
        self.metrics.watch(self.db, plugins)
        self.plugins = plugins
        self.events = list(events)
        self.writes = writes
        self._head_fn = head
        self._head: tuple[float, tuple[int | None, int | None], str | None] | None = None
        self._head_lock = threading.Lock()
        self._source: Any = None
        self._views = self._view_tables()

    # -- reading --------------------------------------------------------------------------------

    async def read(self, fn: Callable[[Connection], Any]) -> Any:
        """``fn(conn)`` in a short read-only transaction, in a worker thread."""
        return await run_in_threadpool(self.db.read, fn)

    async def cached(
        self, key: str, tables: Iterable[str | sa.Table], fn: Callable[[Connection], Any]
    ) -> Response:
        """The JSON answer of ``fn(conn)``, cached under ``key`` (the route and its parameters,
        canonical) and the versions of ``tables`` (what ``fn`` reads; views are followed to
        their tables). Never staler than the database: see :mod:`.cache`."""
        names = self.tables_of(tables)
        names.add(store_versions.INSTANCE)
        if self.db.sqlite:
            now = self.db.versions(names)  # a few us: PRAGMA data_version
        else:
            now = await run_in_threadpool(self.db.versions, names)
        complete = len(now) == len(names)
        if complete:
            body = await self.cache.get(cache_key(key, now))
            if body is not None:
                self.metrics.cache.labels("hit").inc()
                return Response(body, media_type=JSON, headers={"x-cache": "hit"})
        self.metrics.cache.labels("miss").inc()
        seen, value = await run_in_threadpool(self.db.read_versioned, names, fn)
        body = dumps(value)
        if len(seen) == len(names):
            await self.cache.put(cache_key(key, seen), body)
        return Response(body, media_type=JSON, headers={"x-cache": "miss"})

    def tables_of(self, tables: Iterable[str | sa.Table]) -> set[str]:
        """The stored tables behind ``tables`` (a view stands for the tables it reads)."""
        out: set[str] = set()
        for t in tables:
            name = t if isinstance(t, str) else t.name
            if not isinstance(t, str) and is_view(t):
                out |= _read_by(t)
            elif name in self._views:
                out |= self._views[name]
            else:
                out.add(name)
        return out

    def _view_tables(self) -> dict[str, set[str]]:
        views = {events_view.NAME: {cls.TABLE.name for cls in self.events}}
        for v, _owner in self.plugins.owned_views():
            views[v.name] = _read_by(v)
        return views

    def has_tables(self, names: Iterable[str]) -> bool:
        """Whether the database holds all of ``names`` (tables or views)."""
        return set(names) <= self.db.table_names()

    # -- input ----------------------------------------------------------------------------------

    def address(self, text: Any, field: str) -> str:
        """A request's address in the form the database stores (this profile's rendering);
        400 naming ``field`` when it is not a valid address (a T-address's checksum too)."""
        try:
            return render(parse(text), self.profile)
        except AddressError as exc:
            raise ApiError(400, "invalid_address", str(exc), field=field) from None

    # -- who is calling -------------------------------------------------------------------------

    @property
    def wallet(self) -> Any:
        """A dependency: the signed-in wallet (rendered), 401 without a valid token."""
        auth = self.auth
        profile = self.profile

        def signed_in(request: Request) -> str:
            raw = auth.from_header(request.headers.get("authorization"))
            if raw is None:
                raise ApiError(401, "not_signed_in", "this needs a sign-in token: POST "
                               "/api/v1/auth/nonce, sign, POST /api/v1/auth/login, then send "
                               "Authorization: Bearer <token>",
                               headers={"WWW-Authenticate": "Bearer"})
            return render(raw, profile)

        return Depends(signed_in)

    def role(self, holds: Callable[[Connection, str], bool], what: str) -> Any:
        """A dependency: the signed-in wallet, 403 unless ``holds(conn, wallet)`` (a read of
        the plugin's roles in the read model, which the journal keeps right across forks)."""
        signed_in = self.wallet.dependency

        async def with_role(request: Request) -> str:
            wallet: str = signed_in(request)
            if not await self.read(lambda conn: holds(conn, wallet)):
                raise ApiError(403, "missing_role", f"{wallet} does not hold {what}, which "
                               "this needs")
            return wallet

        return Depends(with_role)

    # -- the chain ------------------------------------------------------------------------------

    def head(self) -> tuple[int | None, int | None, str | None]:
        """(head, finalized, error) of the node, reused for HEAD_SECONDS."""
        with self._head_lock:
            now = time.monotonic()
            if self._head is not None and now - self._head[0] < HEAD_SECONDS:
                return (*self._head[1], self._head[2])
            error = None
            try:
                if self._head_fn is not None:
                    got = self._head_fn()
                else:
                    if self._source is None:
                        from ..sources.factory import make_source

                        self._source = make_source(self.settings)
                    got = (self._source.head(), self._source.finalized())
            except DcmxError as exc:
                got, error = (None, None), str(exc)
            self._head = (now, got, error)
            return (*got, error)

    async def close(self) -> None:
        await self.cache.close()
        await self.limiter.close()
        await self.once.close()
        self.db.dispose()
        if self._source is not None:
            self._source.close()


def _read_by(view: sa.Table) -> set[str]:
    select = view.info["dcmx_view"]
    return {t.name for t in sa.sql.util.find_tables(select, include_joins=True)
            if isinstance(t, sa.Table)}


def load_events(settings: Settings, tracked: dict[str, str]) -> list[type[Any]]:
    """The generated event classes whose raw tables the database holds: of the configured
    contracts, else of every installed contract (``dcmx.contracts``) that owns tables in it
    (``tracked``: table -> owner, from ``dcmx_schema``)."""
    from ..contracts import installed, resolve

    if settings.contracts:
        modules = [c.module for c in resolve(settings.contracts)]
    else:
        owners = set(tracked.values())
        modules = []
        for name, ep in sorted(installed().items()):
            if name in owners:
                modules.append(importlib.import_module(ep.value.split(":", 1)[0]))
    return [cls for m in modules for cls in m.EVENTS if cls.TABLE.name in tracked]
