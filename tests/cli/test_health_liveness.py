"""``/health`` follows the loop's signs of life, not batch length; the metrics server holds up
against clients that stall, hang up or come by the dozen.

Reported: ``/health`` answered 503 during a long first batch, so a supervisor would restart a
healthy indexer in a loop; the server had no per-connection time-out, no bound on its threads,
and printed tracebacks when a client disconnected.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from dcmx_core import Indexer
from dcmx_core.http import Stats
from dcmx_core.metrics import MAX_CLIENTS, Metrics, serve
from dcmx_core.sources.memory import MemoryChain, transfer_log

TOKEN = bytes.fromhex("11" * 20)  # the saved chain's token (tests/cli/conftest.py)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class SlowNode(MemoryChain):
    """A node that answers the logs of a range request by request, for as long as the test
    holds it (a first batch of many pages); ``answering`` False: it hangs without a word."""

    def __init__(self) -> None:
        super().__init__(finality_depth=3)
        self.stats = Stats()
        self.inside = threading.Event()
        self.release = threading.Event()
        self.answering = True

    def logs(self, start, end, addresses, topics0=None):
        self.inside.set()
        while not self.release.wait(0.05):
            if self.answering:
                self.stats.count("requests")
        return super().logs(start, end, addresses, topics0)


def test_health_stays_200_through_a_long_first_batch_and_503_when_the_loop_hangs(tmp_path):
    from dcmx_plugins import platform_contracts

    chain = SlowNode()
    chain.extend(5, [transfer_log(TOKEN, WALLETS[0], WALLETS[1], 1)])
    indexer = Indexer(chain, f"sqlite:///{tmp_path / 'h.db'}",
                      platform_contracts({"DCMXToken": TOKEN}), poll_interval=0.1)
    metrics = Metrics(poll_interval=0.1)
    metrics.attach(indexer)
    server = serve(metrics, 0)
    base = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=indexer.run, daemon=True)
    thread.start()
    try:
        assert chain.inside.wait(30)
        # The batch has been fetching for 100 s: no step ever completed, and the loop's own
        # last beat (before the fetch) is as old; the node's answers keep coming.
        long_ago = time.monotonic() - 100
        metrics.started = indexer.last_beat_at = long_ago
        time.sleep(0.2)
        status, body = get(base + "/health")
        assert status == 200, body
        assert body["last_step_age_s"] >= 100 and body["last_beat_age_s"] < 5
        # The node stops answering and nothing else moves: after the limit, 503.
        chain.answering = False
        chain.stats.last_request_at = long_ago
        status, body = get(base + "/health")
        assert status == 503 and body["last_beat_age_s"] >= 100, body
    finally:
        chain.release.set()
        thread.join(30)
        server.close()
    assert not thread.is_alive()
    assert indexer.cursor() == 5


def test_waiting_for_blocks_is_alive(tmp_path):
    from dcmx_plugins import platform_contracts

    chain = MemoryChain(finality_depth=3)
    chain.extend(5, [transfer_log(TOKEN, WALLETS[0], WALLETS[1], 1)])
    indexer = Indexer(chain, f"sqlite:///{tmp_path / 'w.db'}",
                      platform_contracts({"DCMXToken": TOKEN}), poll_interval=0.1)
    metrics = Metrics(poll_interval=0.1)
    metrics.attach(indexer)
    thread = threading.Thread(target=indexer.run, args=(50,), daemon=True)  # 45 blocks to come
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while indexer.cursor() != 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        metrics.started = indexer.last_step_at = time.monotonic() - 100
        time.sleep(0.6)  # a few waits for the head
        ok, body = metrics.healthy()
        assert ok and body["last_beat_age_s"] < 5, body
    finally:
        indexer.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_the_metrics_server_bounds_its_clients_and_lets_stalled_ones_go(capfd):
    metrics = Metrics()
    server = serve(metrics, 0)  # loopback unless told otherwise
    assert server.host == "127.0.0.1"
    server.close()
    from dcmx_core.metrics import MetricsServer

    server = MetricsServer(metrics, 0, client_timeout=0.5)
    base = f"http://127.0.0.1:{server.port}"
    before = threading.active_count()
    idle = []
    try:
        # Thirty clients connect and send nothing.
        for _ in range(30):
            idle.append(socket.create_connection(("127.0.0.1", server.port)))
        time.sleep(0.3)
        assert threading.active_count() <= before + MAX_CLIENTS
        # Each is let go after its time-out, and a real client is then answered.
        status, _ = get(base + "/health")
        assert status == 200
        # Clients that hang up mid-answer leave no traceback in the output.
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # a reset, not a polite close
        status, _ = get(base + "/health")
        assert status == 200
    finally:
        for s in idle:
            s.close()
        server.close()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert "Exception occurred during processing" not in out + err


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
def test_a_client_stalled_mid_request_is_dropped(path):
    from dcmx_core.metrics import MetricsServer

    server = MetricsServer(Metrics(), 0, client_timeout=0.3)
    try:
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(f"GET {path} HTTP/1.1\r\n".encode())  # and never the rest
        s.settimeout(10)
        assert s.recv(100) == b""  # closed by the server after its time-out
        s.close()
    finally:
        server.close()
