"""``TronpyTransport``: contract calls and transactions on a TRON full node.

It builds ``TriggerSmartContract`` transactions, computes their id locally, signs with a
:class:`~dcmx_core.keys.SigningKey` loaded from the environment, broadcasts, waits for the
:class:`~dcmx_core.transports.receipts.TronReceipt` and turns every failure (refused, reverted,
out of energy, not confirmed in time) into a :class:`~dcmx_core.errors.TransactionError` that
says what happened and what to do. The key never appears in a repr, a log or an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..addresses import to_tron
from ..errors import ConfigError, SourceError, TransactionError
from ..keys import (
    KEY_ENV,
    KEYSTORE_ENV,
    KEYSTORE_PASSWORD_ENV,
    SigningKey,
    as_signing_key,
    getenv,
    load_signing_key,
)
from .errors import BroadcastError, InsufficientResourcesError, ReceiptTimeout, RevertError
from .receipts import TronReceipt
from .revert import ErrorDecoder
from .transactions import SignedTransaction, sign_trigger

__all__ = ["TronpyTransport"]

log = logging.getLogger("dcmx.transactions")


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
        self.__key = as_signing_key(private_key)
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
        out = bytes.fromhex((ret.get("constant_result") or [""])[0] or "")
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
        return sign_trigger(
            key,
            to,
            data,
            value,
            fee_limit=self._fee_limit,
            ref_block=ref_block if ref_block is not None else self.reference_block(),
            now_ms=int(time.time() * 1000) if now_ms is None else now_ms,
            expiration_ms=self._expiration_ms,
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
