"""The platform's cross-contract read model: ``user_profiles``, per-day ``analytics`` and each
wallet's whole history (the ``wallet_history`` view, :mod:`.history`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import dcmx_core
from dcmx_core.figures import Figure
from dcmx_core.sqltypes import ExactInt, address
from dcmx_core.store.rows import fetch_columns, insert_rows, upsert_rows
from dcmx_generated import compliance_registry as cr
from dcmx_generated import dcmx_token as tok
from dcmx_generated import music_nft as nft
from dcmx_generated import reward_vault as rv
from dcmx_generated import royalty_distributor as rd

from . import history
from ._sql import ZERO_ADDRESSES, day

metadata = sa.MetaData()

user_profiles = sa.Table(
    "user_profiles",
    metadata,
    sa.Column("wallet", address(), primary_key=True),
    sa.Column("first_seen_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("first_block", sa.BigInteger, nullable=False),
    sa.Column("last_block", sa.BigInteger, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("transfers", sa.Integer, nullable=False),
    sa.Column("nfts_minted", sa.Integer, nullable=False),
    sa.Column("purchases", sa.Integer, nullable=False),
    sa.Column("claims", sa.Integer, nullable=False),
    sa.Column("acceptances", sa.Integer, nullable=False),
    sa.Column("last_accepted_at", sa.BigInteger, nullable=True),
    sa.Column("kyc_status", sa.Integer, nullable=False),
    sa.Column("deletion_requested", sa.Boolean, nullable=False),
    sa.Column("deletion_status", sa.String(16), nullable=True),
    # Privacy preferences, as ComplianceRegistry holds them: the versions of each document
    # type the wallet accepted, in order ({"1": ["2024-06", "2025-01"]}; its
    # verifyAcceptance), and the deletion request still open (its pendingDeletionRequest).
    sa.Column("accepted_documents", sa.JSON, nullable=True),
    sa.Column("pending_deletion_request", sa.BigInteger, nullable=True),
)

analytics = sa.Table(
    "analytics",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("nfts_minted", sa.Integer, nullable=False),
    sa.Column("rewards_distributed", ExactInt, nullable=False),
    sa.Column("transfer_count", sa.Integer, nullable=False),
    sa.Column("transfer_volume", ExactInt, nullable=False),
    sa.Column("sales_count", sa.Integer, nullable=False),
    sa.Column("sales_volume", ExactInt, nullable=False),
    sa.Column("active_wallets", sa.Integer, nullable=False),
)

# Which wallets were active on which day, so that active_wallets counts each one once.
wallet_days = sa.Table(
    "analytics_wallet_days",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("wallet", address(), primary_key=True),
)

# The wallets each event makes active (role changes and approvals by admins are left out).
WALLETS = {
    tok.Transfer: ("from_", "to_"),
    tok.Approval: ("owner", "spender"),
    nft.Transfer: ("from_", "to_"),
    nft.Minted: ("to_",),
    cr.AcceptanceRecorded: ("user_",),
    cr.DeletionRequested: ("user_",),
    cr.DeletionProcessed: ("user_",),
    cr.KycStatusChanged: ("wallet",),
    rv.ClaimSubmitted: ("user_",),
    rv.RewardsClaimed: ("user_",),
    rd.SaleRecorded: ("buyer", "seller"),
    rd.RoyaltiesWithdrawn: ("recipient",),
}
COUNTERS = ("events", "transfers", "nfts_minted", "purchases", "claims", "acceptances")
METRICS = (
    "events",
    "nfts_minted",
    "rewards_distributed",
    "transfer_count",
    "transfer_volume",
    "sales_count",
    "sales_volume",
)


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="platform",
        consumes=list(dict.fromkeys([*WALLETS, *history.CONSUMES])),
        tables=[user_profiles, analytics, wallet_days, history.sale_sellers],
        views=[history.wallet_history],
    )


# What each event does to the profile of a wallet it involves (see dcmx_handle_batch).
_TRANSFER, _MINT, _SALE, _CLAIM, _ACCEPT, _KYC, _DEL_REQ, _DEL_DONE, _OTHER = range(9)
_KIND = {
    tok.Transfer: _TRANSFER,
    nft.Transfer: _TRANSFER,
    nft.Minted: _MINT,
    rd.SaleRecorded: _SALE,
    rv.ClaimSubmitted: _CLAIM,
    cr.AcceptanceRecorded: _ACCEPT,
    cr.KycStatusChanged: _KYC,
    cr.DeletionRequested: _DEL_REQ,
    cr.DeletionProcessed: _DEL_DONE,
}
# Per-event-type metric updates: (metric index or None, value attribute or None).
_METRIC_OF = {
    tok.Transfer: ((3, None), (4, "value")),
    nft.Minted: ((1, None),),
    rv.RewardsClaimed: ((2, "amount"),),
    rd.SaleRecorded: ((5, None), (6, "amount")),
}
_PLAN = {
    cls: (tuple(fields), _KIND.get(cls, _OTHER), _METRIC_OF.get(cls, ()))
    for cls, fields in WALLETS.items()
}
# The user_profiles columns this plugin writes, in table order; a profile is a list of these.
_PROFILE_COLUMNS = (
    "wallet", "first_seen_at", "last_seen_at", "first_block", "last_block", *COUNTERS,
    "last_accepted_at", "kyc_status", "deletion_requested", "deletion_status",
    "accepted_documents", "pending_deletion_request",
)
_ANALYTICS_COLUMNS = ("day", *METRICS, "active_wallets")
_WALLET_DAYS_COLUMNS = ("day", "wallet")
_SELLER_COLUMNS = ("seller", "block_number", "log_index")
_PROFILE_OLD = _PROFILE_COLUMNS[1:]
# Indexes into a profile list (the user_profiles columns in order).
_LAST_AT, _LAST_BLOCK, _EVENTS, _TRANSFERS, _MINTED, _PURCHASES, _CLAIMS, _ACCEPTS = (
    2, 4, 5, 6, 7, 8, 9, 10
)
_LAST_ACCEPTED, _KYC_STATUS, _DEL_REQUESTED, _DEL_STATUS, _ACCEPTED, _PENDING_DEL = range(11, 17)
_UNSET = object()


def _new_profile(wallet: str, at: int, block: int) -> dict[str, Any]:
    return {
        "wallet": wallet,
        "first_seen_at": at,
        "last_seen_at": at,
        "first_block": block,
        "last_block": block,
        **dict.fromkeys(COUNTERS, 0),
        "last_accepted_at": None,
        "kyc_status": 0,
        "deletion_requested": False,
        "deletion_status": None,
        "accepted_documents": None,
        "pending_deletion_request": None,
    }


def _accepted(
    stored: dict[str, list[str]] | None, new: list[tuple[str, str]]
) -> dict[str, list[str]]:
    """The accepted versions per document type, with this batch's acceptances after them."""
    docs = {k: list(v) for k, v in (stored or {}).items()}
    for doc_type, version in new:
        docs.setdefault(doc_type, []).append(version)
    return docs


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(*WALLETS)
    if not events:
        return
    # wallet -> its profile as a list in user_profiles column order, counters from 0 for
    # this batch (merged with the stored profile below)
    touched: dict[str, list[Any]] = {}
    days: dict[str, list[int]] = {}  # day -> METRICS
    active: dict[str, set[str]] = {}  # day -> wallets active that day
    insert_rows(conn, history.sale_sellers, _SELLER_COLUMNS, [
        (d.event.seller, d.log.block_number, d.log.log_index) for d in batch.of(rd.SaleRecorded)
    ])
    zero = ZERO_ADDRESSES
    plan = _PLAN
    day_of: dict[int, tuple[Any, ...]] = {}  # timestamp -> (metrics, active set) of its day
    for d in events:
        e = d.event
        ts = d.timestamp
        per_day = day_of.get(ts)
        if per_day is None:
            today = day(ts)
            metrics = days.get(today)
            if metrics is None:
                metrics = days[today] = [0] * len(METRICS)
                active[today] = set()
            per_day = day_of[ts] = (metrics, active[today])
        metrics, wallets_today = per_day
        fields, kind, metric_ops = plan[type(e)]
        metrics[0] += 1
        for i, attr in metric_ops:
            metrics[i] += 1 if attr is None else getattr(e, attr)
        block = d.log.block_number
        counted = None  # a wallet in both roles of one event (a self-transfer) counts it once
        for field in fields:
            wallet = getattr(e, field)
            if wallet in zero:
                continue
            wallets_today.add(wallet)
            p = touched.get(wallet)
            if p is None:
                p = touched[wallet] = [
                    wallet, ts, ts, block, block, 0, 0, 0, 0, 0, 0,
                    _UNSET, _UNSET, _UNSET, _UNSET, _UNSET, _UNSET,
                ]
            if wallet != counted:
                counted = wallet
                p[_LAST_AT] = ts
                p[_LAST_BLOCK] = block
                p[_EVENTS] += 1
                if kind == _TRANSFER:
                    p[_TRANSFERS] += 1
            if kind == _MINT:
                p[_MINTED] += 1
            elif kind == _SALE:
                if field == "buyer":
                    p[_PURCHASES] += 1
            elif kind == _CLAIM:
                p[_CLAIMS] += 1
            elif kind == _ACCEPT:
                p[_ACCEPTS] += 1
                p[_LAST_ACCEPTED] = e.timestamp_
                if p[_ACCEPTED] is _UNSET:
                    p[_ACCEPTED] = []
                p[_ACCEPTED].append((str(e.doc_type), e.version))
            elif kind == _KYC:
                p[_KYC_STATUS] = e.new_status
            elif kind == _DEL_REQ:
                p[_DEL_REQUESTED], p[_DEL_STATUS] = True, "pending"
                p[_PENDING_DEL] = e.request_id
            elif kind == _DEL_DONE:
                p[_DEL_STATUS] = "approved" if e.approved else "rejected"
                p[_PENDING_DEL] = None

    stored = fetch_columns(conn, user_profiles, "wallet", _PROFILE_OLD, touched)
    rows = []
    for wallet, p in touched.items():
        old = stored.get(wallet)
        if old is None:  # first_seen_* are this batch's; unset fields take their defaults
            base = (p[1], p[2], p[3], p[4], 0, 0, 0, 0, 0, 0, None, 0, False, None, None, None)
        else:
            base = old
        rows.append(
            (
                wallet,
                base[0],
                p[_LAST_AT],
                base[2],
                p[_LAST_BLOCK],
                base[4] + p[_EVENTS],
                base[5] + p[_TRANSFERS],
                base[6] + p[_MINTED],
                base[7] + p[_PURCHASES],
                base[8] + p[_CLAIMS],
                base[9] + p[_ACCEPTS],
                base[10] if p[_LAST_ACCEPTED] is _UNSET else p[_LAST_ACCEPTED],
                base[11] if p[_KYC_STATUS] is _UNSET else p[_KYC_STATUS],
                base[12] if p[_DEL_REQUESTED] is _UNSET else p[_DEL_REQUESTED],
                base[13] if p[_DEL_STATUS] is _UNSET else p[_DEL_STATUS],
                base[14] if p[_ACCEPTED] is _UNSET else _accepted(base[14], p[_ACCEPTED]),
                base[15] if p[_PENDING_DEL] is _UNSET else p[_PENDING_DEL],
            )
        )
    upsert_rows(conn, user_profiles, _PROFILE_COLUMNS, rows)

    new_active = []
    new_per_day: dict[str, int] = {}
    for dy in sorted(active):
        wallets = sorted(active[dy])
        known = fetch_columns(conn, wallet_days, "wallet", (), wallets, where={"day": dy})
        fresh = [(dy, w) for w in wallets if w not in known]
        new_per_day[dy] = len(fresh)
        new_active += fresh
    insert_rows(conn, wallet_days, _WALLET_DAYS_COLUMNS, new_active)
    current = fetch_columns(conn, analytics, "day", (*METRICS, "active_wallets"), days)
    zeros = (0,) * (len(METRICS) + 1)
    out = []
    for dy, metrics in days.items():
        old = current.get(dy, zeros)
        out.append(
            (dy, *(o + m for o, m in zip(old, metrics, strict=False)),
             old[-1] + new_per_day[dy])
        )
    upsert_rows(conn, analytics, _ANALYTICS_COLUMNS, out)


@dcmx_core.hookimpl
def dcmx_metrics(conn: sa.Connection) -> list[Figure]:
    """The platform's figures for Prometheus, from the per-day analytics (one row a day):
    totals since the first indexed block, and the wallets active on the newest indexed day
    (UTC, by block time: an index catching up shows the chain's day, not today's)."""
    rows = conn.execute(sa.select(analytics).order_by(analytics.c.day)).mappings().all()
    total = {m: sum(r[m] for r in rows) for m in METRICS}
    return [
        Figure("dcmx_platform_nfts_minted", "NFTs minted", total["nfts_minted"]),
        Figure("dcmx_platform_rewards_distributed", "DCMX paid out by reward claims (base "
               "units)", total["rewards_distributed"]),
        Figure("dcmx_platform_transfers", "DCMX token transfers", total["transfer_count"]),
        Figure("dcmx_platform_transfer_volume", "DCMX moved by token transfers (base units)",
               total["transfer_volume"]),
        Figure("dcmx_platform_sales", "NFT sales recorded", total["sales_count"]),
        Figure("dcmx_platform_sales_volume", "NFT sales volume (base units of the sale "
               "currency)", total["sales_volume"]),
        Figure("dcmx_platform_active_wallets", "wallets active on the newest indexed day "
               "(UTC, block time)", rows[-1]["active_wallets"] if rows else 0),
    ]
