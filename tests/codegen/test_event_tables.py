"""Raw event tables: one definition of the chain columns, and DDL that never changes.

Databases record a hash of every raw table's DDL and refuse a table whose DDL changed, so the
tables the runtime builds (``dcmx_core.abi_runtime.event_table``) must compile to exactly the
DDL the modules' own column lists compiled to before (recorded in ``data/ddl_before.json``).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from ddl_cases import FIXTURE, all_ddl

from dcmx_core.abi_runtime import CHAIN_COLUMN_FACTORIES, event_table, tx_index_name
from dcmx_core.chain import CHAIN_COLUMNS
from dcmx_core.store.schema import OLDER_FORMS
from dcmx_generated import CONTRACTS


def test_the_mapping_covers_exactly_the_chain_columns():
    assert sorted(CHAIN_COLUMN_FACTORIES) == sorted(CHAIN_COLUMNS)
    table = event_table(sa.MetaData(), "t", sa.Column("x", sa.Integer()))
    assert [c.name for c in table.columns] == [*CHAIN_COLUMNS, "x"]
    assert [c.name for c in table.primary_key.columns] == ["block_number", "log_index"]


def test_every_generated_table_starts_with_the_chain_columns():
    tables = [ev.TABLE for mod in CONTRACTS.values() for ev in mod.EVENTS]
    assert len(tables) == 31
    for table in tables:
        names = [c.name for c in table.columns]
        assert names[: len(CHAIN_COLUMNS)] == list(CHAIN_COLUMNS), table.name


def test_the_ddl_of_every_table_is_what_it_was():
    before = json.loads(FIXTURE.read_text())
    now = all_ddl()
    # the five contracts and 13 reference ABIs, both dialects
    assert len(before) == 192
    assert sorted(now) == sorted(before)
    # Since recorded, two changes made on purpose, which existing databases are upgraded past
    # in place (Schema.upgrade_older): the index on tx_hash, and amounts on SQLite as numbers
    # (EXACTINT) instead of sortable text. Everything else is as it was.
    def older(ddl: str) -> str:
        return OLDER_FORMS["exact"](OLDER_FORMS["tx_index"](ddl))

    changed = [key for key in before if older(now[key]) != before[key]]
    assert changed == []
    without = [key for key in now if f"{tx_index_name(key.split('|')[1])} ON " not in now[key]]
    assert without == []
