"""Generated tables on SQLite and PostgreSQL: exact round trips and numeric ORDER BY."""

from __future__ import annotations

import json

import sqlalchemy as sa
from util import module_for

from dcmx_core.sqltypes import decode_sortable, decode_sqlite, encode_sqlite

ABI = [
    {
        "type": "event",
        "name": "Moved",
        "anonymous": False,
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "order", "type": "uint256", "indexed": True},
            {"name": "delta", "type": "int256", "indexed": False},
            {"name": "small", "type": "uint64", "indexed": False},
            {"name": "tiny", "type": "int8", "indexed": False},
            {"name": "ok", "type": "bool", "indexed": False},
            {"name": "tag", "type": "bytes4", "indexed": False},
            {"name": "blob", "type": "bytes", "indexed": False},
            {"name": "note", "type": "string", "indexed": False},
            {"name": "ids", "type": "uint256[]", "indexed": False},
            {
                "name": "pair",
                "type": "tuple",
                "indexed": False,
                "components": [
                    {"name": "who", "type": "address"},
                    {"name": "amount", "type": "int256"},
                ],
            },
            {"name": "hashed", "type": "string", "indexed": True},
        ],
    }
]

EXTREMES = [0, 1, 2**256 - 1, 2**255, 10**30, 7]


def _log(mod, i: int, order: int):
    import eth_abi

    cls = mod.Moved
    topics = [cls.TOPIC0, bytes(12) + bytes([i]) * 20, order.to_bytes(32, "big"), bytes([i]) * 32]
    delta = [-(2**255), 2**255 - 1, -1, 0, 5, -7][i % 6]
    data = eth_abi.encode(
        [
            "int256",
            "uint64",
            "int8",
            "bool",
            "bytes4",
            "bytes",
            "string",
            "uint256[]",
            "(address,int256)",
        ],
        [
            delta,
            2**64 - 1,
            -128,
            True,
            b"\x01\x02\x03\x04",
            b"\x00\xff",
            "héllo",
            [2**256 - 1, 0],
            (bytes([9]) * 20, -(2**255)),
        ],
    )
    return cls.decode(topics, data)


def test_round_trip_and_numeric_order(db_url):
    mod = module_for(ABI, "tron", "SqlProbe")
    table = mod.Moved.TABLE
    assert [c.name for c in table.columns][:7] == [
        "block_number",
        "block_hash",
        "block_timestamp",
        "tx_hash",
        "tx_index",
        "log_index",
        "contract_address",
    ]
    assert "from_" in table.c and "order_" in table.c
    engine = sa.create_engine(db_url)
    mod.metadata.create_all(engine)
    events = [_log(mod, i, order) for i, order in enumerate(EXTREMES)]
    chain_cols = [c.name for c in table.columns][:7]
    param_cols = [c.name for c in table.columns][7:]
    rows = [
        dict(
            zip(
                chain_cols,
                (100 + i, bytes(32), 1_700_000_000, bytes(32), 0, i, "T" * 34),
                strict=True,
            )
        )
        | dict(zip(param_cols, ev.sql_values(), strict=True))
        for i, ev in enumerate(events)
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    with engine.connect() as conn:
        got = conn.execute(sa.select(table).order_by(table.c.block_number)).mappings().all()
        for row, ev in zip(got, events, strict=True):
            assert tuple(row[c] for c in param_cols) == ev.sql_values()
            assert row["delta"] == ev.delta and row["order_"] == ev.order_
        assert got[2]["order_"] == 2**256 - 1
        assert got[0]["pair"] == {"who": events[0].pair.who, "amount": -(2**255)}
        ordered = conn.execute(sa.select(table.c.order_).order_by(table.c.order_)).scalars().all()
        assert ordered == sorted(EXTREMES)
        deltas = conn.execute(sa.select(table.c.delta).order_by(table.c.delta)).scalars().all()
        if engine.dialect.name == "postgresql":
            assert deltas == sorted(ev.delta for ev in events)
        else:  # numbers in order, then positive digit BLOBs in order; a signed value below
            # -2**63 (int72..int256 only) sorts between them: ordered by <column>_num instead
            fits = sorted(ev.delta for ev in events if -(2**63) <= ev.delta < 2**63)
            above = sorted(ev.delta for ev in events if ev.delta >= 2**63)
            assert deltas[: len(fits)] == fits
            assert deltas[len(deltas) - len(above) :] == above
        big = conn.execute(sa.select(sa.func.count()).where(table.c.order_ > 10**29)).scalar()
        assert big == 3
    json.dumps([ev.args() for ev in events])  # the audit form is JSON-safe
    engine.dispose()


def test_sqlite_form_round_trips_and_sorts_as_sqlite_compares():
    values = [-(10**78) + 1, -(2**255), -(2**63) - 1, -(2**63), -1, 0, 1, 9, 10, 2**63 - 1,
              2**63, 2**64, 2**256 - 1, 10**78 - 1]
    encoded = [encode_sqlite(v) for v in values]
    assert [decode_sqlite(e) for e in encoded] == values
    assert [type(e) for e in encoded] == [bytes] * 3 + [int] * 7 + [bytes] * 4
    # SQLite orders every number before every BLOB, and BLOBs byte by byte: numeric order
    # for every value from -2**63 up
    key = [(isinstance(e, bytes), e) for e in encoded[3:]]
    assert sorted(key) == key
    assert decode_sortable("p" + "0" * 77 + "7") == 7  # the older text form, for upgrades
    assert decode_sortable("n" + "9" * 78) == -1
