"""A simulated platform on the devchain, indexed with the six built-in plugins.

The chain is simulated once per module (a few seconds); each test indexes it into its own
database. ``assert_matches_chain`` is the "always equal to the chain" oracle: it compares the
read model with the contracts' own views.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from dcmx_core import Indexer
from dcmx_core.addresses import to_tron
from dcmx_core.sources.devchain import DevchainSource
from dcmx_plugins import (
    compliance,
    nft,
    platform,
    platform_contracts,
    queries,
    royalty,
    token,
    vault,
)
from dcmx_plugins.devchain import Devchain
from dcmx_plugins.simulator import Simulator

PLUGINS = [token, nft, compliance, vault, royalty, platform]
ROUNDS = 8

CLAIM_STATUS = {1: "submitted", 2: "approved", 3: "rejected", 4: "claimed"}
DELETION_STATUS = {1: "pending", 2: "approved", 3: "rejected"}
AUDIT_ACTION = {
    0: "acceptance",
    1: "deletion_requested",
    2: "deletion_approved",
    3: "deletion_rejected",
    4: "kyc_changed",
}


def tron(address: str) -> str:
    return to_tron(bytes.fromhex(address[2:]))


@dataclass
class Platform:
    chain: Devchain
    sim: Simulator

    @property
    def c(self):  # name -> web3 contract
        return self.chain.contracts

    def wallets(self) -> list[str]:
        """Every account that may appear in the read model, as 0x addresses."""
        return [*self.sim.wallets, self.chain.admin]


def make_platform(seed: int = 0, rounds: int = ROUNDS, wallets: int = 24) -> Platform:
    chain = Devchain()
    sim = Simulator.on_devchain(chain, seed=seed, wallets=wallets)
    sim.run(rounds)
    return Platform(chain, sim)


def make_indexer(
    p: Platform, url: str | sa.Engine, *, window: int = 19, confirmations: int = 0, **kw
) -> Indexer:
    kw.setdefault("plugins", PLUGINS)
    return Indexer(
        DevchainSource(p.chain, confirmations=confirmations),
        url,
        platform_contracts(p.sim.addresses),
        window=window,
        poll_interval=0,
        **kw,
    )


@pytest.fixture(scope="session")
def simulated() -> Platform:
    """The platform after ROUNDS rounds of seed-0 activity; tests must not extend it."""
    return make_platform()


def _rows(engine: sa.Engine, table: sa.Table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def assert_matches_chain(engine: sa.Engine, p: Platform) -> None:
    """Every fact of the read model equals what the contracts say now."""
    c = p.c
    tx = {"from": p.chain.admin}  # saves web3 guessing a sender (3 eth_accounts) per call
    tok, music, vlt = c["DCMXToken"], c["MusicNFT"], c["RewardVault"]
    reg, dist = c["ComplianceRegistry"], c["RoyaltyDistributor"]
    by_tron = {tron(w): w for w in p.wallets()}

    # every log of the five contracts is in blockchain_events, nothing else is
    source = DevchainSource(p.chain)
    logs = source.logs(0, p.chain.head, list(p.sim.addresses.values()))
    with engine.connect() as conn:
        indexed = conn.execute(
            sa.text("SELECT block_number, log_index, tx_hash FROM blockchain_events")
        ).all()
    assert sorted((r[0], r[1], bytes(r[2])) for r in indexed) == [
        (lg.block_number, lg.log_index, lg.tx_hash) for lg in logs
    ]

    # DCMX: every balance row, every wallet holding DCMX, the supply
    balances = {r["wallet"]: r["balance"] for r in _rows(engine, token.token_balances)}
    for wallet, balance in balances.items():
        assert balance == tok.functions.balanceOf(by_tron[wallet]).call(tx), wallet
    for w in p.wallets():
        if tok.functions.balanceOf(w).call(tx):
            assert tron(w) in balances, w
    supply = _rows(engine, token.token_supply) or [{"total_supply": 0}]  # nothing minted yet
    assert [r["total_supply"] for r in supply] == [tok.functions.totalSupply().call(tx)]

    # NFTs: one row per minted token, owner = ownerOf
    nfts = {r["token_id"]: r for r in _rows(engine, nft.nft_index)}
    total = music.functions.totalSupply().call(tx)
    assert sorted(nfts) == list(range(1, total + 1))
    for token_id, row in nfts.items():
        assert row["owner"] == tron(music.functions.ownerOf(token_id).call(tx)), token_id
        meta = music.functions.tokenMetadata(token_id).call(tx)
        assert (row["title"], row["artist"], row["genre"]) == tuple(meta[:3])
        assert (row["edition"], row["max_editions"]) == (meta[4], meta[5])

    # reward claims
    claims = {r["claim_id"]: r for r in _rows(engine, vault.reward_claims_index)}
    count = vlt.functions.claimCount().call(tx)
    assert sorted(claims) == list(range(1, count + 1))
    for claim_id, row in claims.items():
        user, reward_type, status, _at, proof, amount = vlt.functions.getClaim(claim_id).call(tx)
        assert row["status"] == CLAIM_STATUS[status], claim_id
        assert (row["wallet"], row["reward_type"], row["amount"]) == (
            tron(user),
            reward_type,
            amount,
        )
        assert bytes(row["proof_hash"]) == proof
    for rt, pool in {r["reward_type"]: r for r in _rows(engine, vault.reward_pools)}.items():
        budget, max_per_claim, approved = vlt.functions.getPool(rt).call(tx)
        assert (pool["budget"], pool["max_per_claim"], pool["approved_total"]) == (
            budget,
            max_per_claim,
            approved,
        )

    # royalties: pending per recipient, splits, sales
    pending = {r["recipient"]: r["pending"] for r in _rows(engine, royalty.royalty_balances)}
    for w in p.wallets():
        assert pending.get(tron(w), 0) == dist.functions.pendingRoyalties(w).call(tx), w
    assert set(pending) <= set(by_tron)
    splits: dict[int, list] = {}
    for r in sorted(_rows(engine, royalty.royalty_splits), key=lambda r: r["position"]):
        splits.setdefault(r["nft_token_id"], []).append(r)
    for token_id in range(1, total + 1):
        recipients, bps = dist.functions.getRoyaltyInfo(token_id).call(tx)
        rows = splits.get(token_id, [])
        assert [r["recipient"] for r in rows] == [tron(a) for a in recipients], token_id
        assert [r["bps"] for r in rows] == list(bps)
        if rows:
            assert rows[0]["version"] == dist.functions.splitVersions(token_id).call(tx) - 1
    sales = {r["sale_id"]: r for r in _rows(engine, royalty.royalty_sales)}
    assert sorted(sales) == list(range(1, dist.functions.saleCount().call(tx) + 1))
    for sale_id, row in sales.items():
        nft_id, buyer, seller, amount, version, distributed = dist.functions.getSale(sale_id).call(
            tx
        )
        assert (row["nft_token_id"], row["buyer"], row["seller"]) == (
            nft_id,
            tron(buyer),
            tron(seller),
        )
        assert (row["amount"], row["split_version"], row["distributed"]) == (
            amount,
            version,
            distributed,
        )

    # compliance: acceptances, audit trails, deletion requests, KYC
    accepted = _rows(engine, compliance.acceptances)
    published = _rows(engine, compliance.compliance_documents)
    for row in accepted:
        wallet = by_tron[row["wallet"]]
        assert reg.functions.verifyAcceptance(wallet, row["doc_type"], row["version"]).call(tx)
    for w in p.wallets():
        trail = reg.functions.getAuditTrail(w).call(tx)
        indexed = queries.audit_trail(engine, tron(w))
        assert len(indexed) == len(trail), w
        assert [e.action for e in indexed] == [AUDIT_ACTION[t[0]] for t in trail]
        assert [e.block_timestamp for e in indexed] == [t[6] for t in trail]
        assert sum(1 for r in accepted if r["wallet"] == tron(w)) == sum(
            1 for t in trail if t[0] == 0
        )
        kyc = reg.functions.kycStatus(w).call(tx)
        (row,) = [r for r in _rows(engine, compliance.kyc_status) if r["wallet"] == tron(w)] or [
            {"status": 0}
        ]
        assert row["status"] == kyc, w
        # privacy preferences in user_profiles, as the registry's own views hold them
        profile = queries.profile(engine, tron(w))
        docs = profile.accepted_documents if profile else {}
        in_trail: dict[str, list[str]] = {}
        for t in trail:
            if t[0] == 0:
                in_trail.setdefault(str(t[1]), []).append(t[2])
        assert docs == in_trail, w
        for doc in published:
            assert reg.functions.verifyAcceptance(w, doc["doc_type"], doc["version"]).call(
                tx) == (doc["version"] in docs.get(str(doc["doc_type"]), [])), (w, doc)
        pending = reg.functions.pendingDeletionRequest(w).call(tx)
        assert ((profile.pending_deletion_request if profile else None) or 0) == pending, w
    requests = {r["request_id"]: r for r in _rows(engine, compliance.deletion_requests)}
    assert sorted(requests) == list(range(1, reg.functions.deletionRequestCount().call(tx) + 1))
    for request_id, row in requests.items():
        user, status, requested_at, processed_at, reason = reg.functions.getDeletionRequest(
            request_id
        ).call(tx)
        assert row["status"] == DELETION_STATUS[status], request_id
        assert (row["wallet"], row["reason"], row["requested_at"]) == (
            tron(user),
            reason,
            requested_at,
        )
        assert (row["processed_at"] or 0) == processed_at
