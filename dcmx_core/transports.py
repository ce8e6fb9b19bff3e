"""How generated contract bindings reach a chain.

A :class:`Transport` sends raw calldata: ``call`` for view/pure functions (returns the raw
return data) and ``transact`` for the rest (returns the mined receipt). Generated code encodes
and decodes; transports only move bytes, so one small protocol serves the devchain (web3 +
eth-tester), any JSON-RPC node and TRON.

:class:`TronpyTransport` is TRON's write side: it builds ``TriggerSmartContract`` transactions,
computes their id locally, signs with a :class:`~dcmx_core.keys.SigningKey` loaded from the
environment, broadcasts, waits for the :class:`TronReceipt` and turns every failure (refused,
reverted, out of energy, not confirmed in time) into a :class:`~dcmx_core.errors.TransactionError`
that says what happened and what to do. The key never appears in a repr, a log or an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .addresses import to_evm, to_tron
from .errors import ConfigError, SourceError, TransactionError
from .keys import (
    KEY_ENV,
    KEYSTORE_ENV,
    KEYSTORE_PASSWORD_ENV,
    SigningKey,
    getenv,
    load_signing_key,
)

__all__ = [
    "BroadcastError",
    "ErrorDecoder",
    "InsufficientResourcesError",
    "ReceiptTimeout",
    "RevertError",
    "SignedTransaction",
    "TransactionError",
    "Transport",
    "TronReceipt",
    "TronpyTransport",
    "TxLog",
    "Web3Transport",
    "encode_raw_data",
]

log = logging.getLogger("dcmx.transactions")


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


# ---------------------------------------------------------------------------------------------
# TRON transaction encoding (protobuf ``Transaction.raw``), so the txID is computed here and the
# signer never signs an id handed over by a node. Only the wire types TRON's raw data uses.
# ---------------------------------------------------------------------------------------------

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


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A built and signed TRON transaction, ready for ``/wallet/broadcasttransaction``."""

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


# ---------------------------------------------------------------------------------------------
# Receipts
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


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


_PANIC = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialised internal function",
}


def _canonical(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param.get("components", ()))
        return f"({inner}){kind[5:]}"
    return kind


class ErrorDecoder:
    """Names revert data: ``Error(string)``, ``Panic(uint256)`` and the custom errors of ABIs.

    ``ErrorDecoder(abi, ...)`` takes ABI lists (``error`` entries are used, the rest ignored);
    ``from_artifacts(paths)`` reads compiled artifacts (``{"abi": [...]}``) or bare ABI files.
    """

    ERROR_STRING = bytes.fromhex("08c379a0")
    PANIC = bytes.fromhex("4e487b71")

    def __init__(self, *abis: Iterable[Mapping[str, Any]]) -> None:
        from eth_hash.auto import keccak

        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                inputs = list(entry.get("inputs", ()))
                types = [_canonical(p) for p in inputs]
                names = [str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)]
                signature = f"{entry['name']}({','.join(types)})"
                self._errors[keccak(signature.encode())[:4]] = (str(entry["name"]), types, names)

    @classmethod
    def from_artifacts(cls, paths: Iterable[str | os.PathLike[str]]) -> ErrorDecoder:
        import json
        from pathlib import Path

        abis = []
        for path in paths:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            abis.append(doc["abi"] if isinstance(doc, dict) else doc)
        return cls(*abis)

    def __len__(self) -> int:
        return len(self._errors)

    def decode(self, data: bytes) -> tuple[str | None, dict[str, Any], str]:
        """``(error name or None, arguments, one-line description)`` of revert data."""
        from eth_abi import decode as abi_decode

        if not data:
            return None, {}, "reverted without a reason (no revert data)"
        selector, body = data[:4], data[4:]
        try:
            if selector == self.ERROR_STRING:
                (reason,) = abi_decode(["string"], body)
                return "Error", {"message": reason}, f"Error({reason!r})"
            if selector == self.PANIC:
                (code,) = abi_decode(["uint256"], body)
                what = _PANIC.get(code, "unknown panic code")
                return "Panic", {"code": code}, f"Panic(0x{code:02x}: {what})"
            if selector in self._errors:
                name, types, names = self._errors[selector]
                values = abi_decode(types, body)
                args = {n: _show(v) for n, v in zip(names, values, strict=True)}
                shown = ", ".join(f"{n}={v!r}" for n, v in args.items())
                return name, args, f"{name}({shown})"
        except Exception:  # noqa: BLE001 - malformed revert data is reported, not raised
            return None, {}, f"undecodable revert data 0x{data.hex()}"
        return (
            None,
            {},
            f"unknown custom error 0x{selector.hex()} (data 0x{data.hex()}); pass the "
            "contract's ABI as TronpyTransport(errors=...) to name it",
        )


def _show(value: Any) -> Any:
    """ABI values for messages: addresses as TRON addresses, bytes as hex."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_tron(bytes.fromhex(value[2:]))
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return type(value)(_show(v) for v in value)
    return value


def _decode_message(message: Any) -> str:
    """java-tron sends messages hex-encoded; plain text passes through."""
    text = str(message or "")
    try:
        return bytes.fromhex(text).decode("utf-8", "replace")
    except ValueError:
        return text


# Broadcast response codes (java-tron ``Return.response_code``) and what to do about them.
_BROADCAST_HINTS = {
    "SIGERROR": "the signature does not match the sender's account permissions (wrong key for "
    "this address, or the account needs more signers)",
    "BANDWITH_ERROR": "the sender has too little bandwidth and TRX to pay for this transaction; "
    "send TRX to the sender or stake TRX for bandwidth and energy",
    "TAPOS_ERROR": "the reference block is unknown to the node (a fork, or a node lagging "
    "behind); send again",
    "TRANSACTION_EXPIRATION_ERROR": "the transaction expired before the node saw it; send again",
    "DUP_TRANSACTION_ERROR": "the node already has this transaction; wait for its receipt",
    "TOO_BIG_TRANSACTION_ERROR": "the transaction is larger than the node accepts",
    "SERVER_BUSY": "the node is busy; retry later or use another node",
    "NO_CONNECTION": "the node has no peers; use another node",
    "NOT_ENOUGH_EFFECTIVE_CONNECTION": "the node has too few peers; use another node",
    "BLOCK_UNSOLIDIFIED": "the node has not solidified recent blocks; retry later",
}
_RESOURCE_WORDS = ("balance is not sufficient", "not enough", "insufficient")


# ---------------------------------------------------------------------------------------------
# The transport
# ---------------------------------------------------------------------------------------------


class TronpyTransport:
    """Over a ``tronpy.Tron`` client's HTTP provider, with raw calldata (TRON's ``data``).

    Calls go to ``/wallet/triggerconstantcontract``. ``transact`` builds a
    ``TriggerSmartContract`` with ``fee_limit`` (sun) and ``call_value`` (sun), computes its id
    locally (``sha256`` of the protobuf ``raw_data``), signs it, broadcasts it and polls
    ``/wallet/gettransactioninfobyid`` until it is in a block, returning a :class:`TronReceipt`.
    Failures raise :class:`~dcmx_core.errors.TransactionError` subclasses with the reason and
    what to do; a revert is decoded with ``errors`` (an :class:`ErrorDecoder` or ABI lists).

    The key lives in a :class:`~dcmx_core.keys.SigningKey`: it never appears in ``repr``,
    ``str``, logs or error messages.
    """

    def __init__(
        self,
        client: Any,
        private_key: SigningKey | str | bytes | None = None,
        *,
        owner: str | None = None,
        fee_limit: int = 100_000_000,
        wait: bool = True,
        timeout: float = 60.0,
        poll_interval: float = 1.0,
        expiration_ms: int = 60_000,
        errors: ErrorDecoder | Iterable[Iterable[Mapping[str, Any]]] | None = None,
    ) -> None:
        if not isinstance(fee_limit, int) or fee_limit <= 0:
            raise ConfigError(f"fee_limit must be a positive number of sun, got {fee_limit!r}")
        self._client = client
        self.__key = _as_signing_key(private_key)
        if owner is None and self.__key is not None:
            owner = self.__key.address
        self._owner = owner
        self._fee_limit = fee_limit
        self._wait = wait
        self._timeout = timeout
        self._poll = poll_interval
        self._expiration_ms = expiration_ms
        if errors is None or isinstance(errors, ErrorDecoder):
            self._errors = errors or ErrorDecoder()
        else:
            self._errors = ErrorDecoder(*errors)

    @classmethod
    def from_env(
        cls,
        node_url: str,
        *,
        fee_limit: int = 100_000_000,
        key_env: str = KEY_ENV,
        keystore_env: str = KEYSTORE_ENV,
        password_env: str = KEYSTORE_PASSWORD_ENV,
        api_key_env: str = "DCMX_TRON_API_KEY",
        request_timeout: float = 10.0,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> TronpyTransport:
        """A transport on ``tronpy.Tron(HTTPProvider(node_url))`` signing with the env's key.

        The key comes from ``$DCMX_PRIVATE_KEY`` (hex) or ``$DCMX_KEYSTORE`` +
        ``$DCMX_KEYSTORE_PASSWORD``; ``$DCMX_TRON_API_KEY``, when set, is sent as
        ``TRON-PRO-API-KEY``. Other keyword ``options`` go to the constructor.
        """
        from tronpy import Tron
        from tronpy.providers import HTTPProvider

        if not isinstance(node_url, str) or not node_url.startswith(("http://", "https://")):
            raise ConfigError(f"node_url must be an http(s) URL, got {node_url!r}")
        key = load_signing_key(
            key_env=key_env, keystore_env=keystore_env, password_env=password_env, environ=environ
        )
        api_key = getenv(api_key_env, environ) or None
        provider = HTTPProvider(node_url, timeout=request_timeout, api_key=api_key)
        if api_key and not provider.use_api_key:  # tronpy only sends keys to trongrid URLs
            provider.sess.headers["TRON-PRO-API-KEY"] = api_key
        return cls(Tron(provider=provider), key, fee_limit=fee_limit, **options)

    # -- introspection -----------------------------------------------------------------------

    @property
    def owner(self) -> str | None:
        """The sender's ``T...`` address."""
        return self._owner

    @property
    def fee_limit(self) -> int:
        return self._fee_limit

    @property
    def node_url(self) -> str:
        return str(getattr(self._client.provider, "endpoint_uri", "?"))

    def __repr__(self) -> str:
        return f"TronpyTransport(owner={self._owner!r}, fee_limit={self._fee_limit})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a TronpyTransport holds a signing key and cannot be pickled")

    # -- node access -----------------------------------------------------------------------

    def _request(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            ret = self._client.provider.make_request(path, dict(body))
        except Exception as exc:  # noqa: BLE001 - requests/json errors: the node failed
            raise SourceError(
                f"TRON node {self.node_url} failed on /{path}: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(ret, dict):
            raise SourceError(f"TRON node {self.node_url} answered /{path} with {type(ret)}")
        if "Error" in ret:
            raise SourceError(f"TRON node {self.node_url} failed on /{path}: {ret['Error']}")
        return ret

    # -- calls -------------------------------------------------------------------------------

    def call(self, to: bytes, data: bytes) -> bytes:
        body = {
            "owner_address": self._owner or to_tron(bytes(20)),
            "contract_address": to_tron(to),
            "data": data.hex(),
            "visible": True,
        }
        ret = self._request("wallet/triggerconstantcontract", body)
        result = ret.get("result") or {}
        out = _hex((ret.get("constant_result") or [""])[0])
        rets = (ret.get("transaction") or {}).get("ret") or [{}]
        failed = rets[0].get("ret") == "FAILED"
        if result.get("result") and not failed:
            return out
        message = _decode_message(result.get("message"))
        if failed or "REVERT" in message.upper():
            name, args, shown = self._errors.decode(out)
            raise RevertError(
                f"call to {to_tron(to)} reverted: {shown}",
                revert_data=out,
                error_name=name,
                error_args=args,
            )
        raise SourceError(f"constant call to {to_tron(to)} failed: {message or ret}")

    # -- transactions ------------------------------------------------------------------------

    def reference_block(self) -> tuple[str, int]:
        """``(blockID hex, timestamp ms)`` of the node's head, for TaPoS and expiration."""
        block = self._request("wallet/getnowblock", {})
        try:
            return str(block["blockID"]), int(block["block_header"]["raw_data"]["timestamp"])
        except (KeyError, TypeError, ValueError):
            raise SourceError(
                f"TRON node {self.node_url} answered /wallet/getnowblock without a block"
            ) from None

    def build(
        self,
        to: bytes,
        data: bytes,
        value: int = 0,
        *,
        ref_block: tuple[str, int] | None = None,
        now_ms: int | None = None,
    ) -> SignedTransaction:
        """The signed, not yet broadcast transaction. Offline when ``ref_block`` is given."""
        key = self.__key
        if key is None or self._owner is None:
            raise ConfigError(
                f"TronpyTransport needs a signing key to send transactions: set {KEY_ENV} "
                "and use TronpyTransport.from_env(...)"
            )
        if len(to) != 20:
            raise ConfigError(f"contract address must be 20 bytes, got {len(to)}")
        if not isinstance(value, int) or value < 0:
            raise ConfigError(f"call_value must be a non-negative number of sun, got {value!r}")
        block_id, block_ms = ref_block if ref_block is not None else self.reference_block()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        value_fields: dict[str, Any] = {
            "owner_address": "41" + key.address_bytes.hex(),
            "contract_address": "41" + bytes(to).hex(),
            "data": bytes(data).hex(),
        }
        if value:
            value_fields["call_value"] = value
        raw_data = {
            "contract": [
                {
                    "parameter": {
                        "value": value_fields,
                        "type_url": "type.googleapis.com/protocol.TriggerSmartContract",
                    },
                    "type": "TriggerSmartContract",
                }
            ],
            "ref_block_bytes": block_id[12:16],
            "ref_block_hash": block_id[16:32],
            "expiration": max(block_ms, now) + self._expiration_ms,
            "fee_limit": self._fee_limit,
            "timestamp": now,
        }
        raw = encode_raw_data(raw_data)
        txid = hashlib.sha256(raw).digest()
        return SignedTransaction(
            txid=txid.hex(),
            raw_data=raw_data,
            raw_data_hex=raw.hex(),
            signature=key.sign_digest(txid).hex(),
        )

    def broadcast(self, tx: SignedTransaction) -> str:
        """Send a signed transaction; its txid. Raises :class:`BroadcastError` when refused."""
        log.info(
            "broadcasting %s from %s (fee limit %d sun)", tx.txid, self._owner, self._fee_limit
        )
        try:
            ret = self._request("wallet/broadcasttransaction", tx.to_json())
        except SourceError as exc:
            raise SourceError(
                f"{exc}; transaction {tx.txid} may or may not have reached the node: look it up "
                "with wait_receipt(txid) before sending it again"
            ) from None
        if ret.get("result") is True:
            return str(ret.get("txid") or tx.txid)
        code = str(ret.get("code") or "UNKNOWN")
        message = _decode_message(ret.get("message"))
        detail = f"node refused transaction {tx.txid}: {code}" + (f": {message}" if message else "")
        lowered = message.lower()
        if code == "BANDWITH_ERROR" or (
            code == "CONTRACT_VALIDATE_ERROR" and any(w in lowered for w in _RESOURCE_WORDS)
        ):
            raise InsufficientResourcesError(
                f"{detail}. {self._resource_advice()}", txid=tx.txid, reason=code
            )
        if code == "CONTRACT_VALIDATE_ERROR" and "no owneraccount" in lowered.replace(" ", ""):
            hint = f"the sender {self._owner} does not exist on this chain yet: send it TRX first"
        else:
            hint = _BROADCAST_HINTS.get(code, "")
        raise BroadcastError(
            f"{detail}" + (f" ({hint})" if hint else ""), txid=tx.txid, reason=code
        )

    def wait_receipt(self, txid: str, timeout: float | None = None) -> TronReceipt:
        """Poll ``/wallet/gettransactioninfobyid`` until ``txid`` is in a block.

        Returns the receipt as it is (failed or not); :meth:`transact` checks it.
        """
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            try:
                info = self._request("wallet/gettransactioninfobyid", {"value": txid})
            except SourceError as exc:  # transient: keep polling until the deadline
                info, last_error = {}, str(exc)
            if info.get("id"):
                return TronReceipt.from_info(info)
            if time.monotonic() >= deadline:
                break
            time.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
        raise ReceiptTimeout(
            f"transaction {txid} was broadcast but not found in a block within {timeout:g}s"
            + (f" (last node error: {last_error})" if last_error else "")
            + "; it may still confirm until it expires: look it up later with "
            "wait_receipt(txid) before sending it again",
            txid=txid,
            reason="TIMEOUT",
        )

    def check(self, receipt: TronReceipt) -> TronReceipt:
        """``receipt`` if the transaction succeeded; else the matching error."""
        if receipt.succeeded:
            return receipt
        where = f"transaction {receipt.txid} failed in block {receipt.block_number}"
        message = _decode_message(receipt.raw.get("resMessage"))
        if receipt.result == "REVERT":
            name, args, shown = self._errors.decode(receipt.return_data)
            raise RevertError(
                f"{where}: the contract reverted: {shown} (fee {receipt.fee} sun)",
                txid=receipt.txid,
                revert_data=receipt.return_data,
                error_name=name,
                error_args=args,
                receipt=receipt,
            )
        if receipt.result == "OUT_OF_ENERGY":
            error = InsufficientResourcesError(
                f"{where}: out of energy after {receipt.energy_used} energy "
                f"(fee {receipt.fee} sun)" + (f": {message}" if message else "")
                + f". {self._resource_advice()}",
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
        raise error

    def _resource_advice(self) -> str:
        return (
            f"Stake (freeze) TRX for energy on {self._owner}, or raise the fee limit "
            f"(now {self._fee_limit} sun = {self._fee_limit / 1_000_000:g} TRX) and make sure "
            "the account holds that much TRX"
        )

    def transact(self, to: bytes, data: bytes, value: int = 0) -> TronReceipt | str:
        """Build, sign, broadcast; then (``wait=True``) the confirmed :class:`TronReceipt`.

        With ``wait=False`` the txid is returned right after the broadcast.
        """
        tx = self.build(to, data, value)
        txid = self.broadcast(tx)
        if not self._wait:
            return txid
        receipt = self.wait_receipt(txid)
        log.info(
            "transaction %s in block %d: %s, %d energy, fee %d sun",
            txid, receipt.block_number, receipt.result, receipt.energy_used, receipt.fee,
        )
        return self.check(receipt)


def _as_signing_key(value: Any) -> SigningKey | None:
    if value is None or isinstance(value, SigningKey):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return SigningKey(bytes(value))
        except ConfigError:
            raise ConfigError("private_key is not a usable 32-byte private key") from None
    if isinstance(value, str):
        return SigningKey.from_hex(value, source="private_key")
    try:  # tronpy's PrivateKey (whose repr shows the key: it is not kept)
        return SigningKey(bytes(value.to_bytes()))
    except Exception:  # noqa: BLE001 - never echo key material
        raise ConfigError(
            "private_key must be a SigningKey, 64 hex characters or 32 bytes"
        ) from None

