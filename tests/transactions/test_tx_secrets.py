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

    dead = TronpyTransport(
        type(transport._client)(
            provider=type(transport._client.provider)("http://127.0.0.1:9/", timeout=1)
        ),
        transport._TronpyTransport__key,
    )
    return [
        (RevertError, transfer_too_much),
        (InsufficientResourcesError, forced("out_of_energy")),
        (InsufficientResourcesError, forced("broadcast:BANDWITH_ERROR")),
        (BroadcastError, forced("broadcast:SERVER_BUSY")),
        (ReceiptTimeout, forced("never_confirm")),
        (SourceError, lambda: dead.transact(TOKEN, b"\x00\x00\x00\x01")),
        (SourceError, lambda: dead.call(TOKEN, b"\x00\x00\x00\x01")),
    ]


def test_no_leak_on_any_failure(node, key_env, token_abi, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3, requests, tronpy and ours, all of it
    transport = TronpyTransport.from_env(
        node.url, errors=[token_abi], timeout=0.2, poll_interval=0.02
    )
    seen = []
    for expected, action in _scenarios(node, transport):
        exc = _failure(action)
        assert isinstance(exc, expected), (expected, exc)
        _assert_clean(key_env, *_texts(exc))
        seen.append(type(exc))
    receipt = transport.transact(TOKEN, b"\x00\x00\x00\x01")  # and a success, for its logs
    assert "broadcasting" in caplog.text and receipt.txid in caplog.text
    _assert_clean(key_env, caplog.text, repr(transport), str(transport), repr(receipt))
    _assert_clean(key_env, *(repr(b) for b in node.broadcasts))
    assert len(seen) == 7


@pytest.mark.parametrize("typo", ["drop", "swap", "prefix"])
def test_no_leak_of_a_malformed_key(monkeypatch, key_hex, typo):
    bad = {"drop": key_hex[:-1], "swap": key_hex[:-1] + "x", "prefix": "0y" + key_hex}[typo]
    monkeypatch.setenv("DCMX_PRIVATE_KEY", bad)
    exc = _failure(lambda: TronpyTransport.from_env("http://127.0.0.1:9/"))
    assert isinstance(exc, ConfigError) and "DCMX_PRIVATE_KEY" in str(exc)
    for text in _texts(exc):
        assert key_hex[:-1] not in text and key_hex[8:40] not in text
