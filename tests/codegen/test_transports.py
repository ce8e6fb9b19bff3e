"""Generated bindings over the two transports: web3 + eth-tester (live), tronpy (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcmx_core.addresses import to_tron
from dcmx_core.transports import Transport, TronpyTransport, Web3Transport

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "contracts" / "build"


def test_web3_transport_against_eth_tester():
    if not (BUILD / "DCMXToken.json").exists():
        pytest.skip("contracts/build not compiled yet")
    from dcmx_generated import dcmx_token
    from web3 import EthereumTesterProvider, Web3

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


from tronpy.providers import HTTPProvider  # noqa: E402


class _FakeProvider(HTTPProvider):
    """Records requests; answers like a TRON node would (recorded shapes). No network."""

    def __init__(self) -> None:  # noqa: D107 - deliberately skips HTTPProvider's session set-up
        self.requests: list[tuple[str, dict]] = []

    def make_request(self, method: str, params: dict | None = None) -> dict:
        self.requests.append((method, params or {}))
        if method == "wallet/getnodeinfo":
            return {"solidityBlock": "Num:1,ID:" + "00" * 8 + "11" * 24}
        if method == "wallet/getsignweight":
            return {"transaction": {"transaction": {"txID": "ab" * 32}}, "permission": None}
        if method == "wallet/triggerconstantcontract":
            return {"result": {"result": True}, "constant_result": [(5).to_bytes(32, "big").hex()]}
        if method == "wallet/broadcasttransaction":
            return {"result": True, "txid": "ab" * 32}
        raise AssertionError(method)


def test_tronpy_transport_offline(monkeypatch):
    from tronpy import Tron

    provider = _FakeProvider()
    client = Tron(provider=provider)
    key = "11" * 32
    transport = TronpyTransport(client, key, fee_limit=50_000_000, wait=False)
    assert key not in repr(transport) and key not in str(transport)
    to = b"\x22" * 20
    assert transport.call(to, b"\x70\xa0\x82\x31" + bytes(32)) == (5).to_bytes(32, "big")
    method, body = provider.requests[-1]
    assert body["data"] == "70a08231" + "00" * 32 and body["contract_address"] == to_tron(to)

    tx = transport.build(to, b"\xa9\x05\x9c\xbb", value=7)
    raw = tx.to_json()["raw_data"]
    (contract,) = raw["contract"]
    assert contract["type"] == "TriggerSmartContract"
    value = contract["parameter"]["value"]
    assert value["data"] == "a9059cbb" and value["call_value"] == 7
    assert value["contract_address"] == "41" + "22" * 20
    assert raw["fee_limit"] == 50_000_000
    assert len(tx.to_json()["signature"]) == 1
    ret = transport.transact(to, b"\xa9\x05\x9c\xbb")
    assert ret["txid"] == "ab" * 32
    assert provider.requests[-1][0] == "wallet/broadcasttransaction"


def test_tronpy_transport_rejects_bad_key_without_echoing_it():
    from tronpy import Tron

    from dcmx_core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        TronpyTransport(Tron(provider=_FakeProvider()), "zz-secret-zz")
    assert "zz-secret-zz" not in str(info.value)
