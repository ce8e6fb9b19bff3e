"""The answer cache: entries keyed by the versions of the tables they were read from.

A key is the route's own key plus ``(table, version)`` of every table the answer read
(:mod:`dcmx_core.store.versions`). Versions move in the indexer's own transaction, on every
commit that changes a table and on every rollback, and never return to an old value; so the
answer under a key never changes, and a lookup with the current versions can only find an
answer equal to what the database says now. Nothing is ever purged for correctness: old
keys just stop being asked for, and age out.

Two levels: an LRU in the worker (a hit costs a dict lookup) in front of Redis, shared by
the workers. Without Redis, or while it is unreachable, the worker's own LRU serves alone
(:attr:`Cache.degraded` says why); a failed Redis is tried again after ``RETRY_SECONDS``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

from ..redaction import redact_url

__all__ = ["Cache", "cache_key"]

log = logging.getLogger("dcmx.api")

RETRY_SECONDS = 5.0
LOCAL_ITEMS = 4_096
REDIS_TTL = 600  # seconds an entry lives in Redis (it can never be wrong, only unused)
PREFIX = "dcmx:c:"


def cache_key(route: str, versions: Mapping[str, int]) -> str:
    """The key of an answer of ``route`` (its path and parameters, canonical) at
    ``versions``."""
    tag = ",".join(f"{t}={v}" for t, v in sorted(versions.items()))
    return hashlib.sha256(f"{route}|{tag}".encode()).hexdigest()[:40]


class Cache:
    """An LRU of answer bodies in this worker, in front of Redis when there is one."""

    def __init__(self, redis_url: str | None = None, *, local_items: int = LOCAL_ITEMS) -> None:
        self.redis_url = redis_url
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._max = local_items
        self._redis: Any = None
        self._down_until = 0.0
        self.degraded: str | None = None if redis_url else "no Redis configured: per worker"
        self.hits = self.misses = 0

    # -- lookups ------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        body = self._local.get(key)
        if body is not None:
            self._local.move_to_end(key)
            self.hits += 1
            return body
        client = self._client()
        if client is not None:
            try:
                body = cast("bytes | None", await client.get(PREFIX + key))
                if self.degraded is not None:
                    self.ok()
            except Exception as exc:  # noqa: BLE001 - any Redis failure: serve without it
                self._failed(exc)
                body = None
            if body is not None:
                self._remember(key, body)
                self.hits += 1
                return body
        self.misses += 1
        return None

    async def put(self, key: str, body: bytes) -> None:
        self._remember(key, body)
        client = self._client()
        if client is not None:
            try:
                await client.set(PREFIX + key, body, ex=REDIS_TTL)
            except Exception as exc:  # noqa: BLE001
                self._failed(exc)

    def _remember(self, key: str, body: bytes) -> None:
        self._local[key] = body
        self._local.move_to_end(key)
        while len(self._local) > self._max:
            self._local.popitem(last=False)

    # -- the Redis connection -----------------------------------------------------------------

    def _client(self) -> Any:
        if self.redis_url is None or time.monotonic() < self._down_until:
            return None
        if self._redis is None:
            from redis import asyncio as aioredis

            self._redis = aioredis.Redis.from_url(
                self.redis_url, socket_timeout=0.25, socket_connect_timeout=0.25,
                health_check_interval=0,
            )
        return self._redis

    def _failed(self, exc: BaseException) -> None:
        if self.degraded is None or not self.degraded.startswith("Redis"):
            log.warning(
                "Redis at %s failed (%s: %s): caching in this worker only, retrying in %.0f s",
                redact_url(self.redis_url or ""), type(exc).__name__, exc, RETRY_SECONDS,
            )
        self.degraded = f"Redis unreachable ({type(exc).__name__}): per worker"
        self._down_until = time.monotonic() + RETRY_SECONDS
        self._redis = None

    async def ping(self) -> None:
        """Find out now whether Redis answers (at start: the service says so from the first
        request)."""
        client = self._client()
        if client is not None:
            try:
                await client.ping()
            except Exception as exc:  # noqa: BLE001
                self._failed(exc)

    def ok(self) -> None:
        """Redis answered again."""
        if self.degraded and self.degraded.startswith("Redis"):
            log.info("Redis reachable again: cache shared by the workers")
            self.degraded = None

    def status(self) -> dict[str, Any]:
        return {
            "backend": "redis" if self.redis_url and not self.degraded else "in-process",
            "degraded": self.degraded,
            "local_entries": len(self._local),
            "hits": self.hits,
            "misses": self.misses,
        }

    async def close(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:  # noqa: BLE001
                pass
            self._redis = None
