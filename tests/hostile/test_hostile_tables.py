"""A plugin's table and column names are data, never SQL: the undo journal's triggers with
hostile names (quotes, semicolons, ``$$``, unicode, 63+ bytes) on SQLite and PostgreSQL.

The plugin keeps a balance per wallet in a table named ``x"; DROP TABLE dcmx_cursor; --``
(inserts, updates, deletes), and a log in a second table whose name shares its first 60
characters with a third one. The chain forks inside the window; afterwards every table equals
a fresh index of the new chain, and the framework's tables are all still there.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from core.snapshot import dump_tables

import dcmx_core
from dcmx_core import Contract, Indexer, StoreError, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("22" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 5)]

EVIL_TABLE = 'x"; DROP TABLE dcmx_cursor; --'
# 59 bytes each, sharing their first 55: the undo journal's trigger names used to be cut to
# the same one (the second table then went unjournaled on SQLite; on PostgreSQL both tables'
# triggers ran the second one's function).
LONG = "événement_" + "u" * 43
COLUMNS = {
    "wallet": 'w"); DROP TABLE dcmx_cursor; --',
    "amount": "a$$; DROP TABLE dcmx_cursor; --",  # would close a $$-quoted function body
    "note": "n'; DELETE FROM dcmx_blocks; --",
    "long": "c" * 41 + "ß" * 11,  # 63 bytes, 52 characters
}


def _tables(meta: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    balances = sa.Table(
        EVIL_TABLE,
        meta,
        sa.Column(COLUMNS["wallet"], sa.String(64), primary_key=True),
        sa.Column(COLUMNS["amount"], sa.BigInteger, nullable=False),
        sa.Column(COLUMNS["note"], sa.Text),
        sa.Column(COLUMNS["long"], sa.Integer),
    )
    logs = [
        sa.Table(
            LONG + suffix,
            meta,
            sa.Column("block_number", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("log_index", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("value;--", sa.Numeric(78, 0)),
        )
        for suffix in ("_in", "_ex")
    ]
    return balances, logs[0], logs[1]


class Hostile:
    def __init__(self) -> None:
        self.balances, self.incoming, self.outgoing = _tables(sa.MetaData())

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration(
            "hostile", consumes=[dcmx_token.Transfer],
            tables=[self.balances, self.incoming, self.outgoing],
        )

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        b = self.balances
        wallet, amount, note, long = (b.c[COLUMNS[k]] for k in ("wallet", "amount", "note", "long"))
        for d in batch.of(dcmx_token.Transfer):
            e = d.event
            for t, sign in ((self.incoming, 1), (self.outgoing, -1)):
                conn.execute(t.insert().values(
                    {"block_number": d.log.block_number, "log_index": d.log.log_index,
                     "value;--": sign * e.value}))
            for who, delta in ((e.to_, e.value), (e.from_, -e.value)):
                done = conn.execute(
                    b.update().where(wallet == who)
                    .values({amount: amount + delta, note: f"'{d.log.block_number}\"$$",
                             long: d.log.log_index})
                ).rowcount
                if not done:
                    conn.execute(b.insert().values(
                        {wallet: who, amount: delta, note: None, long: 0}))
            if e.value % 5 == 0:  # deletes, too
                conn.execute(b.delete().where(wallet == e.to_))


def _chain() -> MemoryChain:
    chain = MemoryChain(finality_depth=6)
    for n in range(30):
        a, b = WALLETS[n % 4], WALLETS[(n + 1) % 4]
        chain.append_block([transfer_log(TOKEN, a, b, n + 1), transfer_log(TOKEN, b, a, 2)])
    return chain


def _indexer(chain, url) -> Indexer:
    return Indexer(chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                   plugins=[Hostile()], window=6, tuning=Tuning(batch_blocks=8))


def test_hostile_table_and_column_names_are_journaled_and_rolled_back(db_url, tmp_path):
    chain = _chain()
    live = _indexer(chain, db_url)
    live.run()
    before = dump_tables(live.engine)
    assert len(before[EVIL_TABLE]) >= 3
    chain.fork(4, logs=[[transfer_log(TOKEN, WALLETS[0], WALLETS[3], 1000 + k)] for k in range(4)])
    chain.extend(2)
    forks = []
    live.subscribe(on_fork=forks.append)
    live.run()
    assert forks and forks[0].undone_writes > 0
    fresh = _indexer(chain, f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh.run()
    after = dump_tables(live.engine)
    assert after == dump_tables(fresh.engine)
    assert after != before
    inspector = sa.inspect(live.engine)
    assert {"dcmx_cursor", "dcmx_blocks", EVIL_TABLE} <= set(inspector.get_table_names())
    assert "blockchain_events" in inspector.get_view_names()
    # Both long tables kept journals of their own: neither was rolled back through the other's.
    assert len(after[live.plugins.plugins[0].declaration.tables[1].name]) == len(
        after[live.plugins.plugins[0].declaration.tables[2].name]
    )


@pytest.mark.parametrize(
    "table, column, problem",
    [
        ("t" * 64, "v", "64 bytes long"),
        ("ü" * 32, "v", "64 bytes long"),
        ("ok", "é" * 40, "80 bytes long"),
        ("ok", "_dcmx_seq", "undo journal uses"),
        ("ok", "nul\x00", "NUL"),
    ],
)
def test_names_no_database_keeps_apart_are_refused_clearly(sqlite_url, table, column, problem):
    bad = sa.Table(table, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column(column, sa.Integer))

    class Plugin:
        @dcmx_core.hookimpl
        def dcmx_declare(self):
            return dcmx_core.Declaration("bad", consumes=[dcmx_token.Transfer], tables=[bad])

    with pytest.raises(StoreError, match=problem):
        Indexer(_chain(), sqlite_url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                plugins=[Plugin()])
