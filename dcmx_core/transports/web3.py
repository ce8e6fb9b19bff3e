"""``Web3Transport``: the :class:`~dcmx_core.transports.Transport` over a ``web3.Web3``.

web3 itself is never imported here: the caller hands over its ``Web3`` object.
"""

from __future__ import annotations

from typing import Any

from ..addresses import to_evm
from ..errors import ConfigError
from . import tally

__all__ = ["Web3Transport"]


class Web3Transport:
    """Over a ``web3.Web3`` (e.g. ``Web3(EthereumTesterProvider())`` for the devchain).

    ``from_`` is the sending account (hex address); default: the node's first account.
    """

    def __init__(self, w3: Any, from_: str | None = None, *, timeout: float = 120.0) -> None:
        self._w3 = w3
        self._from = from_
        self._timeout = timeout

    @property
    def sender(self) -> str:
        if self._from is None:
            accounts = self._w3.eth.accounts
            if not accounts:
                raise ConfigError("the node has no unlocked accounts; pass from_= explicitly")
            self._from = accounts[0]
        return self._from

    def call(self, to: bytes, data: bytes) -> bytes:
        return bytes(self._w3.eth.call({"to": to_evm(to), "from": self.sender, "data": data}))

    def transact(self, to: bytes, data: bytes, value: int = 0) -> Any:
        tx = {"to": to_evm(to), "from": self.sender, "data": data, "value": value}
        try:
            tx_hash = self._w3.eth.send_transaction(tx)
        except Exception:
            tally.failed("refused")  # the node would not take it (a revert in its estimate)
            raise
        txid = bytes(tx_hash).hex()
        tally.sent(txid, data)
        try:
            receipt = self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout)
        except Exception:
            tally.failed("timeout", txid)
            raise
        gas = int(receipt.get("gasUsed", 0))
        tally.mined(txid, receipt.get("status") == 1, gas,
                    gas * int(receipt.get("effectiveGasPrice", 0) or 0))
        return receipt

    def __repr__(self) -> str:
        return f"Web3Transport(from_={self._from!r})"
