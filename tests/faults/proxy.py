"""A fault-injecting HTTP proxy: a real loopback server, in a thread, in front of a chain node.

It forwards every POST to an upstream (anvil's JSON-RPC URL, or an in-process function that
answers like a TRON node) and, on every Nth request of a kind, answers wrongly instead::

    proxy = FaultProxy(anvil_url, {"timeout": 23, "http_429": 7, "missing_logs": 3}, ...)
    source = JsonRpcSource(proxy.url, timeout=0.5)

Transport faults count every request; content faults count only the requests they can spoil
(``missing_logs`` counts ``eth_getLogs`` answers holding logs, ``lagging_head`` counts head
requests, ...). One request gets at most one fault; ``injected`` counts what was done, so a
test can assert that every kind really happened.

Transport faults (both protocols):

- ``timeout``: answer only after ``stall`` seconds (longer than the client's time-out);
- ``http_429`` / ``http_429_retry_after``: Too Many Requests, without / with ``Retry-After: 1``;
- ``http_5xx``: 502 and 503 in turn;
- ``drop``: close the socket without a byte of answer;
- ``truncated``: the upstream's answer cut in half (framed correctly: the JSON breaks);
- ``malformed``: an HTML error page with status 200, or valid JSON of the wrong shape.

Content faults, JSON-RPC:

- ``missing_logs``: drop the logs of one block from an ``eth_getLogs`` answer (``missing="some"``:
  drop one log of a block that has several);
- ``wrong_block_hash``: one log of an ``eth_getLogs`` answer carries another block hash;
- ``lagging_head``: ``eth_blockNumber`` answers ``lag`` blocks less (a replica behind);
- ``missing_block``: a header request answers ``null`` for the newest block asked for;
- ``reorg``: after answering a header request, call ``reorg()`` (``anvil_reorg``) before the
  client asks for the logs of those headers.

Content faults, TRON HTTP API:

- ``missing_logs``: drop one transaction info from ``gettransactioninfobyblocknum``;
- ``wrong_block_hash``: a block of the second of two identical ``getblockbylimitnext`` calls
  (the indexer's logs call after its headers call) carries another blockID;
- ``lagging_head``: ``getnowblock`` answers the block ``lag`` below the head;
- ``missing_block``: ``getblockbylimitnext`` leaves out the newest block asked for;
- ``reorg``: after answering a ``getblockbylimitnext``, call ``reorg()``.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRANSPORT_FAULTS = (
    "timeout",
    "http_429",
    "http_429_retry_after",
    "http_5xx",
    "drop",
    "truncated",
    "malformed",
)
CONTENT_FAULTS = ("missing_logs", "wrong_block_hash", "lagging_head", "missing_block", "reorg")
FAULTS = TRANSPORT_FAULTS + CONTENT_FAULTS

# An upstream: (path, request body) -> (status, answer body).
Upstream = Callable[[str, bytes], tuple[int, bytes]]


def http_upstream(url: str, timeout: float = 30.0) -> Upstream:
    """Forward to a real HTTP server (anvil)."""

    def forward(path: str, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(
            url.rstrip("/") + (path if path != "/" else ""),
            data=body,
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    return forward


class FaultProxy:
    def __init__(
        self,
        upstream: str | Upstream,
        every: dict[str, int],
        *,
        protocol: str = "jsonrpc",
        stall: float = 1.0,
        lag: int = 3,
        missing: str = "block",
        reorg: Callable[[], None] | None = None,
    ) -> None:
        unknown = set(every) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if protocol not in ("jsonrpc", "tron"):
            raise ValueError(protocol)
        self.upstream = http_upstream(upstream) if isinstance(upstream, str) else upstream
        self.every = dict(every)
        self.protocol = protocol
        self.stall = stall
        self.lag = lag
        self.missing = missing
        self.reorg = reorg
        self.enabled = True
        self.injected: Counter[str] = Counter()
        self.history: list[tuple[int, str, str]] = []  # (request number, fault, detail)
        self.requests = 0
        self._seen: Counter[str] = Counter()  # eligible requests per fault kind
        self._lock = threading.Lock()
        self._upstream_lock = threading.Lock()  # one upstream call at a time, as a node sees
        self._last_blocks_request: bytes | None = None
        self._flip = 0
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # the stdlib's naming
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                proxy._serve(self, self.path, body)

            def log_message(self, *args: object) -> None:
                pass

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- choosing a fault ------------------------------------------------------------------

    def _due(self, kind: str) -> bool:
        """Count one eligible request for ``kind``; True when it is that kind's Nth."""
        n = self.every.get(kind)
        if not n or not self.enabled:
            return False
        self._seen[kind] += 1
        return self._seen[kind] % n == 0

    def _hit(self, kind: str, detail: str = "") -> None:
        self.injected[kind] += 1
        self.history.append((self.requests, kind, detail))

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, path: str, body: bytes) -> None:
        with self._lock:
            self.requests += 1
            transport = next((k for k in TRANSPORT_FAULTS if self._due(k)), None)
            if transport is not None:
                self._hit(transport)
        if transport in ("http_429", "http_429_retry_after", "http_5xx"):
            headers = {"Retry-After": "1"} if transport == "http_429_retry_after" else {}
            status = 429 if transport.startswith("http_429") else 502 + self._next_flip()
            return _send(handler, status, b'{"error":"busy"}', headers)
        if transport == "drop":
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if transport == "timeout":
            time.sleep(self.stall)
        status, answer = self._answer(path, body)
        if transport == "truncated":
            answer = answer[: max(1, len(answer) // 2)]
        elif transport == "malformed":
            if self._next_flip():
                answer = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            else:
                answer = self._wrong_shape(body)
        return _send(handler, status, answer, {})

    def _next_flip(self) -> int:
        with self._lock:
            self._flip ^= 1
            return self._flip

    def _wrong_shape(self, body: bytes) -> bytes:
        if self.protocol == "tron":
            return b'{"unexpected": [1, 2, 3]}'
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        if isinstance(request, list):
            return json.dumps([{"id": r.get("id"), "result": 7} for r in request]).encode()
        return json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": {"x": 1}}).encode()

    def _call_upstream(self, path: str, body: bytes) -> tuple[int, bytes]:
        with self._upstream_lock:
            return self.upstream(path, body)

    def _answer(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.protocol == "jsonrpc":
            return self._jsonrpc(path, body)
        return self._tron(path, body)

    # -- JSON-RPC content faults ----------------------------------------------------------

    def _jsonrpc(self, path: str, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        methods = (
            [r.get("method") for r in request]
            if isinstance(request, list)
            else [request.get("method")]
        )
        status, answer = self._call_upstream(path, body)
        if status != 200:
            return status, answer
        reply = json.loads(answer)
        with self._lock:
            if methods == ["eth_getLogs"] and isinstance(reply.get("result"), list):
                logs = reply["result"]
                if logs and self._due("missing_logs") and (dropped := self._drop_logs(logs)):
                    self._hit("missing_logs", f"{request['params']} lost {dropped}")
                elif logs and self._due("wrong_block_hash"):
                    logs[len(logs) // 2]["blockHash"] = "0x" + hashlib.sha256(body).hexdigest()
                    self._hit("wrong_block_hash")
            elif methods == ["eth_blockNumber"] and self._due("lagging_head"):
                reply["result"] = hex(max(0, int(reply["result"], 16) - self.lag))
                self._hit("lagging_head")
            elif methods and set(methods) == {"eth_getBlockByNumber"} and _by_number(request):
                items = reply if isinstance(reply, list) else [reply]
                if self._due("missing_block"):
                    newest = max(items, key=lambda r: _number(r.get("result")))
                    newest["result"] = None
                    self._hit("missing_block")
                elif self.reorg is not None and self._due("reorg"):
                    self.reorg()
                    self._hit("reorg")
        return status, json.dumps(reply).encode()

    def _drop_logs(self, logs: list[dict[str, Any]]) -> str | None:
        by_block: dict[str, list[int]] = {}
        for i, log in enumerate(logs):
            by_block.setdefault(log["blockNumber"], []).append(i)
        if self.missing == "some":
            several = [ix for ix in by_block.values() if len(ix) >= 2]
            if not several:
                return None
            drop = {several[0][-1]}
        else:
            drop = set(max(by_block.values(), key=len))
        lost = sorted({logs[i]["blockNumber"] for i in drop})
        logs[:] = [log for i, log in enumerate(logs) if i not in drop]
        return f"logs of block(s) {lost}"

    # -- TRON content faults --------------------------------------------------------------

    def _tron(self, path: str, body: bytes) -> tuple[int, bytes]:
        if path == "/wallet/getnowblock":
            with self._lock:
                lagging = self._due("lagging_head")
            if lagging:
                status, answer = self._call_upstream(path, body)
                head = json.loads(answer)["block_header"]["raw_data"].get("number", 0)
                n = max(0, head - self.lag)
                status, answer = self._call_upstream(
                    "/wallet/getblockbylimitnext",
                    json.dumps({"startNum": n, "endNum": n + 1}).encode(),
                )
                with self._lock:
                    self._hit("lagging_head")
                return status, json.dumps(json.loads(answer)["block"][0]).encode()
        status, answer = self._call_upstream(path, body)
        if status != 200:
            return status, answer
        reply = json.loads(answer)
        with self._lock:
            if path == "/wallet/getblockbylimitnext":
                repeated = body == self._last_blocks_request
                self._last_blocks_request = body
                blocks = reply.get("block", []) if isinstance(reply, dict) else []
                if blocks and self._due("missing_block"):
                    blocks.pop()
                    self._hit("missing_block")
                elif blocks and repeated and self._due("wrong_block_hash"):
                    spoilt = blocks[len(blocks) // 2]
                    tail = hashlib.sha256(spoilt["blockID"].encode()).hexdigest()[16:]
                    spoilt["blockID"] = spoilt["blockID"][:16] + tail
                    self._hit("wrong_block_hash")
                elif blocks and self.reorg is not None and self._due("reorg"):
                    self.reorg()
                    self._hit("reorg")
            elif path == "/wallet/gettransactioninfobyblocknum":
                if isinstance(reply, list) and reply and self._due("missing_logs"):
                    reply.pop(len(reply) // 2)
                    self._hit("missing_logs")
        return status, json.dumps(reply).encode()


def _by_number(request: Any) -> bool:
    """A header request for numbered blocks (not the ``finalized`` tag)."""
    items = request if isinstance(request, list) else [request]
    return all(str(r["params"][0]).startswith("0x") for r in items)


def _number(result: Any) -> int:
    return int(result["number"], 16) if isinstance(result, dict) else -1


def _send(
    handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]
) -> None:
    try:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up waiting: what time-outs are for
