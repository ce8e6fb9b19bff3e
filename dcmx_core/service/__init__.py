"""``dcmx serve``: the HTTP service over the indexed database (FastAPI, under uvicorn).

- :mod:`.app`: the application: core routes, plugins' routers (the ``dcmx_api_router``
  hook), errors as JSON;
- :mod:`.context`: :class:`Service`, what routes (and plugins) use;
- :mod:`.db`: read-only, short transactions, versions; :mod:`.cache`: answers under table
  versions; :mod:`.ratelimit`, :mod:`.auth`, :mod:`.once`: who calls and how often;
- :mod:`.guard`: body bound, rate limits, metrics and access log around every request;
- :mod:`.core_routes`: health, readiness, status, transactions, raw events, sign-in;
- :mod:`.writes`, :mod:`.write_routes`: transactions signed by the platform's key or
  returned unsigned to a wallet, broadcast, and waiting until indexed.

FastAPI, uvicorn and redis are imported here only (the ``serve`` extra): ``dcmx run`` never
loads them. ``Service`` and ``create_app`` are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .context import Service
    from .errors import ApiError

__all__ = ["ApiError", "Service", "create_app"]

_WHERE = {"ApiError": ".errors", "Service": ".context", "create_app": ".app"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value
