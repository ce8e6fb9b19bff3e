"""How a transaction fails: refused by the node, reverted, out of resources, not confirmed.

All are :class:`~dcmx_core.errors.TransactionError` (``txid`` and ``reason`` set when known);
none ever holds a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import TransactionError

if TYPE_CHECKING:
    from .receipts import TronReceipt

__all__ = [
    "BroadcastError",
    "InsufficientResourcesError",
    "ReceiptTimeout",
    "RevertError",
    "TransactionError",
]


class BroadcastError(TransactionError):
    """The node refused the transaction (``code`` is java-tron's response code)."""


class InsufficientResourcesError(TransactionError):
    """Not enough energy/bandwidth, or TRX to burn for them within the fee limit."""


class RevertError(TransactionError):
    """The contract reverted; ``error_name``/``error_args`` when the error could be decoded."""

    def __init__(
        self,
        message: str,
        *,
        txid: str | None = None,
        revert_data: bytes = b"",
        error_name: str | None = None,
        error_args: dict[str, Any] | None = None,
        receipt: TronReceipt | None = None,
    ) -> None:
        super().__init__(message, txid=txid, reason="REVERT")
        self.revert_data = revert_data
        self.error_name = error_name
        self.error_args = error_args or {}
        self.receipt = receipt


class ReceiptTimeout(TransactionError):
    """Broadcast, but not seen in a block within the timeout; it may still confirm."""
