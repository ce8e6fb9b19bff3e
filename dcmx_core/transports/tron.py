"""``TronpyTransport``: contract calls and transactions on a TRON full node.

It builds ``TriggerSmartContract`` transactions, computes their id locally, signs with a
:class:`~dcmx_core.keys.SigningKey` loaded from the environment, broadcasts, waits for the
:class:`~dcmx_core.transports.receipts.TronReceipt` and turns every failure (refused, reverted,
out of energy, not confirmed in time) into a :class:`~dcmx_core.errors.TransactionError` that
says what happened and what to do. The key never appears in a repr, a log or an error.

Every request to the node, read or write, goes through the shared
:class:`~dcmx_core.http.HttpClient` (see ``node.py``): retried with back-off when transient,
paced, timed out, reported without secrets. Retrying a broadcast is safe: the signed
transaction's id is fixed by its bytes, a node takes one id at most once, and a node that
answers ``DUP_TRANSACTION_ERROR`` already holds this very transaction, so that answer is the
broadcast's success (the receipt, which :meth:`TronpyTransport.transact` waits for, is the
proof that it ran).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..addresses import to_tron
from ..errors import ConfigError, SourceError
from ..http import HttpClient, Malformed, Stats, hex_bytes, json_field, json_int, quote
from ..keys import (
    KEY_ENV,
    KEYSTORE_ENV,
    KEYSTORE_PASSWORD_ENV,
    SigningKey,
    as_signing_key,
    getenv,
    load_signing_key,
)
from . import tally
from .errors import (
    ReceiptTimeout,
    RevertError,
    broadcast_refusal,
    decode_message,
    receipt_failure,
)
from .node import node_client
from .receipts import TronReceipt
from .revert import ErrorDecoder
from .transactions import SignedTransaction, sign_trigger

__all__ = ["TronpyTransport"]

log = logging.getLogger("dcmx.transactions")

DUPLICATE = "DUP_TRANSACTION_ERROR"


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Malformed(f"answer is {type(body).__name__}, expected a JSON object")
    return body


def _reference_block(body: Any) -> tuple[str, int]:
    block_id = hex_bytes(json_field(_object(body), "blockID", "block"), "blockID", 32)
    raw = json_field(json_field(body, "block_header", "block"), "raw_data", "block_header")
    return block_id.hex(), json_int(json_field(raw, "timestamp", "block header"), "timestamp")


def _broadcast_answer(body: Any) -> dict[str, Any]:
    # Anything without a verdict is retried like a garbled answer: sending again is safe.
    ret = _object(body)
    if "result" not in ret and "code" not in ret and "Error" not in ret:
        raise Malformed("broadcast answer has neither result, code nor Error")
    return ret


def _calldata(tx: SignedTransaction) -> bytes:
    """The calldata of a TriggerSmartContract transaction (empty for anything else)."""
    try:
        return bytes.fromhex(tx.raw_data["contract"][0]["parameter"]["value"]["data"])
    except (KeyError, IndexError, TypeError, ValueError):
        return b""


def _hex(value: str | None) -> bytes:
    return bytes.fromhex(value) if value else b""


class TronpyTransport:
    """Raw calldata (TRON's ``data``) to and from contracts over a full node's HTTP API.

    ``client`` is the node: its URL, a :class:`~dcmx_core.http.HttpClient`, or a
    ``tronpy.Tron`` client (its endpoint, time-out and API key are used; see ``node.py``).
    ``api_key`` is sent as ``TRON-PRO-API-KEY``; ``request_timeout`` (s), ``max_retries``,
    ``backoff`` (s) and ``max_rate`` (requests a second, retries included) shape every
    request, as for the node sources.

    Calls go to ``/wallet/triggerconstantcontract``. ``transact`` builds a
    ``TriggerSmartContract`` with ``fee_limit`` (sun) and ``call_value`` (sun), computes its id
    locally (``sha256`` of the protobuf ``raw_data``), signs it, broadcasts it and polls
    ``/wallet/gettransactioninfobyid`` every ``poll_interval`` s, up to ``timeout`` s, until it
    is in a block, returning a :class:`TronReceipt`. Failures raise
    :class:`~dcmx_core.errors.TransactionError` subclasses with the reason and what to do; a
    revert is decoded with ``errors`` (an :class:`ErrorDecoder` or ABI lists).

    The key lives in a :class:`~dcmx_core.keys.SigningKey`: it never appears in ``repr``,
    ``str``, logs or error messages, and the transport cannot be pickled.
    """

    def __init__(
        self,
        client: str | HttpClient | Any,
        private_key: SigningKey | str | bytes | None = None,
        *,
        owner: str | None = None,
        fee_limit: int = 100_000_000,
        wait: bool = True,
        timeout: float = 60.0,
        poll_interval: float = 1.0,
        expiration_ms: int = 60_000,
        errors: ErrorDecoder | Iterable[Iterable[Mapping[str, Any]]] | None = None,
        api_key: str | None = None,
        request_timeout: float | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
        max_rate: float | None = None,
    ) -> None:
        if not isinstance(fee_limit, int) or fee_limit <= 0:
            raise ConfigError(f"fee_limit must be a positive number of sun, got {fee_limit!r}")
        self.__key = as_signing_key(private_key)
        self._http, self._owns_http = node_client(
            client,
            api_key=api_key,
            request_timeout=request_timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_rate=max_rate,
        )
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
        """A transport on the node at ``node_url``, signing with the environment's key.

        The key comes from ``$DCMX_PRIVATE_KEY`` (hex) or ``$DCMX_KEYSTORE`` +
        ``$DCMX_KEYSTORE_PASSWORD``; ``$DCMX_TRON_API_KEY``, when set, is sent as
        ``TRON-PRO-API-KEY``. Other keyword ``options`` go to the constructor.
        """
        if not isinstance(node_url, str):
            raise ConfigError(f"node_url must be an http(s) URL, got a {type(node_url).__name__}")
        key = load_signing_key(
            key_env=key_env, keystore_env=keystore_env, password_env=password_env, environ=environ
        )
        return cls(
            node_url,
            key,
            fee_limit=fee_limit,
            api_key=getenv(api_key_env, environ) or None,
            request_timeout=request_timeout,
            **options,
        )

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
        """The node's URL as messages show it (credentials masked)."""
        return self._http.safe_url

    @property
    def stats(self) -> Stats:
        """Requests, retries and time-outs so far (the HTTP client's counters)."""
        return self._http.stats

    def __repr__(self) -> str:
        return f"TronpyTransport(owner={self._owner!r}, fee_limit={self._fee_limit})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a TronpyTransport holds a signing key and cannot be pickled")

    def close(self) -> None:
        """Close the node connections (not those of an HttpClient the caller passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> TronpyTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- node access -----------------------------------------------------------------------

    def _post(
        self,
        path: str,
        body: Mapping[str, Any],
        parse: Callable[[Any], dict[str, Any]] = _object,
        *,
        conceal: Iterable[str] = (),
        on_retry: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """The node's answer (a JSON object) to ``path``; its ``Error`` is a SourceError."""
        ret = self._http.post(
            path,
            dict(body),
            parse,
            what=f"TRON node request {path}",
            conceal=conceal,
            on_retry=on_retry,
        )
        if "Error" not in ret:
            return ret
        # java-tron's answer to a request it cannot serve: not transient. Raised without the
        # request in this frame's locals (see HttpClient.post).
        message = f"TRON node {self.node_url} failed on {path}: {quote(ret['Error'], conceal)}"
        del body, conceal, ret
        raise SourceError(message)

    # -- calls -------------------------------------------------------------------------------

    def call(self, to: bytes, data: bytes) -> bytes:
        body = {
            "owner_address": self._owner or to_tron(bytes(20)),
            "contract_address": to_tron(to),
            "data": data.hex(),
            "visible": True,
        }
        ret = self._post("/wallet/triggerconstantcontract", body)
        result = ret.get("result") or {}
        out = _hex((ret.get("constant_result") or [""])[0])
        rets = (ret.get("transaction") or {}).get("ret") or [{}]
        failed = rets[0].get("ret") == "FAILED"
        if result.get("result") and not failed:
            return out
        message = decode_message(result.get("message"))
        if failed or "REVERT" in message.upper():
            name, args, shown = self._errors.decode(out)
            raise RevertError(
                f"call to {to_tron(to)} reverted: {shown}",
                revert_data=out,
                error_name=name,
                error_args=args,
            )
        shown = quote(message or str(ret))
        raise SourceError(f"constant call to {to_tron(to)} at {self.node_url} failed: {shown}")

    # -- transactions ------------------------------------------------------------------------

    def reference_block(self) -> tuple[str, int]:
        """``(blockID hex, timestamp ms)`` of the node's head, for TaPoS and expiration."""
        path = "/wallet/getnowblock"
        return self._http.post(path, {}, _reference_block, what=f"TRON node request {path}")

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
        """Send a signed transaction; its txid. Raises :class:`BroadcastError` when refused.

        Transient failures are retried with the same signed bytes. A node that answers
        ``DUP_TRANSACTION_ERROR`` already holds this transaction (an earlier attempt got
        through, or someone sent the same bytes): that is success, and the txid is returned.
        (A java-tron node with its optional transaction-id cache on also answers so to a copy of
        one it refused earlier; such a transaction never gets a receipt, and
        :meth:`wait_receipt` ends in :class:`ReceiptTimeout`. Nothing runs twice either way.)
        """
        log.info(
            "broadcasting %s from %s (fee limit %d sun)", tx.txid, self._owner, self._fee_limit
        )
        retries: list[str] = []

        def again(problem: str) -> None:
            retries.append(problem)
            log.warning(
                "broadcast of %s: %s; sending the same signed transaction again (a node takes "
                "one txid at most once)",
                tx.txid,
                problem,
            )

        try:
            ret = self._post(
                "/wallet/broadcasttransaction",
                tx.to_json(),
                _broadcast_answer,
                conceal=(tx.signature,),
                on_retry=again,
            )
        except SourceError as exc:
            raise SourceError(
                f"{exc}; transaction {tx.txid} may or may not have reached the node: look it up "
                "with wait_receipt(txid) before sending it again"
            ) from None
        if ret.get("result") is True:
            tally.sent(str(ret.get("txid") or tx.txid), _calldata(tx))
            return str(ret.get("txid") or tx.txid)
        code = str(ret.get("code") or "UNKNOWN")
        if code == DUPLICATE:
            log.info(
                "the node already holds transaction %s%s; it counts as broadcast",
                tx.txid,
                " (an earlier attempt got through)" if retries else "",
            )
            tally.sent(tx.txid, _calldata(tx))
            return tx.txid
        tally.failed("refused")
        message = quote(decode_message(ret.get("message")), (tx.signature,), 500)
        del ret  # it may quote the request; a traceback's locals must not show it
        note = ""
        if retries:  # the refusal may be of a repeat whose first copy the node took
            note = (
                f"after {len(retries)} retried attempt(s) an earlier one may have reached the "
                "node: look the transaction up with wait_receipt(txid) before sending it again"
            )
        raise broadcast_refusal(
            code,
            message,
            txid=tx.txid,
            sender=self._owner,
            advice=self._resource_advice(),
            note=note,
        )

    def wait_solidified(self, txid: str, timeout: float | None = None) -> TronReceipt:
        """Poll ``/walletsolidity/gettransactioninfobyid`` until ``txid``'s block is
        solidified (final: no fork can drop it), timing broadcast to solidification.
        Raises :class:`ReceiptTimeout` when it is not within ``timeout``."""
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = self._post("/walletsolidity/gettransactioninfobyid", {"value": txid})
            except SourceError:  # transient: keep polling until the deadline
                info = {}
            if info.get("id"):
                tally.solidified(txid)
                return TronReceipt.from_info(info)
            if time.monotonic() >= deadline:
                raise ReceiptTimeout(
                    f"transaction {txid} was not solidified within {timeout:g}s; its block may "
                    "still be confirmed later (TRON solidifies a block about 19 blocks on)"
                )
            time.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))

    def wait_receipt(self, txid: str, timeout: float | None = None) -> TronReceipt:
        """Poll ``/wallet/gettransactioninfobyid`` until ``txid`` is in a block.

        Returns the receipt as it is (failed or not); :meth:`transact` checks it.
        """
        timeout = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            try:
                info = self._post("/wallet/gettransactioninfobyid", {"value": txid})
            except SourceError as exc:  # transient: keep polling until the deadline
                info, last_error = {}, str(exc)
            if info.get("id"):
                receipt = TronReceipt.from_info(info)
                tally.mined(txid, receipt.succeeded, receipt.energy_used, receipt.fee)
                return receipt
            if time.monotonic() >= deadline:
                break
            time.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
        tally.failed("timeout", txid)
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
        raise receipt_failure(receipt, self._errors, advice=self._resource_advice())

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
