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


PUBLIC = [  # what dcmx_core.transports exported as one module; generated code and users rely on it
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


def test_the_package_exports_what_the_module_did():
    import dcmx_core.transports as transports

    assert sorted(transports.__all__) == PUBLIC
    for name in PUBLIC:
        value = getattr(transports, name)
        assert value.__name__ == name
    assert set(PUBLIC) <= set(dir(transports))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        transports.Nope  # noqa: B018


def test_importing_the_protocol_pulls_in_no_chain_library():
    """What every generated module does; web3, tronpy, eth-account and the HTTP client load
    only when the class that needs them is used."""
    import subprocess
    import sys

    heavy = ("web3", "tronpy", "eth_account", "httpx", "requests", "dcmx_core.http")
    code = (
        "import sys\n"
        "from dcmx_core.transports import Transport, ErrorDecoder, RevertError, TronReceipt\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
        "from dcmx_core.transports import TronpyTransport\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "[]"
    assert "dcmx_core.http" in out[1] and "httpx" in out[1]  # the node client, nothing more
    assert "tronpy" not in out[1] and "web3" not in out[1] and "eth_account" not in out[1]
