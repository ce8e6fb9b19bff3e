"""A plugin that raises: the batch rolls back, the error names plugin, event and block, the
cursor stays, and once the plugin is fixed a restart resumes exactly where it stopped."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core import Contract, Indexer, PluginError, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token
from dcmx_plugins import token

from .snapshot import dump_tables

TOKEN = bytes.fromhex("11" * 20)
A, B = b"\x01" * 20, b"\x02" * 20

seen = sa.Table("picky_seen", sa.MetaData(),
                sa.Column("block_number", sa.BigInteger, primary_key=True),
                sa.Column("log_index", sa.Integer, primary_key=True))


class Picky:
    """Fails on a Transfer of exactly 666 while ``broken``; writes before failing."""

    def __init__(self):
        self.broken = True

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("picky", consumes=[dcmx_token.Transfer], tables=[seen])

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        for d in batch.of(dcmx_token.Transfer):
            conn.execute(seen.insert().values(block_number=d.log.block_number,
                                              log_index=d.log.log_index))
            if self.broken and d.event.value == 666:
                raise ValueError("cannot handle 666")


def _chain() -> MemoryChain:
    chain = MemoryChain(finality_depth=5)
    for n in range(1, 41):
        chain.append_block([transfer_log(TOKEN, A, B, 666 if n == 23 else n),
                            transfer_log(TOKEN, B, A, n)])
    return chain


def _indexer(chain, url, picky):
    return Indexer(chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                   plugins=[token, picky], window=5, tuning=Tuning(batch_blocks=100))


def test_failing_plugin_is_named_and_a_fixed_restart_resumes(db_url, tmp_path):
    chain = _chain()
    picky = Picky()
    indexer = _indexer(chain, db_url, picky)
    with pytest.raises(PluginError) as caught:
        indexer.run()
    tx = chain.block_logs(23)[0].tx_hash.hex()
    message = str(caught.value)
    assert f"plugin 'picky' failed on Transfer of tx 0x{tx} (log 0) in block 23" in message
    assert "cannot handle 666" in message and "cursor kept" in message
    assert indexer.cursor() is None  # the first batch (blocks 0..35) never committed
    with indexer.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(seen)).scalar() == 0

    picky.broken = False
    assert _indexer(chain, db_url, picky).run() == 40
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}", Picky())
    clean.plugins.plugins[-1].handle.plugin.broken = False
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)
