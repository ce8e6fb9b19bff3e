"""Amounts (uint256) are numbers in any SQL: sums, averages, orderings and comparisons against
Python's integers, through dcmx's engine on SQLite and PostgreSQL, and through a plain
``sqlite3`` connection with none of dcmx's functions (what the ``sqlite3`` shell sees)."""

from __future__ import annotations

import math
import sqlite3
from fractions import Fraction

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmx_core import create_engine
from dcmx_core.sqltypes import ExactInt
from dcmx_core.store.engine import sqlite_file
from dcmx_core.store.schema import Schema

meta = sa.MetaData()
amounts = sa.Table(
    "amounts",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", ExactInt, nullable=False),
    sa.Index("ix_amounts_amount", "amount"),
)

INT64 = 2**63
# uint256 values of every size: small ones that fit 64 bits, and token amounts of 18 decimals
uint256 = st.one_of(
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(0, 10**6).map(lambda n: n * 10**18),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64, 2**256 - 1]),
)


@pytest.fixture
def engine(db_url):
    engine = create_engine(db_url)
    schema = Schema([(amounts, "test")])
    with engine.begin() as conn:
        schema.create(conn)  # a new database starts as a backfill: end it (indexes, triggers)
        schema.journal.create_triggers(conn)
        schema.leave_backfill(conn)
    yield engine
    engine.dispose()


def _load(engine: sa.Engine, values: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(amounts.delete())
        if values:
            conn.execute(amounts.insert(), [{"id": i, "amount": v} for i, v in enumerate(values)])


def _close(real: float | None, exact: int | Fraction) -> bool:
    return real is not None and math.isclose(real, exact, rel_tol=1e-12, abs_tol=1e-9)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(uint256, min_size=1, max_size=30), pivot=uint256)
def test_sums_and_orderings_are_pythons(engine, values, pivot):
    _load(engine, values)
    c = amounts.c
    with engine.connect() as conn:  # dcmx's engine: exact, on both databases
        assert conn.execute(sa.select(sa.func.sum(c.amount))).scalar() == sum(values)
        average = conn.execute(sa.select(sa.func.avg(c.amount))).scalar()
        assert _close(float(average), Fraction(sum(values), len(values)))
        ordered = conn.execute(sa.select(c.amount).order_by(c.amount, c.id)).scalars().all()
        assert ordered == sorted(values)
        top = conn.execute(sa.select(c.amount).order_by(c.amount.desc()).limit(3)).scalars()
        assert top.all() == sorted(values, reverse=True)[:3]
        above = conn.execute(sa.select(sa.func.count()).where(c.amount > pivot)).scalar()
        assert above == sum(v > pivot for v in values)

    path = sqlite_file(engine.url)
    if path is None:
        return
    plain = sqlite3.connect(path)  # no dcmx functions: SQLite's own sum, avg, comparisons
    try:
        rows = plain.execute("SELECT amount, amount_num FROM amounts ORDER BY amount, id")
        rows = rows.fetchall()
        shown = [int(a) for a, _ in rows]  # an INTEGER, or the digits as a BLOB
        assert shown == sorted(values)  # numeric order, by the column's own index
        assert all(_close(num, int(a)) for a, num in rows)
        plan = plain.execute("EXPLAIN QUERY PLAN SELECT amount FROM amounts ORDER BY amount")
        assert "ix_amounts_amount" in " ".join(str(r) for r in plan.fetchall())
        total, average, real_total = plain.execute(
            "SELECT total(amount), avg(amount), sum(amount_num) FROM amounts"
        ).fetchone()
        assert _close(total, sum(values)) and _close(real_total, sum(values))
        assert _close(average, Fraction(sum(values), len(values)))
        if all(v < INT64 for v in values) and sum(values) < INT64:  # exact where it fits
            assert plain.execute("SELECT sum(amount) FROM amounts").fetchone()[0] == sum(values)
        if pivot < INT64:  # a comparison with a 64-bit number on the exact column
            (above,) = plain.execute(
                "SELECT count(*) FROM amounts WHERE amount > ?", (pivot,)
            ).fetchone()
            assert above == sum(v > pivot for v in values)
        # beyond 64 bits the REAL column beside it, as the README says
        (above,) = plain.execute(
            "SELECT count(*) FROM amounts WHERE amount_num > ?", (float(pivot),)
        ).fetchone()
        near = [v for v in values if math.isclose(v, pivot, rel_tol=1e-12)]  # REAL's rounding
        assert sum(v > pivot for v in values) - len(near) <= above
        assert above <= sum(v > pivot for v in values) + len(near)
    finally:
        plain.close()
