"""RowWriter: bulk rows through the driver store what SQLAlchemy's own insert stores.

On PostgreSQL rows go by ``COPY``, in the binary format when every column type has a known
binary form and as text otherwise; both must give back exactly the values written, on the
edges of each type (uint256 and int256 limits, empty and NUL bytes, non-ASCII text, NULLs).
"""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from dcmx_core.sqltypes import ExactInt
from dcmx_core.store import RowWriter, create_engine

metadata = sa.MetaData()
every_type = sa.Table(
    "every_type",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("big", sa.BigInteger),
    sa.Column("small", sa.SmallInteger),
    sa.Column("amount", ExactInt),
    sa.Column("flag", sa.Boolean),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("name", sa.String(64)),
    sa.Column("text", sa.Text),
    sa.Column("args", sa.JSON),
)
# A type without a binary form dcmx knows: the table goes as text COPY.
with_timestamp = sa.Table(
    "with_timestamp",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("amount", ExactInt),
)
with_jsonb = sa.Table(
    "with_jsonb",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("doc", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)

U256 = 2**256 - 1
I256_MIN = -(2**255)

values = st.tuples(
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.none(), st.integers(-(2**15), 2**15 - 1)),
    st.one_of(st.none(), st.integers(I256_MIN, U256), st.sampled_from([0, U256, I256_MIN])),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.binary(max_size=80), st.just(b"\x00" * 32)),
    st.one_of(st.none(), st.text(max_size=64).filter(lambda s: "\x00" not in s)),
    st.one_of(st.none(), st.text(max_size=300).filter(lambda s: "\x00" not in s)),
    st.one_of(
        st.none(),
        st.dictionaries(
            st.text(max_size=8).filter(lambda s: "\x00" not in s),
            st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20).filter(
                lambda s: "\x00" not in s)),
            max_size=4,
        ),
    ),
)


def _write(engine: sa.Engine, table: sa.Table, rows: list[tuple]) -> None:
    writer = RowWriter(engine.dialect)
    convert = writer.converter(table.columns)
    with engine.begin() as conn:
        conn.execute(table.delete())
        writer.insert(conn, table, [convert(r) for r in rows])


def _read(engine: sa.Engine, table: sa.Table) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]


@pytest.fixture
def engine(db_url: str):
    engine = create_engine(db_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("count", [1, RowWriter.COPY_MIN_ROWS + 5])  # INSERT, and COPY on PG
def test_rows_come_back_as_written(engine: sa.Engine, count: int) -> None:
    rows = [
        (i, -(2**63), -(2**15), U256 if i % 2 else I256_MIN, i % 2 == 0, b"\x00\xff" * i,
         "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8", "naïve ✓ 𝄞", {"from": "T1", "value": U256})
        for i in range(count)
    ]
    _write(engine, every_type, rows)
    assert _read(engine, every_type) == rows


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(values, min_size=RowWriter.COPY_MIN_ROWS, max_size=40))
def test_any_values_round_trip(engine: sa.Engine, drawn: list[tuple]) -> None:
    rows = [(i, *v) for i, v in enumerate(drawn)]
    _write(engine, every_type, rows)
    back = _read(engine, every_type)
    # JSON comes back as parsed: compare through the same encoding.
    assert [r[:-1] for r in back] == [r[:-1] for r in rows]
    assert [json.dumps(r[-1]) for r in back] == [json.dumps(r[-1]) for r in rows]


def test_types_without_a_known_binary_form_go_as_text(engine: sa.Engine) -> None:
    at = dt.datetime(2026, 12, 1, 12, 30, tzinfo=dt.UTC)
    rows = [(i, at, U256 - i) for i in range(RowWriter.COPY_MIN_ROWS)]
    _write(engine, with_timestamp, rows)
    back = _read(engine, with_timestamp)
    assert [(i, a.astimezone(dt.UTC), n) for i, a, n in back] == rows
    docs = [(i, {"k": [i, "x"]}) for i in range(RowWriter.COPY_MIN_ROWS)]
    _write(engine, with_jsonb, docs)
    assert _read(engine, with_jsonb) == docs


def test_binary_copy_is_chosen_only_for_known_types(pg_url: str) -> None:
    writer = RowWriter(create_engine(pg_url).dialect)
    assert writer._binary_types(with_timestamp) is None
    assert writer._binary_types(with_jsonb) is None
    assert writer._binary_types(every_type) == [
        "int4", "int8", "int2", "numeric", "bool", "bytea", "text", "text", "text",
    ]


def test_a_bad_value_fails_the_copy_and_writes_nothing(engine: sa.Engine) -> None:
    rows = [(i, 1, 1, 1, True, b"", "a", "b", {}) for i in range(RowWriter.COPY_MIN_ROWS)]
    rows[-1] = (99, 2**63, 1, 1, True, b"", "a", "b", {})  # does not fit a BIGINT
    with pytest.raises((sa.exc.DBAPIError, OverflowError, psycopg.Error)):
        _write(engine, every_type, rows)
    assert _read(engine, every_type) == []


def _wide(columns: int) -> sa.Table:
    return sa.Table(
        f"wide_{columns}",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(f"c{i}", sa.BigInteger) for i in range(columns - 1)),
    )


@pytest.mark.parametrize("columns", [9, 30, 1200])
@pytest.mark.parametrize("count", [1, 49, 50, 51, 123])
def test_sqlite_writes_rows_in_groups_in_order(sqlite_url: str, columns: int, count: int) -> None:
    # Many rows go into each INSERT (SQLite has no COPY); a group never passes the 999
    # parameters of older SQLite builds, and the rows that do not fill one go one by one.
    table = _wide(columns)
    engine = create_engine(sqlite_url)
    table.metadata.create_all(engine)
    writer = RowWriter(engine.dialect)
    per = writer._per_statement(table)
    assert per * columns <= 999 or per == 1
    sent: list[int] = []  # rows per INSERT statement run

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT"):
            sent.extend([statement.count("(?")] * (len(parameters) if executemany else 1))

    rows = [(i, *range(i, i + columns - 1)) for i in range(count)]
    with engine.begin() as conn:
        writer.insert(conn, table, rows)
    assert _read(engine, table) == rows
    expected = [per] * (count // per) + [1] * (count % per)
    assert sorted(sent) == sorted(expected)
    engine.dispose()


def test_sqlite_a_duplicate_key_inside_a_group_writes_nothing(sqlite_url: str) -> None:
    table = _wide(9)
    engine = create_engine(sqlite_url)
    table.metadata.create_all(engine)
    rows = [(i, *range(8)) for i in range(120)]
    rows[75] = rows[74]
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            RowWriter(engine.dialect).insert(conn, table, rows)
    assert _read(engine, table) == []
    engine.dispose()
