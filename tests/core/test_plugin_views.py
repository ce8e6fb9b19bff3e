"""A plugin's views (``Declaration.views``): made after the tables, made again when their
definition changes, following the rows they read through forks; misdeclared ones refused."""

from __future__ import annotations

import types

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core import ConfigError, Contract, Indexer, PluginError, StoreError
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("33" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]
T = dcmx_token.Transfer.TABLE.c


def _plugin(*, tables=(), views=(), name: str = "viewer") -> types.SimpleNamespace:
    @dcmx_core.hookimpl
    def dcmx_declare() -> dcmx_core.Declaration:
        return dcmx_core.Declaration(
            name=name, consumes=[dcmx_token.Transfer], tables=list(tables), views=list(views)
        )

    return types.SimpleNamespace(dcmx_declare=dcmx_declare)


def _receivers(*extra: sa.ColumnElement) -> sa.Table:
    return dcmx_core.view(
        "receivers", sa.select(T.block_number, T.log_index, T.to_.label("receiver"), *extra)
    )


def _indexer(chain: MemoryChain, url: str, plugin: object) -> Indexer:
    return Indexer(
        chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))], plugins=[plugin], window=5
    )


def _chain(blocks: int) -> MemoryChain:
    chain = MemoryChain(finality_depth=5)
    for n in range(blocks):
        chain.append_block([transfer_log(TOKEN, WALLETS[n % 5], WALLETS[(n + 1) % 5], n + 1)])
    return chain


def _rows(indexer: Indexer, table: sa.Table) -> list[tuple]:
    with indexer.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(*table.c[:2]))]


def test_a_view_follows_its_rows_through_a_fork_and_is_made_again_when_changed(db_url):
    chain = _chain(30)
    view = _receivers()
    first = _indexer(chain, db_url, _plugin(views=[view]))
    first.run()
    raw = dcmx_token.Transfer.TABLE
    with first.engine.connect() as conn:
        expected = [tuple(r) for r in conn.execute(
            sa.select(raw.c.block_number, raw.c.log_index, raw.c.to_).order_by(raw.c.block_number)
        )]
    assert _rows(first, view) == expected and len(expected) == 30

    chain.fork(3, logs=[[], [], []])  # the last three transfers are gone
    first.run()
    assert _rows(first, view) == expected[:-3]
    first.engine.dispose()

    wider = _receivers(T.value.label("amount"))  # a new definition: made again at start
    second = _indexer(chain, db_url, _plugin(views=[wider]))
    second.run()
    rows = _rows(second, wider)
    assert [r[:3] for r in rows] == expected[:-3] and [r[3] for r in rows] == list(range(1, 28))
    second.engine.dispose()


def test_misdeclared_views_are_refused_with_what_to_do(sqlite_url):
    chain = _chain(3)
    plain = sa.Table("plain", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    with pytest.raises(PluginError, match="plain declared in the wrong list"):
        _indexer(chain, sqlite_url, _plugin(views=[plain]))
    with pytest.raises(PluginError, match="receivers declared in the wrong list"):
        _indexer(chain, sqlite_url, _plugin(tables=[_receivers()]))
    clash = dcmx_core.view("blockchain_events", sa.select(T.block_number))
    with pytest.raises(ConfigError, match="blockchain_events"):
        _indexer(chain, sqlite_url, _plugin(views=[clash]))
    with pytest.raises(ValueError, match="two columns named"):
        dcmx_core.view("twice", sa.select(T.to_, T.from_.label("to_")))

    # a view of a table that is not there: refused by the database, named, nothing made
    missing = sa.Table("not_there", sa.MetaData(), sa.Column("id", sa.Integer))
    broken = dcmx_core.view("broken", sa.select(missing.c.id))
    indexer = _indexer(chain, sqlite_url, _plugin(views=[broken]))
    with pytest.raises(StoreError, match="plugin 'viewer' declares view 'broken'"):
        indexer.run()
    inspector = sa.inspect(indexer.engine)
    assert "dcmx_token__transfer" not in inspector.get_table_names()
    assert inspector.get_view_names() == []
