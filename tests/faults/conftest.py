"""Fixtures of the fault tests: one anvil per module, the five contracts and their activity."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from dcmx_plugins.simulator import Simulator

from .tronnode import TronChain, from_anvil


@dataclass
class Platform:
    url: str  # anvil's JSON-RPC
    w3: Web3
    addresses: dict[str, bytes]
    tron: TronChain  # the same activity as a TRON chain, taken before any test reorganised anvil


def _anvil_binary() -> str | None:  # as tests/conftest.py finds it
    local = Path(__file__).resolve().parents[2] / "contracts" / "node_modules" / ".bin" / "anvil"
    return str(local) if local.exists() else shutil.which("anvil")


def start_anvil(extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    binary = _anvil_binary()
    if binary is None:
        reason = "anvil not installed: run `npm ci --prefix contracts`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
        pytest.skip(reason)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--host", "127.0.0.1", "--silent", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"anvil exited with status {proc.returncode}")
            time.sleep(0.05)
    proc.kill()
    pytest.fail("anvil did not open its port within 20 s")


@pytest.fixture(scope="module")
def platform():
    proc, url = start_anvil()
    try:
        sim = Simulator.on_rpc(url, seed=7, wallets=8)
        addresses = sim.deploy()
        sim.run(4)
        yield Platform(url, sim.w3, addresses, from_anvil(sim.w3))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
