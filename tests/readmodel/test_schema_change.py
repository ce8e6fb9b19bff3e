"""A changed plugin table is rebuilt from the raw event tables; a changed raw table stops
indexing."""

from __future__ import annotations

import logging
import math
import sqlite3
import sys
import types
from pathlib import Path

import pytest
import sqlalchemy as sa
from core.snapshot import dump_tables

import dcmx_plugins
from dcmx_core import Contract, StoreError
from dcmx_core.cli.maintenance import rollback_database
from dcmx_generated import dcmx_token
from dcmx_plugins import compliance, nft, platform_contracts, royalty, token, vault

from .conftest import PLUGINS, assert_matches_chain, make_indexer


def _changed_copy(module: types.ModuleType, name: str, old: str, new: str) -> types.ModuleType:
    """A copy of ``module`` whose source has ``old`` replaced by ``new`` (a new table layout)."""
    source = Path(module.__file__).read_text()
    assert source.count(old) == 1, old
    copy = types.ModuleType(f"{module.__package__}.{name}")
    copy.__package__ = module.__package__
    copy.__file__ = module.__file__
    sys.modules[copy.__name__] = copy  # dataclasses look their module up while executing
    try:
        exec(compile(source.replace(old, new), copy.__file__, "exec"), copy.__dict__)
    finally:
        del sys.modules[copy.__name__]
    return copy


def test_changed_plugin_table_is_rebuilt(simulated, db_url, caplog):
    first = make_indexer(simulated, db_url)
    first.run()
    before = dump_tables(first.engine)
    first.engine.dispose()

    token_v2 = _changed_copy(
        token,
        "token_v2",
        '    sa.Column("updated_block", sa.BigInteger, nullable=False),\n',
        '    sa.Column("updated_block", sa.BigInteger, nullable=False),\n'
        '    sa.Column("label", sa.Text, nullable=True),\n',
    )
    plugins = [token_v2 if p is token else p for p in PLUGINS]
    with caplog.at_level(logging.WARNING, logger="dcmx.indexer"):
        second = make_indexer(simulated, db_url, plugins=plugins)
        assert second.run() == simulated.chain.head
    changed = [r for r in caplog.records if "plugin tables changed" in r.getMessage()]
    assert changed and changed[0].tables == ["token_balances"]
    columns = [c["name"] for c in sa.inspect(second.engine).get_columns("token_balances")
               if "computed" not in c]  # not SQLite's generated balance_num
    assert columns[-1] == "label"
    after = dump_tables(second.engine)
    assert [row[:-1] for row in after.pop("token_balances")] == before.pop("token_balances")
    assert after == before
    # the new definition is recorded: the next start changes nothing
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dcmx.indexer"):
        make_indexer(simulated, db_url, plugins=plugins).run()
    assert not [r for r in caplog.records if "plugin tables changed" in r.getMessage()]


def test_changed_raw_event_table_is_refused(simulated, db_url):
    make_indexer(simulated, db_url).run()
    token_v2 = _changed_copy(
        dcmx_token,
        "dcmx_token_v2",
        "        _sa.Column('value', _sqlt.ExactInt(), nullable=False),\n"
        "        _sa.Index('ix_dcmx_token__transfer__from_', ",
        "        _sa.Column('value', _sqlt.ExactInt(), nullable=False),\n"
        "        _sa.Column('memo', _sa.Text(), nullable=True),\n"
        "        _sa.Index('ix_dcmx_token__transfer__from_', ",
    )
    contracts = [
        Contract(c.name, token_v2, c.addresses) if c.name == "DCMXToken" else c
        for c in platform_contracts(simulated.sim.addresses)
    ]
    from dcmx_core import Indexer
    from dcmx_core.sources.devchain import DevchainSource

    indexer = Indexer(
        DevchainSource(simulated.chain),
        db_url,
        contracts,
        plugins=[nft, compliance, vault, royalty],  # token and platform consume the old classes
    )
    with pytest.raises(StoreError, match="dcmx_token__transfer") as info:
        indexer.run()
    assert "dcmx_token__approval" not in str(info.value)
    assert dcmx_plugins  # the package the copies were made in


def _addresses(engine: sa.Engine, collation: str | None) -> list[tuple[str, str]]:
    """(table, column) of the address columns (VARCHAR(64)) of the tracked tables with
    ``collation``."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND character_maximum_length = 64 "
            "AND collation_name IS NOT DISTINCT FROM %s AND table_name NOT LIKE '\\_dcmx%%' "
            "AND table_name <> 'dcmx_schema' "  # its sha256 column is no address
            "AND table_name IN (SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE') "
            "ORDER BY 1, 2",
            (collation,),
        ).all()


def _as_made_before_collation_c(indexer) -> int:  # Indexer
    """Turn a database this dcmx made into one an older dcmx made: address columns in the
    database's collation, definitions recorded without ``COLLATE "C"``."""
    from dcmx_core.store import schema_table
    from dcmx_core.store.schema import table_hash

    columns = _addresses(indexer.engine, "C")
    with indexer.engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW blockchain_events")
        conn.exec_driver_sql("DROP VIEW transaction_index")
        conn.exec_driver_sql("DROP VIEW wallet_history")  # newer than that dcmx
        for table, column in columns:
            conn.exec_driver_sql(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR(64) COLLATE "default"'
            )
        for t in indexer.store.tables:
            conn.execute(
                schema_table.update()
                .where(schema_table.c.table_name == t.name)
                .values(hash=table_hash(t, conn, ["collation"]))
            )
        conn.exec_driver_sql(
            "CREATE VIEW blockchain_events AS SELECT block_number FROM dcmx_token__transfer"
        )
    return len(columns)


def test_older_postgresql_database_gets_collation_c_without_reindexing(simulated, pg_url):
    head = simulated.chain.head
    first = make_indexer(simulated, pg_url)
    first.run(to_block=head // 2)
    altered = _as_made_before_collation_c(first)
    assert altered > 60 and _addresses(first.engine, "C") == []
    older = dump_tables(first.engine)
    first.engine.dispose()

    second = make_indexer(simulated, pg_url)
    second.setup()
    assert len(_addresses(second.engine, "C")) == altered
    assert _addresses(second.engine, None) == []
    assert dump_tables(second.engine) == older  # nothing reindexed, nothing lost
    with second.engine.connect() as conn:  # the events view made again, whole
        assert conn.exec_driver_sql("SELECT count(*) FROM blockchain_events").scalar() == sum(
            conn.exec_driver_sql(f'SELECT count(*) FROM "{cls.TABLE.name}"').scalar()
            for cls in second.store.schema.events
        )
    assert second.run() == head
    assert_matches_chain(second.engine, simulated)
    assert second.store.table_changes() == ([], [])  # the recorded definitions are current
    second.engine.dispose()


def test_collation_change_blocked_by_a_users_view_changes_nothing(simulated, pg_url):
    first = make_indexer(simulated, pg_url)
    first.run(to_block=simulated.chain.head // 2)
    _as_made_before_collation_c(first)
    with first.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE VIEW my_senders AS SELECT DISTINCT from_ FROM dcmx_token__transfer"
        )
    before = dump_tables(first.engine)
    first.engine.dispose()

    blocked = make_indexer(simulated, pg_url)
    blocked_by = "(?s)'from_' of table 'dcmx_token__transfer'.*my_senders.*drop the view"
    with pytest.raises(StoreError, match=blocked_by):
        blocked.run()
    blocked.engine.dispose()
    again = make_indexer(simulated, pg_url)
    assert dump_tables(again.engine) == before and _addresses(again.engine, "C") == []
    with again.engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW my_senders")
    assert again.run() == simulated.chain.head
    assert_matches_chain(again.engine, simulated)


def _as_made_before_views(indexer) -> dict[str, list[str]]:  # Indexer
    """Turn a database this dcmx made into one an older dcmx made: raw tables' indexes on the
    parameter alone (definitions recorded so), ``transaction_index`` a journaled table of its
    own holding a copy of every transfer. Returns {index: columns} of the raw indexes."""
    from dcmx_core.store import Store, schema_table
    from dcmx_core.store.schema import table_hash

    raw = [cls.TABLE for cls in indexer.store.schema.events]
    with indexer.engine.begin() as conn:
        assert not Store.backfilling(conn)
        conn.exec_driver_sql("CREATE TABLE ti_copy AS SELECT * FROM transaction_index")
        conn.exec_driver_sql("DROP VIEW transaction_index")
        conn.exec_driver_sql("ALTER TABLE ti_copy RENAME TO transaction_index")
        conn.exec_driver_sql("CREATE TABLE _dcmx_undo_transaction_index (block_number BIGINT)")
        conn.execute(schema_table.insert().values(
            table_name="transaction_index", owner="token", hash="0" * 64
        ))
        composite = {}
        for t in raw:
            for index in t.indexes:
                first = index.expressions[0].name
                if first == "tx_hash":  # made since (tests/core/test_tx_lookup.py)
                    continue
                composite[index.name] = [first, "block_number", "log_index"]
                conn.exec_driver_sql(f"DROP INDEX {index.name}")
                conn.exec_driver_sql(f"CREATE INDEX {index.name} ON {t.name} ({first})")
            conn.execute(
                schema_table.update()
                .where(schema_table.c.table_name == t.name)
                .values(hash=table_hash(t, conn, ["index"]))
            )
    return composite


def test_older_database_gets_composite_raw_indexes_and_the_view_without_reindexing(
    simulated, db_url
):
    head = simulated.chain.head
    first = make_indexer(simulated, db_url)
    first.run(to_block=head // 2)
    composite = _as_made_before_views(first)
    assert len(composite) > 60
    older = dump_tables(first.engine)
    copied = older.pop("transaction_index")
    assert copied
    first.engine.dispose()

    second = make_indexer(simulated, db_url)
    assert second.store.table_changes()[0]  # the raw tables' definitions differ...
    second.setup()  # ...and are brought up to date in place
    inspector = sa.inspect(second.engine)
    found = {
        ix["name"]: ix["column_names"]
        for name in inspector.get_table_names()
        for ix in inspector.get_indexes(name)
    }
    assert {name: found.get(name) for name in composite} == composite
    assert "transaction_index" in inspector.get_view_names()
    assert "_dcmx_undo_transaction_index" not in inspector.get_table_names()
    assert dump_tables(second.engine) == older  # nothing reindexed, nothing lost
    with second.engine.connect() as conn:
        view = sorted(
            (tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
             for r in conn.execute(sa.select(token.transaction_index))),
            key=repr,
        )
    assert view == copied  # the view made again over the same raw rows
    assert second.store.table_changes() == ([], [])
    assert second.run() == head
    assert_matches_chain(second.engine, simulated)
    second.engine.dispose()


def _older_text(value):
    """ExactInt as an older dcmx stored it on SQLite: "p" or "n" and 78 digits."""
    if value is None:
        return None
    n = int(value)
    return f"p{n:078d}" if n >= 0 else f"n{10**78 + n:078d}"


def _as_made_before_exact_numbers(indexer) -> list[str]:
    """Turn a SQLite database this dcmx made into one an older dcmx made: ExactInt columns
    declared VARCHAR(79) holding the sortable text, in the tables and their journals, no
    ``_num`` columns, definitions recorded so. Returns the tables changed."""
    from dcmx_core.sqltypes import ExactInt
    from dcmx_core.store import schema_table
    from dcmx_core.store.schema import table_hash

    schema = indexer.store.schema
    changed = [t for t in schema.tables if any(isinstance(c.type, ExactInt) for c in t.c)]
    with indexer.engine.begin() as conn:
        conn.connection.driver_connection.create_function("older_text", 1, _older_text)
        conn.exec_driver_sql("DROP VIEW blockchain_events")
        conn.exec_driver_sql("DROP VIEW transaction_index")
        conn.exec_driver_sql("DROP VIEW wallet_history")
        schema.journal.drop_triggers(conn, changed)
        for t in changed:
            for table in (t, schema.journal.shadow(t)):
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" RENAME TO old_copy')
                for (index,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = 'old_copy' AND sql IS NOT NULL"
                ).all():
                    conn.exec_driver_sql(f'DROP INDEX "{index}"')
                ddl = str(sa.schema.CreateTable(table).compile(dialect=conn.dialect))
                conn.exec_driver_sql(ddl.replace(" EXACTINT", " VARCHAR(79)"))
                names = ", ".join(f'"{c.name}"' for c in table.columns)
                values = ", ".join(
                    f'older_text("{c.name}")' if isinstance(c.type, ExactInt) else f'"{c.name}"'
                    for c in table.columns
                )
                conn.exec_driver_sql(
                    f'INSERT INTO "{table.name}" ({names}) SELECT {values} FROM old_copy'
                )
                conn.exec_driver_sql("DROP TABLE old_copy")
                for index in table.indexes:
                    conn.execute(sa.schema.CreateIndex(index))
            conn.execute(
                schema_table.update()
                .where(schema_table.c.table_name == t.name)
                .values(hash=table_hash(t, conn, ["exact"]))
            )
        schema.journal.create_triggers(conn)
    return [t.name for t in changed]


def test_older_sqlite_database_gets_numbers_for_amounts_in_place(simulated, sqlite_url):
    head = simulated.chain.head
    first = make_indexer(simulated, sqlite_url, confirmations=10)
    first.run()  # the last 10 blocks' writes are in the journals
    current = dump_tables(first.engine)
    changed = _as_made_before_exact_numbers(first)
    assert {"token_balances", "royalty_balances", "dcmx_token__transfer"} <= set(changed)
    with first.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sum(balance) FROM token_balances").scalar() == 0
        journaled = conn.exec_driver_sql(
            "SELECT count(*) FROM _dcmx_undo_token_balances WHERE balance LIKE 'p%'"
        ).scalar()
    assert journaled > 0
    first.engine.dispose()

    second = make_indexer(simulated, sqlite_url, confirmations=10)
    assert set(second.store.table_changes()[0]) == set(changed)
    second.setup()  # brought up to date in place, nothing reindexed
    assert dump_tables(second.engine) == current
    assert second.store.table_changes() == ([], [])
    with second.engine.connect() as conn:
        exact = conn.execute(sa.select(sa.func.sum(token.token_balances.c.balance))).scalar()
        supply = conn.execute(sa.select(token.token_supply.c.total_supply)).scalar()
    assert exact == supply > 0
    plain = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        total, real = plain.execute(
            "SELECT total(balance), sum(balance_num) FROM token_balances"
        ).fetchone()
        assert math.isclose(total, supply, rel_tol=1e-12)
        assert math.isclose(real, supply, rel_tol=1e-12)
        kinds = plain.execute(
            "SELECT DISTINCT typeof(balance) FROM _dcmx_undo_token_balances "
            "WHERE balance IS NOT NULL"
        ).fetchall()
        assert set(kinds) <= {("integer",), ("blob",)}
    finally:
        plain.close()
    # the journals undo what they recorded before the upgrade, exactly
    assert rollback_database(second.engine, head - 10)[1] > 0
    second.engine.dispose()
    third = make_indexer(simulated, sqlite_url, confirmations=10)
    assert third.run() == head
    assert dump_tables(third.engine) == current
    assert_matches_chain(third.engine, simulated)
    third.engine.dispose()
