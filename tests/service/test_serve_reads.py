"""The service over a simulated platform (the demo's chain, with a fork), two workers sharing
Redis: core and platform reads, the cache, sign-in, bad input, metrics."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from tronpy.keys import PrivateKey

from dcmx_core.service.auth import Auth
from dcmx_plugins.demo import run_demo

from .conftest import SECRET, served


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("served") / "demo.db"
    result = run_demo(f"sqlite:///{path}", rounds=4, seed=3, window=128)
    result["engine"].dispose()
    return str(path)


@pytest.fixture(scope="module")
def api(demo_db, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    with served(demo_db, "--redis", redis_url, "--workers", "2", log=log) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            client.log = log  # type: ignore[attr-defined]
            yield client


def sign_in(api: httpx.Client, account=None, tron: PrivateKey | None = None) -> tuple[str, str]:
    """(token, wallet) of a fresh (or given) key, signed in by EIP-191 or TRON's format."""
    if tron is not None:
        wallet = tron.public_key.to_base58check_address()
    else:
        account = account or Account.create()
        wallet = account.address
    got = api.post("/api/v1/auth/nonce", json={"wallet": wallet}).json()
    if tron is not None:
        signature = tron.sign_msg(got["message"].encode()).hex()
    else:
        signature = account.sign_message(encode_defunct(text=got["message"])).signature.hex()
    r = api.post("/api/v1/auth/login", json={"wallet": wallet, "nonce": got["nonce"],
                                             "signature": signature})
    assert r.status_code == 200, r.text
    return r.json()["token"], got["wallet"]


def test_status_health_ready_and_docs(api):
    s = api.get("/api/v1/status").json()
    assert s["cursor"] > 0 and s["backfilling"] is False
    assert s["last_fork"]["depth"] > 0  # the demo's fork, as the indexer recorded it
    assert {"token", "nft", "roles", "api"} <= {p["name"] for p in s["plugins"]}
    assert s["cache"]["degraded"] is None and s["rate_limits"]["shared"] is True
    assert api.get("/health").json()["cache"] == "redis"
    assert api.get("/ready").status_code == 200  # no node configured: the cursor decides
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/api/v1/nfts/{token_id}", "/api/v1/tx/{txid}", "/api/v1/events/{contract}/{event}",
            "/api/v1/wallets/{wallet}/rewards", "/api/v1/claims"} <= set(paths)
    assert api.get("/docs").status_code == 200


def test_nft_with_edition_royalty_history_cached_across_workers(api):
    first = api.get("/api/v1/nfts/1")
    nft = first.json()
    assert nft["edition_label"] == f"{nft['edition']} of {nft['max_editions']}"
    assert nft["history"][0]["kind"] == "mint" and nft["history"][0]["to"] == nft["owner"] or \
        len(nft["history"]) > 1
    assert nft["royalty"]["bps"] == nft["royalty_bps"]
    hits = [api.get("/api/v1/nfts/1") for _ in range(6)]
    assert all(h.content == first.content for h in hits)
    assert {h.headers["x-cache"] for h in hits} == {"hit"}  # both workers: Redis or their LRU
    artist = api.get(f"/api/v1/nfts/by-artist/{nft['artist']}").json()
    assert 1 in [n["token_id"] for n in artist]
    owner = api.get(f"/api/v1/nfts/by-owner/{nft['owner']}").json()
    assert 1 in [n["token_id"] for n in owner]
    genre = api.get(f"/api/v1/nfts/by-genre/{nft['genre']}", params={"limit": 1}).json()
    assert len(genre) == 1
    assert api.get("/api/v1/nfts/999999").status_code == 404


def test_wallet_reads_and_metrics(api):
    owner = api.get("/api/v1/nfts/1").json()["owner"]
    profile = api.get(f"/api/v1/wallets/{owner}/profile").json()
    assert profile["wallet"] == owner and profile["nfts_owned"] >= 1
    balance = api.get(f"/api/v1/wallets/{owner}/balance").json()
    assert int(balance["balance"]) == int(profile["token_balance"])
    txs = api.get(f"/api/v1/wallets/{owner}/transactions", params={"limit": 2}).json()
    assert len(txs["items"]) <= 2
    for route in ("transactions", "history"):  # keyset pages add up to one long page
        whole = api.get(f"/api/v1/wallets/{owner}/{route}", params={"limit": 200}).json()
        assert whole["before_block"] is None
        pages, cursor = [], {}
        while True:
            page = api.get(f"/api/v1/wallets/{owner}/{route}",
                           params={"limit": 2, **cursor}).json()
            pages += page["items"]
            if page["before_block"] is None:
                break
            cursor = {"before_block": page["before_block"], "before_log": page["before_log"]}
        assert pages == whole["items"], route
    kinds = {x["kind"] for x in whole["items"]}  # the history's: the owner got NFT 1 somehow
    assert kinds & {"nft_minted", "nft_received", "nft_bought"}, kinds
    rewards = api.get(f"/api/v1/wallets/{owner}/rewards").json()
    assert set(rewards) >= {"claimed", "pending", "claims"}
    days = api.get("/api/v1/platform/metrics", params={"days": 3}).json()
    assert days and days[0]["events"] > 0
    assert isinstance(api.get("/api/v1/tracks/trending", params={"since": 0}).json(), list)
    metrics = api.get("/metrics").text
    assert 'dcmx_api_request_seconds_bucket{' in metrics
    assert 'route="/api/v1/nfts/{token_id}"' in metrics
    assert 'dcmx_api_cache_total{result="hit"}' in metrics


def test_raw_events_keyset_pages_filters_and_tx_lookup(api):
    types = api.get("/api/v1/events").json()
    transfer = next(t for t in types if t["contract"] == "DCMXToken" and t["event"] == "Transfer")
    assert transfer["filters"] == ["from_", "to_"]
    seen, after = [], None
    for _ in range(3):
        page = api.get(transfer["path"], params={"limit": 3, **({"after": after} if after
                                                               else {})}).json()
        seen += [(e["block_number"], e["log_index"]) for e in page["items"]]
        after = page["next"]
    assert seen == sorted(seen) and len(set(seen)) == len(seen) == 9
    one = api.get(transfer["path"], params={"limit": 1}).json()["items"][0]
    to = one["args"]["to_"]
    mine = api.get(transfer["path"], params={"to_": to, "limit": 50}).json()["items"]
    assert mine and all(e["args"]["to_"] == to for e in mine)
    tx = api.get(f"/api/v1/tx/{one['tx_hash']}").json()
    assert tx["indexed"] and tx["block_number"] == one["block_number"]
    assert any(e["event"] == "Transfer" for e in tx["events"])
    missing = api.get("/api/v1/tx/" + "ab" * 32).json()
    assert missing["indexed"] is False and missing["cursor"] > 0


@pytest.mark.parametrize("path, params, status, field", [
    ("/api/v1/nfts/by-owner/TMHcB1L6n5sRoFifSRizPWs1NTQfq45Mo9", {}, 400, "owner"),  # checksum
    ("/api/v1/nfts/by-owner/0xZZ", {}, 400, "owner"),
    ("/api/v1/nfts/by-artist/x", {"limit": 100_000}, 422, "query.limit"),
    ("/api/v1/nfts/by-artist/x", {"limit": "many"}, 422, "query.limit"),
    ("/api/v1/nfts/0", {}, 422, "path.token_id"),
    ("/api/v1/tx/abc", {}, 400, "txid"),
    ("/api/v1/events/DCMXToken/Transfer", {"value": "1"}, 400, "value"),
    ("/api/v1/events/DCMXToken/Transfer", {"to_": "nope"}, 400, "to_"),
    ("/api/v1/events/DCMXToken/Transfer", {"after": "1;DROP"}, 400, "after"),
    ("/api/v1/events/DCMXToken/Nope", {}, 404, "event"),
    ("/api/v1/claims", {"status": "submitted"}, 401, None),
])
def test_bad_input_is_a_json_error_naming_the_field(api, path, params, status, field):
    r = api.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == field and body["error"] and body["message"]


def test_bodies_malformed_wrong_types_and_too_large(api):
    url = "/api/v1/auth/nonce"
    r = api.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = api.post(url, json={"wallet": 5})
    assert r.status_code == 422 and r.json()["field"] == "wallet"
    r = api.post(url, json={"wallet": "T" + "x" * 30})
    assert r.status_code == 400 and r.json()["field"] == "wallet"
    r = api.post(url, content=b"{" + b" " * 20_000 + b"}",
                 headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_sign_in_both_formats_replay_expiry_and_other_wallets(api):
    token, wallet = sign_in(api)
    me = api.get("/api/v1/auth/me", headers={"authorization": f"Bearer {token}"})
    assert me.json() == {"wallet": wallet}
    tron_token, tron_wallet = sign_in(api, tron=PrivateKey.random())
    assert api.get("/api/v1/auth/me", headers={
        "authorization": f"Bearer {tron_token}"}).json()["wallet"] == tron_wallet

    account = Account.create()
    got = api.post("/api/v1/auth/nonce", json={"wallet": account.address}).json()
    sig = account.sign_message(encode_defunct(text=got["message"])).signature.hex()
    body = {"wallet": account.address, "nonce": got["nonce"], "signature": sig}
    assert api.post("/api/v1/auth/login", json=body).status_code == 200
    for _ in range(3):  # both workers: the nonce is spent in Redis
        replay = api.post("/api/v1/auth/login", json=body)
        assert replay.status_code == 401 and replay.json()["error"] == "nonce_used"
    other = Account.create()
    forged = {**body, "signature": other.sign_message(
        encode_defunct(text=got["message"])).signature.hex()}
    assert api.post("/api/v1/auth/login", json=forged).json()["error"] == "bad_signature"
    stolen = {**body, "wallet": other.address}
    assert api.post("/api/v1/auth/login", json=stolen).json()["error"] == "invalid_nonce"

    # an expired nonce, sealed with the service's own key
    auth = Auth(SECRET.encode(), "tron", 60, None)
    old = auth.nonce(bytes.fromhex(account.address[2:]))
    import struct

    raw = auth._seal(b"n" + bytes.fromhex(account.address[2:]) +
                     struct.pack(">Q", int(time.time()) - 1) + b"\0" * 12)
    expired = api.post("/api/v1/auth/login", json={**body, "nonce": raw})
    assert expired.status_code == 401 and expired.json()["error"] == "nonce_expired"
    assert old["nonce"] != raw
    bad = api.get("/api/v1/auth/me", headers={"authorization": "Bearer " + token[:-2] + "AA"})
    assert bad.status_code == 401

    # a wallet reading another's audit trail; its own is fine
    owner = api.get("/api/v1/nfts/1").json()["owner"]
    r = api.get(f"/api/v1/wallets/{owner}/audit", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["field"] == "wallet"
    r = api.get(f"/api/v1/wallets/{wallet}/audit", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json() == []
    r = api.get("/api/v1/claims", params={"status": "submitted"},
                headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["error"] == "missing_role"


def test_no_token_signature_or_secret_in_logs(api):
    token, _ = sign_in(api)
    api.get("/api/v1/auth/me", headers={"authorization": f"Bearer {token}"})
    api.get("/api/v1/nfts/by-artist/%0Afake%20log%20line")
    time.sleep(0.3)
    text = api.log.read_text()  # type: ignore[attr-defined]
    assert token not in text and SECRET not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [r for r in lines if r.get("logger") == "dcmx.access"]
    assert any(r["route"] == "/api/v1/auth/me" and r["wallet"] for r in access)
    assert all("\n" not in r["msg"] for r in access)
    assert not any(line.startswith("fake log line") for line in text.splitlines())


def test_rate_limits_and_redis_down(demo_db, tmp_path):
    dead = "redis://127.0.0.1:1/0"  # nothing listens there
    with served(demo_db, "--redis", dead, "--rate-limit-ip", "5", log=tmp_path / "s.log") as base:
        with httpx.Client(base_url=base, timeout=10) as c:
            health = c.get("/health").json()
            assert health["cache"] == "in-process"
            codes = [c.get("/api/v1/nfts/1") for _ in range(12)]
            assert codes[0].status_code == 200 and codes[0].headers["x-cache"] == "miss"
            assert codes[1].status_code == 200 and codes[1].headers["x-cache"] == "hit"
            limited = [r for r in codes if r.status_code == 429]
            assert limited and 1 <= int(limited[0].headers["retry-after"]) <= 1
            assert limited[0].json()["error"] == "rate_limited"
            time.sleep(1.1)
            status = c.get("/api/v1/status").json()
            assert status["cache"]["degraded"].startswith("Redis unreachable")
            assert status["rate_limits"]["shared"] is False
            assert 'dcmx_api_rate_limited_total{scope="ip"}' in c.get("/metrics").text
