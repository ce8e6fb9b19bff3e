"""`dcmx run` on a database built from something else: a contract moved to another address,
a node (here a chain file) of another chain. Each is a configuration error (exit 2) that says
the way on, and leaves the database as it was."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dcmx_core.addresses import to_tron
from dcmx_core.cli import cli
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_core.store import create_engine

TOKEN = bytes.fromhex("11" * 20)  # the chain_file fixture's token (tests/cli/conftest.py)
WALLETS = [bytes([i]) * 20 for i in range(1, 6)]


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in (result.stderr or ""), result.stderr
    return result


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("DCMX_SOURCE", "DCMX_NETWORK", "DCMX_DATABASE_URL", "DCMX_CONTRACTS"):
        monkeypatch.delenv(var, raising=False)


def _dump(db: str) -> list:
    engine = create_engine(db)
    with engine.connect() as conn:
        out = [conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1, 2").all()
               for t in ("dcmx_token__transfer", "token_balances", "dcmx_cursor")]
    engine.dispose()
    return out


def test_moved_contract_and_another_chain_are_refused(db_url, chain_file, token_config, tmp_path):
    path, _ = chain_file
    base = ["--config", str(token_config), "run", "--db", db_url, "--plugins", "token"]
    r = invoke(*base, "--source", f"file:{path}", "--to-block", "40")
    assert r.exit_code == 0, r.stderr
    before = _dump(db_url)
    r = invoke("--config", str(token_config), "status", "--db", db_url, "--json")
    assert r.exit_code == 0, r.stderr
    built = json.loads(r.stdout)["built_from"]
    assert built["contracts"] == {"DCMXToken": [to_tron(TOKEN)]} and built["plugins"] == ["token"]
    assert 0 < built["anchor"]["block"] <= 40  # final: the chain file finalizes up to 55
    human = invoke("--config", str(token_config), "status", "--db", db_url).stdout
    assert f"built from       block {built['anchor']['block']} {built['anchor']['hash']}" in human
    assert "DCMXToken" in human and to_tron(TOKEN) in human

    moved = to_tron(bytes.fromhex("77" * 20))
    r = invoke(*base, "--source", f"file:{path}", "--contract", f"DCMXToken={moved}")
    assert r.exit_code == 2, r.output
    assert (f"contract DCMXToken was indexed into this database at {to_tron(TOKEN)}, and is "
            f"configured now at {moved}") in r.stderr
    assert "Index " + moved + " into a new database (--db)" in r.stderr
    assert _dump(db_url) == before

    other = MemoryChain(finality_depth=5, salt=b"another network")
    for i in range(60):
        other.append_block([transfer_log(TOKEN, WALLETS[i % 5], WALLETS[(i + 2) % 5], 3)])
    other.save(tmp_path / "other.dcmxmem")
    r = invoke(*base, "--source", f"file:{tmp_path / 'other.dcmxmem'}")
    assert r.exit_code == 2, r.output
    assert "the node follows another chain than the one this database was built from" in r.stderr
    assert "rollback" not in r.stderr
    assert _dump(db_url) == before

    r = invoke(*base, "--source", f"file:{path}")  # the chain it was built from goes on
    assert r.exit_code == 0, r.stderr
    assert "indexed to block 60" in r.stderr
