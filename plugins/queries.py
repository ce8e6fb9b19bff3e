"""Typed reads of the platform's read model, for the services that embed dcmx.

Every function takes a SQLAlchemy ``Engine`` or ``Connection`` and returns frozen dataclasses;
each search the platform makes is served by an index of the tables it reads::

    from dcmx_core import create_engine
    from dcmx_plugins import queries

    engine = create_engine("sqlite:///dcmx.db")
    for nft in queries.nfts_by_artist(engine, "Nina Sol"):
        print(nft.token_id, nft.title, nft.owner)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import history
from .compliance import compliance_index
from .nft import HOUR, nft_index, track_sales, track_sales_hourly
from .platform import analytics, user_profiles
from .royalty import royalty_balances, royalty_sales
from .token import token_balances, transaction_index
from .vault import reward_claims_index

__all__ = [
    "AuditEntry",
    "Claim",
    "DayMetrics",
    "HistoryEntry",
    "Nft",
    "Profile",
    "TokenTransfer",
    "TrendingTrack",
    "WalletRewards",
    "audit_trail",
    "claims_by_status",
    "nft",
    "nfts_by_artist",
    "nfts_by_genre",
    "nfts_by_owner",
    "platform_metrics",
    "profile",
    "trending_tracks",
    "wallet_history",
    "wallet_rewards",
    "wallet_transactions",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Nft:
    token_id: int
    owner: str
    artist: str
    title: str
    genre: str
    content_hash: bytes
    edition: int
    max_editions: int
    royalty_receiver: str
    royalty_bps: int
    minted_at: int
    last_sale_price: int | None
    last_sale_at: int | None


@dataclass(frozen=True, slots=True)
class TokenTransfer:
    block_number: int
    log_index: int
    tx_hash: bytes
    block_timestamp: int
    kind: str
    from_address: str
    to_address: str
    amount: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    block_number: int
    log_index: int
    tx_hash: bytes
    block_timestamp: int
    kind: str  # one of history.KINDS
    counterparty: str
    amount: int | None
    token_id: int | None
    contract: str


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: int
    wallet: str
    pool: str
    amount: int
    status: str
    submitted_at: int
    verified_at: int | None
    claimed_at: int | None


@dataclass(frozen=True, slots=True)
class WalletRewards:
    wallet: str
    claimed: int  # minted to the wallet
    pending: int  # approved, not claimed yet
    submitted: int  # waiting for verification
    rejected: int
    claims: tuple[Claim, ...]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    block_number: int
    log_index: int
    block_timestamp: int
    action: str
    doc_type: int | None
    version: str | None
    doc_hash: bytes | None
    request_id: int | None
    kyc_status: int | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class TrendingTrack:
    content_hash: bytes
    title: str
    artist: str
    sales: int
    volume: int


@dataclass(frozen=True, slots=True)
class DayMetrics:
    day: str
    events: int
    nfts_minted: int
    rewards_distributed: int
    transfer_count: int
    transfer_volume: int
    sales_count: int
    sales_volume: int
    active_wallets: int


@dataclass(frozen=True, slots=True)
class Profile:
    wallet: str
    first_seen_at: int
    last_seen_at: int
    events: int
    kyc_status: int
    acceptances: int
    deletion_requested: bool
    token_balance: int
    royalties_pending: int
    nfts_owned: int
    # privacy preferences: versions accepted per document type, the open deletion request
    accepted_documents: dict[str, list[str]]
    pending_deletion_request: int | None


@contextmanager
def _connected(db: Engine | Connection) -> Iterator[Connection]:
    if isinstance(db, Connection):
        yield db
    else:
        with db.connect() as conn:
            yield conn


def _rows(db: Engine | Connection, cls: Callable[..., T], stmt: sa.Select[Any]) -> list[T]:
    names = [f.name for f in fields(cast(Any, cls))]
    with _connected(db) as conn:
        return [cls(**{n: row[n] for n in names}) for row in conn.execute(stmt).mappings()]


def _nfts(where: sa.ColumnElement[bool], limit: int, offset: int) -> sa.Select[Any]:
    return (
        sa.select(nft_index).where(where).order_by(nft_index.c.token_id).limit(limit).offset(offset)
    )


def nfts_by_artist(
    db: Engine | Connection, artist: str, *, limit: int = 100, offset: int = 0
) -> list[Nft]:
    return _rows(db, Nft, _nfts(nft_index.c.artist == artist, limit, offset))


def nfts_by_genre(
    db: Engine | Connection, genre: str, *, limit: int = 100, offset: int = 0
) -> list[Nft]:
    return _rows(db, Nft, _nfts(nft_index.c.genre == genre, limit, offset))


def nfts_by_owner(
    db: Engine | Connection, owner: str, *, limit: int = 100, offset: int = 0
) -> list[Nft]:
    return _rows(db, Nft, _nfts(nft_index.c.owner == owner, limit, offset))


def nft(db: Engine | Connection, token_id: int) -> Nft | None:
    found = _rows(db, Nft, sa.select(nft_index).where(nft_index.c.token_id == token_id))
    return found[0] if found else None


def wallet_transactions(
    db: Engine | Connection,
    wallet: str,
    *,
    limit: int = 100,
    before: tuple[int, int] | None = None,
) -> list[TokenTransfer]:
    """DCMX transfers, mints and burns to or from ``wallet``, newest first; ``before``: the
    (block_number, log_index) of the last row of the page before (exclusive), so a block
    split between pages is neither skipped nor repeated."""
    t = transaction_index.c

    def side(column: sa.Column[Any]) -> sa.Select[Any]:
        stmt = sa.select(transaction_index).where(column == wallet)
        if before is not None:
            stmt = stmt.where(sa.tuple_(t.block_number, t.log_index) < sa.tuple_(*before))
        return stmt.order_by(t.block_number.desc(), t.log_index.desc()).limit(limit)

    # Two index scans merged (one per address column) instead of an OR that defeats indexes.
    # Each side is wrapped in a subquery: SQLite rejects a parenthesised SELECT with ORDER BY
    # and LIMIT as a UNION operand. UNION (not ALL) keeps a self-transfer once.
    both = sa.union(
        sa.select(side(t.from_address).subquery()), sa.select(side(t.to_address).subquery())
    ).subquery()
    stmt = (
        sa.select(both).order_by(both.c.block_number.desc(), both.c.log_index.desc()).limit(limit)
    )
    return _rows(db, TokenTransfer, stmt)


def wallet_history(
    db: Engine | Connection,
    wallet: str,
    *,
    limit: int = 100,
    before: tuple[int, int] | None = None,
) -> list[HistoryEntry]:
    """Everything that happened to ``wallet`` (:mod:`.history` lists the kinds), newest first;
    ``before``: the (block_number, log_index) of the previous page's last row."""
    stmt, params = history.page(wallet, limit, before)
    names = [f.name for f in fields(HistoryEntry)]
    with _connected(db) as conn:
        rows = conn.execute(stmt, params).mappings()
        return [HistoryEntry(**{n: row[n] for n in names}) for row in rows]


def claims_by_status(
    db: Engine | Connection, status: str, *, limit: int = 100, after_claim: int = 0
) -> list[Claim]:
    c = reward_claims_index.c
    stmt = (
        sa.select(reward_claims_index)
        .where(c.status == status, c.claim_id > after_claim)
        .order_by(c.claim_id)
        .limit(limit)
    )
    return _rows(db, Claim, stmt)


def wallet_rewards(db: Engine | Connection, wallet: str) -> WalletRewards:
    c = reward_claims_index.c
    claims = _rows(
        db, Claim, sa.select(reward_claims_index).where(c.wallet == wallet).order_by(c.claim_id)
    )
    total = {
        s: sum(x.amount for x in claims if x.status == s)
        for s in ("claimed", "approved", "submitted", "rejected")
    }
    return WalletRewards(
        wallet,
        total["claimed"],
        total["approved"],
        total["submitted"],
        total["rejected"],
        tuple(claims),
    )


def audit_trail(db: Engine | Connection, wallet: str) -> list[AuditEntry]:
    """The wallet's compliance events in chain order, as ``getAuditTrail`` lists them."""
    c = compliance_index.c
    stmt = (
        sa.select(compliance_index)
        .where(c.wallet == wallet, c.action != "document_published")
        .order_by(c.block_number, c.log_index)
    )
    return _rows(db, AuditEntry, stmt)


def trending_tracks(db: Engine | Connection, *, since: int, limit: int = 10) -> list[TrendingTrack]:
    """Tracks (all editions of one content hash) by sales since the unix time ``since``."""
    s, n, t = royalty_sales.c, nft_index.c, track_sales_hourly.c
    # Whole hours from the per-hour counts, the part of an hour before the first whole one
    # from the sales themselves: the cost follows the tracks sold per hour, not the sales; a
    # window holding every sale reads the first ``limit`` rows of the all-time counts.
    hour = -(-since // HOUR) * HOUR
    partial = (
        sa.select(n.content_hash, s.amount)
        .select_from(royalty_sales)
        .join(nft_index, n.token_id == s.nft_token_id)
        .where(s.sold_at >= since, s.sold_at < hour)
    )
    counted = sa.union_all(
        sa.select(t.content_hash, t.sales).where(t.hour >= hour),
        sa.select(n.content_hash, sa.literal(1, sa.Integer).label("sales"))
        .select_from(royalty_sales)
        .join(nft_index, n.token_id == s.nft_token_id)
        .where(s.sold_at >= since, s.sold_at < hour),
    ).subquery()
    sales = sa.func.sum(counted.c.sales).label("sales")
    top_stmt = (
        sa.select(counted.c.content_hash, sales)
        .group_by(counted.c.content_hash)
        .order_by(sa.desc(sales), counted.c.content_hash)
        .limit(limit)
    )
    with _connected(db) as conn:
        first = conn.execute(sa.select(sa.func.min(s.sold_at))).scalar()
        # Summed in Python: exact on any engine (SQLite's own SUM, without dcmx's exact one,
        # reads amounts past 64 bits as REALs).
        volume: dict[bytes, int] = {}
        if first is None or since <= first:  # every sale counts: the totals, in index order
            a = track_sales.c
            rows = conn.execute(
                sa.select(a.content_hash, a.sales, a.volume)
                .order_by(sa.desc(a.sales), a.content_hash)
                .limit(limit)
            ).all()
            top = [(bytes(h), count) for h, count, _ in rows]
            volume = {bytes(h): v for h, _, v in rows}
        else:
            top = [(bytes(h), int(count)) for h, count in conn.execute(top_stmt)]
            hashes = [h for h, _ in top]
            if hashes:
                for h, amount in [
                    *conn.execute(
                        sa.select(t.content_hash, t.volume)
                        .where(t.content_hash.in_(hashes), t.hour >= hour)
                    ),
                    *conn.execute(partial.where(n.content_hash.in_(hashes))),
                ]:
                    volume[bytes(h)] = volume.get(bytes(h), 0) + amount
        names: dict[bytes, tuple[str, str]] = {}
        if top:
            for h, title, artist in conn.execute(
                sa.select(n.content_hash, sa.func.min(n.title), sa.func.min(n.artist))
                .where(n.content_hash.in_([h for h, _ in top]))
                .group_by(n.content_hash)
            ):
                names[bytes(h)] = (title, artist)
    return [TrendingTrack(h, *names[h], count, volume.get(h, 0)) for h, count in top]


def platform_metrics(db: Engine | Connection, *, days: int = 30) -> list[DayMetrics]:
    """Per-day metrics, newest day first."""
    stmt = sa.select(analytics).order_by(analytics.c.day.desc()).limit(days)
    return _rows(db, DayMetrics, stmt)


def profile(db: Engine | Connection, wallet: str) -> Profile | None:
    with _connected(db) as conn:
        p = (
            conn.execute(sa.select(user_profiles).where(user_profiles.c.wallet == wallet))
            .mappings()
            .first()
        )
        if p is None:
            return None
        balance = (
            conn.execute(
                sa.select(token_balances.c.balance).where(token_balances.c.wallet == wallet)
            ).scalar()
            or 0
        )
        pending = (
            conn.execute(
                sa.select(royalty_balances.c.pending).where(royalty_balances.c.recipient == wallet)
            ).scalar()
            or 0
        )
        owned = conn.execute(
            sa.select(sa.func.count()).select_from(nft_index).where(nft_index.c.owner == wallet)
        ).scalar_one()
    return Profile(
        wallet,
        p["first_seen_at"],
        p["last_seen_at"],
        p["events"],
        p["kyc_status"],
        p["acceptances"],
        p["deletion_requested"],
        balance,
        pending,
        owned,
        p["accepted_documents"] or {},
        p["pending_deletion_request"],
    )
