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
import time

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
