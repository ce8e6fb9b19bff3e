"""The platform's three write flows (and the vault admin's verification) over HTTP.

- ``POST /api/v1/nft/mint``: MusicNFT.mint. ``mode=platform`` (default): the caller must
  hold MINTER_ROLE on MusicNFT in the read model, and the platform's key sends it;
  ``mode=wallet``: the caller's wallet is the sender, the transaction comes back unsigned.
- ``POST /api/v1/reward/claim``: RewardVault.submitClaim, sent by the claimant's wallet (the
  contract makes ``msg.sender`` the claimant): unsigned. The proof hash is computed here from
  the claim data: keccak256 of ``"dcmx-claim:"``, the wallet's 20 bytes and the claim data as
  canonical JSON.
- ``POST /api/legal/accept``: ComplianceRegistry.recordAcceptance, by the wallet: the
  document's text is hashed here (keccak256) and must be the published version's hash.
- ``POST /api/v1/reward/verify``: RewardVault.verifyClaim, by the platform's key, for a
  caller holding the vault's admin role.

Each answers with the transaction id (``?wait=indexed``: once indexed) or the unsigned
transaction with where to broadcast it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from eth_hash.auto import keccak
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from dcmx_core.service import ApiError
from dcmx_core.service.jsonenc import dumps
from dcmx_core.service.write_routes import TIMEOUT, WAIT, answer
from dcmx_core.service.writes import Capture
from dcmx_generated.compliance_registry import ComplianceRegistry
from dcmx_generated.music_nft import MusicNFT
from dcmx_generated.reward_vault import RewardVault

from .compliance import acceptances, compliance_documents
from .devchain import DEFAULT_ADMIN_ROLE, MINTER_ROLE
from .roles import holds

if TYPE_CHECKING:
    from dcmx_core.service import Service

__all__ = ["claim_proof", "write_routes"]

UINT256 = 2**256 - 1
HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"


class MintRequest(BaseModel):
    to: str = Field(max_length=64, description="the first owner (T... or 0x...)")
    title: str = Field(min_length=1, max_length=200)
    artist: str = Field(min_length=1, max_length=200)
    genre: str = Field(min_length=1, max_length=100)
    content_hash: str = Field(pattern=HEX32, description="the track's 32-byte content hash")
    edition: int = Field(ge=1, le=2**32 - 1)
    max_editions: int = Field(ge=1, le=2**32 - 1)
    royalty_receiver: str = Field(max_length=64)
    royalty_bps: int = Field(ge=0, le=10_000)


class ClaimRequest(BaseModel):
    reward_type: int = Field(ge=0, le=2, description="0 sharing, 1 listening, 2 bandwidth")
    amount: int = Field(gt=0, le=UINT256, description="in the token's smallest unit")
    claim: dict[str, Any] = Field(description="what earned the reward (hashed into the proof)")


class AcceptRequest(BaseModel):
    doc_type: int = Field(ge=0, le=255)
    version: str = Field(min_length=1, max_length=256)
    document: str = Field(min_length=1, max_length=12_000,
                          description="the document's text, as published")


class VerifyRequest(BaseModel):
    claim_id: int = Field(ge=1, le=UINT256)
    approved: bool


def claim_proof(wallet: bytes, claim: dict[str, Any]) -> bytes:
    """The proof hash of a reward claim: keccak256("dcmx-claim:" || wallet || JSON)."""
    canonical = json.dumps(claim, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return keccak(b"dcmx-claim:" + wallet + canonical.encode())


def write_routes(r: APIRouter, legal: APIRouter, svc: Service) -> None:
    writes = svc.writes

    def minter(conn: sa.Connection, wallet: str) -> bool:
        return holds(conn, wallet, "MusicNFT", MINTER_ROLE)

    def vault_admin(conn: sa.Connection, wallet: str) -> bool:
        return holds(conn, wallet, "RewardVault", DEFAULT_ADMIN_ROLE)

    async def unsigned(sender: str, to: bytes, data: bytes, **more: Any) -> Response:
        tx = await run_in_threadpool(writes.unsigned, svc.auth.wallet(sender), to, data)
        return Response(dumps({"mode": "wallet", "unsigned": tx,
                               "broadcast": "/api/v1/tx/broadcast", **more}),
                        media_type="application/json")

    @r.post("/nft/mint", tags=["writes"], summary="Mint a track edition (MusicNFT.mint)")
    async def mint(body: MintRequest, caller: str = svc.wallet,
                   mode: str = Query("platform", pattern="^(platform|wallet)$"),
                   wait: str = WAIT, timeout: float = TIMEOUT) -> Response:
        to = svc.address(body.to, "to")
        receiver = svc.address(body.royalty_receiver, "royalty_receiver")
        if body.edition > body.max_editions:
            raise ApiError(400, "invalid_edition", "edition must be at most max_editions",
                           field="edition")
        capture = Capture()
        MusicNFT(writes.address("MusicNFT"), capture).mint(
            to, body.title, body.artist, body.genre,
            bytes.fromhex(body.content_hash.removeprefix("0x")), body.edition,
            body.max_editions, receiver, body.royalty_bps)
        target, data = capture.one()
        if mode == "wallet":
            return await unsigned(caller, target, data)
        if not await svc.read(lambda c: minter(c, caller)):
            raise ApiError(403, "missing_role", f"{caller} does not hold MINTER_ROLE on "
                           "MusicNFT, which minting through the platform needs")
        sent = await run_in_threadpool(writes.send, target, data)
        return await answer(svc, sent, wait, timeout, mode="platform")

    @r.post("/reward/claim", tags=["writes"],
            summary="Submit a reward claim (RewardVault.submitClaim) from the wallet; the "
                    "proof hash is computed from the claim data")
    async def claim(body: ClaimRequest, caller: str = svc.wallet) -> Response:
        if len(json.dumps(body.claim)) > 4_000:
            raise ApiError(400, "claim_too_large", "the claim data is over 4000 bytes of JSON",
                           field="claim")
        wallet = svc.auth.wallet(caller)
        proof = claim_proof(wallet, body.claim)
        capture = Capture()
        RewardVault(writes.address("RewardVault"), capture).submit_claim(
            body.reward_type, proof, body.amount)
        target, data = capture.one()
        return await unsigned(caller, target, data, proof_hash="0x" + proof.hex())

    @r.post("/reward/verify", tags=["writes"],
            summary="Approve or reject a submitted claim (RewardVault.verifyClaim) with the "
                    "platform's key; for the vault's admins")
    async def verify(body: VerifyRequest,
                     _admin: str = svc.role(vault_admin, "the RewardVault admin role"),
                     wait: str = WAIT, timeout: float = TIMEOUT) -> Response:
        capture = Capture()
        RewardVault(writes.address("RewardVault"), capture).verify_claim(
            body.claim_id, body.approved)
        sent = await run_in_threadpool(writes.send, *capture.one())
        return await answer(svc, sent, wait, timeout, mode="platform")

    @legal.post("/accept", tags=["writes"],
                summary="Accept a published document version (ComplianceRegistry."
                        "recordAcceptance) from the wallet; its text is hashed here")
    async def accept(body: AcceptRequest, caller: str = svc.wallet) -> Response:
        doc_hash = keccak(body.document.encode("utf-8"))

        def q(conn: sa.Connection) -> tuple[Any, bool]:
            d, a = compliance_documents.c, acceptances.c
            published = conn.execute(sa.select(d.doc_hash).where(
                d.doc_type == body.doc_type, d.version == body.version)).scalar()
            done = conn.execute(sa.select(a.accepted_at).where(
                a.wallet == caller, a.doc_type == body.doc_type,
                a.version == body.version)).first() is not None
            return published, done

        published, done = await svc.read(q)
        if published is None:
            raise ApiError(404, "not_published", f"document type {body.doc_type} version "
                           f"{body.version!r} is not published", field="version")
        if bytes(published) != doc_hash:
            raise ApiError(409, "document_mismatch", "the text's hash is not the published "
                           "version's: the wallet would accept another text", field="document")
        if done:
            raise ApiError(409, "already_accepted", "this wallet accepted this version already",
                           field="version")
        capture = Capture()
        ComplianceRegistry(writes.address("ComplianceRegistry"), capture).record_acceptance(
            body.doc_type, body.version)
        target, data = capture.one()
        return await unsigned(caller, target, data, doc_hash="0x" + doc_hash.hex())
