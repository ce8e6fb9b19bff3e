"""Fixtures for the CLI tests: a saved memory chain of DCMXToken transfers and its config."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dcmx_core.addresses import to_tron
from dcmx_core.sources.memory import MemoryChain, transfer_log

TOKEN = bytes.fromhex("11" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chain_file(tmp_path: Path) -> tuple[Path, int]:
    """A saved MemoryChain of 60 blocks, one DCMXToken Transfer each; (path, transfers)."""
    chain = MemoryChain(finality_depth=5)
    n = 0
    for i in range(60):
        a, b = WALLETS[i % 5], WALLETS[(i + 1) % 5]
        chain.append_block([transfer_log(TOKEN, a, b, 10**18 + i)])
        n += 1
    path = tmp_path / "chain.dcmxmem"
    chain.save(path)
    return path, n


@pytest.fixture
def token_config(tmp_path: Path) -> Path:
    """A config naming the memory chain's token address (TRON form) on network 'memory'."""
    path = tmp_path / "dcmx.toml"
    path.write_text(
        'network = "memory"\nwindow = 8\npoll_interval = 0.2\n'
        f'[networks.memory]\nsource_kind = "file"\n'
        f'[networks.memory.contracts]\nDCMXToken = "{to_tron(TOKEN)}"\n'
    )
    return path
