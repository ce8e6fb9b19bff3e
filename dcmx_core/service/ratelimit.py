"""Rate limits per client address and per signed-in wallet, checked before any other work.

Fixed one-second windows: a key's count of the current second, and a ``Retry-After`` of
the rest of it once over. Through Redis (one ``INCR``+``EXPIRE`` round trip) the count is
shared by every worker; without Redis, or while it is unreachable, each worker counts alone
(its share of the limit is then the whole limit: the service says so in ``/api/v1/status``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

__all__ = ["RateLimiter"]

log = logging.getLogger("dcmx.api")

RETRY_SECONDS = 5.0


class RateLimiter:
    """``hit(scope, ident, limit)``: None when allowed, else seconds to wait."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self._redis: Any = None
        self._down_until = 0.0
        self.degraded: str | None = None if redis_url else "no Redis configured: per worker"
        self._window = -1
        self._counts: dict[str, int] = {}

    async def hit(self, scope: str, ident: str, limit: int) -> float | None:
        if limit <= 0:
            return None
        now = time.time()
        window = math.floor(now)
        key = f"dcmx:rl:{scope}:{ident}:{window}"
        count = None
        client = self._client()
        if client is not None:
            try:
                pipe = client.pipeline(transaction=False)
                pipe.incr(key)
                pipe.expire(key, 2)
                count = (await pipe.execute())[0]
                if self.degraded is not None:
                    log.info("Redis reachable again: rate limits shared by the workers")
                    self.degraded = None
            except Exception as exc:  # noqa: BLE001 - count here instead
                self._failed(exc)
        if count is None:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts[key] = self._counts.get(key, 0) + 1
        if count <= limit:
            return None
        return max(0.001, window + 1 - now)

    def _client(self) -> Any:
        if self.redis_url is None or time.monotonic() < self._down_until:
            return None
        if self._redis is None:
            from redis import asyncio as aioredis

            self._redis = aioredis.Redis.from_url(
                self.redis_url, socket_timeout=0.25, socket_connect_timeout=0.25
            )
        return self._redis

    def _failed(self, exc: BaseException) -> None:
        if self.degraded is None or not self.degraded.startswith("Redis"):
            log.warning("Redis failed (%s): rate limits counted per worker, retrying in %.0f s",
                        type(exc).__name__, RETRY_SECONDS)
        self.degraded = f"Redis unreachable ({type(exc).__name__}): per worker"
        self._down_until = time.monotonic() + RETRY_SECONDS
        self._redis = None

    async def close(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:  # noqa: BLE001
                pass
            self._redis = None
