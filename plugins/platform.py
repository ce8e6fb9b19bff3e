"""The platform's cross-contract read model: ``user_profiles`` and per-day ``analytics``."""

from __future__ import annotations

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt
from dcmx_generated import compliance_registry as cr
from dcmx_generated import dcmx_token as tok
from dcmx_generated import music_nft as nft
from dcmx_generated import reward_vault as rv
from dcmx_generated import royalty_distributor as rd

from ._sql import ZERO_ADDRESSES, chunks, day, fetch_by_key, upsert

metadata = sa.MetaData()

user_profiles = sa.Table(
    "user_profiles",
    metadata,
    sa.Column("wallet", sa.String(64), primary_key=True),
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
    sa.Column("wallet", sa.String(64), primary_key=True),
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
        name="platform", consumes=list(WALLETS), tables=[user_profiles, analytics, wallet_days]
    )


def _new_profile(wallet: str, at: int, block: int) -> dict:
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
    }


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(*WALLETS)
    if not events:
        return
    touched: dict[str, list] = {}  # wallet -> events of this batch that involve it
    days: dict[str, dict] = {}
    active: set[tuple[str, str]] = set()
    for d in events:
        e = d.event
        today = day(d.timestamp)
        metrics = days.setdefault(today, dict.fromkeys(METRICS, 0))
        metrics["events"] += 1
        if isinstance(e, tok.Transfer):
            metrics["transfer_count"] += 1
            metrics["transfer_volume"] += e.value
        elif isinstance(e, nft.Minted):
            metrics["nfts_minted"] += 1
        elif isinstance(e, rv.RewardsClaimed):
            metrics["rewards_distributed"] += e.amount
        elif isinstance(e, rd.SaleRecorded):
            metrics["sales_count"] += 1
            metrics["sales_volume"] += e.amount
        for field in WALLETS[type(e)]:
            wallet = getattr(e, field)
            if wallet not in ZERO_ADDRESSES:
                touched.setdefault(wallet, []).append((d, field))
                active.add((today, wallet))

    profiles = fetch_by_key(conn, user_profiles, user_profiles.c.wallet, touched)
    for wallet, seen in touched.items():
        p = profiles.setdefault(
            wallet, _new_profile(wallet, seen[0][0].timestamp, seen[0][0].log.block_number)
        )
        for d, field in seen:
            e = d.event
            p["last_seen_at"], p["last_block"] = d.timestamp, d.log.block_number
            p["events"] += 1
            if isinstance(e, tok.Transfer | nft.Transfer):
                p["transfers"] += 1
            elif isinstance(e, nft.Minted):
                p["nfts_minted"] += 1
            elif isinstance(e, rd.SaleRecorded) and field == "buyer":
                p["purchases"] += 1
            elif isinstance(e, rv.ClaimSubmitted):
                p["claims"] += 1
            elif isinstance(e, cr.AcceptanceRecorded):
                p["acceptances"] += 1
                p["last_accepted_at"] = e.timestamp_
            elif isinstance(e, cr.KycStatusChanged):
                p["kyc_status"] = e.new_status
            elif isinstance(e, cr.DeletionRequested):
                p["deletion_requested"], p["deletion_status"] = True, "pending"
            elif isinstance(e, cr.DeletionProcessed):
                p["deletion_status"] = "approved" if e.approved else "rejected"
    upsert(conn, user_profiles, [profiles[w] for w in touched])

    by_day: dict[str, list[str]] = {}
    for dy, wallet in sorted(active):
        by_day.setdefault(dy, []).append(wallet)
    new_active = []
    for dy, wallets in by_day.items():
        known = set()
        for chunk in chunks(wallets):
            known.update(
                conn.execute(
                    sa.select(wallet_days.c.wallet).where(
                        wallet_days.c.day == dy, wallet_days.c.wallet.in_(chunk)
                    )
                ).scalars()
            )
        new_active += [{"day": dy, "wallet": w} for w in wallets if w not in known]
    if new_active:
        conn.execute(wallet_days.insert(), new_active)
    current = fetch_by_key(conn, analytics, analytics.c.day, days)
    rows = []
    for dy, metrics in days.items():
        old = current.get(dy) or {**dict.fromkeys(METRICS, 0), "active_wallets": 0}
        rows.append(
            {
                "day": dy,
                **{m: old[m] + metrics[m] for m in METRICS},
                "active_wallets": old["active_wallets"]
                + sum(1 for r in new_active if r["day"] == dy),
            }
        )
    upsert(conn, analytics, rows)
