"""How a transaction fails: refused by the node, reverted, out of resources, not confirmed.

All are :class:`~dcmx_core.errors.TransactionError` (``txid`` and ``reason`` set when known);
none ever holds a key. :func:`broadcast_refusal` and :func:`receipt_failure` turn java-tron's
refusal codes and failed receipts into them, each message saying what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import TransactionError

if TYPE_CHECKING:
    from .receipts import TronReceipt
    from .revert import ErrorDecoder

__all__ = [
    "BroadcastError",
    "InsufficientResourcesError",
    "ReceiptTimeout",
    "RevertError",
    "TransactionError",
    "broadcast_refusal",
    "decode_message",
    "receipt_failure",
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


# Broadcast response codes (java-tron ``Return.response_code``) and what to do about them.
# DUP_TRANSACTION_ERROR is absent: the node already holds this very transaction (its id
# commits to the signed bytes), which is the broadcast's aim, not a failure.
_BROADCAST_HINTS = {
    "SIGERROR": "the signature does not match the sender's account permissions (wrong key for "
    "this address, or the account needs more signers)",
    "BANDWITH_ERROR": "the sender has too little bandwidth and TRX to pay for this transaction; "
    "send TRX to the sender or stake TRX for bandwidth and energy",
    "TAPOS_ERROR": "the reference block is unknown to the node (a fork, or a node lagging "
    "behind); send again",
    "TRANSACTION_EXPIRATION_ERROR": "the transaction expired before the node saw it; send again",
    "TOO_BIG_TRANSACTION_ERROR": "the transaction is larger than the node accepts",
    "SERVER_BUSY": "the node is busy; retry later or use another node",
    "NO_CONNECTION": "the node has no peers; use another node",
    "NOT_ENOUGH_EFFECTIVE_CONNECTION": "the node has too few peers; use another node",
    "BLOCK_UNSOLIDIFIED": "the node has not solidified recent blocks; retry later",
}
_RESOURCE_WORDS = ("balance is not sufficient", "not enough", "insufficient")


def broadcast_refusal(
    code: str, message: str, *, txid: str, sender: str | None, advice: str, note: str = ""
) -> TransactionError:
    """The error for a node's refusal ``code`` (with its decoded ``message``) of ``txid``.

    ``advice`` is what to do about missing energy or bandwidth (it names the fee limit);
    ``note``, when given, ends the message.
    """
    detail = f"node refused transaction {txid}: {code}" + (f": {message}" if message else "")
    end = f"; {note}" if note else ""
    lowered = message.lower()
    if code == "BANDWITH_ERROR" or (
        code == "CONTRACT_VALIDATE_ERROR" and any(w in lowered for w in _RESOURCE_WORDS)
    ):
        return InsufficientResourcesError(f"{detail}. {advice}{end}", txid=txid, reason=code)
    if code == "CONTRACT_VALIDATE_ERROR" and "no owneraccount" in lowered.replace(" ", ""):
        hint = f"the sender {sender} does not exist on this chain yet: send it TRX first"
    else:
        hint = _BROADCAST_HINTS.get(code, "")
    shown = f"{detail}" + (f" ({hint})" if hint else "") + end
    return BroadcastError(shown, txid=txid, reason=code)


def receipt_failure(
    receipt: TronReceipt, errors: ErrorDecoder, *, advice: str
) -> TransactionError:
    """The error for a confirmed transaction that failed (``receipt`` attached to it).

    A revert is named by ``errors``; ``advice`` is what to do about missing energy.
    """
    where = f"transaction {receipt.txid} failed in block {receipt.block_number}"
    message = decode_message(receipt.raw.get("resMessage"))
    if receipt.result == "REVERT":
        name, args, shown = errors.decode(receipt.return_data)
        return RevertError(
            f"{where}: the contract reverted: {shown} (fee {receipt.fee} sun)",
            txid=receipt.txid,
            revert_data=receipt.return_data,
            error_name=name,
            error_args=args,
            receipt=receipt,
        )
    if receipt.result == "OUT_OF_ENERGY":
        error: TransactionError = InsufficientResourcesError(
            f"{where}: out of energy after {receipt.energy_used} energy "
            f"(fee {receipt.fee} sun)" + (f": {message}" if message else "") + f". {advice}",
            txid=receipt.txid,
            reason="OUT_OF_ENERGY",
        )
    else:
        error = TransactionError(
            f"{where}: {receipt.result}" + (f": {message}" if message else ""),
            txid=receipt.txid,
            reason=receipt.result,
        )
    error.receipt = receipt  # type: ignore[attr-defined]
    return error


def decode_message(message: Any) -> str:
    """A java-tron message as text: it sends them hex-encoded; plain text passes through."""
    text = str(message or "")
    try:
        return bytes.fromhex(text).decode("utf-8", "replace")
    except ValueError:
        return text
