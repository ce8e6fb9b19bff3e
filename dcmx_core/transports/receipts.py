"""What a confirmed TRON transaction left: :class:`TronReceipt` and its :class:`TxLog` entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TronReceipt", "TxLog"]


@dataclass(frozen=True, slots=True)
class TxLog:
    """One log of a transaction, as ``/wallet/gettransactioninfobyid`` lists it."""

    index: int  # position within the transaction
    address: bytes  # 20 bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class TronReceipt:
    """A confirmed transaction (``TransactionInfo``); amounts in sun, energy in units."""

    txid: str
    block_number: int
    block_timestamp: int  # unix milliseconds, as TRON gives it
    result: str  # receipt.result: SUCCESS, REVERT, OUT_OF_ENERGY, ...
    fee: int
    energy_used: int  # receipt.energy_usage_total
    energy_fee: int
    net_usage: int
    net_fee: int
    return_data: bytes
    logs: tuple[TxLog, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        return self.result == "SUCCESS" and self.raw.get("result") != "FAILED"

    @property
    def status(self) -> int:
        """1 on success, 0 otherwise (the field web3 receipts have)."""
        return int(self.succeeded)

    def events(self, module: Any) -> list[Any]:
        """The logs decoded by a generated module's ``decode_log`` (None for foreign logs)."""
        return [module.decode_log(list(lg.topics), lg.data) for lg in self.logs]

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> TronReceipt:
        receipt = info.get("receipt") or {}
        logs = tuple(
            TxLog(
                index=i,
                address=bytes.fromhex(entry.get("address", "")[-40:]),
                topics=tuple(bytes.fromhex(t) for t in entry.get("topics", ())),
                data=_hex(entry.get("data")),
            )
            for i, entry in enumerate(info.get("log") or ())
        )
        result = receipt.get("result")
        if result is None:  # no energy used and no fee paid: SUCCESS unless marked FAILED
            result = "FAILED" if info.get("result") == "FAILED" else "SUCCESS"
        return cls(
            txid=str(info["id"]),
            block_number=int(info.get("blockNumber", 0)),
            block_timestamp=int(info.get("blockTimeStamp", 0)),
            result=str(result),
            fee=int(info.get("fee", 0)),
            energy_used=int(receipt.get("energy_usage_total", 0)),
            energy_fee=int(receipt.get("energy_fee", 0)),
            net_usage=int(receipt.get("net_usage", 0)),
            net_fee=int(receipt.get("net_fee", 0)),
            return_data=_hex((info.get("contractResult") or [""])[0]),
            logs=logs,
            raw=dict(info),
        )


def _hex(value: str | None) -> bytes:
    return bytes.fromhex(value) if value else b""
