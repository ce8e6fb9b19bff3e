"""Random command lines and config files for `dcmx run`, `status` and `rebuild`.

Whatever a user (or an attacker) types, the exit status is one of the documented ones
(dcmx_core/cli/group.py) and never 1 ("internal error": a bug), no traceback is printed, no
private key typed is echoed, and a command that fails leaves the database exactly as it was.

In-process (click's CliRunner) for speed, on an index of a saved chain of 60 blocks; a few
cases run as real subprocesses, on both databases. Block numbers are drawn where a run ends:
a block the chain has not reached yet is waited for (tests/cli/test_cli_ranges.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dcmx_core.addresses import to_tron
from dcmx_core.cli import cli
from dcmx_core.settings import settings_table
from dcmx_core.store import create_engine

TOKEN = bytes.fromhex("11" * 20)  # the saved chain's token (tests/cli/conftest.py)

DOCUMENTED = {0, 2, 3, 4, 5, 6, 7, 130}
PRIVATE_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KEYS = [key for key, _, _, _ in settings_table()]

# Numbers a run can end on: at or below the chain's head (60), or refused.
blocks = st.one_of(
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(max_value=-1),
    st.integers(min_value=10**12 + 1),
).map(str) | st.sampled_from(["", "x", "1e3", "0x10", "3.5", "nan", " 7"])
numbers = st.one_of(
    st.just(PRIVATE_KEY),
    st.integers(1, 50).map(str),
    st.integers(1, 50).map(str),
    st.sampled_from(["0.5", "2", "3.0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers().map(str),
    st.sampled_from(["nan", "inf", "-inf", "0", "1e-9", "", "fast"]),
)
junk = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30) | st.just(
    PRIVATE_KEY  # pasted anywhere: never echoed
)
contract_values = st.one_of(
    junk,
    st.just(f"DCMXToken={to_tron(TOKEN)}"),
    st.just(f"DCMXToken={PRIVATE_KEY}"),
    st.just(f"DCMXToken=0x{PRIVATE_KEY}"),
    st.just(f"X=dcmx_generated.dcmx_token@{PRIVATE_KEY}"),
    st.builds(lambda n, v: f"{n}={v}", junk, junk),
    st.just("DCMXToken=os@" + to_tron(TOKEN)),
    st.just("DCMXToken=../../etc@" + to_tron(TOKEN)),
)


@st.composite
def command_lines(draw, chain: str, db: str, missing: str, text_file: str) -> list[str]:
    command = draw(st.sampled_from(["run", "status", "rebuild"]))
    args = [command]
    options = {
        "--from-block": blocks,
        "--to-block": blocks,
        "--poll-interval": numbers,
        "--window": numbers,
        "--batch-blocks": numbers,
        "--confirmations": numbers,
        "--source-max-rate": numbers,
        "--source-concurrency": numbers,
        "--ready-lag": numbers,
        "--metrics-port": st.sampled_from(["-1", "70000", "port", ""]),
        "--contract": contract_values,
        "--plugins": st.one_of(junk, st.sampled_from(["", "token", "token,nope", "platform"])),
        "--profile": st.one_of(junk, st.sampled_from(["tron", "tron", "evm"])),
        "--network": st.one_of(junk, st.sampled_from(["memory", "memory", "mainnet", "nope"])),
        "--source": st.sampled_from([f"file:{chain}", "file:/nonexistent/chain", "ftp://x",
                                     "not a url", f"file:{text_file}"]),
        "--source-kind": st.one_of(junk, st.sampled_from(["file", "tron", "jsonrpc"])),
        "--db": st.sampled_from([db, db, f"sqlite:///{missing}", f"sqlite:///{text_file}",
                                 "mysql://x/y", "", text_file]),
        "--bogus": junk,
    }
    takes = {
        "status": ["--db", "--source", "--source-kind", "--network"],
        "rebuild": ["--db", "--network", "--profile", "--contract", "--plugins"],
    }.get(command, sorted(options))
    if draw(st.integers(0, 9)) < 2:
        takes = sorted(options)  # options the command does not know, too
    for name in draw(st.lists(st.sampled_from(takes), max_size=4)):
        args += [name, draw(options[name])]
    if draw(st.integers(0, 9)) == 0:
        args.append(draw(junk))  # a stray argument
    if command == "run" and "--source" not in args:
        args += ["--source", f"file:{chain}"]
    if command == "run" and "--to-block" not in args:
        args += ["--to-block", draw(st.integers(0, 60).map(str))]
    if "--db" not in args:
        args += ["--db", draw(options["--db"]) if draw(st.integers(0, 9)) < 3 else db]
    return args


toml_values = st.one_of(
    st.integers().map(str),
    st.floats().map(lambda f: repr(f).replace("inf", "inf").replace("nan", "nan")),
    junk.map(json.dumps),
    st.just(f'"postgresql://u@h/db?password=hunter2-{PRIVATE_KEY[:8]}"'),
    st.just('"https://node.example/v3/a1b2c3d4e5f60718293a4b5c6d7e8f90"'),
    st.just("[1, 2]"),
    st.just("{ a = 1 }"),
)


@st.composite
def config_files(draw) -> str:
    lines = ['network = "memory"', "[networks.memory]", 'source_kind = "file"',
             "[networks.memory.contracts]", f'DCMXToken = "{to_tron(TOKEN)}"']
    extra = draw(st.lists(st.tuples(st.sampled_from([*KEYS, "nope", "api_key", "networks"]),
                                    toml_values), max_size=3))
    if draw(st.integers(0, 9)) < 6:
        extra = []  # the base config: the command line alone is under test
    top = [f"{k} = {v}" for k, v in extra]
    text = "\n".join(top + lines) + "\n"
    if draw(st.integers(0, 9)) == 0:
        text = draw(junk)  # not TOML at all
    return text


def snapshot(path) -> list:
    """Everything in a SQLite file: its schema and every row of every table."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        rows = [sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)
                for t, n, _ in names if t == "table"]
        return [names, rows]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """(chain file, indexed database file, config) shared by every example."""
    from dcmx_core.sources.memory import MemoryChain, transfer_log

    root = tmp_path_factory.mktemp("fuzz")
    chain = MemoryChain(finality_depth=5)
    for i in range(60):
        chain.append_block([transfer_log(TOKEN, bytes([1 + i % 5]) * 20,
                                         bytes([1 + (i + 1) % 5]) * 20, 10**18 + i)])
    path = root / "chain.dcmxmem"
    chain.save(path)
    config = root / "base.toml"
    config.write_text("\n".join(['network = "memory"', "[networks.memory]",
                                 'source_kind = "file"', "[networks.memory.contracts]",
                                 f'DCMXToken = "{to_tron(TOKEN)}"']) + "\n")
    db = root / "index.db"
    r = CliRunner().invoke(cli, ["--config", str(config), "run", "--source", f"file:{path}",
                                 "--db", f"sqlite:///{db}"], env=_clean_env())
    assert r.exit_code == 0, r.output
    (root / "notes.txt").write_text("a user's notes\n")
    return path, db, root


def _clean_env() -> dict[str, str | None]:
    return {k: None for k in os.environ if k.startswith("DCMX_")}


@settings(max_examples=80, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_random_command_lines_and_configs_end_in_a_documented_status(indexed, data):
    chain, db, root = indexed
    missing = root / "missing" / "new.db"
    notes = root / "notes.txt"
    args = data.draw(command_lines(str(chain), f"sqlite:///{db}", str(missing), str(notes)))
    config = root / "dcmx.toml"
    config.write_text(data.draw(config_files()))
    before = snapshot(db)
    r = CliRunner().invoke(cli, ["--config", str(config), *args], env=_clean_env())
    out = r.output
    event(f"{args[0]} exit {r.exit_code}")
    assert r.exit_code in DOCUMENTED, out
    assert r.exit_code != 1, out
    assert "Traceback" not in out, out
    assert PRIVATE_KEY not in out and PRIVATE_KEY[:24] not in out, out
    assert notes.read_text() == "a user's notes\n"  # a text file given as --db stays as it was
    if r.exit_code != 0:
        assert snapshot(db) == before, out
    assert not missing.parent.exists() or r.exit_code == 0, out


SUBPROCESS_CASES = [
    ("sqlite_url", ["run", "--contract", f"DCMXToken={PRIVATE_KEY}", "--poll-interval", "nan"],
     2),
    ("pg_url", ["run", "--from-block", "50", "--to-block", "10"], 2),
]


@pytest.mark.parametrize(("db", "args", "status"), SUBPROCESS_CASES,
                         ids=["sqlite-private-key", "postgresql-range"])
def test_a_few_as_real_processes(indexed, request, db, args, status):
    chain, _, root = indexed
    db_url = request.getfixturevalue(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCMX_")}
    config = root / "base.toml"
    setup = CliRunner().invoke(cli, ["--config", str(config), "run", "--source", f"file:{chain}",
                                     "--db", db_url, "--to-block", "30"], env=_clean_env())
    assert setup.exit_code == 0, setup.output
    engine = create_engine(db_url)
    with engine.connect() as conn:
        before = sorted(sa.inspect(conn).get_table_names())
        cursor = conn.execute(sa.text("SELECT block_number FROM dcmx_cursor")).scalar()
    extra = ["--source", f"file:{chain}"] if args[0] == "run" else []
    r = subprocess.run(
        [sys.executable, "-m", "dcmx_core.cli", "--config", str(config), *args, *extra,
         "--db", db_url],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr and PRIVATE_KEY not in r.stderr
    with engine.connect() as conn:
        assert sorted(sa.inspect(conn).get_table_names()) == before
        assert conn.execute(sa.text("SELECT block_number FROM dcmx_cursor")).scalar() == cursor
    engine.dispose()
