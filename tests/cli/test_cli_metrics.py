"""/metrics, /health and /ready scraped during real runs; SIGTERM/SIGINT stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from dcmx_core import Indexer
from dcmx_core.metrics import Metrics, serve
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store import create_engine

# The chain's token and wallets, defined here: a bare `conftest` import resolves to whichever
# tests folder's conftest pytest loaded first.
TOKEN = bytes.fromhex("11" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DCMX = str(Path(sys.executable).with_name("dcmx"))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed:\n{text}")


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_follow_run_serves_metrics_and_stops_on_signal(chain_file, token_config, tmp_path, sig):
    path, transfers = chain_file
    port = free_port()
    db = tmp_path / "follow.db"
    env = {**os.environ, "DCMX_METRICS_PORT": str(port)}
    env.pop("DCMX_DATABASE_URL", None)
    proc = subprocess.Popen(
        [DCMX, "--config", str(token_config), "--log-format", "json", "run", "--follow",
         "--source", f"file:{path}", "--db", str(db), "--plugins", "token"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return get(base + "/ready")[0] == 200
            except OSError:
                return proc.poll() is not None and pytest.fail(proc.stderr.read())
        wait_for(ready, what="/ready")
        status, body = get(base + "/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = get(base + "/ready")
        assert json.loads(body)["lag_blocks"] == 0
        status, text = get(base + "/metrics")
        assert status == 200
        assert metric(text, "dcmx_events_indexed_total") == transfers
        assert metric(text, "dcmx_blocks_indexed_total") == 61  # genesis + 60
        assert metric(text, "dcmx_cursor_block") == 60
        assert metric(text, "dcmx_head_block") == 60
        assert metric(text, "dcmx_lag_blocks") == 0
        assert metric(text, "dcmx_finalized_lag_blocks") == 0
        assert metric(text, "dcmx_batch_seconds_count") >= 2
        assert metric(text, "dcmx_forks_total") == 0
        assert metric(text, "dcmx_source_retries_total") == 0
        assert get(base + "/nope")[0] == 404
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err  # interrupted, the database as committed
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(r.get("signal") == signal.Signals(sig).name for r in records), err
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from transaction_index")).scalar() == 60


def test_ready_follows_the_lag_and_health_the_loop(tmp_path):
    """An in-process follow loop on a memory chain that grows while it runs."""
    from dcmx_plugins import platform_contracts

    chain = MemoryChain(finality_depth=3)
    chain.extend(5, [transfer_log(TOKEN, WALLETS[0], WALLETS[1], 1)])
    indexer = Indexer(
        chain, f"sqlite:///{tmp_path / 'm.db'}", platform_contracts({"DCMXToken": TOKEN}),
        entry_points=True, only_plugins=["token"], window=6, poll_interval=0.1,
    )
    metrics = Metrics(poll_interval=0.1, ready_lag=3)
    metrics.attach(indexer)
    server = serve(metrics, 0)
    base = f"http://127.0.0.1:{server.port}"
    assert get(base + "/ready")[0] == 503  # nothing indexed, head unknown
    # Throttle the loop so the chain can run ahead of it.
    gate = threading.Event()
    gate.set()
    real_head = chain.head

    def slow_head():
        gate.wait()
        return real_head()

    chain.head = slow_head  # type: ignore[method-assign]
    thread = threading.Thread(target=indexer.follow, daemon=True)
    thread.start()
    try:
        wait_for(lambda: get(base + "/ready")[0] == 200, what="ready")
        assert get(base + "/health")[0] == 200
        # Ready within ready_lag blocks; wait for the head itself, so that the loop is between
        # steps when it is held (the step after a backfill builds indexes: its length varies).
        wait_for(lambda: metric(get(base + "/metrics")[1], "dcmx_cursor_block") == 5,
                 what="the head")
        gate.clear()  # hold the loop at its next head() call, after a step
        time.sleep(0.3)
        chain.extend(20, [transfer_log(TOKEN, WALLETS[1], WALLETS[2], 2)])
        indexer.head = real_head()  # what the held loop will see at its next step
        status, body = get(base + "/ready")
        assert status == 503 and json.loads(body)["lag_blocks"] == 20
        gate.set()
        wait_for(lambda: get(base + "/ready")[0] == 200, what="ready again")
        # Ready means within ready_lag blocks of the head, not at it: wait for the last block.
        wait_for(lambda: metric(get(base + "/metrics")[1], "dcmx_cursor_block") == 25,
                 what="the last block")

        text = get(base + "/metrics")[1]
        assert metric(text, "dcmx_events_indexed_total") == 25, text
        assert metric(text, "dcmx_cursor_block") == 25
    finally:
        gate.set()
        indexer.stop()
        thread.join(10)
    assert get(base + "/health")[0] == 200
    # a loop stuck for 100 s (no step, no sign of life) is not healthy
    indexer.last_step_at = indexer.last_beat_at = time.monotonic() - 100
    status, body = get(base + "/health")
    assert status == 503 and json.loads(body)["last_beat_age_s"] >= 100
    indexer.last_step_at = time.monotonic()
    metrics.alive = False  # what `dcmx run` does when its loop ends
    assert get(base + "/health")[0] == 503
    assert get(base + "/ready")[0] == 503
    server.close()
