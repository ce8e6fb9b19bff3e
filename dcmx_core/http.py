"""The one HTTP client of dcmx: JSON POSTs to a chain node, retried, paced, safely reported.

The node sources (reads) and the TRON transport (calls and transactions) talk to nodes through
:class:`HttpClient`. Nodes fail in a handful of transient ways (rate limits, 5xx from a load
balancer, dropped connections, slow answers, truncated bodies). All of them are retried here
with exponential back-off and jitter, so callers only see answers that parsed, or one
:class:`~dcmx_core.errors.SourceError` that says what happened, where, and what to do.

Messages never carry credentials nor what was sent: URLs are redacted once, up front; a
request body is never quoted; what a node answers is quoted only through
:func:`~dcmx_core.redaction.redact`, with the values a caller names as ``conceal`` masked too
(a node may echo the request it refuses).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import ConfigError, SourceError
from .redaction import MASK, redact, redact_url

__all__ = [
    "MAX_RETRY_AFTER",
    "RATE_LIMIT_PAUSE",
    "HttpClient",
    "Inconsistent",
    "Malformed",
    "Pacer",
    "Stats",
    "TimedOut",
    "check_url",
    "hex_bytes",
    "hex_int",
    "json_field",
    "json_int",
    "pause",
    "quote",
]

T = TypeVar("T")

# Waiting longer than this on a server's say-so stalls the indexer more than failing would.
MAX_RETRY_AFTER = 60.0
# TronGrid answers a client over its request rate with HTTP 403 and "The key exceeds the
# frequency limit(15), and the query server is suspended for 30s": a pause, not a refusal.
RATE_LIMIT_PAUSE = 30.0
_RATE_LIMITED = re.compile(r"frequency limit", re.IGNORECASE)


class Malformed(ValueError):
    """An answer that is not what the API documents (bad JSON, missing field, wrong type)."""


class Inconsistent(Malformed):
    """An answer that parses but contradicts itself or the request (a node mid-reorg, a replica
    behind its load balancer's other replicas, a log missing from its block). Retried like a
    malformed answer, with the patience of a failed connection (``max_retries``): such nodes
    usually come right within seconds."""


class TimedOut(SourceError):
    """A read time-out the caller asked to see instead of a retry (to shrink its request)."""


@dataclass
class Stats:
    """Counters a source keeps; tests and metrics read them, nothing depends on them."""

    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    range_shrinks: int = 0
    range_grows: int = 0
    last_request_at: float | None = None  # time.monotonic() of the last request sent
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str) -> None:
        """Add one to counter ``name`` (sources may call their node from several threads)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
            if name == "requests":
                self.last_request_at = time.monotonic()


class Pacer:
    """Spaces requests at least ``1 / max_rate`` seconds apart, over all threads that share it.

    Hosted nodes cap requests per second per key (TronGrid: 15) and answer a client over the
    cap with a long pause (30 s); a client that paces itself never meets it, and with several
    requests in flight still hides the node's latency up to the cap. Strict spacing, no
    bursts: a burst is what those caps count.
    """

    def __init__(self, max_rate: float) -> None:
        if isinstance(max_rate, bool) or not isinstance(max_rate, int | float) or max_rate <= 0:
            raise ConfigError(f"max_rate (requests per second) must be > 0, got {max_rate!r}")
        self.gap = 1.0 / max_rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Return at this caller's turn (its slot is taken at once; the wait is outside the
        lock, so other threads take the following slots meanwhile)."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.gap
        if at > now:
            time.sleep(at - now)


def check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{what} URL {redact_url(url)!r} is not an http(s) URL; "
            "give one like http://127.0.0.1:8545"
        )
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def hex_bytes(value: Any, field: str, size: int | None = None) -> bytes:
    """Hex text (with or without ``0x``: TRON's HTTP API omits it) to bytes of ``size``."""
    if not isinstance(value, str):
        raise Malformed(f"{field} is {type(value).__name__}, expected a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise Malformed(f"{field} is not hex: {value[:80]!r}") from None
    if size is not None and len(raw) != size:
        raise Malformed(f"{field} has {len(raw)} bytes, expected {size}")
    return raw


def hex_int(value: Any, field: str) -> int:
    """A JSON-RPC quantity (``0x``-prefixed hex) to int."""
    if not isinstance(value, str) or value[:2] not in ("0x", "0X") or len(value) < 3:
        raise Malformed(f"{field} is {value!r}, expected a 0x-prefixed hex quantity")
    try:
        return int(value, 16)
    except ValueError:
        raise Malformed(f"{field} is {value!r}, expected a 0x-prefixed hex quantity") from None


# What a response's stream is replaced with once its body is read (see HttpClient._attempts).
_READ = httpx.ByteStream(b"")


def json_field(obj: Any, key: str, what: str) -> Any:
    """``obj[key]`` of a JSON object, or Malformed saying which of the two was missing."""
    if not isinstance(obj, dict):
        raise Malformed(f"{what} is {type(obj).__name__}, expected an object")
    try:
        return obj[key]
    except KeyError:
        raise Malformed(f"{what} lacks {key!r}") from None


def json_int(value: Any, field: str) -> int:
    """A JSON number that must be an integer (TRON's HTTP API)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{field} is {value!r}, expected an integer")
    return value


# What a parser raises on an answer that does not fit. Malformed is the deliberate one; the
# others are a safety net so that a shape nobody foresaw still ends as a SourceError.
_UNFIT = (
    Malformed,
    json.JSONDecodeError,
    UnicodeDecodeError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
)


class HttpClient:
    """POSTs JSON to one node over reused keep-alive connections (``connections`` of them, for
    callers that post from several threads), retrying what is transient, each attempt at the
    pace of ``pacer`` when there is one.

    ``parse`` turns a decoded body into the caller's value inside the retry loop, so an answer
    that decodes but does not fit (missing field, wrong type: :class:`Malformed`) is retried
    like a dropped connection, though only ``malformed_retries`` times: a node that keeps
    answering nonsense will not start making sense.

    Every attempt sends the same bytes, so only idempotent requests belong here: reads, and
    TRON broadcasts (a signed transaction has a fixed id; a node takes it at most once).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float = 10.0,
        malformed_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        stats: Stats | None = None,
        connections: int = 1,
        pacer: Pacer | None = None,
    ) -> None:
        if max_retries < 0 or timeout <= 0 or backoff < 0 or connections < 1:
            raise ConfigError(
                "timeout must be > 0, max_retries and backoff >= 0, connections >= 1"
            )
        self.url = url
        self.safe_url = redact_url(url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.malformed_retries = malformed_retries
        self.stats = stats if stats is not None else Stats()
        self.pacer = pacer
        # Set by the indexing loop (bind_stop on a source): a back-off ends when it is set.
        self.stop: threading.Event | None = None
        self._client = httpx.Client(
            timeout=timeout,
            headers={"content-type": "application/json", **(headers or {})},
            limits=httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            ),
        )

    def __repr__(self) -> str:
        return f"HttpClient({self.safe_url!r})"

    def __reduce__(self) -> Any:
        # its headers may hold an API key; a connection pool does not travel anyway
        raise TypeError("an HttpClient cannot be pickled")

    def close(self) -> None:
        self._client.close()

    def post(
        self,
        path: str,
        payload: Any,
        parse: Callable[[Any], T],
        *,
        what: str,
        timeout_raises: bool = False,
        conceal: Iterable[str] = (),
        on_retry: Callable[[str], None] | None = None,
    ) -> T:
        """POST ``payload`` to ``url + path`` and return ``parse(decoded body)``.

        ``what`` names the call in messages (a JSON-RPC method, an API path). With
        ``timeout_raises`` a read time-out raises :class:`TimedOut` at once, for callers that
        would rather ask for less than ask again. ``conceal`` lists values of the request that
        no message may show, should the node echo them. ``on_retry(problem)`` is called before
        each new attempt (a caller that writes logs it).
        """
        body = json.dumps(payload, separators=(",", ":")).encode()
        hide = tuple(v for v in conceal if v)
        # A failure is raised from this frame, once the request and the values to conceal are
        # gone from it: a traceback that shows locals (pytest --showlocals, error trackers)
        # must not show a signed transaction, nor a URL's API key.
        del payload, conceal
        ok, outcome = self._attempts(path, body, parse, what, timeout_raises, hide, on_retry)
        del body, hide
        if not ok:
            raise outcome
        parsed: T = outcome
        return parsed

    def _attempts(
        self,
        path: str,
        body: bytes,
        parse: Callable[[Any], T],
        what: str,
        timeout_raises: bool,
        hide: tuple[str, ...],
        on_retry: Callable[[str], None] | None,
    ) -> tuple[bool, Any]:
        """``(True, parsed answer)``, or ``(False, the SourceError to raise)``."""
        target = _join(self.url, path)
        failures = 0
        malformed = 0
        while True:
            retry_after: float | None = None
            if self.pacer is not None:
                self.pacer.wait()
            self.stats.count("requests")
            try:
                response = self._client.post(target, content=body)
                # The response and its stream refer to each other: without this it is freed
                # by the cyclic collector only, which the indexer holds off during a step, so
                # every answer's body (4 MB for 15,000 logs) lived until the step ended.
                response.stream = _READ
            except httpx.TimeoutException as exc:
                self.stats.count("timeouts")
                problem = f"timed out after {self.timeout:g} s ({type(exc).__name__})"
                if timeout_raises and isinstance(exc, httpx.ReadTimeout):
                    return False, TimedOut(self._message(what, problem, 1, hide))
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    problem = f"HTTP {status}"
                    retry_after = _retry_after(response.headers.get("retry-after"))
                elif status == 403 and _RATE_LIMITED.search(response.text):
                    problem = f"rate-limited (HTTP 403: {quote(response.text, hide, 120)})"
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    if retry_after is None:
                        retry_after = RATE_LIMIT_PAUSE
                elif status >= 400 and status != 400:
                    # 400 may carry a JSON-RPC error the parser understands (a range limit).
                    return False, SourceError(self._refused(what, status, response.text, hide))
                else:
                    try:
                        decoded = json.loads(response.content)
                        return True, parse(decoded)
                    except _UNFIT as exc:
                        if status == 400:
                            return False, SourceError(
                                self._refused(what, status, response.text, hide)
                            )
                        detail = str(exc) if isinstance(exc, Malformed) else repr(exc)
                        if isinstance(exc, Inconsistent):
                            # Counted as a failure only: the node may settle within seconds.
                            problem = f"inconsistent answer: {detail}"
                        else:
                            problem = f"malformed answer: {detail}"
                            malformed += 1
                        if malformed > self.malformed_retries:
                            message = self._message(what, problem, failures + 1, hide)
                            return False, SourceError(message)
            failures += 1
            if failures > self.max_retries:
                return False, SourceError(self._message(what, problem, failures, hide))
            self.stats.count("retries")
            if on_retry is not None:
                on_retry(_safe(problem, hide))
            if pause(self.stop, self._delay(failures, retry_after)):
                return False, SourceError(
                    f"{what} at {self.safe_url}: stopped while waiting to retry "
                    f"({_safe(problem, hide)})"
                )

    def _delay(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        # "Equal jitter": never hammer at once, never wait less than half the nominal back-off,
        # so that several indexers behind one node do not retry in lock-step.
        nominal = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
        return float(nominal / 2 + random.uniform(0, nominal / 2))

    def _message(self, what: str, problem: str, attempts: int, hide: tuple[str, ...]) -> str:
        return (
            f"{what} at {self.safe_url} failed after {attempts} attempt(s): "
            f"{_safe(problem, hide)}. Check that the node is up and reachable and not "
            "rate-limiting this client; raise the timeout or max_retries, or use another node."
        )

    def _refused(self, what: str, status: int, text: str, hide: tuple[str, ...]) -> str:
        hint = {
            401: "the node wants credentials: check the API key",
            403: "the node refused access: check the API key and its allowed origins",
            404: "no such endpoint: check the URL path (TRON serves JSON-RPC at /jsonrpc)",
            405: "method not allowed: check the URL path",
        }.get(status, "the request was rejected; check the URL and the node's API")
        snippet = quote(text, hide)
        return f"{what} at {self.safe_url} got HTTP {status} ({snippet!r}): {hint}"


def pause(stop: threading.Event | None, seconds: float) -> bool:
    """Sleep ``seconds``, less when ``stop`` is set; True when stopping."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


def quote(text: str, conceal: Iterable[str] = (), size: int = 200) -> str:
    """What a message may show of a node's words: redacted, the ``conceal`` values masked, on
    one line, at most ``size`` characters (masked before it is cut, so that no cut-off part of
    a concealed value stays)."""
    return " ".join(_safe(str(text), tuple(v for v in conceal if v)).split())[:size]


def _safe(text: str, hide: tuple[str, ...]) -> str:
    for value in hide:
        text = text.replace(value, MASK)
    return redact(text)


def _join(url: str, path: str) -> str:
    """``path`` appended to the URL's path, its query (an API key, often) kept at the end."""
    if not path:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
