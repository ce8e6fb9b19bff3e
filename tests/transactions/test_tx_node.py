"""Broadcast, receipt and every failure path, over HTTP against a node-like local server."""

from __future__ import annotations

import pytest
from tx_tron_node import ALICE, SEL_INSUFFICIENT, TOKEN

from dcmx_core import TransactionError
from dcmx_core.addresses import to_tron
from dcmx_core.errors import SourceError
from dcmx_core.transports import (
    BroadcastError,
    ErrorDecoder,
    InsufficientResourcesError,
    ReceiptTimeout,
    RevertError,
    TronpyTransport,
    TronReceipt,
)


@pytest.fixture
def transport(node, key_env, token_abi) -> TronpyTransport:
    return TronpyTransport.from_env(
        node.url, fee_limit=30_000_000, errors=[token_abi], timeout=5.0, poll_interval=0.02
    )


@pytest.fixture
def token(transport):
    from dcmx_generated.dcmx_token import DCMXToken

    return DCMXToken(TOKEN, transport)


def test_transfer_through_the_generated_binding(node, token, transport, sender):
    from dcmx_generated import dcmx_token

    assert token.balance_of(ALICE) == 0
    receipt = token.transfer(to_tron(ALICE), 25 * 10**18)

    assert isinstance(receipt, TronReceipt)
    assert receipt.succeeded and receipt.status == 1 and receipt.result == "SUCCESS"
    assert receipt.block_number == node.head and receipt.block_timestamp == node.head_ms
    assert receipt.fee == 27_250_860 and receipt.energy_used == 64_895  # the fixture's values
    (log,) = receipt.logs
    assert log.address == TOKEN
    (event,) = receipt.events(dcmx_token)
    assert isinstance(event, dcmx_token.Transfer)
    assert (event.from_, event.to_, event.value) == (to_tron(sender), to_tron(ALICE), 25 * 10**18)
    assert token.balance_of(ALICE) == 25 * 10**18
    assert token.balance_of(sender) == 10**21 - 25 * 10**18

    # what reached the node: signed by the env's key (the node checked it), our calldata, limits
    (sent,) = node.broadcasts
    assert sent["fields"]["fee_limit"] == 30_000_000
    assert sent["fields"]["data"] == dcmx_token.encode_transfer(to_tron(ALICE), 25 * 10**18).hex()
    assert sent["fields"]["contract_address"] == "41" + TOKEN.hex()
    assert sent["tx"]["txID"] == receipt.txid
    paths = [p for p, _ in node.seen]
    assert paths.count("/wallet/gettransactioninfobyid") == 2  # first poll: not yet in a block
    assert paths.index("/wallet/getnowblock") < paths.index("/wallet/broadcasttransaction")


def test_call_value_reaches_the_node(node, transport):
    receipt = transport.transact(TOKEN, bytes.fromhex("d0e30db0"), value=1_500_000)
    assert receipt.succeeded
    assert node.broadcasts[-1]["fields"]["call_value"] == 1_500_000


def test_wait_false_returns_the_txid(node, key_env):
    transport = TronpyTransport.from_env(node.url, wait=False, poll_interval=0.02)
    txid = transport.transact(TOKEN, b"\x00\x00\x00\x01")
    assert txid == node.broadcasts[-1]["tx"]["txID"]
    assert transport.wait_receipt(txid, timeout=2).txid == txid


def test_revert_names_the_custom_error(node, token, sender):
    with pytest.raises(RevertError) as info:
        token.transfer(to_tron(ALICE), 10**22)  # more than the sender holds
    exc = info.value
    assert exc.error_name == "InsufficientBalance"
    assert exc.error_args["balance"] == 10**21 and exc.error_args["needed"] == 10**22
    assert exc.error_args["account"] == to_tron(sender)
    assert exc.revert_data[:4] == SEL_INSUFFICIENT
    assert exc.txid == exc.receipt.txid and exc.receipt.block_number == node.head
    assert isinstance(exc, TransactionError) and exc.reason == "REVERT"
    message = str(exc)
    assert "reverted" in message and "InsufficientBalance(" in message and exc.txid in message
    assert to_tron(sender) in message


def test_revert_without_the_abi_shows_the_selector(node, key_env):
    transport = TronpyTransport.from_env(node.url, timeout=5, poll_interval=0.02)
    node.next_outcome = "revert"
    with pytest.raises(RevertError) as info:
        transport.transact(TOKEN, b"\x00\x00\x00\x01")
    assert info.value.error_name is None
    assert f"unknown custom error 0x{SEL_INSUFFICIENT.hex()}" in str(info.value)
    assert "errors=" in str(info.value)


def test_reverting_call_is_decoded(node, token):
    from eth_abi import encode

    node.constant_revert = ErrorDecoder.ERROR_STRING + encode(["string"], ["paused"])
    with pytest.raises(RevertError, match=r"call to T\w+ reverted: Error\('paused'\)") as info:
        token.balance_of(ALICE)
    assert info.value.txid is None and info.value.error_args == {"message": "paused"}


def test_generic_revert_reasons():
    decoder = ErrorDecoder()
    from eth_abi import encode

    name, args, shown = decoder.decode(ErrorDecoder.ERROR_STRING + encode(["string"], ["nope"]))
    assert (name, args, shown) == ("Error", {"message": "nope"}, "Error('nope')")
    name, args, shown = decoder.decode(ErrorDecoder.PANIC + encode(["uint256"], [0x11]))
    assert name == "Panic" and "overflow" in shown
    assert decoder.decode(b"")[2] == "reverted without a reason (no revert data)"
    assert "undecodable" in decoder.decode(ErrorDecoder.PANIC + b"\x01")[2]


def test_out_of_energy_says_stake_or_raise_the_fee_limit(node, transport):
    node.next_outcome = "out_of_energy"
    with pytest.raises(InsufficientResourcesError) as info:
        transport.transact(TOKEN, b"\x00\x00\x00\x01")
    message = str(info.value)
    assert info.value.reason == "OUT_OF_ENERGY" and info.value.txid in message
    assert "Stake (freeze) TRX for energy" in message and "raise the fee limit" in message
    assert "30000000 sun = 30 TRX" in message
    assert "Not enough energy for 'MSTORE'" in message  # resMessage, hex-decoded


def test_bandwidth_refusal_is_insufficient_resources(node, transport):
    node.next_outcome = "broadcast:BANDWITH_ERROR"
    with pytest.raises(InsufficientResourcesError) as info:
        transport.transact(TOKEN, b"\x00\x00\x00\x01")
    message = str(info.value)
    assert "BANDWITH_ERROR: Account resource insufficient error." in message
    assert "raise the fee limit" in message
    assert not node.pending  # nothing was executed


def test_validate_error_is_decoded(node, transport):
    node.next_outcome = "broadcast:CONTRACT_VALIDATE_ERROR"
    with pytest.raises(BroadcastError) as info:
        transport.transact(TOKEN, b"\x00\x00\x00\x01")
    assert info.value.reason == "CONTRACT_VALIDATE_ERROR"
    assert "No contract or not a valid smart contract" in str(info.value)


def test_wrong_key_is_refused_by_the_node(node, key_env, monkeypatch):
    """The node recovers the signer: a transaction signed for another owner is SIGERROR."""
    transport = TronpyTransport.from_env(node.url)
    tx = transport.build(TOKEN, b"\x00\x00\x00\x01")
    forged = type(tx)(tx.txid, tx.raw_data, tx.raw_data_hex, "11" * 32 + "22" * 32 + "00")
    with pytest.raises(BroadcastError) as info:
        transport.broadcast(forged)
    assert info.value.reason == "SIGERROR"
    assert "Validate signature error" in str(info.value) and "wrong key" in str(info.value)


def test_receipt_timeout(node, key_env):
    transport = TronpyTransport.from_env(node.url, timeout=0.3, poll_interval=0.05)
    node.next_outcome = "never_confirm"
    with pytest.raises(ReceiptTimeout) as info:
        transport.transact(TOKEN, b"\x00\x00\x00\x01")
    assert info.value.txid == node.broadcasts[-1]["tx"]["txID"]
    assert "not found in a block within 0.3s" in str(info.value)
    assert "wait_receipt" in str(info.value)


def test_unreachable_node_is_a_source_error(key_env):
    transport = TronpyTransport.from_env(
        "http://127.0.0.1:9/", request_timeout=1, max_retries=2, backoff=0.01
    )
    with pytest.raises(SourceError, match="127.0.0.1:9") as info:
        transport.transact(TOKEN, b"\x00\x00\x00\x01")
    assert "failed after 3 attempt(s): connection failed" in str(info.value)
    assert transport.stats.retries == 2


def test_receipt_from_recorded_responses(reference):
    """Receipts parse every shape of the recorded ledger (with and without fee, log, result)."""
    import json

    ledger = json.loads(
        (reference / "tron" / "mainnet_gettransactioninfobyid_ledger.json").read_text()
    )
    receipts = [TronReceipt.from_info(info) for info in ledger.values()]
    failed = [r for r in receipts if not r.succeeded]
    assert [r.result for r in failed] == ["OUT_OF_ENERGY"]
    assert sum(len(r.logs) for r in receipts) == 9
    transfer = next(r for r in receipts if r.txid.startswith("4b845fb5"))
    assert transfer.fee == transfer.energy_fee == 27_250_860 and transfer.net_usage == 345
    assert transfer.logs[0].topics[2][-20:].hex() == "960dc13bfae0506d2e44fb76e32e89dc7188f004"
