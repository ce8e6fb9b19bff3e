"""The plugins' bulk helpers read back what they wrote, on both databases, through the driver."""

from __future__ import annotations

import sqlalchemy as sa

from dcmx_core.sqltypes import ExactInt
from dcmx_core.store import create_engine
from dcmx_core.store.rows import fetch_columns, insert_rows, upsert_rows

meta = sa.MetaData()
pairs = sa.Table(
    "helper_pairs",
    meta,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("wallet", sa.String(64), primary_key=True),
    sa.Column("amount", ExactInt, nullable=False),
    sa.Column("flag", sa.Boolean, nullable=False),
)


def test_fetch_columns_by_key_and_fixed_columns(db_url):
    engine = create_engine(db_url)
    meta.create_all(engine)
    # More wallets than one statement's chunk of placeholders on SQLite (900).
    wallets = [f"T{i:033d}" for i in range(2_000)]
    with engine.begin() as conn:
        insert_rows(conn, pairs, ("day", "wallet", "amount", "flag"),
                    [("2026-12-01", w, 2**200 + i, i % 2 == 0) for i, w in enumerate(wallets)])
        insert_rows(conn, pairs, ("day", "wallet", "amount", "flag"),
                    [("2026-12-02", w, i, False) for i, w in enumerate(wallets[:10])])
        upsert_rows(conn, pairs, ("day", "wallet", "amount", "flag"),
                    [("2026-12-02", wallets[3], -5, True)])
    asked = [*wallets[::3], "T-never-seen", wallets[0]]
    with engine.connect() as conn:
        first = fetch_columns(conn, pairs, "wallet", ("amount", "flag"), asked,
                              where={"day": "2026-12-01"})
        second = fetch_columns(conn, pairs, "wallet", ("amount",), asked,
                               where={"day": "2026-12-02"})
        neither = fetch_columns(conn, pairs, "wallet", (), asked, where={"day": "2026-12-03"})
    assert first == {w: (2**200 + i, i % 2 == 0) for i, w in enumerate(wallets) if i % 3 == 0}
    assert second == {wallets[0]: (0,), wallets[3]: (-5,), wallets[6]: (6,), wallets[9]: (9,)}
    assert neither == {}
    engine.dispose()
