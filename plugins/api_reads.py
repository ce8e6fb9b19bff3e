"""The platform's reads over HTTP: NFTs, wallets, rewards, compliance, trends, metrics.

Each route validates its input (addresses with their checksum, bounded pages), then answers
through ``service.cached`` with the tables its query reads: the answer is cached under those
tables' versions, so it is never staler than the database.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from dcmx_generated import music_nft

from . import queries
from .compliance import acceptances, compliance_documents, compliance_index, kyc_status
from .devchain import COMPLIANCE_OFFICER_ROLE, DEFAULT_ADMIN_ROLE
from .history import wallet_history
from .nft import nft_index
from .platform import analytics, user_profiles
from .roles import holds
from .royalty import royalty_balances, royalty_sales, royalty_splits
from .token import token_balances, transaction_index
from .vault import reward_claims_index

if TYPE_CHECKING:
    from dcmx_core.service import Service

__all__ = ["read_routes"]

CLAIM_STATUSES = "^(submitted|approved|rejected|claimed)$"
_NFT_ID = Path(ge=1, le=2**256 - 1, description="the NFT's token id")


def _nft_json(n: queries.Nft) -> dict[str, Any]:
    return {**_fields(n), "edition_label": f"{n.edition} of {n.max_editions}"}


def _fields(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def _before(block: int | None, log: int | None) -> tuple[int, int] | None:
    """A page's keyset cursor: before (block, log) exclusive; a block alone: before it."""
    return None if block is None else (block, -1 if log is None else log)


def _next(rows: list[Any], limit: int) -> dict[str, int | None]:
    """The next page's cursor: the last row's chain position, or None after the last page."""
    last = rows[-1] if len(rows) == limit else None
    return {"before_block": last.block_number if last else None,
            "before_log": last.log_index if last else None}


def read_routes(r: APIRouter, svc: Service) -> None:
    nft_reads = [nft_index]

    @r.get("/nfts/by-artist/{artist}", tags=["nfts"], summary="An artist's NFTs")
    async def by_artist(artist: str = Path(max_length=200),
                        limit: int = Query(50, ge=1, le=200),
                        offset: int = Query(0, ge=0, le=10_000)) -> Response:
        return await svc.cached(f"artist|{artist}|{limit}|{offset}", nft_reads, lambda c: [
            _nft_json(n) for n in queries.nfts_by_artist(c, artist, limit=limit, offset=offset)],
            by_url=True)

    @r.get("/nfts/by-genre/{genre}", tags=["nfts"], summary="NFTs of a genre")
    async def by_genre(genre: str = Path(max_length=100),
                       limit: int = Query(50, ge=1, le=200),
                       offset: int = Query(0, ge=0, le=10_000)) -> Response:
        return await svc.cached(f"genre|{genre}|{limit}|{offset}", nft_reads, lambda c: [
            _nft_json(n) for n in queries.nfts_by_genre(c, genre, limit=limit, offset=offset)],
            by_url=True)

    @r.get("/nfts/by-owner/{owner}", tags=["nfts"], summary="NFTs a wallet owns")
    async def by_owner(owner: str, limit: int = Query(50, ge=1, le=200),
                       offset: int = Query(0, ge=0, le=10_000)) -> Response:
        wallet = svc.address(owner, "owner")
        return await svc.cached(f"owner|{wallet}|{limit}|{offset}", nft_reads, lambda c: [
            _nft_json(n) for n in queries.nfts_by_owner(c, wallet, limit=limit, offset=offset)],
            by_url=True)

    transfers = music_nft.Transfer.TABLE

    @r.get("/nfts/{token_id}", tags=["nfts"],
           summary="One NFT: its edition (3 of 100), royalty, splits and history")
    async def one(token_id: int = _NFT_ID) -> Response:
        def q(conn: sa.Connection) -> Any:
            n = queries.nft(conn, token_id)
            if n is None:
                return None
            t = transfers.c
            moves = conn.execute(
                sa.select(t.block_number, t.log_index, t.tx_hash, t.block_timestamp,
                          t.from_, t.to_).where(t.token_id == token_id)
                .order_by(t.block_number, t.log_index).limit(500)).all()
            s = royalty_sales.c
            sales = conn.execute(sa.select(s.sale_id, s.buyer, s.seller, s.amount, s.sold_at)
                                 .where(s.nft_token_id == token_id).order_by(s.sale_id)).all()
            splits = conn.execute(sa.select(royalty_splits.c.recipient, royalty_splits.c.bps)
                                  .where(royalty_splits.c.nft_token_id == token_id)
                                  .order_by(royalty_splits.c.position)).all()
            return {
                **_nft_json(n),
                "royalty": {"receiver": n.royalty_receiver, "bps": n.royalty_bps,
                            "splits": [{"recipient": a, "bps": b} for a, b in splits]},
                "history": [{"kind": "mint" if i == 0 else "transfer", "block_number": m[0],
                             "log_index": m[1], "tx_hash": m[2], "at": m[3], "from": m[4],
                             "to": m[5]} for i, m in enumerate(moves)],
                "sales": [{"sale_id": a, "buyer": b, "seller": c, "amount": d, "sold_at": e}
                          for a, b, c, d, e in sales],
            }

        return await svc.cached(f"nft|{token_id}",
                                [nft_index, transfers, royalty_sales, royalty_splits], q,
                                by_url=True,
                                missing=(f"no NFT {token_id} is indexed", "token_id"))

    @r.get("/wallets/{wallet}/balance", tags=["wallets"], summary="DCMX balance")
    async def balance(wallet: str) -> Response:
        w = svc.address(wallet, "wallet")

        def q(conn: sa.Connection) -> Any:
            b = conn.execute(sa.select(token_balances.c.balance)
                             .where(token_balances.c.wallet == w)).scalar()
            return {"wallet": w, "balance": b or 0}

        return await svc.cached(f"balance|{w}", [token_balances], q, by_url=True)

    @r.get("/wallets/{wallet}/transactions", tags=["wallets"],
           summary="DCMX transfers, mints and burns, newest first (page with before_block "
                   "and before_log, the last row's)")
    async def transactions(wallet: str, limit: int = Query(50, ge=1, le=200),
                           before_block: int | None = Query(None, ge=0, le=2**62),
                           before_log: int | None = Query(None, ge=0, le=2**31)) -> Response:
        w = svc.address(wallet, "wallet")
        before = _before(before_block, before_log)

        def q(conn: sa.Connection) -> Any:
            rows = queries.wallet_transactions(conn, w, limit=limit, before=before)
            return {"items": [_fields(x) for x in rows], **_next(rows, limit)}

        return await svc.cached(f"txs|{w}|{limit}|{before}", [transaction_index], q,
                                by_url=True)

    @r.get("/wallets/{wallet}/history", tags=["wallets"],
           summary="Everything that happened to the wallet (token and NFT transfers and mints, "
                   "sales, reward claims and payouts, royalties), newest first (page with "
                   "before_block and before_log, the last row's)")
    async def history(wallet: str, limit: int = Query(50, ge=1, le=200),
                      before_block: int | None = Query(None, ge=0, le=2**62),
                      before_log: int | None = Query(None, ge=0, le=2**31)) -> Response:
        w = svc.address(wallet, "wallet")
        before = _before(before_block, before_log)

        def q(conn: sa.Connection) -> Any:
            rows = queries.wallet_history(conn, w, limit=limit, before=before)
            return {"items": [_fields(x) for x in rows], **_next(rows, limit)}

        return await svc.cached(f"history|{w}|{limit}|{before}", [wallet_history], q,
                                by_url=True)

    @r.get("/wallets/{wallet}/rewards", tags=["wallets"],
           summary="Rewards: claimed, pending, submitted, rejected, and the claims")
    async def rewards(wallet: str) -> Response:
        w = svc.address(wallet, "wallet")
        return await svc.cached(f"rewards|{w}", [reward_claims_index],
                                lambda c: queries.wallet_rewards(c, w), by_url=True)

    @r.get("/wallets/{wallet}/profile", tags=["wallets"],
           summary="Activity, KYC, balance, royalties, NFTs owned")
    async def profile(wallet: str) -> Response:
        w = svc.address(wallet, "wallet")
        return await svc.cached(
            f"profile|{w}", [user_profiles, token_balances, royalty_balances, nft_index],
            lambda c: queries.profile(c, w), by_url=True)

    def officer(conn: sa.Connection, wallet: str) -> bool:
        return holds(conn, wallet, "ComplianceRegistry", COMPLIANCE_OFFICER_ROLE)

    @r.get("/wallets/{wallet}/audit", tags=["compliance"],
           summary="The compliance audit trail (the wallet itself or a compliance officer)")
    async def audit(wallet: str, caller: str = svc.wallet) -> Response:
        w = svc.address(wallet, "wallet")
        if caller != w and not await svc.read(lambda c: officer(c, caller)):
            from dcmx_core.service import ApiError

            raise ApiError(403, "not_yours", "a wallet's audit trail is for the wallet itself "
                           "or a compliance officer", field="wallet")
        return await svc.cached(f"audit|{w}", [compliance_index, kyc_status],
                                lambda c: queries.audit_trail(c, w))

    @r.get("/legal/acceptance", tags=["compliance"],
           summary="Did a wallet accept a document version (as verifyAcceptance says)")
    async def acceptance(wallet: str, doc_type: int = Query(ge=0, le=255),
                         version: str = Query(min_length=1, max_length=256)) -> Response:
        w = svc.address(wallet, "wallet")

        def q(conn: sa.Connection) -> Any:
            a = acceptances.c
            row = conn.execute(sa.select(a.doc_hash, a.accepted_at).where(
                a.wallet == w, a.doc_type == doc_type, a.version == version)).first()
            d = compliance_documents.c
            doc = conn.execute(sa.select(d.doc_hash).where(
                d.doc_type == doc_type, d.version == version)).scalar()
            return {"wallet": w, "doc_type": doc_type, "version": version,
                    "published": doc is not None, "accepted": row is not None,
                    "doc_hash": doc, "accepted_at": row and row[1]}

        return await svc.cached(f"accepted|{w}|{doc_type}|{version}",
                                [acceptances, compliance_documents], q, by_url=True)

    def admin(conn: sa.Connection, wallet: str) -> bool:
        return holds(conn, wallet, "RewardVault", DEFAULT_ADMIN_ROLE)

    @r.get("/claims", tags=["rewards"],
           summary="Claims by status, oldest first (page with after_claim); the vault's admins")
    async def claims(status: str = Query(pattern=CLAIM_STATUSES),
                     after_claim: int = Query(0, ge=0, le=2**62),
                     limit: int = Query(50, ge=1, le=200),
                     _admin: str = svc.role(admin, "the RewardVault admin role")) -> Response:
        def q(conn: sa.Connection) -> Any:
            rows = queries.claims_by_status(conn, status, limit=limit, after_claim=after_claim)
            return {"items": rows,
                    "after_claim": rows[-1].claim_id if len(rows) == limit else None}

        return await svc.cached(f"claims|{status}|{after_claim}|{limit}",
                                [reward_claims_index], q)

    @r.get("/tracks/trending", tags=["nfts"], summary="Tracks by sales since a time")
    async def trending(since: int | None = Query(None, ge=0, le=2**40,
                                                 description="unix time; default 7 days ago"),
                       limit: int = Query(10, ge=1, le=100)) -> Response:
        start = since if since is not None else (int(time.time()) // 3600 - 7 * 24) * 3600
        return await svc.cached(f"trending|{start}|{limit}", [royalty_sales, nft_index],
                                lambda c: queries.trending_tracks(c, since=start, limit=limit),
                                by_url=since is not None)  # else: the clock's hour

    @r.get("/platform/metrics", tags=["platform"],
           summary="Per-day minted, rewards, volume, active wallets; newest day first")
    async def platform_metrics(days: int = Query(30, ge=1, le=366)) -> Response:
        return await svc.cached(f"metrics|{days}", [analytics],
                                lambda c: queries.platform_metrics(c, days=days), by_url=True)
