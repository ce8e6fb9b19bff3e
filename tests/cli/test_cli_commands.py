"""dcmx run / status / rollback / rebuild / plugins / simulate on real chains and databases."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.store import create_engine


def invoke(*args: str, env: dict | None = None):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in (result.stderr or ""), result.stderr
    return result


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
    engine.dispose()
    return n


def test_run_a_memory_chain_file_then_status_rollback_rebuild(
    chain_file, token_config, sqlite_url, monkeypatch
):
    path, transfers = chain_file
    monkeypatch.delenv("DCMX_DATABASE_URL", raising=False)
    base = ["--config", str(token_config)]
    r = invoke(*base, "run", "--source", f"file:{path}", "--db", sqlite_url, "--plugins",
               "token", "--to-block", "40")
    assert r.exit_code == 0, r.stderr
    assert count(sqlite_url, "transaction_index") == 40
    r = invoke(*base, "run", "--source", f"file:{path}", "--db", sqlite_url, "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    assert count(sqlite_url, "transaction_index") == transfers
    assert "indexed to block 60" in r.stderr

    r = invoke(*base, "status", "--db", sqlite_url, "--source", f"file:{path}", "--json")
    assert r.exit_code == 0, r.stderr
    st = json.loads(r.stdout)
    assert (st["cursor"], st["head"], st["finalized"], st["lag"]) == (60, 60, 55, 0)
    assert st["views"]["transaction_index"] == transfers  # a view of the raw transfers
    assert st["tables"]["DCMXToken"]["dcmx_token__transfer"] == transfers
    assert "transaction_index" not in st["tables"]["token"]
    assert st["last_fork"] is None
    low, high = st["rollback_window"]
    assert high == 60 and low < 60
    human = invoke(*base, "status", "--db", sqlite_url, "--source", f"file:{path}")
    assert "cursor           60" in human.stdout and "lag              0 blocks" in human.stdout

    # rollback inside the window undoes exactly the later blocks, outside it refuses
    r = invoke(*base, "rollback", "--db", sqlite_url, "--to-block", str(high - 3))
    assert r.exit_code == 0, r.stderr
    assert f"cursor is at block {high - 3}" in r.stdout
    assert count(sqlite_url, "transaction_index") == transfers - 3
    assert count(sqlite_url, "blockchain_events") == transfers - 3
    r = invoke(*base, "rollback", "--db", sqlite_url, "--to-block", "1")
    assert r.exit_code == 2 and "outside the unfinalized window" in r.stderr
    assert count(sqlite_url, "transaction_index") == transfers - 3
    r = invoke(*base, "rollback", "--db", sqlite_url, "--to-block", "100")
    assert r.exit_code == 2 and "nothing to undo" in r.stderr

    # indexing again resumes after the rollback point
    r = invoke(*base, "run", "--source", f"file:{path}", "--db", sqlite_url, "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    assert count(sqlite_url, "transaction_index") == transfers

    r = invoke(*base, "rebuild", "--db", sqlite_url, "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    assert f"from {transfers} events" in r.stdout
    assert count(sqlite_url, "transaction_index") == transfers


def test_demo_then_status_plugins(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("DCMX_SOURCE", "DCMX_NETWORK", "DCMX_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    r = invoke("demo", "--rounds", "2", "--db", sqlite_url)
    assert r.exit_code == 0, r.stderr
    r = invoke("status", "--db", sqlite_url, "--json")
    assert r.exit_code == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["cursor"] > 40
    assert st["head"] is None and "no source" in st["source_error"]
    assert st["tables"]["nft"]["nft_index"] == count(sqlite_url, "nft_index") > 0
    assert set(st["tables"]) >= {"token", "nft", "compliance", "vault", "royalty", "platform"}

    r = invoke("plugins", "--json")
    assert r.exit_code == 0
    listed = json.loads(r.stdout)
    plugins = {p["name"]: p for p in listed["plugins"]}
    assert listed["contracts"]["MusicNFT"].startswith("dcmx_generated.music_nft")
    assert plugins["vault"]["contracts"] == ["RewardVault"]
    assert "reward_claims_index" in plugins["vault"]["tables"]
    assert plugins["token"]["views"] == ["transaction_index"]
    assert plugins["token"]["origin"].startswith("entry point token = dcmx_plugins.token")


def test_json_logs_carry_the_extra_fields(chain_file, token_config, sqlite_url):
    path, _ = chain_file
    r = invoke("--config", str(token_config), "--log-format", "json", "run", "--source",
               f"file:{path}", "--db", sqlite_url, "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    records = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    batches = [x for x in records if x["logger"] == "dcmx.indexer" and "events" in x]
    assert batches, r.stderr
    b = batches[0]
    assert {"ts", "level", "msg", "start", "end", "events", "seconds", "final", "head"} <= set(b)
    assert sum(x["events"] for x in batches) == 60
    assert all(x["level"] in ("info", "warning", "debug") for x in records)


def test_no_password_in_any_log_line(sqlite_url, chain_file, token_config):
    secret = "hunter2-s3cret"
    url = f"postgresql://dcmx:{secret}@127.0.0.1:1/dcmx"
    path, _ = chain_file
    for fmt in ("human", "json"):
        r = invoke("--config", str(token_config), "--log-format", fmt, "run", "--source",
                   f"file:{path}", "--plugins", "token", env={"DCMX_DATABASE_URL": url})
        assert r.exit_code != 0
        assert secret not in r.stderr and secret not in r.stdout
        assert r.stderr.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.postgres
def test_run_into_postgres(chain_file, token_config, pg_url):
    path, transfers = chain_file
    r = invoke("--config", str(token_config), "run", "--source", f"file:{path}", "--db", pg_url,
               "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    assert count(pg_url, "transaction_index") == transfers
    r = invoke("--config", str(token_config), "rollback", "--db", pg_url, "--to-block", "58")
    assert r.exit_code == 0, r.stderr
    assert count(pg_url, "transaction_index") == transfers - 2


@pytest.mark.anvil
def test_simulate_on_anvil_then_run_from_its_json_rpc(anvil, tmp_path, sqlite_url):
    r = invoke("simulate", "--rpc", anvil, "--rounds", "2", "--network", "anvil")
    assert r.exit_code == 0, r.stderr
    assert "[networks.anvil.contracts]" in r.stdout
    config = tmp_path / "dcmx.toml"
    config.write_text(
        f'network = "anvil"\n[networks.anvil]\nsource = "{anvil}"\nprofile = "evm"\n'
        + r.stdout.split("\n", 1)[1].split("\n# ", 1)[0]
    )
    r = invoke("--config", str(config), "run", "--db", sqlite_url, "--confirmations", "0")
    assert r.exit_code == 0, r.stderr
    assert count(sqlite_url, "nft_index") > 0
    assert count(sqlite_url, "blockchain_events") > 0
