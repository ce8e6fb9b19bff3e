"""The undo journal restores any table exactly, whatever SQL wrote to it."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmx_core.store import create_engine
from dcmx_core.store.journal import Journal

meta = sa.MetaData()
balances = sa.Table(
    "balances",
    meta,
    sa.Column("wallet", sa.String(64), primary_key=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("note", sa.LargeBinary, nullable=True),
)
pairs = sa.Table(  # composite key; the key itself gets updated
    "pairs",
    meta,
    sa.Column("a", sa.Integer, primary_key=True),
    sa.Column("b", sa.Integer, primary_key=True),
    sa.Column("v", sa.Text),
)

WALLETS = ["w0", "w1", "w2", "w3"]
op = st.one_of(
    st.tuples(st.just("upsert"), st.sampled_from(WALLETS), st.integers(-5, 2**40)),
    st.tuples(st.just("delete"), st.sampled_from(WALLETS), st.none()),
    st.tuples(st.just("raw_add"), st.sampled_from(WALLETS), st.integers(1, 9)),
    st.tuples(
        st.just("pair"),
        st.tuples(st.integers(0, 3), st.integers(0, 3)),
        # What PostgreSQL text can hold: no NUL, no lone surrogate (UTF-8 has none).
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=3),
    ),
    st.tuples(st.just("pair_rekey"), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("pair_del"), st.integers(0, 3), st.none()),
)


def apply(conn: sa.Connection, o) -> None:
    kind, key, val = o
    if kind == "upsert":
        done = conn.execute(
            balances.update()
            .where(balances.c.wallet == key)
            .values(amount=val, note=str(val).encode())
        ).rowcount
        if not done:
            conn.execute(balances.insert().values(wallet=key, amount=val, note=None))
    elif kind == "delete":
        conn.execute(balances.delete().where(balances.c.wallet == key))
    elif kind == "raw_add":  # plain SQL text, the way DipDup's rollback lost writes
        conn.execute(
            sa.text("UPDATE balances SET amount = amount + :v WHERE wallet = :w"),
            {"v": val, "w": key},
        )
    elif kind == "pair":
        exists = conn.execute(
            sa.select(pairs.c.v).where(pairs.c.a == key[0], pairs.c.b == key[1])
        ).first()
        stmt = (
            pairs.update().where(pairs.c.a == key[0], pairs.c.b == key[1]).values(v=val)
            if exists
            else pairs.insert().values(a=key[0], b=key[1], v=val)
        )
        conn.execute(stmt)
    elif kind == "pair_rekey":  # moves every row of column a == key to a new b, if free
        rows = conn.execute(sa.select(pairs.c.a, pairs.c.b).where(pairs.c.a == key)).all()
        for a, b in rows:
            taken = conn.execute(
                sa.select(pairs.c.a).where(pairs.c.a == a, pairs.c.b == val)
            ).first()
            if not taken:
                conn.execute(pairs.update().where(pairs.c.a == a, pairs.c.b == b).values(b=val))
    elif kind == "pair_del":
        conn.execute(pairs.delete().where(pairs.c.a == key))


def snapshot(conn: sa.Connection):
    return (
        sorted(tuple(r) for r in conn.execute(sa.select(balances)).all()),
        sorted(tuple(r) for r in conn.execute(sa.select(pairs)).all()),
    )


def check_rollbacks(url: str, blocks, rollback_to: int) -> None:
    engine = create_engine(url)
    journal = Journal([balances, pairs])
    with engine.begin() as conn:
        meta.drop_all(conn)
        meta.create_all(conn)
        for t in (balances, pairs):
            journal.drop(conn, t)
        journal.create(conn)
        journal.create_triggers(conn)
        # Block 0 is final: written without a journal context.
        for o in blocks[0]:
            apply(conn, o)
    states = []
    with engine.begin() as conn:
        states.append(snapshot(conn))
        for number, ops in enumerate(blocks[1:], start=1):
            journal.set_block(conn, number)
            for o in ops:
                apply(conn, o)
            states.append(snapshot(conn))
        journal.set_block(conn, None)
    k = min(rollback_to, len(blocks) - 1)
    with engine.begin() as conn:
        journal.rollback(conn, k)
    with engine.begin() as conn:
        assert snapshot(conn) == states[k]
        # Rolling back again to an earlier block still works after the first rollback.
        journal.rollback(conn, 0)
    with engine.connect() as conn:
        assert snapshot(conn) == states[0]
    engine.dispose()


blocks_strategy = st.lists(st.lists(op, max_size=8), min_size=1, max_size=7)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blocks=blocks_strategy, to=st.integers(0, 7))
def test_rollback_restores_any_block_sqlite(tmp_path, blocks, to):
    check_rollbacks(f"sqlite:///{tmp_path / 'j.db'}", blocks, to)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blocks=blocks_strategy, to=st.integers(0, 7))
def test_rollback_restores_any_block_postgresql(pg_url, blocks, to):
    check_rollbacks(pg_url, blocks, to)


def test_without_block_context_nothing_is_journaled(sqlite_url):
    engine = create_engine(sqlite_url)
    journal = Journal([balances])
    with engine.begin() as conn:
        balances.create(conn)
        journal.create(conn)
        journal.create_triggers(conn)
        conn.execute(balances.insert().values(wallet="x", amount=1))
        count = conn.execute(sa.text('SELECT count(*) FROM "_dcmx_undo_balances"')).scalar()
    assert count == 0


def test_table_without_primary_key_is_refused():
    t = sa.Table("nokey", sa.MetaData(), sa.Column("x", sa.Integer))
    try:
        Journal([t])
    except Exception as exc:  # noqa: BLE001
        assert "primary key" in str(exc)
    else:
        raise AssertionError("a table without a primary key must be refused")


class OlderJournal(Journal):
    """The journal as dcmx made it before 2026-12: its own columns NOT NULL."""

    def _shadow(self, table: sa.Table) -> sa.Table:
        shadow = super()._shadow(table)
        for name in ("_dcmx_block", "_dcmx_op"):
            shadow.c[name].nullable = False
        return shadow

    def _relax(self, conn: sa.Connection, table: sa.Table) -> None:
        pass


def not_null(conn: sa.Connection) -> set[str]:
    return {
        f"{table}.{column[1]}"
        for table in ("_dcmx_undo_balances", "_dcmx_undo_pairs")
        for column in conn.exec_driver_sql(f'PRAGMA table_info("{table}")')
        if column[3] and column[1] != "_dcmx_seq"  # the key, NOT NULL as every key
    }


def test_journal_made_not_null_by_an_older_dcmx_is_rebuilt_keeping_its_entries(sqlite_url):
    engine = create_engine(sqlite_url)
    older = OlderJournal([balances, pairs])
    with engine.begin() as conn:
        meta.create_all(conn)
        older.create(conn)
        older.create_triggers(conn)
        states = [snapshot(conn)]
        for number in (1, 2):
            older.set_block(conn, number)
            apply(conn, ("upsert", "w0", number))
            apply(conn, ("pair", (1, number), "v"))
            states.append(snapshot(conn))
        older.set_block(conn, None)
        assert not_null(conn) == {
            f"_dcmx_undo_{t}.{c}"
            for t in ("balances", "pairs")
            for c in ("_dcmx_block", "_dcmx_op")
        }
    journal = Journal([balances, pairs])
    with engine.begin() as conn:
        journal.create(conn)
        journal.create_triggers(conn)
        assert not_null(conn) == set()
        journal.set_block(conn, 3)  # recorded by the triggers made again
        apply(conn, ("delete", "w0", None))
        apply(conn, ("pair_del", 1, None))
        journal.set_block(conn, None)
    with engine.begin() as conn:
        # Block 2 was journaled before the rebuild, block 3 after it.
        journal.rollback(conn, 1)
        assert snapshot(conn) == states[1]
        journal.rollback(conn, 0)
        assert snapshot(conn) == states[0]
    engine.dispose()
