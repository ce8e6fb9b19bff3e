"""Fixtures for the write path: a fake TRON node on loopback, a throwaway key in the env."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from tx_tron_node import TOKEN, FakeTronNode

from dcmx_core.keys import SigningKey

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ARTIFACT = ROOT / "contracts" / "build" / "DCMXToken.json"


@pytest.fixture
def key_hex() -> str:
    """A fresh random key each test, so a leak check can't pass by luck of a fixed value."""
    while True:
        value = secrets.token_hex(32)
        try:
            SigningKey.from_hex(value)
            return value
        except Exception:  # noqa: BLE001 - out of range: draw again
            continue


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch, key_hex: str) -> str:
    monkeypatch.setenv("DCMX_PRIVATE_KEY", key_hex)
    monkeypatch.delenv("DCMX_KEYSTORE", raising=False)
    monkeypatch.delenv("DCMX_TRON_API_KEY", raising=False)
    return key_hex


@pytest.fixture
def sender(key_hex: str) -> bytes:
    return SigningKey.from_hex(key_hex).address_bytes


@pytest.fixture
def node(sender: bytes) -> Iterator[FakeTronNode]:
    server = FakeTronNode(TOKEN, {sender: 10**21})
    yield server
    server.close()


@pytest.fixture(scope="session")
def token_abi() -> list[dict]:
    if not TOKEN_ARTIFACT.exists():
        pytest.skip("contracts/build not compiled yet")
    return json.loads(TOKEN_ARTIFACT.read_text())["abi"]
