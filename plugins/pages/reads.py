"""What the platform's pages read: :mod:`dcmx_plugins.queries` where it has the read, and the
few reads a page needs beyond it (a title search, an artist's sales and royalties over time,
a wallet's compliance record), over the same tables and indexes.

Every function takes a connection and returns plain values (dataclasses of
:mod:`.queries`, dicts, lists): the pages call them through ``service.cached`` with the
tables they read, so the answers are cached under those tables' versions like the API's.
Amounts are summed in Python: ExactInt is text on SQLite, where SQL's SUM would be wrong.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dcmx_generated import music_nft

from .. import queries
from .._sql import ZERO_ADDRESSES
from ..compliance import acceptances, deletion_requests, kyc_status
from ..nft import nft_index
from ..platform import user_profiles
from ..royalty import (
    royalty_balances,
    royalty_credits,
    royalty_sales,
    royalty_splits,
    royalty_withdrawals,
)
from ..token import token_balances, transaction_index
from ..vault import reward_claims_index

__all__ = [
    "ARTIST_TABLES",
    "BUCKETS",
    "CLAIM_STATUSES",
    "COMPLIANCE_TABLES",
    "DOC_TYPES",
    "KYC",
    "NFT_TABLES",
    "POOLS",
    "SEARCH_TABLES",
    "TRANSACTION_TABLES",
    "TRENDING_TABLES",
    "WALLET_TABLES",
    "artist",
    "compliance",
    "facets",
    "nft_detail",
    "search_nfts",
    "trending",
    "wallet_summary",
    "wallet_transactions",
]

DOC_TYPES = {0: "Terms of Service", 1: "Privacy Policy"}
KYC = {0: "none", 1: "pending", 2: "verified", 3: "rejected", 4: "revoked"}
POOLS = ("sharing", "listening", "bandwidth")
CLAIM_STATUSES = ("submitted", "approved", "rejected", "claimed")
#: Chart buckets, in seconds: the smallest that spans the data in at most 48 of them.
BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
SEARCH_TABLES = (nft_index,)
_NFT_FIELDS = [f.name for f in fields(queries.Nft)]


def _nft(row: Any) -> queries.Nft:
    return queries.Nft(**{f: row[f] for f in _NFT_FIELDS})


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_nfts(conn: Connection, *, q: str, artist: str | None, genre: str | None,
                limit: int, offset: int) -> dict[str, Any]:
    """NFTs whose title, artist or genre contains ``q`` (any case), of ``artist`` and of
    ``genre`` when given, by token id; ``more``: whether a next page exists. A filter alone
    is the platform's indexed query (:func:`.queries.nfts_by_artist` / ``_by_genre``); a
    text search scans ``nft_index`` (a table of NFTs, not of events)."""
    n = nft_index.c
    if not q and artist is not None and genre is None:
        rows = queries.nfts_by_artist(conn, artist, limit=limit + 1, offset=offset)
    elif not q and genre is not None and artist is None:
        rows = queries.nfts_by_genre(conn, genre, limit=limit + 1, offset=offset)
    else:
        stmt = sa.select(nft_index)
        if artist is not None:
            stmt = stmt.where(n.artist == artist)
        if genre is not None:
            stmt = stmt.where(n.genre == genre)
        if q:
            like = _like(q)
            stmt = stmt.where(sa.or_(*(sa.func.lower(c).like(like, escape="\\")
                                       for c in (n.title, n.artist, n.genre))))
        stmt = stmt.order_by(n.token_id).limit(limit + 1).offset(offset)
        rows = [_nft(r) for r in conn.execute(stmt).mappings()]
    return {"items": rows[:limit], "more": len(rows) > limit}


def facets(conn: Connection) -> dict[str, list[str]]:
    """The artists and genres to filter by (index-only scans)."""
    n = nft_index.c
    return {
        "artists": list(conn.execute(sa.select(n.artist).distinct().order_by(n.artist)
                                     .limit(500)).scalars()),
        "genres": list(conn.execute(sa.select(n.genre).distinct().order_by(n.genre)
                                    .limit(200)).scalars()),
    }


def nft_detail(conn: Connection, token_id: int) -> dict[str, Any] | None:
    """One NFT: the row, its royalty splits, its moves (mint, transfers) and its sales."""
    found = queries.nft(conn, token_id)
    if found is None:
        return None
    t = music_nft.Transfer.TABLE.c
    moves = conn.execute(
        sa.select(t.block_number, t.log_index, t.tx_hash, t.block_timestamp, t.from_, t.to_)
        .where(t.token_id == token_id).order_by(t.block_number, t.log_index).limit(500)).all()
    s = royalty_sales.c
    sales = conn.execute(sa.select(s.sale_id, s.buyer, s.seller, s.amount, s.sold_at,
                                   s.block_number, s.distributed)
                         .where(s.nft_token_id == token_id).order_by(s.sale_id)).mappings()
    sp = royalty_splits.c
    splits = conn.execute(sa.select(sp.recipient, sp.bps).where(sp.nft_token_id == token_id)
                          .order_by(sp.position)).mappings()
    return {
        "nft": found,
        "splits": [dict(r) for r in splits],
        "moves": [{"kind": "mint" if m.from_ in ZERO_ADDRESSES else "transfer",
                   "block_number": m.block_number, "log_index": m.log_index,
                   "tx_hash": m.tx_hash, "at": m.block_timestamp, "from": m.from_, "to": m.to_}
                  for m in moves],
        "sales": [dict(r) for r in sales],
    }


NFT_TABLES = (nft_index, music_nft.Transfer.TABLE, royalty_sales, royalty_splits)


def _bucket(times: list[int]) -> int:
    if not times:
        return BUCKETS[-1]
    span = max(times) - min(times)
    return next((b for b in BUCKETS if span // b < 48), BUCKETS[-1])


def artist(conn: Connection, name: str) -> dict[str, Any] | None:
    """An artist's tracks (the editions of one content hash), sales, the royalties credited
    to and withdrawn by the wallets their NFTs pay royalties to, and those over time."""
    nfts = queries.nfts_by_artist(conn, name, limit=2000)
    if not nfts:
        return None
    tracks: dict[bytes, dict[str, Any]] = {}
    for n in nfts:
        track = tracks.setdefault(n.content_hash, {
            "title": n.title, "genre": n.genre, "max_editions": n.max_editions, "minted": 0,
            "first_token": n.token_id, "sales": 0, "volume": 0, "first_minted_at": n.minted_at})
        track["minted"] += 1
    wallets = sorted({n.royalty_receiver for n in nfts})
    s, nx = royalty_sales.c, nft_index.c
    sales = conn.execute(
        sa.select(s.sale_id, s.nft_token_id, s.amount, s.sold_at, s.buyer, s.seller,
                  nx.content_hash)
        .join(nft_index, nx.token_id == s.nft_token_id)
        .where(nx.artist == name).order_by(s.sale_id)).mappings().all()
    for sale in sales:
        track = tracks[bytes(sale["content_hash"])]
        track["sales"] += 1
        track["volume"] += sale["amount"]
    c, w = royalty_credits.c, royalty_withdrawals.c
    credits = conn.execute(sa.select(c.amount, c.credited_at)
                           .where(c.recipient.in_(wallets))).all()
    withdrawals = conn.execute(sa.select(w.amount, w.withdrawn_at)
                               .where(w.recipient.in_(wallets))).all()
    b = royalty_balances.c
    balances = conn.execute(sa.select(royalty_balances).where(b.recipient.in_(wallets))
                            ).mappings().all()
    times = ([x["sold_at"] for x in sales] + [x[1] for x in credits]
             + [x[1] for x in withdrawals])
    size = _bucket(times)
    series: dict[int, list[int]] = {}
    for values, index in (([(x["amount"], x["sold_at"]) for x in sales], 0),
                          (credits, 1), (withdrawals, 2)):
        for amount, at in values:
            series.setdefault(at // size * size, [0, 0, 0])[index] += amount
    if series:  # every bucket from the first to the last, empty ones too
        first, last = min(series), max(series)
        for start in range(first, last + 1, size):
            series.setdefault(start, [0, 0, 0])
    return {
        "artist": name,
        "nfts": len(nfts),
        "tracks": sorted(tracks.values(), key=lambda t: (-t["sales"], t["title"])),
        "wallets": wallets,
        "sales_count": len(sales),
        "sales_volume": sum(x["amount"] for x in sales),
        "credited": sum(x[0] for x in credits),
        "withdrawn": sum(x[0] for x in withdrawals),
        "pending": sum(x["pending"] for x in balances),
        "bucket": size,
        "series": [{"start": k, "sales": v[0], "credited": v[1], "withdrawn": v[2]}
                   for k, v in sorted(series.items())],
        "recent_sales": [dict(x) for x in sales[-20:]][::-1],
    }


ARTIST_TABLES = (nft_index, royalty_sales, royalty_credits, royalty_withdrawals,
                 royalty_balances)


def wallet_summary(conn: Connection, wallet: str) -> dict[str, Any]:
    """A wallet's balance, rewards by pool and status with its claims, royalty balance,
    profile and some of the NFTs it owns."""
    balance = conn.execute(sa.select(token_balances.c.balance)
                           .where(token_balances.c.wallet == wallet)).scalar()
    rewards = queries.wallet_rewards(conn, wallet)
    by_pool = {pool: dict.fromkeys(CLAIM_STATUSES, 0) for pool in POOLS}
    for claim in rewards.claims:
        by_pool.setdefault(claim.pool, dict.fromkeys(CLAIM_STATUSES, 0))
        by_pool[claim.pool][claim.status] += claim.amount
    royalty = conn.execute(sa.select(royalty_balances)
                           .where(royalty_balances.c.recipient == wallet)).mappings().first()
    return {
        "wallet": wallet,
        "balance": balance or 0,
        "rewards": rewards,
        "by_pool": by_pool,
        "royalty": dict(royalty) if royalty else None,
        "profile": queries.profile(conn, wallet),
        "owned": queries.nfts_by_owner(conn, wallet, limit=12),
    }


WALLET_TABLES = (token_balances, reward_claims_index, royalty_balances, nft_index, user_profiles)


def wallet_transactions(conn: Connection, wallet: str, *, limit: int,
                        before: tuple[int, int] | None) -> dict[str, Any]:
    """A page of the wallet's DCMX transfers, newest first (:func:`.queries.
    wallet_transactions`); ``before``: the (block, log index) the next page starts before,
    None on the last page."""
    rows = queries.wallet_transactions(conn, wallet, limit=limit + 1, before=before)
    page = rows[:limit]
    following = (page[-1].block_number, page[-1].log_index) if len(rows) > limit else None
    return {"items": page, "before": following}


TRANSACTION_TABLES = (transaction_index,)


def compliance(conn: Connection, wallet: str) -> dict[str, Any]:
    """A wallet's acceptances, deletion requests and KYC status (shown to the wallet only,
    as the API's audit trail is)."""
    a, d = acceptances.c, deletion_requests.c
    kyc = conn.execute(sa.select(kyc_status.c.status, kyc_status.c.updated_at)
                       .where(kyc_status.c.wallet == wallet)).first()
    return {
        "acceptances": [dict(r) for r in conn.execute(
            sa.select(a.doc_type, a.version, a.doc_hash, a.accepted_at)
            .where(a.wallet == wallet).order_by(a.accepted_at, a.doc_type)).mappings()],
        "deletions": [dict(r) for r in conn.execute(
            sa.select(d.request_id, d.reason, d.status, d.requested_at, d.processed_at)
            .where(d.wallet == wallet).order_by(d.request_id)).mappings()],
        "kyc": None if kyc is None else {"status": kyc[0], "updated_at": kyc[1]},
    }


COMPLIANCE_TABLES = (acceptances, deletion_requests, kyc_status)


def trending(conn: Connection, *, since: int, limit: int) -> list[queries.TrendingTrack]:
    """Tracks by sales since ``since``: :func:`.queries.trending_tracks`."""
    return queries.trending_tracks(conn, since=since, limit=limit)


TRENDING_TABLES = (royalty_sales, nft_index)
