"""Another chain behind the same kind of node is refused, not taken for a deep fork: the TRON
HTTP API (java-tron's answer shapes) and anvil's JSON-RPC. The database's anchor, a block
final when indexed, is asked of the new node before its first step."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from tronchain import TronChain, TronNode, Tx

from dcmx_core import ConfigError, Contract, Indexer
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_core.sources.memory import transfer_log
from dcmx_core.sources.tron_http import TronHttpSource
from dcmx_core.store import Store, create_engine
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
ALICE, BOB = bytes([1]) * 20, bytes([2]) * 20
_LOCAL = Path(__file__).parents[2] / "contracts" / "node_modules" / ".bin" / "anvil"
ANVIL = str(_LOCAL) if _LOCAL.exists() else shutil.which("anvil") or "anvil"


def _tron_chain(first: int, blocks: int) -> TronChain:
    chain = TronChain(first=first)
    for i in range(blocks):
        chain.add([Tx(logs=[transfer_log(TOKEN, ALICE, BOB, i + 1)])] if i % 3 == 0 else [])
    return chain


def _rows(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM dcmx_token__transfer")).all()
        cursor = Store.cursor(conn)
    engine.dispose()
    return [rows, cursor]


def test_tron_node_of_another_chain_is_refused(stub_server, tmp_path):
    url = f"sqlite:///{tmp_path / 'tron.db'}"
    contracts = [Contract("DCMXToken", dcmx_token, (TOKEN,))]
    first = stub_server(TronNode(_tron_chain(5000, 60)))
    with TronHttpSource(first.url) as source:
        assert Indexer(source, url, contracts, start_block=5000).run() == 5059
    before = _rows(url)
    assert before[0]
    # Block 5000's parent is another block 4999 here: every block from 5000 on differs.
    other = stub_server(TronNode(_tron_chain(4999, 80)))
    with TronHttpSource(other.url) as source, pytest.raises(ConfigError) as refused:
        Indexer(source, url, contracts, start_block=5000).run()
    assert "the node follows another chain" in str(refused.value)
    assert _rows(url) == before
    # the first node again: the same chain continues
    with TronHttpSource(first.url) as source:
        assert Indexer(source, url, contracts, start_block=5000).run() == 5059


def _anvil(binary: str, *args: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--host", "127.0.0.1", "--silent",
                             *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("anvil did not open its port within 20 s")


def _mine(url: str, blocks: int) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "anvil_mine",
                       "params": [hex(blocks)]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert "error" not in json.loads(answer.read())


def test_anvil_node_of_another_chain_is_refused(anvil, tmp_path):
    url = f"sqlite:///{tmp_path / 'anvil.db'}"
    contracts = [Contract("DCMXToken", dcmx_token, (TOKEN,))]
    _mine(anvil, 20)
    with JsonRpcSource(anvil) as source:
        assert Indexer(source, url, contracts, window=4, profile="evm").run() == 20
    before = _rows(url)
    proc, other = _anvil(ANVIL, "--timestamp", "1500000000", "--chain-id", "4242")
    try:
        _mine(other, 30)
        with JsonRpcSource(other) as source, pytest.raises(ConfigError) as refused:
            Indexer(source, url, contracts, window=4, profile="evm").run()
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert "the node follows another chain" in str(refused.value)
    assert _rows(url) == before
