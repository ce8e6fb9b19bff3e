"""Generated bindings over the web3 transport (eth-tester); TRON: see tests/transactions/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcmx_core.addresses import to_tron
from dcmx_core.transports import Transport, Web3Transport

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "contracts" / "build"


def test_web3_transport_against_eth_tester():
    if not (BUILD / "DCMXToken.json").exists():
        pytest.skip("contracts/build not compiled yet")
    from web3 import EthereumTesterProvider, Web3

    from dcmx_generated import dcmx_token

    art = json.loads((BUILD / "DCMXToken.json").read_text())
    w3 = Web3(EthereumTesterProvider())
    admin, alice = w3.eth.accounts[:2]
    deploy = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor()
    receipt = w3.eth.wait_for_transaction_receipt(deploy.transact({"from": admin}))
    address = bytes.fromhex(receipt.contractAddress[2:])

    transport = Web3Transport(w3, admin)
    assert isinstance(transport, Transport)
    token = dcmx_token.DCMXToken(address, transport)
    assert token.address == to_tron(address)  # the module is generated for the tron profile
    assert token.decimals() == 18
    assert token.has_role(token.default_admin_role(), admin) is True
    if not token.has_role(token.minter_role(), admin):
        assert token.grant_role(token.minter_role(), admin)["status"] == 1
    assert token.has_role(token.minter_role(), admin) is True
    mint = token.mint(alice, 10**21)
    assert mint["status"] == 1
    assert token.balance_of(alice) == 10**21
    assert token.total_supply() == 10**21
    # the mint's Transfer log decodes with the generated dispatcher
    (log,) = [lg for lg in mint["logs"] if lg["topics"][0] == dcmx_token.Transfer.TOPIC0]
    event = dcmx_token.decode_log([bytes(t) for t in log["topics"]], bytes(log["data"]))
    assert isinstance(event, dcmx_token.Transfer)
    assert event.to_ == to_tron(bytes.fromhex(alice[2:])) and event.value == 10**21


# The TRON transport (building, signing, broadcasting, receipts, errors, keys) is tested in
# tests/transactions/, offline and against a local server that answers like a TRON node.
