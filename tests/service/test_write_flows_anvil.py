"""End to end on anvil: API -> contract call -> transaction -> event -> indexer -> table -> API.

anvil runs the five contracts (deployed by the simulator), an indexer follows it in a thread
(as ``dcmx run --follow`` does) into SQLite, and ``dcmx serve`` (a process) writes through
the platform's key (anvil's first account, from DCMX_PRIVATE_KEY) or returns transactions
unsigned for the wallet (anvil's second account) to sign and broadcast.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from eth_account import Account
from web3 import Web3

from dcmx_core import Indexer
from dcmx_core.addresses import to_tron
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_plugins import platform_contracts
from dcmx_plugins.devchain import DEFAULT_DOCUMENTS
from dcmx_plugins.simulator import Simulator

from .conftest import served
from .test_serve_reads import sign_in

pytestmark = pytest.mark.anvil

ADMIN = Account.from_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
USER = Account.from_key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
OTHER = Account.from_key("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdaf365a")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """anvil (module-wide: the flows build on each other's state), indexer, service."""
    import subprocess
    import time

    from tests.conftest import _free_port, anvil_binary

    port = _free_port()
    node = subprocess.Popen([anvil_binary(), "--port", str(port), "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url))
    deadline = time.monotonic() + 20
    while not w3.is_connected():
        assert time.monotonic() < deadline, "anvil did not start"
        time.sleep(0.05)
    sim = Simulator.on_rpc(url, seed=5, wallets=4)
    sim.run(1)
    db = tmp_path_factory.mktemp("flows") / "flows.db"
    indexer = Indexer(JsonRpcSource(url, confirmations=0), f"sqlite:///{db}",
                      platform_contracts(sim.addresses), entry_points=True, poll_interval=0.05)
    indexer.run()
    follower = threading.Thread(target=indexer.follow, daemon=True)
    follower.start()
    contracts = [f"--contract={n}={Web3.to_checksum_address(a)}"
                 for n, a in sim.addresses.items()]
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    env = {"DCMX_PRIVATE_KEY": ADMIN.key.hex()}
    try:
        with served(str(db), "--source", url, *contracts, env=env, log=log) as base:
            with httpx.Client(base_url=base, timeout=30) as api:
                yield api, w3, sim
    finally:
        indexer.stop()
        follower.join(10)
        indexer.engine.dispose()
        node.terminate()
        node.wait(10)


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def signed_broadcast(api, token, unsigned, account, **params):
    tx = dict(unsigned["tx"])
    tx.pop("from")
    raw = account.sign_transaction(tx).raw_transaction.hex()
    return api.post("/api/v1/tx/broadcast", json={"raw": "0x" + raw.removeprefix("0x")},
                    headers=auth(token), params=params)


MINT = {"title": "Night Drive", "artist": "API Artist", "genre": "synthwave",
        "content_hash": "ab" * 32, "edition": 1, "max_editions": 2, "royalty_bps": 500}


def test_mint_with_the_platform_key_then_read_it(platform):
    api, _w3, _sim = platform
    admin, _ = sign_in(api, ADMIN)
    user, user_wallet = sign_in(api, USER)
    body = {**MINT, "to": user_wallet, "royalty_receiver": user_wallet}
    r = api.post("/api/v1/nft/mint", json=body, headers=auth(admin), params={"wait": "indexed"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["indexed"] and done["mode"] == "platform"
    minted = next(e for e in done["events"] if e["event"] == "Minted")
    token_id = minted["args"]["token_id"]
    nft = api.get(f"/api/v1/nfts/{token_id}").json()  # reads its own write
    assert (nft["title"], nft["owner"], nft["edition_label"]) == ("Night Drive", user_wallet,
                                                                 "1 of 2")
    tx = api.get(f"/api/v1/tx/{done['txid']}").json()
    assert tx["indexed"] and tx["block_number"] == done["block_number"]
    # a wallet without MINTER_ROLE in the read model: refused before anything is sent
    r = api.post("/api/v1/nft/mint", json={**body, "edition": 2}, headers=auth(user))
    assert r.status_code == 403 and r.json()["error"] == "missing_role"
    # nobody signed in
    assert api.post("/api/v1/nft/mint", json=body).status_code == 401
    # wallet mode: the admin's own transaction, unsigned
    r = api.post("/api/v1/nft/mint", json={**body, "edition": 2}, headers=auth(admin),
                 params={"mode": "wallet"})
    assert r.status_code == 200 and r.json()["unsigned"]["tx"]["from"] == ADMIN.address
    bad = api.post("/api/v1/nft/mint", json={**body, "royalty_bps": 10_001},
                   headers=auth(admin))
    assert bad.status_code == 422 and bad.json()["field"] == "royalty_bps"


def test_claim_from_the_wallet_then_verified_by_the_admin(platform):
    api, _w3, _sim = platform
    user, user_wallet = sign_in(api, USER)
    admin, _ = sign_in(api, ADMIN)
    claim = {"reward_type": 1, "amount": 5 * 10**18, "claim": {"track": 7, "seconds": 1800}}
    r = api.post("/api/v1/reward/claim", json=claim, headers=auth(user))
    assert r.status_code == 200, r.text
    unsigned = r.json()
    sent = signed_broadcast(api, user, unsigned["unsigned"], USER, wait="indexed")
    assert sent.status_code == 200 and sent.json()["indexed"], sent.text
    rewards = api.get(f"/api/v1/wallets/{user_wallet}/rewards").json()
    mine = [c for c in rewards["claims"] if c["status"] == "submitted"]
    assert mine and int(rewards["submitted"]) >= 5 * 10**18
    submitted = next(e for e in sent.json()["events"] if e["event"] == "ClaimSubmitted")
    assert submitted["args"]["proof_hash"] == unsigned["proof_hash"]
    claim_id = submitted["args"]["claim_id"]
    # the same claim data again: the same proof, which the vault refuses
    again = api.post("/api/v1/reward/claim", json=claim, headers=auth(user))
    assert again.status_code == 409 and again.json()["error"] == "transaction_failed"
    # a wallet broadcasting a transaction another wallet signed
    other_tx = api.post("/api/v1/reward/claim", json={**claim, "claim": {"x": 1}},
                        headers=auth(user)).json()["unsigned"]
    r = signed_broadcast(api, user, other_tx, OTHER)
    assert r.status_code == 403 and r.json()["error"] == "not_yours"
    # only the vault's admin verifies, with the platform's key
    assert api.post("/api/v1/reward/verify", json={"claim_id": claim_id, "approved": True},
                    headers=auth(user)).status_code == 403
    r = api.post("/api/v1/reward/verify", json={"claim_id": claim_id, "approved": True},
                 headers=auth(admin), params={"wait": "indexed"})
    assert r.status_code == 200 and r.json()["indexed"], r.text
    approved = api.get("/api/v1/claims", params={"status": "approved", "limit": 200},
                       headers=auth(admin)).json()
    assert claim_id in [c["claim_id"] for c in approved["items"]]


def test_accept_terms_with_the_document_hash_computed(platform):
    api, _w3, sim = platform
    user, user_wallet = sign_in(api, USER)
    doc_type, version, text = DEFAULT_DOCUMENTS[0]
    wrong = api.post("/api/legal/accept", headers=auth(user),
                     json={"doc_type": doc_type, "version": version, "document": text + "!"})
    assert wrong.status_code == 409 and wrong.json()["field"] == "document"
    r = api.post("/api/legal/accept", headers=auth(user),
                 json={"doc_type": doc_type, "version": version, "document": text})
    assert r.status_code == 200, r.text
    assert r.json()["doc_hash"] == "0x" + Web3.keccak(text=text).hex().removeprefix("0x")
    sent = signed_broadcast(api, user, r.json()["unsigned"], USER, wait="indexed")
    assert sent.json()["indexed"], sent.text
    check = api.get("/api/v1/legal/acceptance", params={
        "wallet": user_wallet, "doc_type": doc_type, "version": version}).json()
    assert check["accepted"] and check["published"]
    assert to_tron(bytes.fromhex(USER.address[2:])) == user_wallet
    again = api.post("/api/legal/accept", headers=auth(user),
                     json={"doc_type": doc_type, "version": version, "document": text})
    assert again.status_code == 409 and again.json()["error"] == "already_accepted"
    trail = api.get(f"/api/v1/wallets/{user_wallet}/audit", headers=auth(user)).json()
    assert any(e["action"] == "acceptance" for e in trail)
    assert sim is not None
