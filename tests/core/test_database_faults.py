"""The database fails mid-batch: the batch is retried or the run stops cleanly, never
half-written."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

import dcmx_core
from dcmx_core import Contract, Indexer, StoreError, Tuning
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token
from dcmx_plugins import token

from .snapshot import dump_tables

TOKEN = bytes.fromhex("11" * 20)


def _chain() -> MemoryChain:
    chain = MemoryChain(finality_depth=4)
    for n in range(1, 31):
        chain.append_block([transfer_log(TOKEN, bytes([n % 7 + 1]) * 20, b"\x09" * 20, n)])
    return chain


def _indexer(chain, url, *plugins):
    return Indexer(chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                   plugins=[token, *plugins], window=4,
                   tuning=Tuning(batch_blocks=5, max_batch_blocks=5))


class Terminator:
    """Kills its own PostgreSQL backend in the middle of the n-th batch it sees."""

    def __init__(self, at_batch: int):
        self.at_batch, self.batches = at_batch, 0

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("terminator")

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        self.batches += 1
        if self.batches == self.at_batch:
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))


@pytest.mark.postgres
@pytest.mark.parametrize("at_batch", [1, 3, 9])
def test_postgres_backend_terminated_mid_batch_is_retried(pg_url, tmp_path, at_batch):
    chain = _chain()
    indexer = _indexer(chain, pg_url, Terminator(at_batch))
    assert indexer.run() == 30
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}")
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)


def test_sqlite_locked_by_another_writer_stops_cleanly(tmp_path):
    path = tmp_path / "locked.db"
    chain = _chain()
    indexer = _indexer(chain, f"sqlite:///{path}?timeout=0.2")
    indexer.run(to_block=10)
    before = dump_tables(indexer.engine)

    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with pytest.raises(StoreError, match="database is locked"):
            indexer.run()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert dump_tables(indexer.engine) == before
    assert indexer.run() == 30  # once the other writer is gone, the run resumes


@pytest.mark.postgres
def test_postgres_backend_terminated_mid_copy_is_retried(pg_url, tmp_path):
    """The core's own bulk write (COPY, outside any plugin) loses its connection part-way."""
    chain = MemoryChain(finality_depth=4)
    for n in range(1, 31):
        chain.append_block(
            [transfer_log(TOKEN, bytes([k + 1]) * 20, b"\x09" * 20, n * 100 + k)
             for k in range(12)]
        )
    indexer = _indexer(chain, pg_url)
    indexer.setup()
    with indexer.engine.begin() as conn:
        # The 75th row COPYed into the transfers kills its own backend (once: a sequence
        # does not roll back with the batch).
        conn.exec_driver_sql("CREATE SEQUENCE copied")
        conn.exec_driver_sql(
            "CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF nextval('copied') = 75 THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
            "END IF; RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER kill_once BEFORE INSERT ON dcmx_token__transfer "
            "FOR EACH ROW EXECUTE FUNCTION kill_once()"
        )
    assert indexer.run() == 30
    with indexer.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT last_value FROM copied").scalar() > 75
    clean = _indexer(chain, f"sqlite:///{tmp_path / 'clean.db'}")
    clean.run()
    assert dump_tables(indexer.engine) == dump_tables(clean.engine)
