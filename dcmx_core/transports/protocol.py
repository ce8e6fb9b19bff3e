"""The protocol generated bindings call through: raw calldata in, raw bytes or a receipt out.

Generated code encodes and decodes; transports only move bytes, so one small protocol serves
the devchain (web3 + eth-tester), any JSON-RPC node and TRON.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    def call(self, to: bytes, data: bytes) -> bytes:
        """Run a read-only call of ``data`` against the contract at ``to`` (20 bytes)."""
        ...

    def transact(self, to: bytes, data: bytes, value: int = 0) -> Any:
        """Send a transaction with calldata ``data``; returns the mined receipt."""
        ...
