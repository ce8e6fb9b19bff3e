"""The database goes away under ``dcmx serve``: reads answer 503 (JSON, Retry-After), a write
that needs the read model is refused before anything is signed or sent, the process stays up,
and everything works again once the database is back.

PostgreSQL is reached through a TCP gate of this test's, which can cut every connection and
refuse new ones: the server itself (shared by other tests) is never stopped.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from dcmx_core.addresses import to_tron
from dcmx_plugins.demo import run_demo
from tests.transactions.tx_tron_node import FakeTronNode

from .conftest import served
from .test_serve_reads import sign_in
from .test_write_flows_tron import ADMIN, CONTRACTS, MINT


class TcpGate:
    """A loopback TCP forwarder to ``upstream`` that can be shut (``down``) and opened
    (``up``)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self) -> None:
        self.open = False
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.sockets.clear()

    def up(self) -> None:
        self.open = True

    def close(self) -> None:
        self.down()
        self.listener.close()


@pytest.fixture
def gated(pg_url):
    """The demo's platform indexed into a fresh PostgreSQL schema, and a gate in front."""
    result = run_demo(pg_url, rounds=4, seed=3, window=128)
    result["engine"].dispose()
    parts = urlsplit(pg_url)
    gate = TcpGate((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    url = urlunsplit(parts._replace(netloc=f"{netloc}:{gate.port}"))
    try:
        yield url, gate
    finally:
        gate.close()


def test_database_down_is_503_and_nothing_is_sent(gated, tmp_path):
    url, gate = gated
    node = FakeTronNode(token=CONTRACTS["DCMXToken"])
    contracts = [f"--contract={n}={to_tron(a)}" for n, a in CONTRACTS.items()]
    env = {"DCMX_PRIVATE_KEY": ADMIN.hex()}
    with served(url, "--source", "tron+" + node.url.rstrip("/"), *contracts, env=env,
                log=tmp_path / "serve.log") as base, httpx.Client(base_url=base,
                                                                  timeout=30) as api:
        token, admin = sign_in(api, tron=ADMIN)
        nft = api.get("/api/v1/nfts/1")
        assert nft.status_code == 200
        owner = nft.json()["owner"]
        body = {**MINT, "to": admin, "royalty_receiver": admin}
        before = len(node.seen)

        gate.down()
        for path in ("/api/v1/nfts/2", f"/api/v1/wallets/{owner}/balance", "/api/v1/status",
                     "/api/v1/events/DCMXToken/Transfer"):
            r = api.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.json()["error"] == "database_unavailable" and r.headers["retry-after"]
        # a cached answer needs the versions of now: not served from the cache either
        assert api.get("/api/v1/nfts/1").status_code == 503
        assert api.get("/ready").status_code == 503
        assert api.get("/health").status_code == 200
        r = api.post("/api/v1/nft/mint", json=body, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 503 and r.json()["error"] == "database_unavailable"
        assert len(node.seen) == before  # the role check failed: nothing built, signed, sent

        gate.up()
        assert api.get("/api/v1/nfts/1").json()["owner"] == owner
        assert api.get("/api/v1/nfts/2").status_code == 200
        r = api.post("/api/v1/nft/mint", json=body, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert [b["tx"]["txID"] for b in node.broadcasts] == [r.json()["txid"]]
    log = (tmp_path / "serve.log").read_text()
    assert "database unavailable" in log and ADMIN.hex() not in log and token not in log
