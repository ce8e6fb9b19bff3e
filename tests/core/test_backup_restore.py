"""Backups taken while an index grows, restored and run to the head, equal an uninterrupted
index row for row, also when the chain forked below the snapshot's cursor since; and
``dcmx backup`` / ``dcmx restore`` refuse to overwrite or lose anything. SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dcmx_core import Contract, Indexer, Tuning
from dcmx_core.backup import backup, describe, restore
from dcmx_core.cli import cli
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store.lock import writer_lock
from dcmx_generated import dcmx_token
from dcmx_plugins import token as token_plugin

from .snapshot import dump_tables

WINDOW = 6
TOKEN = bytes.fromhex("11" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def make_indexer(chain, url: str) -> Indexer:
    return Indexer(
        chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))], plugins=[token_plugin],
        window=WINDOW, poll_interval=0, tuning=Tuning(batch_blocks=3),
    )


def transfers(seed: int) -> list:
    return [
        transfer_log(TOKEN, WALLETS[(seed + i) % 5], WALLETS[(seed * 3 + i + 1) % 5],
                     1000 + seed * 7 + i)
        for i in range(1 + seed % 3)
    ]


def grow(chain: MemoryChain, n: int) -> None:
    for _ in range(n):
        chain.extend(1, transfers(chain.head()))


def index_of(chain: MemoryChain, url: str) -> dict:
    indexer = make_indexer(chain, url)
    try:
        indexer.run()
        return dump_tables(indexer.engine)
    finally:
        indexer.engine.dispose()


@pytest.fixture
def restore_url(db_url: str, tmp_path: Path, pg_admin_url: str):
    """Where a backup of ``db_url`` is restored: a new SQLite file, or a new PostgreSQL
    database reached through the same schema name (a pg_dump archive keeps its schema)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = "r_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = db_url.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def forks_of(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM dcmx_forks")).scalar_one()
    finally:
        engine.dispose()


def ledger(engine: sa.Engine) -> tuple[list, list]:
    with engine.connect() as conn:
        cursor = conn.execute(sa.text("SELECT block_number, block_hash FROM dcmx_cursor")).all()
        blocks = conn.execute(sa.text("SELECT * FROM dcmx_blocks ORDER BY 1")).all()
    return ([tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cursor],
            [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in blocks])


def test_restore_after_a_fork_below_the_snapshot_rolls_back_and_equals_a_fresh_index(
    db_url: str, restore_url: str, tmp_path: Path
):
    chain = MemoryChain(finality_depth=WINDOW, salt=os.urandom(8))
    grow(chain, 14)
    live = make_indexer(chain, db_url)
    assert live.run(to_block=11) == 11
    snapshot = backup(db_url, tmp_path / "snap.bak")
    assert snapshot.cursor == 11 and describe(snapshot.path).cursor == 11

    # The chain replaces blocks 10..14 by other ones (different transfers) and grows.
    chain.fork(5, length=7, logs=[transfers(100 + i) for i in range(7)])
    grow(chain, 3)
    live.run()
    uninterrupted = dump_tables(live.engine)
    live_ledger = ledger(live.engine)
    live.engine.dispose()

    restored = restore(snapshot.path, restore_url)
    assert restored.cursor == 11
    resumed = make_indexer(chain, restore_url)
    assert resumed.cursor() == 11
    assert resumed.run() == chain.head()
    ours = dump_tables(resumed.engine)
    assert ledger(resumed.engine) == live_ledger  # the cursor and the fork window's hashes
    resumed.engine.dispose()

    fresh = index_of(chain, f"sqlite:///{tmp_path / 'fresh.db'}")
    assert forks_of(restore_url) == 1  # the reorg check rolled the snapshot's branch back
    assert ours == uninterrupted == fresh
    assert sum(len(rows) for rows in ours.values()) > 30


def test_backup_while_the_indexer_runs_is_consistent(
    db_url: str, restore_url: str, tmp_path: Path
):
    chain = MemoryChain(finality_depth=WINDOW, salt=os.urandom(8))
    grow(chain, 240)
    live = make_indexer(chain, db_url)
    live.run(to_block=2)
    started = threading.Event()
    failure: list[BaseException] = []

    def index() -> None:
        try:
            started.set()
            live.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)

    worker = threading.Thread(target=index)
    worker.start()
    started.wait()
    snapshots = []
    while worker.is_alive() and len(snapshots) < 3:
        snapshots.append(backup(db_url, tmp_path / f"snap{len(snapshots)}.bak"))
    worker.join()
    assert not failure, failure
    uninterrupted = dump_tables(live.engine)
    live_ledger = ledger(live.engine)
    live.engine.dispose()
    # At least one snapshot was taken in the middle, while the indexer wrote.
    middle = [s for s in snapshots if s.cursor is not None and s.cursor < chain.head()]
    assert middle, [s.cursor for s in snapshots]

    restore(middle[-1].path, restore_url)
    resumed = make_indexer(chain, restore_url)
    assert resumed.cursor() == middle[-1].cursor
    resumed.run()
    assert dump_tables(resumed.engine) == uninterrupted
    assert ledger(resumed.engine) == live_ledger
    resumed.engine.dispose()


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[str, MemoryChain]:
    chain = MemoryChain(finality_depth=WINDOW, salt=os.urandom(8))
    grow(chain, 8)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    make_indexer(chain, url).run()
    return url, chain


def dcmx(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_backup_and_restore_round_trip(indexed, tmp_path: Path):
    url, chain = indexed
    out = dcmx("backup", "--db", url, "--to", str(tmp_path / "b.db"))
    assert out.exit_code == 0, out.output
    assert f"at block {chain.head()}" in out.output and "dcmx restore --from" in out.output
    assert not list(tmp_path.glob(".*partial*"))
    target = f"sqlite:///{tmp_path / 'back.db'}"
    out = dcmx("restore", "--from", str(tmp_path / "b.db"), "--db", target)
    assert out.exit_code == 0, out.output
    assert f"resumes at block {chain.head() + 1}" in out.output
    assert dump_tables(sa.create_engine(target)) == dump_tables(sa.create_engine(url))


def test_cli_refuses_to_overwrite_or_lose_anything(indexed, tmp_path: Path):
    url, _ = indexed
    taken = tmp_path / "taken"
    taken.write_text("the user's notes")
    out = dcmx("backup", "--db", url, "--to", str(taken))
    assert out.exit_code == 2 and "already exists" in out.output
    assert taken.read_text() == "the user's notes"

    # Not a backup: refused, whatever the target.
    out = dcmx("restore", "--from", str(taken), "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert out.exit_code == 2 and "is not a dcmx backup" in out.output
    assert not (tmp_path / "x.db").exists()

    dcmx("backup", "--db", url, "--to", str(tmp_path / "b.db"))
    # A target holding something: refused without --replace, kept aside with it.
    out = dcmx("restore", "--from", str(tmp_path / "b.db"), "--db", f"sqlite:///{taken}")
    assert out.exit_code == 2 and "not a dcmx index" in out.output and "--replace" in out.output
    assert taken.read_text() == "the user's notes"
    out = dcmx("restore", "--from", str(tmp_path / "b.db"), "--db", url)
    assert out.exit_code == 2 and "already holds a dcmx index at block" in out.output

    out = dcmx("restore", "--from", str(tmp_path / "b.db"), "--db", f"sqlite:///{taken}",
               "--replace")
    assert out.exit_code == 0, out.output
    kept = list(tmp_path.glob("taken.before-restore-*"))
    assert len(kept) == 1 and kept[0].read_text() == "the user's notes"
    assert describe(taken).cursor is not None

    # Beside a running indexer (its writer lock held) the file is not touched.
    with writer_lock(sa.create_engine(url)):
        out = dcmx("restore", "--from", str(tmp_path / "b.db"), "--db", url, "--replace")
    assert out.exit_code == 6 and "another dcmx indexer" in out.output
    assert not list(tmp_path.glob("live.db.before-restore-*"))

    # A PostgreSQL archive does not go into SQLite, nor a SQLite file into PostgreSQL.
    out = dcmx("restore", "--from", str(tmp_path / "b.db"), "--db", "postgresql://u@h/d")
    assert out.exit_code == 2 and "cannot go into a postgresql database" in out.output


def test_pg_backup_refuses_a_schema_without_an_index(pg_url: str, tmp_path: Path):
    out = dcmx("backup", "--db", pg_url, "--to", str(tmp_path / "b.dump"))
    assert out.exit_code == 6 and "holds no dcmx index" in out.output
    assert not (tmp_path / "b.dump").exists()


def test_pg_restore_refuses_a_non_empty_schema(pg_url: str, tmp_path: Path):
    chain = MemoryChain(finality_depth=WINDOW, salt=os.urandom(8))
    grow(chain, 6)
    make_indexer(chain, pg_url).run()
    dump = tmp_path / "b.dump"
    assert dcmx("backup", "--db", pg_url, "--to", str(dump)).exit_code == 0
    before = dump_tables(sa.create_engine(pg_url))
    out = dcmx("restore", "--from", str(dump), "--db", pg_url)
    assert out.exit_code == 2 and "already holds a dcmx index" in out.output
    grow(chain, 4)
    make_indexer(chain, pg_url).run()
    out = dcmx("restore", "--from", str(dump), "--db", pg_url, "--replace")
    assert out.exit_code == 0, out.output
    assert dump_tables(sa.create_engine(pg_url)) == before
