"""A changed plugin table is rebuilt from the raw event tables; a changed raw table stops
indexing."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest
import sqlalchemy as sa
from core.snapshot import dump_tables

import dcmx_plugins
from dcmx_core import Contract, StoreError
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
        exec(compile(source.replace(old, new), copy.__file__, "exec"), copy.__dict__)  # noqa: S102
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
    columns = [c["name"] for c in sa.inspect(second.engine).get_columns("token_balances")]
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


def _as_made_before_collation_c(indexer) -> int:  # noqa: ANN001 - Indexer
    """Turn a database this dcmx made into one an older dcmx made: address columns in the
    database's collation, definitions recorded without ``COLLATE "C"``."""
    from dcmx_core.store import schema_table
    from dcmx_core.store.schema import table_hash

    columns = _addresses(indexer.engine, "C")
    with indexer.engine.begin() as conn:
        conn.exec_driver_sql("DROP VIEW blockchain_events")
        conn.exec_driver_sql("DROP VIEW transaction_index")
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


def _as_made_before_views(indexer) -> dict[str, list[str]]:  # noqa: ANN001 - Indexer
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
