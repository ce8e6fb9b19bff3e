"""SIGINT/SIGTERM stop `dcmx run` within moments even when the node has gone slow.

Reported: with a slow node a stop took 138-186 s, the loop waiting for the batch, the range
fetched ahead and retry back-offs. Here a real `dcmx run` subprocess indexes through the fault
proxy; once it has committed some batches the proxy stalls every answer for ten minutes, and
the signal must end the process (exit status 130) long before any answer could come: the
``communicate`` time-out is the bound, far below the stall. The database then holds exactly
what a clean run up to its cursor holds: nothing half-written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from core.snapshot import dump_tables

from dcmx_core.store import create_engine

from .proxy import FaultProxy

pytestmark = [pytest.mark.anvil]

STALL = 600.0  # the slow node: an answer every ten minutes
BOUND = 60.0  # what the stop may take at most here (the report: 138-186 s)


def _argv(db: str, source: str, contracts: list[str], *args: str) -> list[str]:
    return [sys.executable, "-m", "dcmx_core.cli", "--log-format", "json", "run", "--db", db,
            "--source-kind", "jsonrpc", "--confirmations", "4", "--batch-blocks", "2",
            "--source", source, *contracts, *args]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DCMX_")}


def _cursor(db: str) -> int | None:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("dcmx_cursor"):
                return None
            return conn.execute(sa.text("SELECT block_number FROM dcmx_cursor")).scalar()
    finally:
        engine.dispose()


def _wait_for(check, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT,),
                                     (signal.SIGINT, signal.SIGINT)],
                         ids=["sigterm", "sigint", "sigint-twice"])
def test_a_signal_stops_a_run_on_a_slow_node_at_once(platform, db_url, tmp_path, signals):
    head = platform.w3.eth.block_number
    contracts = [f"--contract={n}=0x{a.hex()}" for n, a in platform.addresses.items()]
    with FaultProxy(platform.url, {}, stall=STALL) as node:
        run = subprocess.Popen(
            _argv(db_url, node.url, contracts, "--follow", "--poll-interval", "1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        )
        try:
            # Some batches committed, then the node goes slow mid-run.
            _wait_for(lambda: (_cursor(db_url) or -1) >= 6, "a few committed batches")
            node.every = {"timeout": 1}
            stalled_from = node.requests
            _wait_for(lambda: node.requests > stalled_from, "a request to the slow node")
            time.sleep(0.3)  # the request is now being waited for
            for s in signals:
                run.send_signal(s)
                time.sleep(0.05)
            try:
                _, stderr = run.communicate(timeout=BOUND)
            except subprocess.TimeoutExpired:
                pytest.fail(f"dcmx run did not stop within {BOUND:.0f} s of {signals}")
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
        node.every = {}
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    cursor = _cursor(db_url)
    assert cursor is not None and 6 <= cursor <= head
    # Nothing half-written: exactly what a clean run to the same block holds.
    clean_db = f"sqlite:///{tmp_path / 'clean.db'}"
    clean = subprocess.run(
        _argv(clean_db, platform.url, contracts, "--to-block", str(cursor)),
        capture_output=True, text=True, env=_env(), timeout=300,
    )
    assert clean.returncode == 0, clean.stderr
    assert dump_tables(create_engine(db_url)) == dump_tables(create_engine(clean_db))


class _Busy(BaseHTTPRequestHandler):
    """A node that is always overloaded: 503 on every request, come back in 55 s."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(503)
        self.send_header("Retry-After", "55")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("kind", ["jsonrpc", "tron"])
def test_stop_from_another_thread_ends_a_retry_back_off(sqlite_url, kind):
    """An embedding program's stop() (no signal) ends the loop's wait between retries at once:
    the back-off waits on the loop's stop event."""
    from dcmx_core import Contract, Indexer
    from dcmx_core.sources.jsonrpc import JsonRpcSource
    from dcmx_core.sources.tron_http import TronHttpSource
    from dcmx_generated import dcmx_token

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    server.hits = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # Five retries 55 s apart: only the stop can end them within the test's bound.
    source = JsonRpcSource(url) if kind == "jsonrpc" else TronHttpSource(url)
    indexer = Indexer(source, sqlite_url, [Contract("DCMXToken", dcmx_token, (b"\x11" * 20,))])
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            indexer.run(10)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.hits >= 1, "a request to the busy node", limit=30)
        time.sleep(0.2)  # now in the back-off
        indexer.stop()
        thread.join(BOUND)
        assert not thread.is_alive(), "stop() did not end the retry back-off"
        assert errors == []
    finally:
        source.close()
        server.shutdown()
        server.server_close()
