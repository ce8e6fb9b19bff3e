"""The :class:`~dcmx_core.http.HttpClient` a TRON transport talks to its node through.

Reads (constant calls, the reference block, receipts) and writes (broadcasts) go through the
same client as the node sources, with the same retries, back-off, pacing, time-outs and
redacted messages. A transport is given a node URL (the client is made here), a ready
``HttpClient`` (to share one, its pace and its stats), or, for code written against earlier
versions, a ``tronpy.Tron`` client, whose endpoint, time-out and API key are taken over: tronpy
itself sends nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import ConfigError
from ..http import HttpClient, Pacer, check_url
from ..redaction import register_secret

__all__ = ["API_KEY_HEADER", "node_client"]

API_KEY_HEADER = "TRON-PRO-API-KEY"

# A transport's defaults: the node sources' retry policy, and a few connections so that a
# service sending from several threads is not served one request at a time.
TIMEOUT = 10.0
MAX_RETRIES = 5
BACKOFF = 0.25
CONNECTIONS = 4


def node_client(
    client: Any,
    *,
    api_key: str | None = None,
    request_timeout: float | None = None,
    max_retries: int | None = None,
    backoff: float | None = None,
    max_rate: float | None = None,
) -> tuple[HttpClient, bool]:
    """``(the client, whether the caller made it here and so closes it)``."""
    options = {
        "api_key": api_key,
        "request_timeout": request_timeout,
        "max_retries": max_retries,
        "backoff": backoff,
        "max_rate": max_rate,
    }
    if isinstance(client, HttpClient):
        given = sorted(name for name, value in options.items() if value is not None)
        if given:
            raise ConfigError(
                f"{', '.join(given)} cannot be applied to a ready HttpClient: give the node URL "
                "instead, or make the HttpClient with them"
            )
        return client, False
    headers: dict[str, str] = {}
    if isinstance(client, str):
        url = client
    else:
        url, tronpy_timeout, headers = _from_tronpy(client)
        if request_timeout is None:
            request_timeout = tronpy_timeout
    if api_key is not None:
        if not api_key.strip():
            raise ConfigError("api_key is empty; pass None to send no key")
        register_secret(api_key)
        headers[API_KEY_HEADER] = api_key
    made = HttpClient(
        check_url(url, "TRON node"),
        timeout=TIMEOUT if request_timeout is None else request_timeout,
        max_retries=MAX_RETRIES if max_retries is None else max_retries,
        backoff=BACKOFF if backoff is None else backoff,
        headers=headers,
        connections=CONNECTIONS,
        pacer=None if max_rate is None else Pacer(max_rate),
    )
    return made, True


def _from_tronpy(client: Any) -> tuple[str, float | None, dict[str, str]]:
    """Endpoint, time-out and credentials of a ``tronpy.Tron`` client's HTTP provider."""
    provider = getattr(client, "provider", None)
    url = getattr(provider, "endpoint_uri", None)
    if not isinstance(url, str):
        raise ConfigError(
            "the node must be given as an http(s) URL, an HttpClient or a tronpy.Tron client "
            f"with an HTTP provider; got a {type(client).__name__}"
        )
    timeout = getattr(provider, "timeout", None)
    headers: dict[str, str] = {}
    session_headers = getattr(getattr(provider, "sess", None), "headers", None) or {}
    key = session_headers.get(API_KEY_HEADER)  # requests' headers ignore case
    if not key and getattr(provider, "use_api_key", False):
        # For TronGrid URLs tronpy rotates the keys it was given, or its own shared ones when it
        # was given none: those are not the user's to send from here.
        http = sys.modules.get("tronpy.providers.http")
        shared = set(getattr(http, "DEFAULT_API_KEYS", ()))
        key = next((k for k in getattr(provider, "_api_keys", ()) if k not in shared), None)
    if key:
        headers[API_KEY_HEADER] = str(key)
    token = getattr(provider, "jw_token", None)
    if token:
        register_secret(str(token))
        headers["Authorization"] = f"Bearer {token}"
    return url, float(timeout) if isinstance(timeout, int | float) else None, headers
