"""The outermost layer of every request, a plain ASGI middleware (no per-request task or
copy): body size bound, rate limits, metrics and the access log.

Order: a body over the bound is refused (413) and a client or wallet over its rate (429
with ``Retry-After``) before any routing, parsing or database work. The wallet is the one
a valid bearer token names (checking the token's seal is a hash, no lookup).
"""

from __future__ import annotations

import time
from typing import Any

from ..addresses import render
from .errors import error_body
from .observe import access_log

__all__ = ["Guard", "MAX_BODY"]

MAX_BODY = 16 * 1024  # bytes; the write flows' bodies are a few hundred
_EXEMPT = ("/health", "/ready", "/metrics")


class Guard:
    def __init__(self, app: Any, service: Any) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        svc = self.service
        status = [500]
        path: str = scope["path"]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        wallet = None
        try:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                await _refuse(send, 413, "body_too_large",
                              f"the body is over {MAX_BODY} bytes", status)
                return
            if not path.startswith(_EXEMPT):
                client = scope.get("client")
                ip = client[0] if client else "?"
                wait = await svc.limiter.hit("ip", ip, svc.settings.rate_limit_ip)
                scope_name = "ip"
                auth = headers.get(b"authorization")
                if wait is None and auth is not None:
                    wallet = svc.auth.from_header(auth.decode("latin-1"))
                    if wallet is not None:
                        scope_name = "wallet"
                        wait = await svc.limiter.hit("wallet", wallet.hex(),
                                                     svc.settings.rate_limit_wallet)
                if wait is not None:
                    svc.metrics.limited.labels(scope_name).inc()
                    await _refuse(send, 429, "rate_limited",
                                  f"too many requests from this {scope_name}; retry after "
                                  f"{wait:.2f} s", status,
                                  {"retry-after": str(max(1, round(wait + 0.499)))})
                    return
            await self.app(scope, _bounded(receive, status), sending)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/metrics" if path == "/metrics"
                                                        else "unmatched")
            code = status[0]
            m = svc.metrics
            m.latency.labels(template, scope["method"]).observe(seconds)
            m.answers.labels(template, str(code)).inc()
            if code >= 500:
                m.errors.labels(template).inc()
            if access_log.isEnabledFor(20):
                client = scope.get("client")
                access_log.info(
                    "%s %s %d %.1f ms", scope["method"], template, code, seconds * 1000,
                    extra={"method": scope["method"], "route": template, "status": code,
                           "ms": round(seconds * 1000, 2), "path": repr(path)[:200],
                           "client": client[0] if client else None,
                           "wallet": None if wallet is None else render(wallet,
                                                                        svc.profile)},
                )


def _bounded(receive: Any, status: list[int]) -> Any:
    """``receive`` that stops a streamed (chunked) body past MAX_BODY."""
    seen = [0]

    async def receiving() -> dict[str, Any]:
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > MAX_BODY:
                from .errors import ApiError

                raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY} bytes")
        return message

    return receiving


async def _refuse(send: Any, code: int, error: str, message: str, status: list[int],
                  headers: dict[str, str] | None = None) -> None:
    status[0] = code
    body = error_body(error, message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": body})
