"""The same simulator drives anvil over JSON-RPC, and the indexer follows it there."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dcmx_core import Indexer
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_plugins import platform_contracts
from dcmx_plugins.simulator import Simulator

from .conftest import PLUGINS


@pytest.mark.anvil
def test_simulator_on_anvil(anvil, sqlite_url):
    sim = Simulator.on_rpc(anvil, seed=4, wallets=8)
    rounds = []
    report = sim.run(3, on_round=lambda r, rep: rounds.append((r, rep.transactions)))
    assert [r for r, _ in rounds] == [0, 1, 2]
    assert rounds[-1][1] == report.transactions > 40
    mined = sum(
        len(sim.w3.eth.get_block(n)["transactions"])
        for n in range(report.first_block, report.last_block + 1)
    )
    assert mined == report.transactions  # every counted transaction is mined, nothing else
    assert report.refused == sum(v for k, v in report.by_kind.items() if k.startswith("refused:"))

    indexer = Indexer(
        JsonRpcSource(anvil, confirmations=0),
        sqlite_url,
        platform_contracts(sim.addresses),
        plugins=PLUGINS,
    )
    assert indexer.run() == sim.w3.eth.block_number
    with indexer.engine.connect() as conn:
        minted = conn.execute(sa.text("SELECT count(*) FROM nft_index")).scalar()
    assert minted == report.by_kind.get("mint", 0)
