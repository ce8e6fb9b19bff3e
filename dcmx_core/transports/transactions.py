"""A TRON ``TriggerSmartContract`` transaction built, given its id and signed, offline.

:func:`sign_trigger` needs no node: the reference block (TaPoS) and the clock come in as
arguments. The id is ``sha256`` of the protobuf ``raw_data`` written by
:func:`~dcmx_core.transports.protobuf.encode_raw_data`, so what is signed is what this module
built, never an id a node handed over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..keys import SigningKey
from .protobuf import encode_raw_data

__all__ = ["SignedTransaction", "sign_trigger"]

_TRIGGER_URL = "type.googleapis.com/protocol.TriggerSmartContract"


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A built and signed TRON transaction, ready for ``/wallet/broadcasttransaction``.

    Broadcasting it again is safe: its id is fixed, and a node takes one id at most once.
    """

    txid: str
    raw_data: dict[str, Any] = field(repr=False)
    raw_data_hex: str = field(repr=False)
    signature: str = field(repr=False)  # 65 bytes hex, r || s || v

    def to_json(self) -> dict[str, Any]:
        return {
            "txID": self.txid,
            "raw_data": self.raw_data,
            "raw_data_hex": self.raw_data_hex,
            "signature": [self.signature],
            "visible": False,
        }

    @property
    def expiration(self) -> int:
        """Unix milliseconds after which no node accepts the transaction."""
        return int(self.raw_data["expiration"])


def sign_trigger(
    key: SigningKey,
    to: bytes,
    data: bytes,
    value: int,
    *,
    fee_limit: int,
    ref_block: tuple[str, int],
    now_ms: int,
    expiration_ms: int,
) -> SignedTransaction:
    """A call of ``data`` on the contract ``to`` (20 bytes) with ``value`` sun, signed by ``key``.

    ``ref_block`` is ``(blockID hex, timestamp ms)`` of a recent block; the transaction expires
    ``expiration_ms`` after the later of that timestamp and ``now_ms``.
    """
    block_id, block_ms = ref_block
    value_fields: dict[str, Any] = {
        "owner_address": "41" + key.address_bytes.hex(),
        "contract_address": "41" + bytes(to).hex(),
        "data": bytes(data).hex(),
    }
    if value:  # protobuf leaves zero out; the JSON must say what the bytes say
        value_fields["call_value"] = value
    raw_data = {
        "contract": [
            {
                "parameter": {"value": value_fields, "type_url": _TRIGGER_URL},
                "type": "TriggerSmartContract",
            }
        ],
        "ref_block_bytes": block_id[12:16],
        "ref_block_hash": block_id[16:32],
        "expiration": max(block_ms, now_ms) + expiration_ms,
        "fee_limit": fee_limit,
        "timestamp": now_ms,
    }
    raw = encode_raw_data(raw_data)
    txid = hashlib.sha256(raw).digest()
    return SignedTransaction(
        txid=txid.hex(),
        raw_data=raw_data,
        raw_data_hex=raw.hex(),
        signature=key.sign_digest(txid).hex(),
    )
