"""``from_sql`` is the exact inverse of ``sql_values``, through a real database.

Events are what the generated decoders give for random valid logs (eth-abi encodes them), for
every event class of the five generated modules and of the reference ABIs, and for random ABIs
across the whole type grammar. Each is written to its table with ``TABLE.insert()``, read back
with ``select(*TABLE.columns[7:])`` and rebuilt by ``from_sql``: the same event, value for value
and type for type (a tuple is not a list, a bool not an int), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import eth_abi
import pytest
import sqlalchemy as sa
from eth_abi.grammar import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_args_json import GENERATED, _values
from test_reference import VECTOR_FILES, _abi_files, _stem
from test_roundtrip_hypothesis import encoded_log, events
from util import module_for

from dcmx_codegen.abi import contracts_from_json
from dcmx_generated import CONTRACTS

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"
# the reference ABIs of the other codegen tests, generated with the profile dcmx indexes with
REFERENCE_ARTIFACTS = (
    [*_abi_files(REFERENCE), *sorted((REFERENCE / "tron").glob("*abi*.json"))]
    + [REFERENCE / "tron" / "shasta_getcontract_trc20.json"]
)
assert not {p.name for p in REFERENCE_ARTIFACTS} & VECTOR_FILES

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHAIN = ("block_number", "block_hash", "block_timestamp", "tx_hash", "tx_index", "log_index",
         "contract_address")


def _reference_events():
    """(module, event class, ABI event, test id) of every event of the reference ABIs."""
    out = []
    for path in REFERENCE_ARTIFACTS:
        doc = json.loads(path.read_text())
        stem = _stem(path.name)
        mod = module_for(doc, "tron", stem)
        by_sig = {cls.SIGNATURE: cls for cls in mod.EVENTS}
        for c in contracts_from_json(doc, stem, f"{stem}.json", ""):
            for e in c.events:
                cls = by_sig[e.signature]
                out.append((mod, cls, e, f"{stem}.{cls.__name__}"))
    return out


_REFERENCE = _reference_events()
REFERENCE_EVENTS = [x[:3] for x in _REFERENCE]
EVENT_CLASSES = GENERATED + REFERENCE_EVENTS
IDS = [f"{m.__name__.removeprefix('dcmx_')}.{c.__name__}" for m, c, _ in GENERATED]
IDS += [x[3] for x in _REFERENCE]


@st.composite
def decoded(draw, cls, abi_event):
    """An event of ``cls`` as its decoder gives it for a random valid log of ``abi_event``."""
    topics = [cls.TOPIC0] if cls.TOPIC0 else []
    data_types, data_values = [], []
    for p in abi_event.inputs:
        t = p.type.canonical
        if p.indexed and p.type.is_hashed_when_indexed:
            topics.append(draw(st.binary(min_size=32, max_size=32)))
            continue
        value = draw(_values(parse(t)))
        if p.indexed:
            topics.append(eth_abi.encode([t], [value]))
        else:
            data_types.append(t)
            data_values.append(value)
    # the class's own decoder: decode_log may not pick an anonymous event
    event = cls.decode(topics, eth_abi.encode(data_types, data_values))
    assert type(event) is cls
    return event


@st.composite
def random_abi_events(draw):
    """(class, event): one event of a random ABI (the round-trip test's), decoded."""
    case = draw(events())
    mod = module_for(case[0], draw(st.sampled_from(["evm", "tron"])), "Probe")
    (cls,) = mod.EVENTS
    return cls, cls.decode(*encoded_log(cls, case))


def assert_same(back, event) -> None:
    """Equal, and of the same types all the way down (``==`` takes True for 1, (1,) for [1])."""
    assert type(back) is type(event)
    assert back == event
    assert repr(back) == repr(event)


# --- through the database -----------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request):
    """An empty database for the module: SQLite in memory, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        eng = sa.create_engine("sqlite://")
    else:
        eng = sa.create_engine(request.getfixturevalue("module_pg_url"))
    eng.created = set()  # the tables of EVENT_CLASSES made so far (each once)
    yield eng
    eng.dispose()


def _storable(engine, event) -> bool:
    """PostgreSQL text cannot hold U+0000 (the insert fails: nothing to read back); inside a
    JSON column it is an escape, which PostgreSQL's json type keeps."""
    if engine.dialect.name != "postgresql":
        return True
    return not any(isinstance(v, str) and "\x00" in v for v in event.sql_values())


def through_db(engine, cls, evs: list) -> list:
    """The rows of the parameter columns of ``evs``, written to ``cls.TABLE`` (which exists)
    and read back in one transaction, rolled back: the table is left empty."""
    table = cls.TABLE
    params = [c.name for c in table.columns[7:]]
    rows = [
        dict(zip(CHAIN, (7, b"\x01" * 32, 1_700_000_000, b"\x02" * 32, 3, i, "T" * 34),
                 strict=True))
        | dict(zip(params, ev.sql_values(), strict=True))
        for i, ev in enumerate(evs)
    ]
    if not rows:
        return []
    with engine.connect() as conn:
        try:
            conn.execute(table.insert(), rows)
            if params:
                query = sa.select(*table.columns[7:]).order_by(table.c.log_index)
                got = conn.execute(query).all()
            else:  # an event without parameters: an empty row per stored log
                got = [() for _ in conn.execute(sa.select(table.c.log_index))]
        finally:
            conn.rollback()
    assert len(got) == len(evs)
    return got


def check_rows(cls, rows, evs) -> None:
    """``from_sql`` gives each event back, built through the constructor of a subclass too
    (the path ``decode`` takes for one); a row with a column too many or too few is refused."""
    for row, ev in zip(rows, evs, strict=True):
        assert_same(cls.from_sql(row), ev)
        assert_same(cls.from_sql(ev.sql_values()), ev)  # no database: the values as they are
    if not rows:
        return
    built: list = []

    class Sub(cls):
        __slots__ = ()

        def __init__(self, *args):
            built.append(args)
            super().__init__(*args)

    row, ev = rows[0], evs[0]
    back = Sub.from_sql(row)
    assert type(back) is Sub and len(built) == 1
    assert_same(cls(*built[0]), ev)
    with pytest.raises((TypeError, ValueError)):
        cls.from_sql((*row, None))
    if len(row):
        with pytest.raises((TypeError, ValueError)):
            cls.from_sql(tuple(row)[:-1])


def test_every_event_class_is_covered(reference):
    assert {cls for _, cls, _ in GENERATED} == {
        cls for mod in CONTRACTS.values() for cls in mod.EVENTS
    }
    assert {cls for _, cls, _ in REFERENCE_EVENTS} == {
        cls for mod, _, _ in REFERENCE_EVENTS for cls in mod.EVENTS
    }
    assert len(REFERENCE_EVENTS) >= 60


@pytest.mark.parametrize("mod, cls, abi_event", EVENT_CLASSES, ids=IDS)
@settings(max_examples=3, **SETTINGS)
@given(data=st.data())
def test_event_classes_through_db(engine, mod, cls, abi_event, data):
    evs = data.draw(st.lists(decoded(cls, abi_event), min_size=1, max_size=6), label="events")
    evs = [ev for ev in evs if _storable(engine, ev)]
    if cls.TABLE not in engine.created:
        cls.TABLE.create(engine)
        engine.created.add(cls.TABLE)
    check_rows(cls, through_db(engine, cls, evs), evs)


@settings(max_examples=40, **SETTINGS)
@given(case=random_abi_events())
def test_random_abis_through_db(engine, case):
    cls, ev = case
    if not _storable(engine, ev):
        return
    # every random ABI makes its own table "probe__probe": one at a time
    cls.TABLE.create(engine)
    try:
        rows = through_db(engine, cls, [ev])
    finally:
        cls.TABLE.drop(engine)
    check_rows(cls, rows, [ev])


# --- without a database -------------------------------------------------------------------


@settings(max_examples=100, **SETTINGS)
@given(case=random_abi_events())
def test_random_abis_from_sql_values(case):
    """No database: ``sql_values()`` are already what the columns give back."""
    cls, ev = case
    values = ev.sql_values()
    assert_same(cls.from_sql(values), ev)
    # JSON columns as the JSON text they hold, parsed
    parsed = [
        json.loads(json.dumps(v)) if isinstance(c.type, sa.JSON) else v
        for c, v in zip(cls.TABLE.columns[7:], values, strict=True)
    ]
    assert_same(cls.from_sql(parsed), ev)
