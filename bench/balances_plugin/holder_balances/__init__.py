"""Exact balances of every holder of a token: a dcmx plugin as a third party writes one.

It reads the token's ``Transfer`` events from the bindings ``dcmx-codegen`` made for it (the
package ``batch_token``, on the path when dcmx runs) and keeps one row per holder, written
with plain SQLAlchemy: the balances a batch touches are read, moved, and written back.
"""

from __future__ import annotations

import sqlalchemy as sa
from batch_token import batch_token as token

import dcmx_core
from dcmx_core.sqltypes import ExactInt, address

meta = sa.MetaData()
holder_balances = sa.Table(
    "holder_balances",
    meta,
    sa.Column("holder", address(), primary_key=True),
    sa.Column("balance", ExactInt(), nullable=False),
)
ZERO = "0x0000000000000000000000000000000000000000"


@dcmx_core.hookimpl
def dcmx_declare() -> dcmx_core.Declaration:
    return dcmx_core.Declaration(
        name="holder_balances", consumes=[token.Transfer], tables=[holder_balances]
    )


@dcmx_core.hookimpl
def dcmx_handle_batch(batch: dcmx_core.Batch, conn: sa.Connection) -> None:
    deltas: dict[str, int] = {}
    for d in batch.of(token.Transfer):
        e = d.event
        if e.from_ != ZERO:
            deltas[e.from_] = deltas.get(e.from_, 0) - e.value
        deltas[e.to_] = deltas.get(e.to_, 0) + e.value
    if not deltas:
        return
    t = holder_balances
    query = sa.select(t.c.holder, t.c.balance).where(t.c.holder.in_(deltas))
    known = dict(conn.execute(query).tuples().all())
    changed = [{"h": h, "b": known[h] + delta} for h, delta in deltas.items() if h in known]
    new = [{"holder": h, "balance": delta} for h, delta in deltas.items() if h not in known]
    if changed:
        conn.execute(
            t.update().where(t.c.holder == sa.bindparam("h")).values(balance=sa.bindparam("b")),
            changed,
        )
    if new:
        conn.execute(t.insert(), new)
