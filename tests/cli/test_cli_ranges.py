"""Block ranges and the poll interval are checked before anything is opened; a block still to
come is waited for, saying so.

Reported: ``--from-block`` past ``--to-block``, negative or absurd blocks on a new SQLite file
ended in "internal error: database table is locked", and a rerun hung in silence; a
``--to-block`` above the head waited silently (ten minutes seen); ``--poll-interval`` took NaN,
infinity and busy-loop values; an absurd head from the node was not a node error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.errors import SourceError
from dcmx_core.store import create_engine

TOKEN = bytes.fromhex("11" * 20)  # the saved chain's token (tests/cli/conftest.py)


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


BAD = [
    (["--from-block", "100", "--to-block", "50"], "--to-block 50 is below the first block 100"),
    (["--from-block", "-5"], "start_block must be a block number"),
    (["--from-block", "99999999999999999999"], "start_block must be a block number"),
    (["--to-block", "-1"], "--to-block: must be a block number"),
    (["--to-block", str(10**15)], "--to-block: must be a block number"),
    (["--poll-interval", "nan"], "poll_interval must be 0.1..86400 seconds"),
    (["--poll-interval", "inf"], "poll_interval must be 0.1..86400 seconds"),
    (["--poll-interval", "-inf"], "poll_interval must be 0.1..86400 seconds"),
    (["--poll-interval", "0"], "poll_interval must be 0.1..86400 seconds"),
    (["--poll-interval", "0.0000001"], "poll_interval must be 0.1..86400 seconds"),
    (["--poll-interval", "1e300"], "poll_interval must be 0.1..86400 seconds"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_range_or_interval_is_refused_before_the_database_is_touched(
    chain_file, token_config, db_url, monkeypatch, args, message
):
    monkeypatch.delenv("DCMX_DATABASE_URL", raising=False)
    before = _tables(db_url)
    r = CliRunner().invoke(cli, ["--config", str(token_config), "run", "--source",
                                 f"file:{chain_file[0]}", "--db", db_url, *args])
    assert r.exit_code == 2, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "internal error" not in r.stderr
    assert _tables(db_url) == before  # nothing created (SQLite: not even the file)


def test_a_start_block_past_the_contracts_to_block_is_refused(chain_file, tmp_path, sqlite_url):
    from dcmx_core.addresses import to_tron

    config = tmp_path / "late.toml"
    config.write_text(
        'network = "memory"\n[networks.memory]\nsource_kind = "file"\n'
        f'[networks.memory.contracts.DCMXToken]\naddress = "{to_tron(TOKEN)}"\nstart_block = 80\n'
    )
    r = CliRunner().invoke(cli, ["--config", str(config), "run", "--source",
                                 f"file:{chain_file[0]}", "--db", sqlite_url, "--to-block", "50"])
    assert r.exit_code == 2, r.stderr
    assert "below the first block 80" in r.stderr
    assert _tables(sqlite_url) == []


def _run(args: list[str], config) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCMX_")}
    return subprocess.Popen(
        [sys.executable, "-m", "dcmx_core.cli", "--log-format", "json", "--config", str(config),
         "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _wait_line(proc: subprocess.Popen[str], text: str, limit: float = 60.0) -> list[str]:
    """Lines of stderr up to the first holding ``text``."""
    seen = []
    deadline = time.monotonic() + limit
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    proc.kill()
    pytest.fail(f"no line with {text!r} in: {''.join(seen)}")


@pytest.mark.parametrize(("args", "block"), [
    (["--to-block", "100"], 100),  # above the head (60)
    (["--from-block", "90"], 90),  # in the future
    (["--from-block", "90", "--follow"], 90),
], ids=["to-block-above-head", "from-block-future", "from-block-future-follow"])
def test_a_block_still_to_come_is_a_logged_wait(chain_file, token_config, db_url, args, block):
    proc = _run(["--source", f"file:{chain_file[0]}", "--db", db_url, "--plugins", "",
                 "--poll-interval", "0.2", *args], token_config)
    try:
        lines = _wait_line(proc, f"waiting for block {block}, head is 60")
        record = json.loads(lines[-1])
        assert (record["waiting_for"], record["head"]) == (block, 60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "locked" not in "".join(lines) + err
    engine = create_engine(db_url)
    with engine.connect() as conn:
        cursor = conn.execute(sa.text("SELECT block_number FROM dcmx_cursor")).scalar()
    engine.dispose()
    assert cursor == (60 if "--to-block" in args else None)


def test_an_absurd_head_from_the_node_is_a_node_error(chain_file, sqlite_url):
    from dcmx_core import Indexer
    from dcmx_core.sources.memory import MemoryChain
    from dcmx_plugins import platform_contracts

    class Absurd(MemoryChain):
        def head(self) -> int:
            return 2**64

    chain = Absurd.load(chain_file[0])
    indexer = Indexer(chain, sqlite_url, platform_contracts({"DCMXToken": TOKEN}))
    with pytest.raises(SourceError, match="head is block 18446744073709551616"):
        indexer.run()
    assert SourceError.exit_code == 3
