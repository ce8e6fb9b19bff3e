"""ComplianceRegistry: the audit trail of every wallet, acceptances, deletion requests, KYC."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import address
from dcmx_core.store.rows import insert_rows, update_rows, upsert_rows
from dcmx_generated import compliance_registry as cr

metadata = sa.MetaData()

# One row per compliance event, the way getAuditTrail(user) lists them (plus document
# publications, whose wallet is the publisher).
compliance_index = sa.Table(
    "compliance_index",
    metadata,
    sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tx_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("block_timestamp", sa.BigInteger, nullable=False),
    sa.Column("wallet", address(), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("doc_type", sa.Integer, nullable=True),
    sa.Column("version", sa.Text, nullable=True),
    sa.Column("doc_hash", sa.LargeBinary(32), nullable=True),
    sa.Column("request_id", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("kyc_status", sa.Integer, nullable=True),
    sa.Column("actor", address(), nullable=True),
    sa.Index("ix_compliance_index_wallet", "wallet", "block_number", "log_index"),
)

compliance_documents = sa.Table(
    "compliance_documents",
    metadata,
    sa.Column("doc_type", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.String(256), primary_key=True),
    sa.Column("doc_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("publisher", address(), nullable=False),
    sa.Column("published_at", sa.BigInteger, nullable=False),
)

acceptances = sa.Table(
    "compliance_acceptances",
    metadata,
    sa.Column("wallet", address(), primary_key=True),
    sa.Column("doc_type", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.String(256), primary_key=True),
    sa.Column("doc_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("accepted_at", sa.BigInteger, nullable=False),
)

deletion_requests = sa.Table(
    "deletion_requests",
    metadata,
    sa.Column("request_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("wallet", address(), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # pending|approved|rejected
    sa.Column("requested_at", sa.BigInteger, nullable=False),
    sa.Column("processed_at", sa.BigInteger, nullable=True),
    sa.Column("processor", address(), nullable=True),
)

kyc_status = sa.Table(
    "kyc_status",
    metadata,
    sa.Column("wallet", address(), primary_key=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("officer", address(), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

EVENTS = (
    cr.DocumentPublished,
    cr.AcceptanceRecorded,
    cr.DeletionRequested,
    cr.DeletionProcessed,
    cr.KycStatusChanged,
)


_TRAIL = (
    "block_number", "log_index", "tx_hash", "block_timestamp", "wallet", "action", "doc_type",
    "version", "doc_hash", "request_id", "reason", "kyc_status", "actor",
)
_DOCS = ("doc_type", "version", "doc_hash", "publisher", "published_at")
_ACCEPTED = ("wallet", "doc_type", "version", "doc_hash", "accepted_at")
_REQUESTS = (
    "request_id", "wallet", "reason", "status", "requested_at", "processed_at", "processor",
)
_KYC = ("wallet", "status", "officer", "updated_at")


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="compliance",
        consumes=EVENTS,
        tables=[compliance_index, compliance_documents, acceptances, deletion_requests, kyc_status],
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(*EVENTS)
    if not events:
        return
    trail, docs, accepted, kyc = [], [], [], {}
    requests: dict[int, dict[str, Any]] = {}
    processed: dict[int, dict[str, Any]] = {}
    for d in events:
        e, row = (
            d.event,
            {
                "block_number": d.log.block_number,
                "log_index": d.log.log_index,
                "tx_hash": d.log.tx_hash,
                "block_timestamp": d.timestamp,
                "doc_type": None,
                "version": None,
                "doc_hash": None,
                "request_id": None,
                "reason": None,
                "kyc_status": None,
                "actor": None,
            },
        )
        if isinstance(e, cr.DocumentPublished):
            row.update(
                wallet=e.publisher,
                action="document_published",
                doc_type=e.doc_type,
                version=e.version,
                doc_hash=e.doc_hash,
                actor=e.publisher,
            )
            docs.append(
                {
                    "doc_type": e.doc_type,
                    "version": e.version,
                    "doc_hash": e.doc_hash,
                    "publisher": e.publisher,
                    "published_at": e.timestamp_,
                }
            )
        elif isinstance(e, cr.AcceptanceRecorded):
            row.update(
                wallet=e.user_,
                action="acceptance",
                doc_type=e.doc_type,
                version=e.version,
                doc_hash=e.doc_hash,
            )
            accepted.append(
                {
                    "wallet": e.user_,
                    "doc_type": e.doc_type,
                    "version": e.version,
                    "doc_hash": e.doc_hash,
                    "accepted_at": e.timestamp_,
                }
            )
        elif isinstance(e, cr.DeletionRequested):
            row.update(
                wallet=e.user_,
                action="deletion_requested",
                request_id=e.request_id,
                reason=e.reason,
            )
            requests[e.request_id] = {
                "request_id": e.request_id,
                "wallet": e.user_,
                "reason": e.reason,
                "status": "pending",
                "requested_at": e.timestamp_,
                "processed_at": None,
                "processor": None,
            }
        elif isinstance(e, cr.DeletionProcessed):
            status = "approved" if e.approved else "rejected"
            row.update(
                wallet=e.user_,
                action=f"deletion_{status}",
                request_id=e.request_id,
                actor=e.processor,
            )
            change = {"status": status, "processed_at": e.timestamp_, "processor": e.processor}
            if e.request_id in requests:
                requests[e.request_id].update(change)
            else:
                processed[e.request_id] = change
        else:
            row.update(
                wallet=e.wallet, action="kyc_changed", kyc_status=e.new_status, actor=e.officer
            )
            kyc[e.wallet] = {
                "wallet": e.wallet,
                "status": e.new_status,
                "officer": e.officer,
                "updated_at": e.timestamp_,
            }
        trail.append(row)
    insert_rows(conn, compliance_index, _TRAIL, [tuple(r[c] for c in _TRAIL) for r in trail])
    upsert_rows(conn, compliance_documents, _DOCS, [tuple(r[c] for c in _DOCS) for r in docs])
    insert_rows(conn, acceptances, _ACCEPTED, [tuple(r[c] for c in _ACCEPTED) for r in accepted])
    insert_rows(
        conn,
        deletion_requests,
        _REQUESTS,
        [tuple(r[c] for c in _REQUESTS) for r in requests.values()],
    )
    update_rows(
        conn,
        deletion_requests,
        "request_id",
        ("status", "processed_at", "processor"),
        [
            (c["status"], c["processed_at"], c["processor"], request_id)
            for request_id, c in processed.items()
        ],
    )
    upsert_rows(conn, kyc_status, _KYC, [tuple(r[c] for c in _KYC) for r in kyc.values()])
