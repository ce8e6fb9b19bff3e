"""Reads and writes to a TRON node retry like the sources' reads, and a broadcast runs once.

The node is the recorded-TRON-node stub; faults come from the fault proxy of ``tests/faults``
in front of it (its transport faults count every request, so with a single-threaded client
"every 2nd request" hits the broadcast: request 1 is the reference block, 2 the broadcast), or
from the stub itself when the fault must come after the node took the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from faults.proxy import FaultProxy
from tx_tron_node import ALICE, SEL_TRANSFER, TOKEN

from dcmx_core.errors import SourceError
from dcmx_core.transports import BroadcastError, TronpyTransport

AMOUNT = 7 * 10**18
CALLDATA = SEL_TRANSFER + bytes(12) + ALICE + AMOUNT.to_bytes(32, "big")


@pytest.fixture
def proxy(node) -> Iterator[FaultProxy]:
    with FaultProxy(node.upstream, {}, protocol="tron", stall=0.6) as server:
        yield server


def _transport(url: str, **options) -> TronpyTransport:
    options = {"poll_interval": 0.02, "timeout": 5.0, "backoff": 0.01, **options}
    return TronpyTransport.from_env(url, **options)


def _ran_once(node, sender, receipt) -> None:
    """The transfer executed exactly once, and it is the receipt's transaction."""
    (sent,) = node.broadcasts
    assert sent["tx"]["txID"] == receipt.txid and receipt.succeeded
    assert node.balances[ALICE] == AMOUNT
    assert node.balances[sender] == 10**21 - AMOUNT


def _broadcasts_received(node) -> int:
    return sum(1 for path, _ in node.seen if path == "/wallet/broadcasttransaction")


@pytest.mark.parametrize("fault", ["http_5xx", "drop"])
def test_a_failed_broadcast_is_sent_again(node, proxy, key_env, sender, fault, caplog):
    """A 502 from a load balancer, a connection closed without an answer: the same signed
    transaction goes again, and runs once."""
    caplog.set_level(logging.WARNING, logger="dcmx.transactions")
    proxy.every = {fault: 2}
    transport = _transport(proxy.url)
    receipt = transport.transact(TOKEN, CALLDATA)

    assert proxy.history[0][:2] == (2, fault)  # the broadcast was hit...
    assert _broadcasts_received(node) == 1  # ...so only its second copy got through
    _ran_once(node, sender, receipt)
    assert transport.stats.retries >= 1
    assert f"broadcast of {receipt.txid}" in caplog.text
    assert "sending the same signed transaction again" in caplog.text


@pytest.mark.parametrize("fault", ["truncated", "malformed"])
def test_a_garbled_answer_to_a_taken_broadcast(node, proxy, key_env, sender, fault):
    """The node took the transaction, its answer arrived cut in half or as an HTML page: the
    copy sent again is answered DUP_TRANSACTION_ERROR, and the transfer runs once."""
    proxy.every = {fault: 2}
    transport = _transport(proxy.url)
    receipt = transport.transact(TOKEN, CALLDATA)

    assert proxy.history[0][:2] == (2, fault)
    assert _broadcasts_received(node) == 2  # the node read both copies...
    _ran_once(node, sender, receipt)  # ...and ran one


def test_a_timed_out_broadcast_is_sent_again_and_runs_once(node, proxy, key_env, sender):
    """The slow copy reaches the node after the retry did: the node refuses it as a duplicate
    (nobody is listening for that answer any more) and the transfer runs once."""
    proxy.every = {"timeout": 2}
    transport = _transport(proxy.url, request_timeout=0.3)
    receipt = transport.transact(TOKEN, CALLDATA)

    assert proxy.history[0][:2] == (2, "timeout")
    _ran_once(node, sender, receipt)
    assert transport.stats.timeouts >= 1


def test_a_taken_broadcast_whose_answer_was_lost_is_a_success(node, key_env, sender, caplog):
    """The node took the transaction, the answer never came back: the retry is answered
    DUP_TRANSACTION_ERROR, which means the node holds this very transaction."""
    caplog.set_level(logging.INFO, logger="dcmx.transactions")
    node.lose_answers = 1
    transport = _transport(node.url)
    receipt = transport.transact(TOKEN, CALLDATA)

    assert _broadcasts_received(node) == 2  # both copies reached the node...
    _ran_once(node, sender, receipt)  # ...which ran the transaction once
    assert f"the node already holds transaction {receipt.txid}" in caplog.text
    assert "an earlier attempt got through" in caplog.text


def test_a_duplicate_is_the_broadcast_s_success(node, key_env, sender):
    transport = _transport(node.url)
    tx = transport.build(TOKEN, CALLDATA)
    assert transport.broadcast(tx) == tx.txid
    assert transport.broadcast(tx) == tx.txid  # DUP_TRANSACTION_ERROR: not an error
    assert transport.stats.retries == 0
    _ran_once(node, sender, transport.check(transport.wait_receipt(tx.txid)))


def test_a_refusal_after_a_retry_says_an_earlier_attempt_may_have_landed(node, proxy, key_env):
    proxy.every = {"drop": 2}
    node.next_outcome = "broadcast:SERVER_BUSY"
    transport = _transport(proxy.url)
    with pytest.raises(BroadcastError) as info:
        transport.transact(TOKEN, CALLDATA)
    message = str(info.value)
    assert "SERVER_BUSY" in message and "retry later" in message
    assert "after 1 retried attempt(s) an earlier one may have reached the node" in message
    assert "wait_receipt(txid)" in message


def test_a_broadcast_that_never_gets_through_says_so(node, proxy, key_env):
    transport = _transport(proxy.url, max_retries=2)
    tx = transport.build(TOKEN, CALLDATA)  # reference block first, faults after
    proxy.every = {"http_5xx": 1}
    with pytest.raises(SourceError) as info:
        transport.broadcast(tx)
    message = str(info.value)
    assert "/wallet/broadcasttransaction" in message and "failed after 3 attempt(s)" in message
    assert "HTTP 50" in message and proxy.url.split("//")[1] in message
    assert f"transaction {tx.txid} may or may not have reached the node" in message
    assert not node.broadcasts


def test_calls_are_retried_too(node, proxy, key_env):
    proxy.every = {"http_5xx": 2}  # the second call's first attempt
    transport = _transport(proxy.url)
    balance_of = bytes.fromhex("70a08231") + bytes(32)
    assert transport.call(TOKEN, balance_of) == bytes(32)
    assert transport.call(TOKEN, balance_of) == bytes(32)
    assert proxy.history[0][:2] == (2, "http_5xx")
    assert (transport.stats.requests, transport.stats.retries) == (3, 1)


def test_max_rate_paces_writes(node, key_env):
    """Reference block, broadcast and receipt polls share the pace (a key's rate is for all)."""
    transport = _transport(node.url, max_rate=10)
    transport.transact(TOKEN, CALLDATA)
    n = len(node.arrivals)
    assert n >= 4  # each request is sent at its slot or later: never faster than 10 a second
    assert node.arrivals[-1] - node.arrivals[0] >= (n - 1) / 10 * 0.9
