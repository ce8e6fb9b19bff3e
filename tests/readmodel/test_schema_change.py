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

from .conftest import PLUGINS, make_indexer


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
        "        _sa.Index('ix_dcmx_token__transfer__from_', 'from_'),\n",
        "        _sa.Column('value', _sqlt.ExactInt(), nullable=False),\n"
        "        _sa.Column('memo', _sa.Text(), nullable=True),\n"
        "        _sa.Index('ix_dcmx_token__transfer__from_', 'from_'),\n",
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
