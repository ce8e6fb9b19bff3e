"""How generated contract bindings reach a chain.

A :class:`Transport` sends raw calldata: ``call`` for view/pure functions (returns the raw
return data) and ``transact`` for the rest (returns the chain's receipt as the client library
gives it). Generated code encodes and decodes; transports only move bytes, so one small protocol
serves the devchain (web3 + eth-tester), any JSON-RPC node and TRON (tronpy).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .addresses import to_evm, to_tron
from .errors import ConfigError, SourceError

__all__ = ["Transport", "Web3Transport", "TronpyTransport"]


@runtime_checkable
class Transport(Protocol):
    def call(self, to: bytes, data: bytes) -> bytes:
        """Run a read-only call of ``data`` against the contract at ``to`` (20 bytes)."""
        ...

    def transact(self, to: bytes, data: bytes, value: int = 0) -> Any:
        """Send a transaction with calldata ``data``; returns the mined receipt."""
        ...


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
        tx_hash = self._w3.eth.send_transaction(tx)
        return self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout)

    def __repr__(self) -> str:
        return f"Web3Transport(from_={self._from!r})"


class TronpyTransport:
    """Over a ``tronpy.Tron`` client, with raw calldata (TRON's ``data`` field).

    Calls go to ``/wallet/triggerconstantcontract``; transactions are ``TriggerSmartContract``
    built by tronpy, limited by ``fee_limit`` (sun), signed with ``private_key`` and broadcast.
    The key is held privately and never appears in ``repr``/``str`` or error messages.
    """

    def __init__(
        self,
        client: Any,
        private_key: Any | None = None,
        *,
        owner: str | None = None,
        fee_limit: int = 100_000_000,
        wait: bool = True,
    ) -> None:
        from tronpy.keys import PrivateKey

        self._client = client
        if private_key is not None and not isinstance(private_key, PrivateKey):
            try:
                private_key = PrivateKey(bytes.fromhex(str(private_key).removeprefix("0x")))
            except Exception:  # noqa: BLE001 - never echo key material
                raise ConfigError("private_key is not a 32-byte hex private key") from None
        self.__key = private_key
        if owner is None and private_key is not None:
            owner = private_key.public_key.to_base58check_address()
        self._owner = owner
        self._fee_limit = fee_limit
        self._wait = wait

    def __repr__(self) -> str:
        return f"TronpyTransport(owner={self._owner!r}, fee_limit={self._fee_limit})"

    __str__ = __repr__

    def call(self, to: bytes, data: bytes) -> bytes:
        body = {
            "owner_address": self._owner or to_tron(bytes(20)),
            "contract_address": to_tron(to),
            "data": data.hex(),
            "visible": True,
        }
        ret = self._client.provider.make_request("wallet/triggerconstantcontract", body)
        result = ret.get("result", {})
        if not result.get("result"):
            message = result.get("message", "")
            try:
                message = bytes.fromhex(message).decode("utf-8", "replace")
            except ValueError:
                pass
            raise SourceError(f"constant call to {to_tron(to)} failed: {message or ret}")
        return bytes.fromhex(ret["constant_result"][0])

    def build(self, to: bytes, data: bytes, value: int = 0) -> Any:
        """The signed, not yet broadcast tronpy ``Transaction`` (used by ``transact``)."""
        if self.__key is None or self._owner is None:
            raise ConfigError("TronpyTransport needs a private_key to send transactions")
        from tronpy.keys import to_hex_address

        builder = self._client.trx._build_transaction(
            "TriggerSmartContract",
            {
                "owner_address": to_hex_address(self._owner),
                "contract_address": "41" + to.hex(),
                "data": data.hex(),
                "call_value": value,
            },
        )
        return builder.fee_limit(self._fee_limit).build().sign(self.__key)

    def transact(self, to: bytes, data: bytes, value: int = 0) -> Any:
        ret = self.build(to, data, value).broadcast()
        return ret.wait() if self._wait else ret
