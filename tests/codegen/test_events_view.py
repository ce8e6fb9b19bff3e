"""``blockchain_events``, the view over generated raw tables: one row per stored event, its
parameters as JSON, exact on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random

import sqlalchemy as sa
from util import module_for

from dcmx_core import events_view
from dcmx_core.abi_runtime import json_safe
from dcmx_core.store import RowWriter

ABI = [
    {
        "type": "event",
        "name": "Wide",
        "anonymous": False,
        "inputs": [
            {"name": "who", "type": "address", "indexed": True},
            {"name": "delta", "type": "int256", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
            {"name": "small", "type": "int64", "indexed": False},
            {"name": "ok", "type": "bool", "indexed": False},
            {"name": "tag", "type": "bytes4", "indexed": False},
            {"name": "blob", "type": "bytes", "indexed": False},
            {"name": "note", "type": "string", "indexed": False},
            {"name": "names", "type": "string[]", "indexed": False},
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
    },
    {"type": "event", "name": "Bare", "anonymous": False, "inputs": []},
    # more parameters than one JSON function call may take (objects are built in parts)
    {
        "type": "event",
        "name": "Many",
        "anonymous": False,
        "inputs": [{"name": f"p{i}", "type": "uint8", "indexed": False} for i in range(90)],
    },
]


def _ints(rng: random.Random) -> list[int]:
    """int256 values at every magnitude, and the edges of what SQLite's view renders exactly."""
    edges = [0, 1, -1, 10**18 - 1, -(10**18), -(10**18) - 1, 2**255 - 1, -(2**255), -(2**63)]
    return edges + [rng.choice((1, -1)) * rng.getrandbits(rng.randrange(1, 256)) for _ in range(60)]


def _expected(cls, event, sqlite: bool) -> dict:
    out = {}
    for column, value in zip(cls.TABLE.columns[7:], event.sql_values(), strict=True):
        if isinstance(value, str) and isinstance(column.type, sa.Text) and not sqlite:
            value = value.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold a NUL
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        out[column.name] = json_safe(value)
    return out


def test_view_shows_every_event_with_exact_arguments(db_url):
    mod = module_for(ABI, "tron", "ViewProbe")
    rng = random.Random(5)
    events = _events(mod, rng)
    engine = sa.create_engine(db_url)
    mod.metadata.create_all(engine)
    writer = RowWriter(engine.dialect)  # how the core writes raw rows
    with engine.begin() as conn:
        for i, ev in enumerate(events):
            table = type(ev).TABLE
            chain = (i // 3, bytes([i % 256]) * 32, 1_700_000_000 + i, bytes(32), 0, i % 3,
                     "T" + "1" * 33)
            row = writer.converter(table.columns)((*chain, *ev.sql_values()))
            writer.insert(conn, table, [row])
        classes = [mod.Wide, mod.Bare, mod.Many]
        events_view.create(conn, classes)
        sent: list[str] = []

        def record(conn, cursor, statement, *rest) -> None:
            sent.append(statement)

        sa.event.listen(conn, "before_cursor_execute", record)
        events_view.create(conn, classes)  # unchanged: left alone
        sa.event.remove(conn, "before_cursor_execute", record)
        assert sent and not [s for s in sent if "VIEW" in s]
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        got = conn.execute(sa.text(
            "SELECT block_number, log_index, contract, event, args FROM blockchain_events "
            "ORDER BY block_number, log_index"
        )).all()
    assert len(got) == len(events)
    for i, (ev, row) in enumerate(zip(events, got, strict=True)):
        args = json.loads(row.args) if isinstance(row.args, str) else row.args
        assert (row.block_number, row.log_index) == (i // 3, i % 3)
        assert (row.contract, row.event) == ("ViewProbe", type(ev).NAME)
        assert args == _expected(type(ev), ev, sqlite)
    engine.dispose()


def _events(mod, rng: random.Random) -> list:
    import eth_abi

    out = []
    for d in _ints(rng):
        data = eth_abi.encode(
            ["int256", "uint256", "int64", "bool", "bytes4", "bytes", "string", "string[]",
             "uint256[]", "(address,int256)"],
            [d, abs(d), rng.randrange(-(2**63), 2**63), d % 2 == 0, rng.randbytes(4),
             rng.randbytes(rng.randrange(5)), "é'\"\x00" * (abs(d) % 3), ["a\x00b", ""],
             [2**256 - 1, abs(d)], (rng.randbytes(20), d)],
        )
        topics = [mod.Wide.TOPIC0, bytes(12) + rng.randbytes(20), rng.randbytes(32)]
        out.append(mod.Wide.decode(topics, data))
        out.append(mod.Bare.decode([mod.Bare.TOPIC0], b""))
        values = [rng.randrange(256) for _ in range(90)]
        out.append(mod.Many.decode([mod.Many.TOPIC0], eth_abi.encode(["uint8"] * 90, values)))
    return out
