"""TRON transaction ``raw_data`` as protobuf bytes (``Transaction.raw``), written here.

The transaction id is ``sha256`` of these bytes and what the sender signs, so it is computed
locally and the signer never signs an id handed over by a node. Only the wire types and
contract kinds TRON's raw data uses for dcmx's transactions (and the recorded fixtures) are
encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["encode_raw_data"]

_CONTRACT_TYPES = {"TransferContract": 1, "TransferAssetContract": 2, "TriggerSmartContract": 31}


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 two's complement, as protobuf does
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int_field(number: int, value: int | None) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _bytes_field(number: int, value: bytes | None) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value if value else b""


def _hex(value: str | None) -> bytes:
    return bytes.fromhex(value) if value else b""


def _contract_parameter(kind: str, v: Mapping[str, Any]) -> bytes:
    if kind == "TriggerSmartContract":
        return (
            _bytes_field(1, _hex(v.get("owner_address")))
            + _bytes_field(2, _hex(v.get("contract_address")))
            + _int_field(3, v.get("call_value"))
            + _bytes_field(4, _hex(v.get("data")))
            + _int_field(5, v.get("call_token_value"))
            + _int_field(6, v.get("token_id"))
        )
    if kind == "TransferContract":
        return (
            _bytes_field(1, _hex(v.get("owner_address")))
            + _bytes_field(2, _hex(v.get("to_address")))
            + _int_field(3, v.get("amount"))
        )
    if kind == "TransferAssetContract":
        return (
            _bytes_field(1, _hex(v.get("asset_name")))
            + _bytes_field(2, _hex(v.get("owner_address")))
            + _bytes_field(3, _hex(v.get("to_address")))
            + _int_field(4, v.get("amount"))
        )
    raise ValueError(f"cannot encode contract type {kind!r}")


def encode_raw_data(raw: Mapping[str, Any]) -> bytes:
    """The protobuf bytes of a transaction's ``raw_data`` (hex addresses, as java-tron's JSON).

    ``sha256`` of these bytes is the transaction id, and what the sender signs.
    """
    contracts = b""
    for contract in raw["contract"]:
        kind = contract["type"]
        param = contract["parameter"]
        any_ = _bytes_field(1, param["type_url"].encode()) + _bytes_field(
            2, _contract_parameter(kind, param["value"])
        )
        body = (
            _int_field(1, _CONTRACT_TYPES[kind])
            + _bytes_field(2, any_)
            + _int_field(5, contract.get("Permission_id"))
        )
        contracts += _bytes_field(11, body)
    return (
        _bytes_field(1, _hex(raw.get("ref_block_bytes")))
        + _int_field(3, raw.get("ref_block_num"))
        + _bytes_field(4, _hex(raw.get("ref_block_hash")))
        + _int_field(8, raw.get("expiration"))
        + _bytes_field(10, _hex(raw.get("data")))
        + contracts
        + _int_field(14, raw.get("timestamp"))
        + _int_field(18, raw.get("fee_limit"))
    )
