"""A real HTTP/1.1 server on loopback, in a thread, answering POSTs from a Python function.

Sources are tested over real sockets (keep-alive, time-outs, status codes and all); only the
node behind the socket is replaced: by recorded TRON answers, a synthetic chain, or a proxy in
front of anvil that misbehaves on purpose.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes as they are; anything else is sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    path: str
    body: bytes
    headers: dict[str, str]
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Seen], Reply]


class StubServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        stub = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real nodes do

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle + delayed ACK
                # add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # the stdlib's naming
                length = int(self.headers.get("content-length", 0))
                seen = Seen(
                    self.path,
                    self.rfile.read(length),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.client_address[1],
                )
                with stub._lock:
                    stub.seen.append(seen)
                reply = stub.handler(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that is what time-out tests do

            def log_message(self, *args: object) -> None:
                pass

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Faults:
    """Answers the next requests with canned failures before letting them through."""

    def __init__(self) -> None:
        self._queue: list[Reply] = []

    def add(self, reply: Reply, times: int = 1) -> None:
        self._queue.extend([reply] * times)

    def next(self) -> Reply | None:
        return self._queue.pop(0) if self._queue else None
