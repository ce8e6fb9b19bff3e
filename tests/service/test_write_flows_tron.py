"""The TRON write path of ``dcmx serve``: TronpyTransport behind the three write flows.

``dcmx serve`` (a process) is configured with a TRON node (``--source tron+http://...``):
a real HTTP server on loopback answering as java-tron does, its answers shaped after the
recorded ones in ``tests/data/reference/tron``, checking every broadcast as a node would
(txID = sha256 of the protobuf bytes, those bytes saying what the JSON says, a known reference
block, not expired, the signature recovering to the owner). On top of the node's checks this
test reads what was sent: the configured contract's address, the function's selector (from
the compiled ABI) and its parameters, the sender.

The read model is the simulated platform's (the devchain's admin, whose key is eth-tester's
first, holds MINTER_ROLE), so the roles the flows check are real rows the indexer wrote.
"""

from __future__ import annotations

import time

import httpx
import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from tronpy.keys import PrivateKey

from dcmx_core.addresses import to_tron
from dcmx_plugins.api_writes import claim_proof
from dcmx_plugins.devchain import DEFAULT_DOCUMENTS, MINTER_ROLE, load_artifact
from tests.transactions.tx_tron_node import FakeTronNode, parse_trigger, recover_signer

from .conftest import served
from .test_serve_reads import demo_db, sign_in  # noqa: F401 - the module's demo database

ADMIN = PrivateKey(bytes(31) + b"\x01")  # eth-tester's first account: the devchain's admin
CONTRACTS = {"MusicNFT": bytes.fromhex("5a" * 20), "RewardVault": bytes.fromhex("5b" * 20),
             "ComplianceRegistry": bytes.fromhex("5c" * 20), "DCMXToken": bytes.fromhex("5d" * 20),
             "RoyaltyDistributor": bytes.fromhex("5e" * 20)}
MINT = {"title": "Tron Nights", "artist": "Node Artist", "genre": "ambient",
        "content_hash": "cd" * 32, "edition": 2, "max_editions": 5, "royalty_bps": 750}


def call_of(contract: str, data: bytes) -> tuple[str, tuple]:
    """(function name, decoded arguments) of calldata, by the compiled ABI's selectors."""
    for f in load_artifact(contract)["abi"]:
        if f["type"] != "function":
            continue
        types = [i["type"] for i in f["inputs"]]
        if keccak(f"{f['name']}({','.join(types)})".encode())[:4] == data[:4]:
            return f["name"], tuple(abi_decode(types, data[4:]))
    raise AssertionError(f"no function of {contract} has selector {data[:4].hex()}")


@pytest.fixture(scope="module")
def tron(demo_db, tmp_path_factory):  # noqa: F811
    node = FakeTronNode(token=CONTRACTS["DCMXToken"])
    contracts = [f"--contract={n}={to_tron(a)}" for n, a in CONTRACTS.items()]
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    env = {"DCMX_PRIVATE_KEY": ADMIN.hex()}
    with served(demo_db, "--source", "tron+" + node.url.rstrip("/"), *contracts, env=env,
                log=log) as base:
        with httpx.Client(base_url=base, timeout=30) as api:
            api.log = log  # type: ignore[attr-defined]
            yield api, node


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def sign_unsigned(unsigned: dict, key: PrivateKey) -> dict:
    """What a wallet (TronWeb's trx.sign) sends back: the raw_data and its signature."""
    sig = key.sign_msg_hash(bytes.fromhex(unsigned["txID"]))
    return {"raw_data": unsigned["raw_data"], "signature": [sig.hex()]}


def taken(node: FakeTronNode, txid: str) -> dict:
    (one,) = [b for b in node.broadcasts if b["tx"]["txID"] == txid]
    return one


def test_the_stubs_checks_accept_a_real_mainnet_transaction():
    """The node's checks are java-tron's: a recorded mainnet transaction passes them."""
    import hashlib
    import json

    from tests.transactions.tx_tron_node import REFERENCE

    block = json.loads((REFERENCE / "mainnet_getblockbylimitnext_30864542.json").read_text())
    (tx,) = block["block"][0]["transactions"]
    assert hashlib.sha256(bytes.fromhex(tx["raw_data_hex"])).hexdigest() == tx["txID"]
    owner = tx["raw_data"]["contract"][0]["parameter"]["value"]["owner_address"]
    assert "41" + recover_signer(tx["txID"], tx["signature"][0]).hex() == owner


def test_mint_with_the_platform_key_is_what_a_node_accepts(tron, demo_db):  # noqa: F811
    api, node = tron
    token, wallet = sign_in(api, tron=ADMIN)
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{demo_db}")
    with engine.connect() as conn:  # the admin holds MINTER_ROLE in the read model
        minters = set(conn.execute(sa.text(
            "SELECT account FROM platform_roles WHERE contract = 'MusicNFT' AND role = :r"),
            {"r": MINTER_ROLE}).scalars())
    engine.dispose()
    assert wallet in minters

    to = PrivateKey.random().public_key.to_base58check_address()
    body = {**MINT, "to": to, "royalty_receiver": wallet}
    before = len(node.broadcasts)
    r = api.post("/api/v1/nft/mint", json=body, headers=auth(token))
    assert r.status_code == 200, r.text
    txid = r.json()["txid"]
    assert r.json()["mode"] == "platform" and len(node.broadcasts) == before + 1
    sent = taken(node, txid)
    fields = sent["fields"]
    assert fields["contract_address"] == "41" + CONTRACTS["MusicNFT"].hex()
    assert fields["owner_address"] == ADMIN.public_key.to_hex_address()
    assert recover_signer(txid, sent["tx"]["signature"][0]).hex() == fields["owner_address"][2:]
    name, args = call_of("MusicNFT", bytes.fromhex(fields["data"]))
    assert name == "mint"
    assert args[1:7] == (MINT["title"], MINT["artist"], MINT["genre"],
                         bytes.fromhex(MINT["content_hash"]), MINT["edition"],
                         MINT["max_editions"])
    assert args[8] == MINT["royalty_bps"]
    assert to_tron(bytes.fromhex(args[0][2:])) == to
    assert to_tron(bytes.fromhex(args[7][2:])) == wallet
    assert fields["fee_limit"] > 0 and fields["call_value"] == 0


def test_a_wallet_mints_claims_and_accepts_with_its_own_signature(tron):
    api, node = tron
    user = PrivateKey.random()
    token, wallet = sign_in(api, tron=user)
    me = bytes.fromhex(user.public_key.to_hex_address()[2:])

    # mint in wallet mode: the unsigned transaction is the caller's, signed by its wallet
    body = {**MINT, "to": wallet, "royalty_receiver": wallet}
    r = api.post("/api/v1/nft/mint", params={"mode": "wallet"}, json=body, headers=auth(token))
    assert r.status_code == 200, r.text
    unsigned = r.json()["unsigned"]
    assert parse_trigger(unsigned["raw_data_hex"])["owner_address"] == "41" + me.hex()

    claim = {"track": "Tron Nights", "listens": 1200}
    r = api.post("/api/v1/reward/claim", json={"reward_type": 1, "amount": 10**21,
                                               "claim": claim}, headers=auth(token))
    assert r.status_code == 200, r.text
    claim_tx = r.json()["unsigned"]
    assert r.json()["proof_hash"] == "0x" + claim_proof(me, claim).hex()

    doc_type, version, text = DEFAULT_DOCUMENTS[0]
    r = api.post("/api/legal/accept", json={"doc_type": doc_type, "version": version,
                                            "document": text}, headers=auth(token))
    assert r.status_code == 200, r.text
    accept_tx = r.json()["unsigned"]
    assert r.json()["doc_hash"] == "0x" + keccak(text.encode()).hex()

    expect = {
        "MusicNFT": ("mint", lambda a: a[1:7] == (MINT["title"], MINT["artist"], MINT["genre"],
                                                   bytes.fromhex(MINT["content_hash"]),
                                                   MINT["edition"], MINT["max_editions"])),
        "RewardVault": ("submitClaim", lambda a: a == (1, claim_proof(me, claim), 10**21)),
        "ComplianceRegistry": ("recordAcceptance", lambda a: a == (doc_type, version)),
    }
    for contract, tx in (("MusicNFT", unsigned), ("RewardVault", claim_tx),
                         ("ComplianceRegistry", accept_tx)):
        r = api.post("/api/v1/tx/broadcast", json=sign_unsigned(tx, user), headers=auth(token))
        assert r.status_code == 200, r.text
        txid = r.json()["txid"]
        assert txid == tx["txID"]
        fields = taken(node, txid)["fields"]  # the node took it: every check passed
        assert fields["contract_address"] == "41" + CONTRACTS[contract].hex()
        assert fields["owner_address"] == "41" + me.hex()
        name, args = call_of(contract, bytes.fromhex(fields["data"]))
        want, check = expect[contract]
        assert name == want and check(args), (name, args)


def test_broadcast_refuses_another_wallets_or_a_foreign_transaction(tron):
    api, node = tron
    alice, mallory = PrivateKey.random(), PrivateKey.random()
    alice_token, _ = sign_in(api, tron=alice)
    mallory_token, _ = sign_in(api, tron=mallory)
    claim = {"reward_type": 0, "amount": 5, "claim": {"shared": "a link"}}
    unsigned = api.post("/api/v1/reward/claim", json=claim,
                        headers=auth(alice_token)).json()["unsigned"]
    before = len(node.seen)

    # mallory signs alice's transaction and sends it as herself: refused, nothing sent
    r = api.post("/api/v1/tx/broadcast", json=sign_unsigned(unsigned, mallory),
                 headers=auth(mallory_token))
    assert r.status_code == 403 and r.json()["error"] == "not_yours"
    # alice's own signature, but sent with mallory's token: refused too
    r = api.post("/api/v1/tx/broadcast", json=sign_unsigned(unsigned, alice),
                 headers=auth(mallory_token))
    assert r.status_code == 403 and r.json()["error"] == "not_yours"
    # a call of a contract that is not the platform's, signed by alice herself
    foreign = {**unsigned, "raw_data": {**unsigned["raw_data"], "contract": [
        {**unsigned["raw_data"]["contract"][0], "parameter": {
            **unsigned["raw_data"]["contract"][0]["parameter"], "value": {
                **unsigned["raw_data"]["contract"][0]["parameter"]["value"],
                "contract_address": "41" + "66" * 20}}}]}}
    import hashlib

    from dcmx_core.transports.protobuf import encode_raw_data

    foreign["txID"] = hashlib.sha256(encode_raw_data(foreign["raw_data"])).hexdigest()
    r = api.post("/api/v1/tx/broadcast", json=sign_unsigned(foreign, alice),
                 headers=auth(alice_token))
    assert r.status_code == 400 and r.json()["error"] == "foreign_contract"
    # a signature that is not 65 bytes, and one over other bytes
    bad = sign_unsigned(unsigned, alice)
    r = api.post("/api/v1/tx/broadcast", json={**bad, "signature": "abcd"},
                 headers=auth(alice_token))
    assert r.status_code == 400 and r.json()["field"] == "raw_data"
    tampered = {**bad, "raw_data": {**bad["raw_data"], "fee_limit": 1}}
    r = api.post("/api/v1/tx/broadcast", json=tampered, headers=auth(alice_token))
    assert r.status_code == 403 and r.json()["error"] == "not_yours"
    assert not [p for p, _ in node.seen[before:] if p == "/wallet/broadcasttransaction"]


def test_platform_mint_needs_the_role_and_a_refusal_is_reported(tron):
    api, node = tron
    token, wallet = sign_in(api, tron=PrivateKey.random())
    body = {**MINT, "to": wallet, "royalty_receiver": wallet}
    before = len(node.seen)
    r = api.post("/api/v1/nft/mint", json=body, headers=auth(token))
    assert r.status_code == 403 and r.json()["error"] == "missing_role"
    assert len(node.seen) == before  # refused before the node was asked anything

    admin_token, admin = sign_in(api, tron=ADMIN)
    node.next_outcome = "broadcast:BANDWITH_ERROR"
    r = api.post("/api/v1/nft/mint", json={**body, "royalty_receiver": admin},
                 headers=auth(admin_token))
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "transaction_failed" and r.json()["txid"]
    time.sleep(0.2)
    text = api.log.read_text()  # type: ignore[attr-defined]
    assert ADMIN.hex() not in text and admin_token not in text
