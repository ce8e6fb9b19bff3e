"""Connection pool settings: declared once, applied to the indexer's and the service's
engines (a connection past pool_size + max_overflow waits pool_timeout, then fails), checked
with a clear error (exit 2)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.errors import ConfigError
from dcmx_core.service.db import ReadDB
from dcmx_core.service.errors import ApiError
from dcmx_core.settings import load
from dcmx_core.store import create_engine
from dcmx_core.store.engine import POOLS


def hold(engine: sa.Engine, n: int) -> list[sa.Connection]:
    return [engine.connect() for _ in range(n)]


def test_the_pool_has_the_configured_sizes(db_url: str, tmp_path):
    toml = tmp_path / "dcmx.toml"
    toml.write_text("pool_size = 2\nmax_overflow = 1\n")
    settings = load(str(toml), {"pool_timeout": 0.2}, env={"DCMX_POOL_RECYCLE": "60"})
    pool = settings.pool("run")
    assert (pool.size, pool.max_overflow, pool.timeout, pool.recycle) == (2, 1, 0.2, 60)
    engine = create_engine(db_url, pool)
    try:
        held = hold(engine, 3)  # pool_size + max_overflow
        with pytest.raises(sa.exc.TimeoutError):
            engine.connect()
        held.pop().close()
        held.append(engine.connect())  # a returned connection serves the next caller
        for conn in held:
            conn.close()
        assert engine.pool.size() == 2
    finally:
        engine.dispose()


def test_each_command_has_its_own_defaults_and_the_service_applies_them(sqlite_url, tmp_path):
    settings = load(env={})
    assert settings.pool("run") == POOLS["run"] and settings.pool("serve") == POOLS["serve"]
    assert settings.pool("serve").size > settings.pool("run").size
    sa.create_engine(sqlite_url).connect().close()  # the file the indexer would have made
    db = ReadDB(sqlite_url, load(env={"DCMX_POOL_SIZE": "1", "DCMX_MAX_OVERFLOW": "0",
                                      "DCMX_POOL_TIMEOUT": "0.2"}).pool("serve"))
    try:
        with db.engine.connect():
            with pytest.raises(ApiError) as busy:  # the service's 503, not a hang
                db.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())
        assert busy.value.status == 503
        assert db.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar()) == 1
    finally:
        db.dispose()


@pytest.mark.parametrize("where, value, message", [
    ("--pool-size", "0", "pool_size must be >= 1, got 0"),
    ("--max-overflow", "-1", "max_overflow must be >= 0, got -1"),
    ("--pool-timeout", "0", "pool_timeout must be > 0 seconds"),
    ("--pool-recycle", "0", "pool_recycle must be -1 (never) or >= 1 seconds, got 0"),
    ("DCMX_POOL_SIZE", "many", "environment DCMX_POOL_SIZE: pool_size must be an integer"),
])
def test_bad_values_are_a_config_error(where, value, message, sqlite_url, monkeypatch):
    monkeypatch.delenv("DCMX_DATABASE_URL", raising=False)
    args = ["run", "--db", sqlite_url, "--source", "file:/nonexistent"]
    if where.startswith("--"):
        args += [where, value]
    else:
        monkeypatch.setenv(where, value)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == ConfigError.exit_code, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_the_indexer_runs_on_a_single_pooled_connection(chain_file, token_config, sqlite_url,
                                                        monkeypatch):
    path, transfers = chain_file
    monkeypatch.delenv("DCMX_DATABASE_URL", raising=False)
    r = CliRunner().invoke(cli, [
        "--config", str(token_config), "run", "--source", f"file:{path}", "--db", sqlite_url,
        "--plugins", "token", "--pool-size", "1", "--max-overflow", "0", "--pool-timeout", "5",
    ])
    assert r.exit_code == 0, r.output
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM transaction_index")).scalar_one()
    engine.dispose()
    assert n == transfers
