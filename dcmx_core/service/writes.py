"""Writes: transactions to the configured contracts, by two kinds of sender.

- The platform's own key (``DCMX_PRIVATE_KEY`` or a keystore, as
  :meth:`~dcmx_core.transports.TronpyTransport.from_env` loads it), for what the platform's
  roles do (mint as MINTER_ROLE, verify claims as the vault's admin): :meth:`send`.
- The user's wallet, for what only its owner may do (submit a claim, accept terms): the
  service returns the transaction unsigned (:meth:`unsigned`), the wallet signs it, and
  :meth:`broadcast` checks that it is the signed-in wallet's, to one of the configured
  contracts, before sending it.

Calldata comes from the generated bindings themselves (:class:`Capture` is a transport that
records the call instead of sending it), so a route calls ``MusicNFT(address, capture)
.mint(...)`` exactly as a script would. TRON goes through
:class:`~dcmx_core.transports.TronpyTransport`; EVM chains (the devchain, anvil) through
web3 (:class:`~dcmx_core.transports.Web3Transport` for a node's own unlocked account).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..addresses import Profile, parse, render
from ..errors import ConfigError, TransactionError
from ..keys import SigningKey, load_signing_key
from ..redaction import redact_url
from .errors import ApiError

__all__ = ["Capture", "EvmWrites", "Sent", "TronWrites", "writes_from_settings"]

log = logging.getLogger("dcmx.api")

_TRIGGER = "type.googleapis.com/protocol.TriggerSmartContract"


@dataclass(frozen=True, slots=True)
class Sent:
    txid: str  # hex, no 0x
    block_number: int | None = None


class Capture:
    """A transport that records ``transact`` calls instead of sending them."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes, int]] = []

    def transact(self, to: bytes, data: bytes, value: int = 0) -> None:
        self.calls.append((bytes(to), bytes(data), value))

    def call(self, to: bytes, data: bytes) -> bytes:
        raise TypeError("a Capture transport only records transactions")

    def one(self) -> tuple[bytes, bytes]:
        to, data, _value = self.calls[-1]
        return to, data


def _key_or_none() -> SigningKey | None:
    try:
        return load_signing_key()
    except ConfigError as exc:
        if "no signing key" in str(exc):
            return None
        raise


class _Writes:
    chain = "?"

    def __init__(self, contracts: dict[str, bytes], profile: Profile) -> None:
        self.contracts = contracts
        self.profile = profile
        self._allowed = set(contracts.values())

    def address(self, name: str) -> bytes:
        try:
            return self.contracts[name]
        except KeyError:
            raise ApiError(503, "contract_not_configured", f"no address is configured for "
                           f"{name}; add it to the contracts of the configuration") from None

    def _check_target(self, to: bytes | None) -> None:
        if to is None or bytes(to) not in self._allowed:
            raise ApiError(400, "foreign_contract", "the transaction is not a call of one of "
                           "this platform's contracts", field="raw")

    def describe(self) -> dict[str, Any]:
        wallet = self.platform_wallet
        return {"chain": self.chain,
                "platform_wallet": wallet and render(wallet, self.profile),
                "contracts": {n: render(a, self.profile) for n, a in self.contracts.items()}}

    @property
    def platform_wallet(self) -> bytes | None:
        raise NotImplementedError


class EvmWrites(_Writes):
    """EVM chains: web3 over JSON-RPC (or the in-process devchain's web3)."""

    chain = "evm"

    def __init__(self, w3: Any, contracts: dict[str, bytes], profile: Profile,
                 key: SigningKey | None = None, timeout: float = 60.0) -> None:
        super().__init__(contracts, profile)
        self.w3 = w3
        self._key = key
        self._timeout = timeout

    @property
    def platform_wallet(self) -> bytes | None:
        if self._key is not None:
            return self._key.address_bytes
        accounts = self.w3.eth.accounts
        return bytes.fromhex(accounts[0][2:]) if accounts else None

    def _tx(self, sender: bytes, to: bytes, data: bytes) -> dict[str, Any]:
        from web3 import Web3

        frm, dst = Web3.to_checksum_address(sender), Web3.to_checksum_address(to)
        try:
            gas = self.w3.eth.estimate_gas({"from": frm, "to": dst, "data": data})
        except Exception as exc:  # noqa: BLE001 - a revert found before anything is signed
            raise TransactionError(f"the contract would revert: {exc}", reason="REVERT") from None
        base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
        tip = 1_000_000_000
        return {"type": 2, "chainId": self.w3.eth.chain_id, "from": frm, "to": dst,
                "data": "0x" + data.hex(), "value": 0, "gas": gas * 5 // 4,
                "nonce": self.w3.eth.get_transaction_count(frm, "pending"),
                "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}

    def send(self, to: bytes, data: bytes) -> Sent:
        if self._key is None:
            from ..transports import Web3Transport

            receipt = Web3Transport(self.w3, timeout=self._timeout).transact(to, data)
        else:
            from eth_account._utils.legacy_transactions import (
                encode_transaction,
                serializable_unsigned_transaction_from_dict,
            )

            tx = self._tx(self._key.address_bytes, to, data)
            tx.pop("from")
            unsigned = serializable_unsigned_transaction_from_dict(tx)
            sig = self._key.sign_digest(unsigned.hash())
            r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
            raw = encode_transaction(unsigned, vrs=(v, r, s))
            txid = self.w3.eth.send_raw_transaction(raw)
            receipt = self.w3.eth.wait_for_transaction_receipt(txid, timeout=self._timeout)
        txid = bytes(receipt["transactionHash"]).hex()
        if receipt["status"] != 1:
            raise TransactionError(f"transaction {txid} reverted in block "
                                   f"{receipt['blockNumber']}", txid=txid, reason="REVERT")
        return Sent(txid, receipt["blockNumber"])

    def unsigned(self, sender: bytes, to: bytes, data: bytes) -> dict[str, Any]:
        return {"chain": "evm", "tx": self._tx(sender, to, data),
                "how": "sign with the wallet (eth_signTransaction, or eth-account's "
                       "sign_transaction), then POST {\"raw\": \"0x...\"} to "
                       "/api/v1/tx/broadcast"}

    def broadcast(self, payload: dict[str, Any], wallet: bytes) -> Sent:
        from eth_account import Account
        from eth_account.typed_transactions import TypedTransaction  # type: ignore[attr-defined]

        raw_text = payload.get("raw")
        if not isinstance(raw_text, str) or len(raw_text) > 16_000:
            raise ApiError(400, "invalid_raw", "raw must be the signed transaction as hex",
                           field="raw")
        try:
            raw = bytes.fromhex(raw_text.removeprefix("0x"))
            sender = bytes.fromhex(Account.recover_transaction(raw)[2:])
            if raw[:1] in (b"\x01", b"\x02"):
                from hexbytes import HexBytes

                to = TypedTransaction.from_bytes(HexBytes(raw)).as_dict().get("to")
            else:
                import rlp

                to = rlp.decode(raw)[3]
        except Exception:  # noqa: BLE001 - anything unparseable is the client's mistake
            raise ApiError(400, "invalid_raw", "raw is not a signed EVM transaction",
                           field="raw") from None
        if sender != wallet:
            raise ApiError(403, "not_yours", "the transaction is signed by another wallet "
                           "than the signed-in one", field="raw")
        self._check_target(bytes(to) if to else None)
        txid = bytes(self.w3.eth.send_raw_transaction(raw)).hex()
        return Sent(txid, None)

    def block_of(self, txid: str, timeout: float) -> int | None:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt("0x" + txid, timeout=timeout)
        except Exception:  # noqa: BLE001 - not mined within the time: not known
            return None
        if receipt["status"] != 1:
            raise TransactionError(f"transaction {txid} reverted in block "
                                   f"{receipt['blockNumber']}", txid=txid, reason="REVERT")
        return int(receipt["blockNumber"])


class TronWrites(_Writes):
    """TRON: :class:`~dcmx_core.transports.TronpyTransport` over a full node's HTTP API."""

    chain = "tron"

    def __init__(self, transport: Any, contracts: dict[str, bytes], profile: Profile,
                 key: SigningKey | None) -> None:
        super().__init__(contracts, profile)
        self.transport = transport
        self._key = key

    @property
    def platform_wallet(self) -> bytes | None:
        return None if self._key is None else self._key.address_bytes

    def send(self, to: bytes, data: bytes) -> Sent:
        if self._key is None:
            raise ApiError(503, "no_platform_key", "the platform's key is not configured "
                           "(DCMX_PRIVATE_KEY or a keystore)")
        tx = self.transport.build(to, data)
        return Sent(self.transport.broadcast(tx), None)

    def unsigned(self, sender: bytes, to: bytes, data: bytes) -> dict[str, Any]:
        from ..transports.protobuf import encode_raw_data

        block_id, block_ms = self.transport.reference_block()
        now = int(time.time() * 1000)
        raw_data = {
            "contract": [{"parameter": {"value": {
                "owner_address": "41" + sender.hex(), "contract_address": "41" + to.hex(),
                "data": data.hex()}, "type_url": _TRIGGER}, "type": "TriggerSmartContract"}],
            "ref_block_bytes": block_id[12:16], "ref_block_hash": block_id[16:32],
            "expiration": max(block_ms, now) + 60_000, "fee_limit": self.transport.fee_limit,
            "timestamp": now,
        }
        raw = encode_raw_data(raw_data)
        return {"chain": "tron", "txID": hashlib.sha256(raw).hexdigest(), "raw_data": raw_data,
                "raw_data_hex": raw.hex(), "visible": False,
                "how": "sign txID with the wallet (TronWeb trx.sign), then POST "
                       "{\"raw_data\": ..., \"signature\": \"<65 bytes hex>\"} to "
                       "/api/v1/tx/broadcast"}

    def broadcast(self, payload: dict[str, Any], wallet: bytes) -> Sent:
        from coincurve import PublicKey
        from eth_hash.auto import keccak

        from ..transports.protobuf import encode_raw_data
        from ..transports.transactions import SignedTransaction

        raw_data, signature = payload.get("raw_data"), payload.get("signature")
        if isinstance(signature, list) and len(signature) == 1:
            signature = signature[0]
        try:
            sig = bytes.fromhex(str(signature).removeprefix("0x"))
            raw = encode_raw_data(raw_data)  # type: ignore[arg-type]
            (contract,) = raw_data["contract"]  # type: ignore[index]
            value = contract["parameter"]["value"]
            owner = bytes.fromhex(value["owner_address"])[-20:]
            to = bytes.fromhex(value["contract_address"])[-20:]
            if contract["type"] != "TriggerSmartContract" or len(sig) != 65:
                raise ValueError
        except Exception:  # noqa: BLE001
            raise ApiError(400, "invalid_raw", "raw_data must be the unsigned transaction "
                           "this service returned, signature 65 bytes of hex",
                           field="raw_data") from None
        txid = hashlib.sha256(raw).digest()
        try:
            v = sig[64] - 27 if sig[64] >= 27 else sig[64]
            public = PublicKey.from_signature_and_message(sig[:64] + bytes([v]), txid,
                                                          hasher=None)
            signer = keccak(public.format(compressed=False)[1:])[-20:]
        except Exception:  # noqa: BLE001
            raise ApiError(400, "invalid_signature", "the signature does not verify",
                           field="signature") from None
        if signer != wallet or owner != wallet:
            raise ApiError(403, "not_yours", "the transaction is not the signed-in wallet's",
                           field="signature")
        self._check_target(to)
        tx = SignedTransaction(txid.hex(), raw_data, raw.hex(), sig.hex())  # type: ignore[arg-type]
        return Sent(self.transport.broadcast(tx), None)

    def block_of(self, txid: str, timeout: float) -> int | None:
        from ..transports import ReceiptTimeout

        try:
            receipt = self.transport.wait_receipt(txid, timeout=timeout)
        except ReceiptTimeout:
            return None
        self.transport.check(receipt)
        return int(receipt.block_number)


def writes_from_settings(settings: Any) -> _Writes | None:
    """The write side of ``settings``: its contracts' addresses, its (first) node, the key
    from the environment if any. None without a node."""
    try:
        urls = settings.sources()
    except ConfigError:
        return None
    contracts = {c.name: c.addresses[0] for c in settings.contracts}
    key = _key_or_none()
    url = urls[0]
    if url.startswith("tron+") or settings.source_kind == "tron":
        from ..transports import TronpyTransport

        transport = TronpyTransport(url.removeprefix("tron+"), key, wait=False)
        log.info("writes to TRON through %s", redact_url(url))
        return TronWrites(transport, contracts, settings.profile, key)
    if url.startswith(("http://", "https://")):
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        log.info("writes to an EVM chain through %s", redact_url(url))
        return EvmWrites(w3, contracts, settings.profile, key)
    return None


def parse_wallet(text: Any) -> bytes:
    return parse(text)
