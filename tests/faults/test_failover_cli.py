"""Several nodes from the command line: node A dies in the middle of `dcmx run`, nothing is lost.

Two proxies stand for two nodes of one chain (anvil behind both). The run gets both
(``--source A --source B``); A is shut down after it answered some requests, mid-run. The
indexer moves to B and the database ends equal, row for row, to a clean run against anvil.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from core.snapshot import dump_tables

from dcmx_core.store import create_engine

from .proxy import FaultProxy

pytestmark = [pytest.mark.anvil]


def _dcmx(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCMX_")}
    return subprocess.run(
        [sys.executable, "-m", "dcmx_core.cli", "--log-format", "json", "run", "--db", db,
         "--source-kind", "jsonrpc", "--confirmations", "4", "--batch-blocks", "2", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


def _kill_after(proxy: FaultProxy, requests: int) -> threading.Thread:
    def watch() -> None:
        while proxy.requests < requests:
            time.sleep(0.001)
        # The node is gone: open connections are cut, new ones refused.
        proxy.every = {"drop": 1}
        proxy.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_node_killed_mid_run_fails_over_and_loses_nothing(platform, tmp_path):
    head = platform.w3.eth.block_number
    contracts = [f"--contract={name}=0x{raw.hex()}" for name, raw in platform.addresses.items()]
    with FaultProxy(platform.url, {}) as node_a, FaultProxy(platform.url, {}) as node_b:
        killer = _kill_after(node_a, 12)
        live = _dcmx("--source", node_a.url, "--source", node_b.url, *contracts,
                     "--to-block", str(head), db=f"sqlite:///{tmp_path / 'live.db'}")
        killer.join(timeout=1)
        assert live.returncode == 0, live.stderr
        assert not killer.is_alive(), "node A was never killed: the run needed too few requests"
        assert node_b.requests > 0, "the run never moved to node B"
    assert '"msg": "left node 0 because it failed' in live.stderr
    clean = _dcmx("--source", platform.url, *contracts, "--to-block", str(head),
                  db=f"sqlite:///{tmp_path / 'clean.db'}")
    assert clean.returncode == 0, clean.stderr
    got = dump_tables(create_engine(f"sqlite:///{tmp_path / 'live.db'}"))
    expected = dump_tables(create_engine(f"sqlite:///{tmp_path / 'clean.db'}"))
    assert sum(map(len, expected.values())) > 250
    assert got == expected


def test_failover_switches_are_a_metric():
    from prometheus_client import generate_latest
    from prometheus_client.core import CollectorRegistry

    from dcmx_core.errors import SourceError
    from dcmx_core.metrics import _SourceStats
    from dcmx_core.sources.failover import FailoverSource
    from dcmx_core.sources.memory import MemoryChain

    class Dead(MemoryChain):
        def head(self) -> int:
            raise SourceError("node down")

    chain = MemoryChain()
    chain.extend(3)
    source = FailoverSource([Dead(), chain])
    registry = CollectorRegistry()
    registry.register(_SourceStats(source))
    assert b"dcmx_source_switches_total 0.0" in generate_latest(registry)
    assert source.head() == chain.head()
    assert b"dcmx_source_switches_total 1.0" in generate_latest(registry)
