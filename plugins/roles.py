"""Roles on the five contracts (``RoleGranted``/``RoleRevoked`` of their AccessControl): who
holds which role now, for the API's admin checks.

The contracts emit on every real change (a no-op grant or revoke emits nothing), so the
table is exactly ``hasRole`` for every (contract, role, account) ever granted; the undo
journal keeps it so across forks.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import dcmx_core
from dcmx_core.sqltypes import address
from dcmx_core.store.rows import upsert
from dcmx_generated import CONTRACTS

metadata = sa.MetaData()

platform_roles = sa.Table(
    "platform_roles",
    metadata,
    sa.Column("contract", sa.String(64), primary_key=True),  # the contract's name
    sa.Column("role", sa.LargeBinary(32), primary_key=True),
    sa.Column("account", address(), primary_key=True),
    sa.Column("contract_address", address(), nullable=False),
    sa.Column("granted_by", address(), nullable=False),
    sa.Column("granted_block", sa.BigInteger, nullable=False),
    sa.Index("ix_platform_roles_account", "account", "contract"),
)

GRANTED = tuple(m.RoleGranted for m in CONTRACTS.values())
REVOKED = tuple(m.RoleRevoked for m in CONTRACTS.values())


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(name="roles", consumes=[*GRANTED, *REVOKED],
                                 tables=[platform_roles])


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    events = batch.of(*GRANTED, *REVOKED)
    if not events:
        return
    # key -> the row after the batch, None: revoked
    last: dict[tuple[Any, ...], dict[str, Any] | None] = {}
    for d in events:
        e = d.event
        key = (type(e).CONTRACT, e.role, e.account)
        if isinstance(e, GRANTED):
            last[key] = {"contract": key[0], "role": e.role, "account": e.account,
                         "contract_address": d.contract_address, "granted_by": e.sender,
                         "granted_block": d.log.block_number}
        else:
            last[key] = None
    gone = [k for k, row in last.items() if row is None]
    for contract, role, account in gone:
        t = platform_roles.c
        conn.execute(platform_roles.delete().where(
            t.contract == contract, t.role == role, t.account == account))
    rows = [row for row in last.values() if row is not None]
    if rows:
        upsert(conn, platform_roles, rows)


def holds(conn: sa.Connection, wallet: str, contract: str, role: bytes) -> bool:
    """Whether ``wallet`` holds ``role`` on ``contract`` (by name) in the read model."""
    t = platform_roles.c
    return conn.execute(
        sa.select(sa.literal(1)).select_from(platform_roles)
        .where(t.contract == contract, t.role == role, t.account == wallet)
    ).first() is not None
