"""RewardVault: every claim and its status (submitted -> approved | rejected -> claimed)."""

from __future__ import annotations

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import ExactInt, address
from dcmx_core.store.rows import fetch_rows, upsert_rows
from dcmx_generated import reward_vault as rv

metadata = sa.MetaData()

POOLS = {0: "sharing", 1: "listening", 2: "bandwidth"}

reward_claims_index = sa.Table(
    "reward_claims_index",
    metadata,
    sa.Column("claim_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("wallet", address(), nullable=False, index=True),
    sa.Column("reward_type", sa.Integer, nullable=False),
    sa.Column("pool", sa.String(16), nullable=False),
    sa.Column("proof_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("amount", ExactInt, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # submitted|approved|rejected|claimed
    sa.Column("submitted_at", sa.BigInteger, nullable=False),
    sa.Column("submitted_block", sa.BigInteger, nullable=False),
    sa.Column("verified_at", sa.BigInteger, nullable=True),
    sa.Column("verifier", address(), nullable=True),
    sa.Column("claimed_at", sa.BigInteger, nullable=True),
    sa.Index("ix_reward_claims_index_status", "status", "claim_id"),
)

reward_pools = sa.Table(
    "reward_pools",
    metadata,
    sa.Column("reward_type", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("pool", sa.String(16), nullable=False),
    sa.Column("budget", ExactInt, nullable=False),  # what is left to approve
    sa.Column("max_per_claim", ExactInt, nullable=False),
    sa.Column("approved_total", ExactInt, nullable=False),
    sa.Column("claimed_total", ExactInt, nullable=False),
)

# The columns this plugin writes, in table order.
_CLAIMS = (
    "claim_id", "wallet", "reward_type", "pool", "proof_hash", "amount", "status",
    "submitted_at", "submitted_block", "verified_at", "verifier", "claimed_at",
)
_POOLS = ("reward_type", "pool", "budget", "max_per_claim", "approved_total", "claimed_total")

EVENTS = (rv.PoolConfigured, rv.ClaimSubmitted, rv.ClaimVerified, rv.RewardsClaimed)


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="vault", consumes=EVENTS, tables=[reward_claims_index, reward_pools]
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(*EVENTS)
    if not events:
        return
    claim_ids = [d.event.claim_id for d in events if not isinstance(d.event, rv.PoolConfigured)]
    claims = fetch_rows(conn, reward_claims_index, "claim_id", _CLAIMS, claim_ids)
    pools = fetch_rows(conn, reward_pools, "reward_type", _POOLS, POOLS)
    touched_claims, touched_pools = set(), set()
    for d in events:
        e = d.event
        if isinstance(e, rv.PoolConfigured):
            old = pools.get(e.reward_type, {"approved_total": 0, "claimed_total": 0})
            pools[e.reward_type] = {
                **old,
                "reward_type": e.reward_type,
                "pool": POOLS.get(e.reward_type, "?"),
                "budget": e.budget,
                "max_per_claim": e.max_per_claim,
            }
            touched_pools.add(e.reward_type)
            continue
        touched_claims.add(e.claim_id)
        if isinstance(e, rv.ClaimSubmitted):
            claims[e.claim_id] = {
                "claim_id": e.claim_id,
                "wallet": e.user_,
                "reward_type": e.reward_type,
                "pool": POOLS.get(e.reward_type, "?"),
                "proof_hash": e.proof_hash,
                "amount": e.amount,
                "status": "submitted",
                "submitted_at": d.timestamp,
                "submitted_block": d.log.block_number,
                "verified_at": None,
                "verifier": None,
                "claimed_at": None,
            }
            continue
        claim = claims[e.claim_id]
        pool = pools[claim["reward_type"]]
        touched_pools.add(claim["reward_type"])
        if isinstance(e, rv.ClaimVerified):
            claim.update(
                status="approved" if e.approved else "rejected",
                verified_at=d.timestamp,
                verifier=e.verifier,
            )
            if e.approved:
                pool["budget"] -= claim["amount"]
                pool["approved_total"] += claim["amount"]
        else:
            claim.update(status="claimed", claimed_at=d.timestamp)
            pool["claimed_total"] += e.amount
    upsert_rows(
        conn,
        reward_claims_index,
        _CLAIMS,
        [tuple(claims[c][n] for n in _CLAIMS) for c in touched_claims],
    )
    upsert_rows(
        conn, reward_pools, _POOLS, [tuple(pools[p][n] for n in _POOLS) for p in touched_pools]
    )
