"""Documented exit statuses hold for every failure class, and errors name the right culprit.

Reported: a file that is not a SQLite database (or a damaged one) ended in "internal error"
(status 1); an error caused by the database or another session was blamed on a plugin ("fix
the plugin", status 5); the deep-fork error advised `dcmx rollback --to-block N` below the
window, which rollback refuses; a plugin package that failed to import stopped every run.
"""

from __future__ import annotations

import hashlib
import shutil
import textwrap

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import dcmx_core
from dcmx_core import Contract, DeepForkError, Indexer, PluginError, StoreError, Tuning
from dcmx_core.cli import cli
from dcmx_core.plugins import PluginHost
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token
from dcmx_plugins import token as token_plugin

TOKEN = bytes.fromhex("11" * 20)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def damaged_db(tmp_path, chain_file, token_config):
    """A real index whose pages past the header were overwritten."""
    path = tmp_path / "real.db"
    r = CliRunner().invoke(cli, ["--config", str(token_config), "run", "--source",
                                 f"file:{chain_file[0]}", "--db", f"sqlite:///{path}"])
    assert r.exit_code == 0, r.stderr
    for extra in ("-wal", "-shm"):
        (tmp_path / f"real.db{extra}").unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["text", "random", "damaged"])
@pytest.mark.parametrize("command", [["status"], ["rebuild"], ["rollback", "--to-block", "3"],
                                     ["run", "--plugins", ""]], ids=lambda c: c[0])
def test_a_file_that_is_no_usable_database_is_a_database_error(
    tmp_path, chain_file, token_config, damaged_db, kind, command
):
    path = tmp_path / "user.db"
    if kind == "text":
        path.write_text("my notes, not a database\n" * 50)
    elif kind == "random":
        path.write_bytes(hashlib.sha256(b"x").digest() * 200)
    else:
        shutil.copy(damaged_db, path)
    before = _digest(path)
    r = CliRunner().invoke(cli, ["--config", str(token_config), *command, "--source",
                                 f"file:{chain_file[0]}", "--db", f"sqlite:///{path}"]
                           if command[0] in ("run",) else
                           ["--config", str(token_config), *command, "--db", f"sqlite:///{path}"])
    assert r.exit_code == 6, r.output
    assert "internal error" not in r.stderr
    assert "--db" in r.stderr and "not a SQLite database" in r.stderr
    assert _digest(path) == before  # the user's file is untouched


class LockedTablePlugin:
    """Writes a table of its own, which another session of the database has locked."""

    table = sa.Table("locked_counts", sa.MetaData(),
                     sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer))

    @dcmx_core.hookimpl
    def dcmx_declare(self):
        return dcmx_core.Declaration("locked", consumes=[dcmx_token.Transfer],
                                     tables=[self.table])

    @dcmx_core.hookimpl
    def dcmx_handle_batch(self, batch, conn):
        conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        conn.execute(self.table.insert(), [{"n": 1} for _ in batch.of(dcmx_token.Transfer)])


def test_a_lock_another_session_holds_is_not_blamed_on_the_plugin(pg_url):
    chain = MemoryChain(finality_depth=3)
    chain.extend(10, [transfer_log(TOKEN, WALLETS[0], WALLETS[1], 5)])
    indexer = Indexer(chain, pg_url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                      plugins=[LockedTablePlugin()], window=3, poll_interval=0,
                      tuning=Tuning(batch_blocks=4, retries=1))
    indexer.setup()
    schema = sa.engine.make_url(pg_url).query["options"].split("=", 1)[1]
    admin = sa.engine.make_url(pg_url).set(drivername="postgresql", query={})
    with psycopg.connect(admin.render_as_string(hide_password=False)) as other:
        other.execute(f'LOCK TABLE "{schema}".locked_counts IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(StoreError) as caught:
            indexer.run()
        other.rollback()
    message = str(caught.value)
    assert not isinstance(caught.value, PluginError)
    assert "lock" in message and "fix the plugin" not in message
    assert StoreError.exit_code == 6
    assert indexer.cursor() is None  # nothing of the failed batch was written
    assert indexer.run() == 10  # the lock gone, the run goes through


def test_the_deep_fork_advice_is_a_command_that_works(tmp_path, chain_file, token_config):
    db = f"sqlite:///{tmp_path / 'forked.db'}"
    chain = MemoryChain(finality_depth=3)
    chain.extend(20, [transfer_log(TOKEN, WALLETS[0], WALLETS[1], 5)])
    contracts = [Contract("DCMXToken", dcmx_token, (TOKEN,))]
    Indexer(chain, db, contracts, plugins=[token_plugin], window=3, poll_interval=0).run()
    chain.fork(8, logs=[[transfer_log(TOKEN, WALLETS[2], WALLETS[3], 7)]] * 8)
    with pytest.raises(DeepForkError) as caught:
        Indexer(chain, db, contracts, plugins=[token_plugin], window=3, poll_interval=0).run()
    advice = str(caught.value)
    assert "rollback" not in advice.replace("no rollback reaches", "")
    assert "`dcmx run --db NEW_DATABASE`" in advice and "--window above 3" in advice
    # What it advises: a new database, a larger window. It indexes the node's chain.
    path = tmp_path / "fork.dcmxmem"
    chain.save(path)
    r = CliRunner().invoke(cli, ["--config", str(token_config), "run", "--source",
                                 f"file:{path}", "--db", f"sqlite:///{tmp_path / 'new.db'}",
                                 "--window", "10"])
    assert r.exit_code == 0, r.stderr
    # And rollback, which it no longer mentions, would indeed refuse any block below the window.
    r = CliRunner().invoke(cli, ["rollback", "--db", db, "--to-block", "5"])
    assert r.exit_code == 2 and "outside the unfinalized window" in r.stderr


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """An installed distribution whose plugin entry point fails to import."""
    site = tmp_path / "site"
    info = site / "broken_dcmx_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dcmx-plugin\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[dcmx.plugins]\nbroken = broken_dcmx_mod:plugin\n")
    (site / "broken_dcmx_mod.py").write_text(textwrap.dedent("""\
        raise ImportError("needs a library that is not installed")
    """))
    monkeypatch.syspath_prepend(str(site))
    return "broken-dcmx-plugin"


def test_a_broken_plugin_package_stops_only_runs_that_ask_for_it(broken_package, caplog):
    host = PluginHost(entry_points=True)  # every installed plugin: the broken one is skipped
    assert "broken" not in {p.declaration.name for p in host.plugins}
    assert any(broken_package in r.getMessage() for r in caplog.records)
    PluginHost(entry_points=True, only=["token"])
    with pytest.raises(PluginError, match=f"package '{broken_package}'"):
        PluginHost(entry_points=True, only=["broken"])


def test_a_broken_plugin_package_from_the_cli(broken_package, chain_file, token_config,
                                              sqlite_url):
    base = ["--config", str(token_config), "run", "--source", f"file:{chain_file[0]}",
            "--db", sqlite_url, "--to-block", "5"]
    r = CliRunner().invoke(cli, base)
    assert r.exit_code == 0, r.stderr
    r = CliRunner().invoke(cli, [*base, "--plugins", "broken"])
    assert r.exit_code == 5 and broken_package in r.stderr, r.output
