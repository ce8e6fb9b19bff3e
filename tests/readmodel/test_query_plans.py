"""On PostgreSQL every search of the query API is served by an index, not a sequential scan."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from dcmx_generated import dcmx_token
from dcmx_plugins import compliance, nft, queries, vault

from .conftest import make_indexer

ROWS = 4000


def _synthetic(engine: sa.Engine) -> None:
    rng = random.Random(7)
    wallets = [f"T{i:033d}" for i in range(400)]
    with engine.begin() as conn:
        conn.execute(
            nft.nft_index.insert(),
            [
                {
                    "token_id": 10_000 + i,
                    "contract_address": "Tnft",
                    "owner": rng.choice(wallets),
                    "artist": f"artist {rng.randrange(300)}",
                    "title": f"title {i}",
                    "genre": f"genre {rng.randrange(60)}",
                    "content_hash": i.to_bytes(32, "big"),
                    "edition": 1,
                    "max_editions": 1,
                    "royalty_receiver": rng.choice(wallets),
                    "royalty_bps": 500,
                    "minted_to": rng.choice(wallets),
                    "minted_at": i,
                    "minted_block": i,
                    "transfers": 0,
                    "sales": 0,
                    "last_sale_id": None,
                    "last_sale_price": None,
                    "last_sale_at": None,
                }
                for i in range(ROWS)
            ],
        )
        conn.execute(  # transaction_index is a view of these rows
            dcmx_token.Transfer.TABLE.insert(),
            [
                {
                    "block_number": 1_000_000 + i,
                    "block_hash": bytes(32),
                    "block_timestamp": i,
                    "tx_hash": i.to_bytes(32, "big"),
                    "tx_index": 0,
                    "log_index": 0,
                    "contract_address": "Ttoken",
                    # wallet 42 is a whale: 2% of the transfers from it, 2% to it
                    "from_": wallets[42] if i % 50 == 0 else rng.choice(wallets),
                    "to_": wallets[42] if i % 50 == 1 else rng.choice(wallets),
                    "value": i,
                }
                for i in range(4 * ROWS)
            ],
        )
        conn.execute(
            vault.reward_claims_index.insert(),
            [
                {
                    "claim_id": 1_000_000 + i,
                    "wallet": rng.choice(wallets),
                    "reward_type": i % 3,
                    "pool": "sharing",
                    "proof_hash": i.to_bytes(32, "big"),
                    "amount": i,
                    "status": rng.choice(("submitted", "approved", "rejected", "claimed")),
                    "submitted_at": i,
                    "submitted_block": i,
                    "verified_at": None,
                    "verifier": None,
                    "claimed_at": None,
                }
                for i in range(ROWS)
            ],
        )
        conn.execute(
            compliance.compliance_index.insert(),
            [
                {
                    "block_number": 1_000_000 + i,
                    "log_index": 0,
                    "tx_hash": i.to_bytes(32, "big"),
                    "block_timestamp": i,
                    "wallet": rng.choice(wallets),
                    "action": "acceptance",
                    "doc_type": 0,
                    "version": "1.0",
                    "doc_hash": bytes(32),
                    "request_id": None,
                    "reason": None,
                    "kyc_status": None,
                    "actor": None,
                }
                for i in range(ROWS)
            ],
        )
        for table in ("nft_index", "dcmx_token__transfer", "reward_claims_index"):
            conn.exec_driver_sql(f"ANALYZE {table}")
        conn.exec_driver_sql("ANALYZE compliance_index")


def _plans(engine: sa.Engine, run) -> list[str]:  # a query call
    """EXPLAIN of every statement ``run`` executes."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    plans = []
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in seen:
            cur.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(r[0] for r in cur.fetchall()))
    finally:
        raw.close()
    return plans


@pytest.mark.postgres
def test_searches_use_indexes(simulated, pg_url):
    indexer = make_indexer(simulated, pg_url)
    indexer.run()
    engine = indexer.engine
    _synthetic(engine)
    searches = {
        "nft_index": [
            lambda: queries.nfts_by_artist(engine, "artist 7"),
            lambda: queries.nfts_by_genre(engine, "genre 3"),
            lambda: queries.nfts_by_owner(engine, "T" + "0" * 30 + "042"),
        ],
        "dcmx_token__transfer": [  # through the view transaction_index
            lambda: queries.wallet_transactions(engine, "T" + "0" * 30 + "042", limit=20)
        ],
        "reward_claims_index": [lambda: queries.claims_by_status(engine, "approved", limit=20)],
        "compliance_index": [lambda: queries.audit_trail(engine, "T" + "0" * 30 + "042")],
    }
    for table, calls in searches.items():
        for call in calls:
            for plan in _plans(engine, call):
                assert f"Seq Scan on {table}" not in plan, plan
                assert "Index" in plan, plan
    # A whale's history is read newest first straight off the raw table's indexes on
    # (address, chain position): no sort of all of the wallet's transfers.
    whale = "T" + "0" * 30 + "042"
    (plan,) = _plans(engine, lambda: queries.wallet_transactions(engine, whale, limit=20))
    for side in ("from_", "to_"):
        assert f"Index Scan Backward using ix_dcmx_token__transfer__{side} " in plan, plan
    # The whole history too: each part of its statement stops at the page off its index, the
    # big transfer table's parts included, on the first page and on a later one.
    for before in (None, (1_003_000, 0)):
        (plan,) = _plans(engine, lambda b=before: queries.wallet_history(
            engine, whale, limit=20, before=b))
        assert "Seq Scan on dcmx_token__transfer" not in plan, plan
        for side in ("from_", "to_"):
            assert f"Index Scan Backward using ix_dcmx_token__transfer__{side} " in plan, plan
