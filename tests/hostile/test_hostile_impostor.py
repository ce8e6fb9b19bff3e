"""Only the configured addresses reach the index: an impostor DCMXToken (same bytecode, another
address) emits the very same Transfer events, and none of them lands anywhere."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from web3 import Web3

from dcmx_core import Indexer
from dcmx_core.addresses import to_evm, to_tron
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_plugins import platform_contracts
from dcmx_plugins.devchain import MINTER_ROLE, load_artifact
from dcmx_plugins.simulator import Simulator

pytestmark = pytest.mark.anvil


def test_an_impostor_token_emitting_the_same_events_is_never_indexed(anvil, tmp_path):
    sim = Simulator.on_rpc(anvil, seed=3, wallets=6)
    addresses = sim.deploy()
    w3: Web3 = sim.w3
    admin, *wallets = w3.eth.accounts[:5]
    artifact = load_artifact("DCMXToken")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": admin}))
    impostor_address = bytes.fromhex(receipt.contractAddress[2:])
    real = w3.eth.contract(address=to_evm(addresses["DCMXToken"]), abi=artifact["abi"])
    impostor = w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])
    w3.eth.wait_for_transaction_receipt(
        impostor.functions.grantRole(MINTER_ROLE, admin).transact({"from": admin})
    )
    w3.eth.wait_for_transaction_receipt(
        real.functions.grantRole(MINTER_ROLE, admin).transact({"from": admin})
    )
    impostor_txs = []
    for i in range(6):
        for token in (real, impostor):
            calls = [(token.functions.mint(wallets[i % 4], 10**20 + i), admin),
                     (token.functions.transfer(wallets[(i + 1) % 4], 7 + i), wallets[i % 4])]
            for call, sender in calls:
                tx = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
                if token is impostor:
                    impostor_txs.append(bytes(tx.transactionHash))
    sim.run(1)  # the rest of the platform, too

    indexer = Indexer(JsonRpcSource(anvil, confirmations=4), f"sqlite:///{tmp_path / 'i.db'}",
                      platform_contracts(addresses), entry_points=True, window=4)
    indexer.run()

    # The impostor's logs were in the node's answers' blocks; nothing of them was stored.
    needles = {impostor_address, to_tron(impostor_address), to_evm(impostor_address),
               to_evm(impostor_address).lower(), impostor_address.hex(), *impostor_txs,
               *(t.hex() for t in impostor_txs)}
    meta = sa.MetaData()
    transfers = 0
    with indexer.engine.connect() as conn:
        meta.reflect(conn)
        for name, table in meta.tables.items():
            for row in conn.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, memoryview):
                        value = bytes(value)
                    text = value if isinstance(value, str | bytes) else str(value)
                    hits = [n for n in needles if type(n) is type(text) and n in text]
                    assert not hits, f"impostor data in {name}: {row}"
        transfers = conn.execute(
            sa.text("SELECT count(*) FROM blockchain_events WHERE event = 'Transfer' "
                    "AND contract = 'DCMXToken'")
        ).scalar()
        wrong = conn.execute(
            sa.text("SELECT DISTINCT contract_address FROM blockchain_events")
        ).scalars().all()
    assert set(wrong) <= {to_tron(a) for a in addresses.values()}
    assert transfers >= 12  # the real token's 6 mints and 6 transfers, at least
