"""The key never shows: forced failures scanned in messages, tracebacks (with locals), logs."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import pytest
from tx_tron_node import ALICE, TOKEN

from dcmx_core.addresses import to_tron
from dcmx_core.errors import ConfigError, DcmxError, SourceError
from dcmx_core.transports import (
    BroadcastError,
    InsufficientResourcesError,
    ReceiptTimeout,
    RevertError,
    TronpyTransport,
)

API_KEY = "tron-api-key-0123456789"


def _failure(action: Callable[[], object]) -> DcmxError:
    """Run ``action``; its error. (This frame is where tracebacks start: it holds no key.)"""
    try:
        action()
    except DcmxError as exc:
        return exc
    raise AssertionError("expected a failure")


def _texts(exc: BaseException) -> list[str]:
    return [
        str(exc),
        repr(exc),
        "".join(traceback.format_exception(exc)),
        # what --showlocals, sentry & co. would print: the repr of every local of every frame
        "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format()),
        repr(vars(exc)),
    ]


def _needles(key_hex: str) -> list[str]:
    raw = bytes.fromhex(key_hex)
    return [key_hex, key_hex.upper(), repr(raw)[2:-1], str(int.from_bytes(raw, "big"))]


def _assert_clean(key_hex: str, *texts: str) -> None:
    for text in texts:
        for needle in _needles(key_hex):
            assert needle not in text


def _scenarios(node, transport):
    token = None

    def transfer_too_much():
        from dcmx_generated.dcmx_token import DCMXToken

        nonlocal token
        token = DCMXToken(TOKEN, transport)
        token.transfer(to_tron(ALICE), 10**30)

    def forced(outcome):
        def run():
            node.next_outcome = outcome
            transport.transact(TOKEN, b"\x00\x00\x00\x01", value=1)

        return run

    def echoed(kind):
        """The node quotes the signed request it refuses: the signature must not show."""

        def run():
            node.echo = kind
            transport.transact(TOKEN, b"\x00\x00\x00\x01", value=1)

        return run

    dead = TronpyTransport(
        f"http://127.0.0.1:9/?apikey={API_KEY}",
        transport._TronpyTransport__key,
        request_timeout=1,
        max_retries=1,
        backoff=0.01,
    )
    return [
        (RevertError, transfer_too_much),
        (InsufficientResourcesError, forced("out_of_energy")),
        (InsufficientResourcesError, forced("broadcast:BANDWITH_ERROR")),
        (BroadcastError, forced("broadcast:SERVER_BUSY")),
        (ReceiptTimeout, forced("never_confirm")),
        (SourceError, lambda: dead.transact(TOKEN, b"\x00\x00\x00\x01")),
        (SourceError, lambda: dead.call(TOKEN, b"\x00\x00\x00\x01")),
        (SourceError, echoed("http")),
        (SourceError, echoed("error")),
        (BroadcastError, echoed("refusal")),
    ]


def test_no_leak_on_any_failure(node, key_env, token_abi, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and ours, all of it
    monkeypatch.setenv("DCMX_TRON_API_KEY", API_KEY)
    transport = TronpyTransport.from_env(
        node.url, errors=[token_abi], timeout=0.2, poll_interval=0.02
    )
    seen = []
    for expected, action in _scenarios(node, transport):
        exc = _failure(action)
        assert isinstance(exc, expected), (expected, exc)
        _assert_clean(key_env, *_texts(exc))
        if node.broadcasts:  # what was signed last: no message or log may quote it
            signature = node.broadcasts[-1]["tx"]["signature"][0]
            for text in (*_texts(exc), caplog.text):
                assert signature not in text and signature[:40] not in text
        for text in _texts(exc):
            assert API_KEY not in text
        seen.append(type(exc))
    receipt = transport.transact(TOKEN, b"\x00\x00\x00\x01")  # and a success, for its logs
    assert "broadcasting" in caplog.text and receipt.txid in caplog.text
    _assert_clean(key_env, caplog.text, repr(transport), str(transport), repr(receipt))
    _assert_clean(key_env, *(repr(b) for b in node.broadcasts))
    assert API_KEY not in caplog.text
    assert len(seen) == 10


def test_an_echoed_refusal_is_quoted_without_the_signature(node, key_env):
    """What the node said stays useful (code, its words), with the signature masked."""
    transport = TronpyTransport.from_env(node.url, poll_interval=0.02)
    tx = transport.build(TOKEN, b"\x00\x00\x00\x01")
    for kind, expected in (("refusal", BroadcastError), ("error", SourceError)):
        node.echo = kind
        exc = _failure(lambda: transport.broadcast(tx))  # called at once
        assert isinstance(exc, expected)
        message = str(exc)
        assert tx.txid in message and "***" in message  # the echo is there, masked
        assert tx.signature not in message and tx.signature[:16] not in message
    node.echo = "http"
    exc = _failure(lambda: transport.broadcast(tx))
    assert "HTTP 413" in str(exc) and "request refused" in str(exc)
    assert tx.signature[:16] not in str(exc)


@pytest.mark.parametrize("typo", ["drop", "swap", "prefix"])
def test_no_leak_of_a_malformed_key(monkeypatch, key_hex, typo):
    bad = {"drop": key_hex[:-1], "swap": key_hex[:-1] + "x", "prefix": "0y" + key_hex}[typo]
    monkeypatch.setenv("DCMX_PRIVATE_KEY", bad)
    exc = _failure(lambda: TronpyTransport.from_env("http://127.0.0.1:9/"))
    assert isinstance(exc, ConfigError) and "DCMX_PRIVATE_KEY" in str(exc)
    for text in _texts(exc):
        assert key_hex[:-1] not in text and key_hex[8:40] not in text
