"""`dcmx demo --db FILE` deletes and recreates only a file an earlier demo made (its
``dcmx_demo`` marker): a text file, a user's own SQLite database, a dcmx index made by
`dcmx run`, or a stray write-ahead log are refused with exit 2 and left byte for byte."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.store import create_engine
from dcmx_plugins.demo import MARKER, is_demo_database, prepare


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in (result.stderr or ""), result.stderr
    return result


@pytest.fixture(autouse=True)
def _no_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("DCMX_SOURCE", "DCMX_NETWORK", "DCMX_CONFIG", "DCMX_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)


def _user_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'Ada')")
    conn.close()


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _refused(path: Path) -> None:
    before = _files(path.parent)
    r = invoke("demo", "--rounds", "2", "--db", str(path))
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert "\n" not in line
    assert f"{path} exists and is not a database dcmx demo made" in line
    assert "choose another --db path, or delete it yourself" in line
    assert _files(path.parent) == before  # nothing deleted, changed or added


def test_a_text_file_is_refused_and_kept(tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("my notes, not a database\n")
    _refused(notes)


def test_a_users_sqlite_database_is_refused_and_kept(tmp_path):
    db = tmp_path / "shop.db"
    _user_database(db)
    _refused(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM customers").fetchall() == [("Ada",)]
    conn.close()


def test_a_dcmx_index_made_by_run_is_refused(tmp_path, chain_file, token_config):
    path, _ = chain_file
    db = tmp_path / "index.db"
    r = invoke("--config", str(token_config), "run", "--source", f"file:{path}", "--db",
               f"sqlite:///{db}", "--plugins", "", "--to-block", "20")
    assert r.exit_code == 0, r.stderr
    assert not is_demo_database(db)
    _refused(db)


def test_a_stray_write_ahead_log_is_refused(tmp_path):
    db = tmp_path / "gone.db"
    wal = Path(f"{db}-wal")
    wal.write_bytes(b"someone else's log")
    r = invoke("demo", "--rounds", "2", "--db", str(db))
    assert r.exit_code == 2 and "gone.db-wal exists and is not a database" in r.stderr
    assert wal.read_bytes() == b"someone else's log" and not db.exists()


def test_an_empty_file_is_refused(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    _refused(empty)


@pytest.mark.slow
def test_the_demo_recreates_its_own_database(tmp_path):
    db = tmp_path / "demo.db"
    assert invoke("demo", "--rounds", "2", "--db", str(db)).exit_code == 0
    assert is_demo_database(db)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # a mark of the first run, gone after the second
        conn.exec_driver_sql("CREATE TABLE left_by_first_run (x INTEGER)")
    engine.dispose()
    r = invoke("demo", "--rounds", "2", "--db", str(db))
    assert r.exit_code == 0, r.stderr
    engine = create_engine(f"sqlite:///{db}")
    assert not sa.inspect(engine).has_table("left_by_first_run")
    assert sa.inspect(engine).has_table(MARKER)
    engine.dispose()


def test_postgresql_holding_an_index_is_refused(pg_url):
    prepare(pg_url)  # an empty schema: the marker, nothing else
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE dcmx_cursor (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    r = invoke("demo", "--rounds", "2", "--db", pg_url)
    assert r.exit_code == 2 and "already holds a dcmx index" in r.stderr
    assert sa.inspect(engine).has_table("orders")
    engine.dispose()
