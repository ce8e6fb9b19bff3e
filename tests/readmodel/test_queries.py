"""The typed query API against the simulated platform, checked with the contracts' views."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dcmx_plugins import queries, royalty, token

from .conftest import AUDIT_ACTION, CLAIM_STATUS, make_indexer, tron


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def indexed(request, simulated, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('q') / 'index.db'}"
    else:
        url = request.getfixturevalue("module_pg_url")
    indexer = make_indexer(simulated, url)
    indexer.run()
    return indexer.engine


def _metadata(p, token_id):
    return p.c["MusicNFT"].functions.tokenMetadata(token_id).call({"from": p.chain.admin})


def test_nfts_by_artist_genre_owner(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    music = p.c["MusicNFT"]
    total = music.functions.totalSupply().call(tx)
    meta = {t: _metadata(p, t) for t in range(1, total + 1)}
    owners = {t: tron(music.functions.ownerOf(t).call(tx)) for t in meta}
    for artist in {m[1] for m in meta.values()}:
        found = queries.nfts_by_artist(indexed, artist)
        assert [n.token_id for n in found] == sorted(t for t, m in meta.items() if m[1] == artist)
        assert all(n.artist == artist and n.owner == owners[n.token_id] for n in found)
    for genre in {m[2] for m in meta.values()}:
        expected = sorted(t for t, m in meta.items() if m[2] == genre)
        assert [n.token_id for n in queries.nfts_by_genre(indexed, genre)] == expected
        paged = queries.nfts_by_genre(indexed, genre, limit=1, offset=1)
        assert [n.token_id for n in paged] == expected[1:2]
    for owner in set(owners.values()):
        expected = sorted(t for t, o in owners.items() if o == owner)
        assert [n.token_id for n in queries.nfts_by_owner(indexed, owner)] == expected
    assert queries.nfts_by_artist(indexed, "nobody") == []


def test_nft(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    dist = p.c["RoyaltyDistributor"]
    sales = {}
    for sale_id in range(1, dist.functions.saleCount().call(tx) + 1):
        token_id, _b, _s, amount, _v, _d = dist.functions.getSale(sale_id).call(tx)
        sales[token_id] = amount  # the last sale wins
    for token_id in range(1, p.c["MusicNFT"].functions.totalSupply().call(tx) + 1):
        got = queries.nft(indexed, token_id)
        title, artist, genre, content, edition, max_ed, _creator, minted_at = _metadata(p, token_id)
        assert (got.title, got.artist, got.genre, got.content_hash) == (
            title,
            artist,
            genre,
            content,
        )
        assert (got.edition, got.max_editions, got.minted_at) == (edition, max_ed, minted_at)
        receiver, royalty_amount = p.c["MusicNFT"].functions.royaltyInfo(token_id, 10_000).call(tx)
        assert (got.royalty_receiver, got.royalty_bps) == (tron(receiver), royalty_amount)
        assert got.last_sale_price == sales.get(token_id)
    assert queries.nft(indexed, 10**9) is None


def test_wallet_transactions(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    t = token.transaction_index.c
    with indexed.connect() as conn:
        for w in p.wallets():
            wallet = tron(w)
            rows = conn.execute(
                sa.select(token.transaction_index)
                .where(sa.or_(t.from_address == wallet, t.to_address == wallet))
                .order_by(t.block_number.desc(), t.log_index.desc())
            ).all()
            got = queries.wallet_transactions(conn, wallet, limit=1000)
            assert [(g.block_number, g.log_index) for g in got] == [
                (r.block_number, r.log_index) for r in rows
            ]
            # the history adds up to the balance on chain
            net = sum(g.amount if g.to_address == wallet else -g.amount for g in got)
            assert net == p.c["DCMXToken"].functions.balanceOf(w).call(tx)
            pages, before = [], None  # keyset pages: each starts after the last row's position
            while True:
                page = queries.wallet_transactions(conn, wallet, limit=2, before=before)
                pages += page
                if len(page) < 2:
                    break
                before = (page[-1].block_number, page[-1].log_index)
            assert pages == got


def test_claims_by_status_and_wallet_rewards(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    vlt = p.c["RewardVault"]
    status = {
        i: CLAIM_STATUS[vlt.functions.getClaim(i).call(tx)[2]]
        for i in range(1, vlt.functions.claimCount().call(tx) + 1)
    }
    assert set(status.values()) == {"submitted", "approved", "rejected", "claimed"}
    for s in set(status.values()):
        expected = sorted(i for i, x in status.items() if x == s)
        assert [c.claim_id for c in queries.claims_by_status(indexed, s, limit=1000)] == expected
        page = queries.claims_by_status(indexed, s, limit=2, after_claim=expected[0])
        assert [c.claim_id for c in page] == expected[1:3]
    for w in p.wallets():
        claimed, pending, ids = vlt.functions.getUserRewards(w).call(tx)
        got = queries.wallet_rewards(indexed, tron(w))
        assert (got.claimed, got.pending) == (claimed, pending), w
        assert [c.claim_id for c in got.claims] == list(ids)
        submitted = sum(
            vlt.functions.getClaim(i).call(tx)[5] for i in ids if status[i] == "submitted"
        )
        assert got.submitted == submitted


def test_audit_trail(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    reg = p.c["ComplianceRegistry"]
    seen = 0
    for w in p.wallets():
        trail = reg.functions.getAuditTrail(w).call(tx)
        got = queries.audit_trail(indexed, tron(w))
        seen += len(got)
        assert [(g.action, g.block_timestamp) for g in got] == [
            (AUDIT_ACTION[e[0]], e[6]) for e in trail
        ]
        for g, (_a, doc_type, version, doc_hash, request_id, kyc, _ts) in zip(
            got, trail, strict=True
        ):
            if g.action == "acceptance":
                assert (g.doc_type, g.version, g.doc_hash) == (doc_type, version, doc_hash)
            elif g.action.startswith("deletion"):
                assert g.request_id == request_id
            else:
                assert g.kyc_status == kyc
    assert seen > 20


def test_trending_tracks(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    dist = p.c["RoyaltyDistributor"]
    sales = [
        dist.functions.getSale(i).call(tx)
        for i in range(1, dist.functions.saleCount().call(tx) + 1)
    ]
    with indexed.connect() as conn:
        sold_at = dict(
            conn.execute(
                sa.select(royalty.royalty_sales.c.sale_id, royalty.royalty_sales.c.sold_at)
            ).all()
        )
    since = sorted(sold_at.values())[len(sold_at) // 2]
    by_track: dict[bytes, list[int]] = {}
    for sale_id, (token_id, *_rest) in enumerate(sales, start=1):
        if sold_at[sale_id] >= since:
            content = _metadata(p, token_id)[3]
            by_track.setdefault(content, []).append(sales[sale_id - 1][3])
    expected = sorted(by_track.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:5]
    got = queries.trending_tracks(indexed, since=since, limit=5)
    assert [(g.content_hash, g.sales, g.volume) for g in got] == [
        (h, len(v), sum(v)) for h, v in expected
    ]
    for g in got:
        assert [n.content_hash for n in queries.nfts_by_artist(indexed, g.artist)].count(
            g.content_hash
        ) >= 1


def test_platform_metrics_and_profile(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    c = p.c
    days = queries.platform_metrics(indexed)
    assert days and [d.day for d in days] == sorted((d.day for d in days), reverse=True)
    assert sum(d.nfts_minted for d in days) == c["MusicNFT"].functions.totalSupply().call(tx)
    assert sum(d.sales_count for d in days) == c["RoyaltyDistributor"].functions.saleCount().call(
        tx
    )
    claimed = sum(c["RewardVault"].functions.totalClaimed(w).call(tx) for w in p.wallets())
    assert sum(d.rewards_distributed for d in days) == claimed
    with indexed.connect() as conn:
        active = conn.execute(sa.text("SELECT count(*) FROM analytics_wallet_days")).scalar()
    assert sum(d.active_wallets for d in days) == active
    for w in p.wallets():
        prof = queries.profile(indexed, tron(w))
        if prof is None:
            continue
        assert prof.token_balance == c["DCMXToken"].functions.balanceOf(w).call(tx)
        assert prof.royalties_pending == c["RoyaltyDistributor"].functions.pendingRoyalties(w).call(
            tx
        )
        assert prof.nfts_owned == c["MusicNFT"].functions.balanceOf(w).call(tx)
        assert prof.kyc_status == c["ComplianceRegistry"].functions.kycStatus(w).call(tx)
        trail = c["ComplianceRegistry"].functions.getAuditTrail(w).call(tx)
        assert prof.acceptances == sum(1 for e in trail if e[0] == 0)
        assert prof.deletion_requested == any(e[0] == 1 for e in trail)
    assert queries.profile(indexed, "T" + "1" * 33) is None


def test_wallet_history_adds_up_to_the_contracts_views(indexed, simulated):
    p, tx = simulated, {"from": simulated.chain.admin}
    dist, vault = p.c["RoyaltyDistributor"], p.c["RewardVault"]
    sales = [dist.functions.getSale(i).call(tx) for i in range(1, dist.functions.saleCount()
                                                                 .call(tx) + 1)]
    seen_kinds = set()
    with indexed.connect() as conn:
        for w in p.wallets():
            wallet = tron(w)
            got = queries.wallet_history(conn, wallet, limit=100_000)
            positions = [(g.block_number, g.log_index) for g in got]
            assert positions == sorted(set(positions), reverse=True)  # newest first, unique
            by: dict[str, list] = {}
            for g in got:
                by.setdefault(g.kind, []).append(g)
            seen_kinds |= set(by)

            def total(*kinds, by=by):
                return sum(g.amount for k in kinds for g in by.get(k, []))

            def count(*kinds, by=by):
                return sum(len(by.get(k, [])) for k in kinds)

            assert total("token_received", "token_minted") - total("token_sent") == (
                p.c["DCMXToken"].functions.balanceOf(w).call(tx))
            assert count("nft_received", "nft_minted") - count("nft_sent") == (
                p.c["MusicNFT"].functions.balanceOf(w).call(tx))
            assert total("royalty_credited") - total("royalty_withdrawn") == (
                dist.functions.pendingRoyalties(w).call(tx))
            assert total("reward_paid") == vault.functions.totalClaimed(w).call(tx)
            bought = [s for s in sales if s[1] == w]
            sold = [s for s in sales if s[2] == w and s[1] != w]
            assert sorted((g.token_id, g.amount) for g in by.get("nft_bought", [])) == sorted(
                (s[0], s[3]) for s in bought)
            assert sorted((g.token_id, g.amount, g.counterparty) for g in by.get("nft_sold", [])
                          ) == sorted((s[0], s[3], tron(s[1])) for s in sold)
            pages, before = [], None  # keyset pages split blocks and lose nothing
            while True:
                page = queries.wallet_history(conn, wallet, limit=3, before=before)
                pages += page
                if len(page) < 3:
                    break
                before = (page[-1].block_number, page[-1].log_index)
            assert pages == got
    assert seen_kinds >= {"token_sent", "token_received", "token_minted", "nft_minted",
                          "nft_bought", "nft_sold", "reward_claimed", "reward_paid",
                          "royalty_credited"}
