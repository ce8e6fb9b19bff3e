"""End to end on recorded mainnet data: TRON HTTP API -> generated decoder -> SQL row.

The recorded transaction infos of block 30864600 (one USDT transfer) are served in a synthesised
block holding their two transaction ids; the decoder is generated from TRON's own ``getcontract``
ABI of a TRC-20 token. The row that lands in SQLite carries the known from, to and value.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import sqlalchemy as sa
from test_tron_http_source import USDT, _key, _load, _router, _synthetic_block

from dcmx_codegen import render_package
from dcmx_codegen.abi import contracts_from_json
from dcmx_core import Contract, Indexer
from dcmx_core.sources.tron_http import TronHttpSource


def _generated_trc20(tron_reference: Path, tmp_path: Path):
    doc = json.loads((tron_reference / "shasta_getcontract_trc20.json").read_text())
    contracts = contracts_from_json(doc, "Trc20", "shasta_getcontract_trc20.json", "fixture")
    files = render_package(contracts, "tron")
    (name,) = [n for n in files if n.endswith(".py") and n != "__init__.py"]
    path = tmp_path / name
    path.write_text(files[name])
    spec = importlib.util.spec_from_file_location("dcmx_fixture_trc20", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_recorded_usdt_transfer_is_indexed_with_known_from_to_value(
    tron_reference, stub_server, tmp_path
):
    infos = _load(tron_reference, "mainnet_gettransactioninfobyblocknum_30864600.json")
    [expected] = [
        t
        for t in _load(tron_reference, "expected_transfers.json")["transfers"]
        if t["fixture"] == "mainnet_gettransactioninfobyblocknum_30864600.json"
    ]
    block = _synthetic_block(
        30864600, [(infos[0]["id"], "TransferContract"), (infos[1]["id"], "TriggerSmartContract")]
    )
    server = stub_server(
        _router(
            {
                _key("/wallet/getnowblock", {}): block,
                _key("/walletsolidity/getnowblock", {}): block,
                _key("/wallet/getblockbylimitnext", {"startNum": 30864600, "endNum": 30864601}): {
                    "block": [block]
                },
                _key("/wallet/gettransactioninfobyblocknum", {"num": 30864600}): infos,
            }
        )
    )
    trc20 = _generated_trc20(tron_reference, tmp_path)
    indexer = Indexer(
        TronHttpSource(server.url),
        f"sqlite:///{tmp_path / 'usdt.db'}",
        [Contract(trc20.CONTRACT_NAME, trc20, (USDT,))],
        start_block=30864600,
    )
    assert indexer.run() == 30864600

    table = trc20.Transfer.TABLE
    with indexer.engine.connect() as conn:
        rows = conn.execute(sa.select(table)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["from_"] == expected["from"] == "TWpZXLfsvVuQuJZLkdWNY7XY2teePqPpz7"
    assert row["to_"] == expected["to"] == "TBA6CypYJizwA9XdC7Ubgc5F1bxrQ7SqPt"
    assert row["value"] == expected["value"] == 532079999
    assert row["contract_address"] == expected["contract"] == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert row["tx_hash"].hex() == expected["txid"]
    assert row["block_timestamp"] == 1623056091  # TRON's milliseconds, in seconds
