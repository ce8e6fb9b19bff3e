"""Lookups by transaction: every raw event table has an index on ``tx_hash``, the lookup
(``dcmx_core.lookups.transaction``, behind the API's ``/tx/{txid}``) is served by it on both
databases, and a database made before the index gets it on upgrade."""

from __future__ import annotations

import sqlalchemy as sa

from dcmx_core.abi_runtime import tx_index_name
from dcmx_core.lookups import transaction
from dcmx_core.store import schema_table
from dcmx_core.store.schema import table_hash
from dcmx_core.testing import TestChain, TestIndexer
from dcmx_generated import dcmx_token

TOKEN = "0x" + "70" * 20
ALICE, BOB, CAROL = ("0x" + h * 20 for h in ("a1", "b0", "c4"))
EVENTS = list(dcmx_token.EVENTS)


def _chain() -> TestChain:
    """40 blocks (block n holds value n - 1); in each, transaction 0 emits a transfer and an
    approval, transaction 1 two transfers."""
    chain = TestChain(finality_depth=5)
    for n in range(40):
        chain.block(
            (TOKEN, dcmx_token.Transfer(from_=ALICE, to_=BOB, value=n), 0),
            (TOKEN, dcmx_token.Approval(owner=ALICE, spender=CAROL, value=n), 0),
            (TOKEN, dcmx_token.Transfer(from_=BOB, to_=CAROL, value=n + 1), 1),
            (TOKEN, dcmx_token.Transfer(from_=CAROL, to_=ALICE, value=n + 2), 1),
        )
    return chain


def _tx_hashes(engine: sa.Engine, block: int) -> list[bytes]:
    t = dcmx_token.Transfer.TABLE
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.c.tx_hash).where(t.c.block_number == block).order_by(t.c.log_index)
            ).scalars()
        )


def _plans(engine: sa.Engine, tx_hash: bytes) -> dict[str, str]:
    """{table: the database's plan} for each statement the lookup runs."""
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "tx_hash" in statement and "WHERE" in statement:
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn:
            transaction(conn, EVENTS, tx_hash)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    plans = {}
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if not sqlite:
            # The test tables are a few rows: the planner would rightly scan them. Scans
            # disabled, it still scans a table without a usable index.
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            table = next(cls.TABLE.name for cls in EVENTS if f"FROM {cls.TABLE.name}" in statement)
            plans[table] = "\n".join(str(r[-1]) for r in rows)
    return plans


def test_every_raw_table_has_the_index_and_the_lookup_uses_it(db_url):
    with TestIndexer(_chain(), database=db_url) as indexer:
        indexer.run()
        inspector = sa.inspect(indexer.engine)
        for cls in EVENTS:
            found = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes(cls.TABLE.name)}
            assert found[tx_index_name(cls.TABLE.name)] == ["tx_hash"]

        first, _, second = _tx_hashes(indexer.engine, 7)
        with indexer.engine.connect() as conn:
            found = transaction(conn, EVENTS, first)
            assert [(e.event, e.log_index, e.args["value"]) for e in found.events] == [
                ("Transfer", 0, 6), ("Approval", 1, 6)
            ]
            assert found.block_number == 7 and found.cursor is not None
            other = transaction(conn, EVENTS, second, block=7)
            assert [(e.event, e.args["value"]) for e in other.events] == [
                ("Transfer", 7), ("Transfer", 8)
            ]
            assert transaction(conn, EVENTS, bytes(32)).events == ()

        plans = _plans(indexer.engine, first)
        assert set(plans) == {cls.TABLE.name for cls in EVENTS}
        for table, plan in plans.items():
            assert tx_index_name(table) in plan, (table, plan)


def test_a_database_made_before_the_index_gets_it_on_upgrade(db_url):
    chain = _chain()
    with TestIndexer(chain, database=db_url) as first:
        first.run(to_block=30)
        raw = [cls.TABLE for cls in EVENTS]
        with first.engine.begin() as conn:  # as an older dcmx left it
            for t in raw:
                conn.exec_driver_sql(f"DROP INDEX {tx_index_name(t.name)}")
                conn.execute(
                    schema_table.update()
                    .where(schema_table.c.table_name == t.name)
                    .values(hash=table_hash(t, conn, ["tx_index"]))
                )
        before = first.rows(dcmx_token.Transfer.TABLE)
        engine = first.engine

        with TestIndexer(chain, database=engine) as second:
            assert sorted(second.indexer.store.table_changes()[0]) == sorted(t.name for t in raw)
            second.run()
            assert second.indexer.store.table_changes() == ([], [])
            inspector = sa.inspect(engine)
            for t in raw:
                assert tx_index_name(t.name) in {ix["name"] for ix in inspector.get_indexes(t.name)}
            after = second.rows(dcmx_token.Transfer.TABLE)
            assert after[: len(before)] == before and len(after) == 3 * 40
            assert _plans(engine, _tx_hashes(engine, 3)[0])
