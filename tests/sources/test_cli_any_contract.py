"""Any contract from the command line alone: a TRC-20 of a real-world ABI, raw-only and with a
third-party plugin, indexed from recorded mainnet answers, no dcmx file touched.

The bindings come from ``dcmx-codegen`` run on TRON's own ``getcontract`` answer for a TRC-20;
the node is a stub answering with the recorded transaction infos of mainnet block 30864600 (one
USDT transfer); the plugin is a package of its own, installed with pip, found through its
``dcmx.plugins`` entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_tron_http_source import _key, _load, _router, _synthetic_block

from dcmx_core.sqltypes import ExactInt

BIN = Path(sys.executable).parent
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
BLOCK = 30864600

PLUGIN = """
import sqlalchemy as sa
import dcmx_core
from dcmx_core.sqltypes import ExactInt, address
from trc20 import {module} as trc20

meta = sa.MetaData()
receipts = sa.Table(
    "usdt_receipts", meta,
    sa.Column("wallet", address(), primary_key=True),
    sa.Column("received", ExactInt, nullable=False),
)


@dcmx_core.hookimpl
def dcmx_declare():
    return dcmx_core.Declaration(name="usdt_receipts", consumes=[trc20.Transfer],
                                 tables=[receipts])


@dcmx_core.hookimpl
def dcmx_handle_batch(batch, conn):
    for d in batch.of(trc20.Transfer):
        conn.execute(receipts.insert().values(wallet=d.event.to_, received=d.event.value))
"""


@pytest.fixture
def usdt_node(stub_server, tron_reference):
    infos = _load(tron_reference, "mainnet_gettransactioninfobyblocknum_30864600.json")
    block = _synthetic_block(
        BLOCK, [(infos[0]["id"], "TransferContract"), (infos[1]["id"], "TriggerSmartContract")]
    )
    return stub_server(_router({
        _key("/wallet/getnowblock", {}): block,
        _key("/walletsolidity/getnowblock", {}): block,
        _key("/wallet/getblockbylimitnext", {"startNum": BLOCK, "endNum": BLOCK + 1}): {
            "block": [block]
        },
        _key("/wallet/gettransactioninfobyblocknum", {"num": BLOCK}): infos,
    }))


@pytest.fixture
def expected(tron_reference):
    [transfer] = [
        t for t in _load(tron_reference, "expected_transfers.json")["transfers"]
        if t["fixture"] == "mainnet_gettransactioninfobyblocknum_30864600.json"
    ]
    return transfer


@pytest.fixture
def bindings(tron_reference, tmp_path) -> tuple[Path, str]:
    """(folder to put on the path, module name) of the TRC-20's generated bindings."""
    out = tmp_path / "bindings" / "trc20"
    subprocess.run(
        [str(BIN / "dcmx-codegen"), str(tron_reference / "shasta_getcontract_trc20.json"),
         "-o", str(out), "--package", "trc20"],
        check=True, capture_output=True, text=True,
    )
    (module,) = [p.stem for p in out.glob("*.py") if p.stem != "__init__"]
    return out.parent, module


def _dcmx(*args: str, path: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCMX_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in path)
    return subprocess.run([str(BIN / "dcmx"), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def _rows(db: Path, table: str) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}")).mappings()]


def test_raw_only_indexing_of_any_contract(usdt_node, bindings, expected, tmp_path):
    folder, module = bindings
    db = tmp_path / "raw.db"
    r = _dcmx("run", "--source", f"tron+{usdt_node.url}", "--db", str(db), "--plugins", "",
              "--contract", f"USDT=trc20.{module}@{USDT}@{BLOCK}", path=[folder], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"indexed to block {BLOCK}: 1 events" in r.stderr
    (row,) = _rows(db, f"{module}__transfer")
    assert (row["from_"], row["to_"]) == (expected["from"], expected["to"])
    assert row["contract_address"] == USDT and row["tx_hash"].hex() == expected["txid"]
    (event,) = _rows(db, "blockchain_events")
    assert json.loads(event["args"])["value"] == expected["value"] == 532079999


def test_a_third_party_plugin_for_any_contract(usdt_node, bindings, expected, tmp_path):
    folder, module = bindings
    package = tmp_path / "plugin"
    (package / "usdt_receipts").mkdir(parents=True)
    (package / "usdt_receipts" / "__init__.py").write_text(PLUGIN.format(module=module))
    (package / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "usdt-receipts"
        version = "0.0.1"
        [project.entry-points."dcmx.plugins"]
        usdt_receipts = "usdt_receipts"
        [tool.setuptools]
        packages = ["usdt_receipts"]
    """))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(package)], check=True)
    listed = _dcmx("plugins", "--json", path=[site, folder], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    plugin = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}["usdt_receipts"]
    assert plugin["origin"].endswith("(usdt-receipts)")
    assert plugin["tables"] == ["usdt_receipts"]

    db = tmp_path / "plugin.db"
    r = _dcmx("--log-level", "debug", "run", "--source", f"tron+{usdt_node.url}", "--db",
              str(db), "--contract", f"USDT=trc20.{module}@{USDT}", "--from-block", str(BLOCK),
              path=[site, folder], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # The platform's own plugins consume contracts this run does not index: left out, said so.
    assert "plugin 'token' not loaded" in r.stderr
    received = sa.table("usdt_receipts", sa.column("wallet"), sa.column("received", ExactInt()))
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        assert conn.execute(sa.select(received)).all() == [(expected["to"], 532079999)]
