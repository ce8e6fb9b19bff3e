"""Hostile names stay data; the CLI fails cleanly, checks staleness and is deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from util import module_for

from dcmx_codegen import naming
from dcmx_codegen.cli import main
from dcmx_core.abi_functions import Contract

HOSTILE = 'x"); import os; os.system("touch PWNED"); #'
SQLI = "a; DROP TABLE t; --"


def _hostile_abi():
    names = [
        HOSTILE,
        SQLI,
        "from",
        "class",
        "order",
        "select",
        "values",
        "timestamp",
        "block_number",
        "Value",
        "value",
        "",
        "ünïcødé",
        "x" * 200,
        "'''",
        "None",
    ]
    inputs = [{"name": n, "type": "uint256", "indexed": i < 3} for i, n in enumerate(names)]
    return [
        {"type": "event", "name": HOSTILE, "anonymous": False, "inputs": inputs},
        {
            "type": "event",
            "name": SQLI,
            "anonymous": False,
            "inputs": [{"name": SQLI, "type": "string", "indexed": False}],
        },
        {"type": "event", "name": "Ev", "inputs": [{"name": "a", "type": "uint8"}]},
        {"type": "event", "name": "Ev", "inputs": [{"name": "a", "type": "uint16"}]},
        {
            "type": "function",
            "name": HOSTILE,
            "stateMutability": "view",
            "inputs": [{"name": SQLI, "type": "address"}],
            "outputs": [{"name": "", "type": "bool"}],
        },
        {
            "type": "function",
            "name": "class",
            "stateMutability": "payable",
            "inputs": [],
            "outputs": [],
        },
    ]


def test_hostile_names_compile_to_safe_code_and_sql(tmp_path, sqlite_url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mod = module_for(_hostile_abi(), "tron", HOSTILE)
    assert not (tmp_path / "PWNED").exists()
    first = mod.EVENTS[0]
    fields = list(first.__dataclass_fields__)
    params = [f for f in fields if f.islower()]
    for f in params:
        assert naming.check_identifier(f, sql=True)
    assert {
        "from_",
        "class_",
        "order_",
        "select_",
        "values_",
        "timestamp_",
        "block_number_",
        "value",
        "value_2",
    } <= set(params)
    assert all(len(f) <= 63 for f in params)
    assert first.NAME == HOSTILE  # the ABI name survives as data
    for ev in mod.EVENTS:
        naming.check_identifier(ev.TABLE.name, sql=True)
    engine = sa.create_engine(sqlite_url)
    mod.metadata.create_all(engine)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert tables == {ev.TABLE.name for ev in mod.EVENTS}
    assert hasattr(mod, "Ev") and len(mod.EVENTS) == 4
    (contract,) = [
        v for v in vars(mod).values()
        if isinstance(v, type) and issubclass(v, Contract) and v is not Contract
    ]
    assert contract.class_.encode() == contract.class_.selector


def test_naming_rules():
    assert naming.module_name("DCMXToken") == "dcmx_token"
    assert naming.module_name("MusicNFT") == "music_nft"
    assert naming.field_name("tokenId", 0) == "token_id"
    assert naming.field_name("", 3) == "arg3"
    assert naming.field_name("_to", 0) == "to_"
    assert naming.field_name("2x", 0) == "n2x"
    long = naming.field_name("a" * 100, 0)
    assert len(long) <= 63 and long == naming.field_name("a" * 100, 0)
    assert naming.dedupe(["a", "A", "a"]) == ["a", "A_2", "a_3"]
    assert naming.overload_names(
        [
            ("safeTransferFrom", ("address", "address", "uint256", "bytes")),
            ("safeTransferFrom", ("address", "address", "uint256")),
        ]
    ) == ["safeTransferFrom_address_address_uint256_bytes", "safeTransferFrom"]


def _artifact(tmp: Path, name: str, abi) -> Path:
    p = tmp / "build" / f"{name}.json"
    p.parent.mkdir(exist_ok=True)
    p.write_text(json.dumps({"contractName": name, "abi": abi}))
    return p


GOOD = [
    {
        "type": "event",
        "name": "Transfer",
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    }
]


def test_cli_bad_input_exit_2_and_output_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _artifact(tmp_path, "Good", GOOD)
    out = tmp_path / "gen"
    runner = CliRunner()
    assert runner.invoke(main, ["build", "-o", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = GOOD + [{"type": "event", "name": "Oops", "inputs": [{"name": "x", "type": "uint257"}]}]
    _artifact(tmp_path, "Bad", bad)
    result = runner.invoke(main, ["build", "-o", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "build/Bad.json" in lines[0] and "entry #1" in lines[0] and "uint257" in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (tmp_path / "build" / "Bad.json").write_text("{not json")
    result = runner.invoke(main, ["build", "-o", str(out)])
    assert result.exit_code == 2 and "build/Bad.json" in result.output


def test_cli_check_and_determinism(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _artifact(tmp_path, "Good", GOOD)
    runner = CliRunner()
    assert runner.invoke(main, ["build", "-o", "a"]).exit_code == 0
    assert runner.invoke(main, ["build", "-o", "b"]).exit_code == 0
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b and set(a) == {
        ".dcmx-codegen",
        "__init__.py",
        "good.py",
        "py.typed",
        "schema.postgresql.sql",
        "schema.sqlite.sql",
    }
    for name, text in a.items():
        if name not in (".dcmx-codegen", "py.typed"):
            assert b"generated by dcmx-codegen \xe2\x80\x94 do not edit" in text
            assert b"sha256" in text
    assert runner.invoke(main, ["build", "-o", "a", "--check"]).exit_code == 0
    (tmp_path / "a" / "good.py").write_text("# edited\n")
    result = runner.invoke(main, ["build", "-o", "a", "--check"])
    assert result.exit_code == 1 and "a/good.py" in result.output
    (tmp_path / "a" / "good.py").write_bytes(a["good.py"])
    _artifact(tmp_path, "Good", GOOD + [{"type": "event", "name": "New", "inputs": []}])
    result = runner.invoke(main, ["build", "-o", "a", "--check"])
    assert result.exit_code == 1 and "a/good.py" in result.output


def test_repo_generated_is_current():
    root = Path(__file__).resolve().parents[2]
    if not (root / "contracts" / "build" / "DCMXToken.json").exists():
        import pytest

        pytest.skip("contracts/build not compiled yet")
    exe = Path(sys.executable).with_name("dcmx-codegen")
    result = subprocess.run(
        [str(exe), "--check"], cwd=root, capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    from dcmx_generated import CONTRACTS

    assert set(CONTRACTS) == {
        "DCMXToken",
        "MusicNFT",
        "ComplianceRegistry",
        "RewardVault",
        "RoyaltyDistributor",
    }
