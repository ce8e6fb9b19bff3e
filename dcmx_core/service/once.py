"""First-use marks (a sign-in nonce spent once): in Redis when there is one, so every worker
sees them; else in this worker (then a nonce could be spent once per worker, which the
service says at start)."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Once"]


class Once:
    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self._redis: Any = None
        self._seen: dict[str, float] = {}

    async def first_use(self, key: str, ttl: int) -> bool:
        """True the first time ``key`` is marked within ``ttl`` seconds, False after."""
        if self.redis_url is not None:
            if self._redis is None:
                from redis import asyncio as aioredis

                self._redis = aioredis.Redis.from_url(
                    self.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
            try:
                return bool(await self._redis.set(f"dcmx:once:{key}", 1, nx=True, ex=ttl))
            except Exception:  # noqa: BLE001 - fall back to this worker's own marks
                self._redis = None
        now = time.time()
        if len(self._seen) > 100_000:
            self._seen = {k: t for k, t in self._seen.items() if t > now}
        if self._seen.get(key, 0) > now:
            return False
        self._seen[key] = now + ttl
        return True

    async def close(self) -> None:
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:  # noqa: BLE001
                pass
            self._redis = None
