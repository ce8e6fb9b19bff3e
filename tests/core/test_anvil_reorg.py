"""A real node reorganises: anvil over JSON-RPC, the five contracts, the built-in plugins.

Deploy from ``contracts/build``, emit events, index, ``anvil_reorg`` (depth >= 3, replacing
transactions), index again: the index equals a fresh index of the node's chain. A reorg deeper
than the window stops with a clear error and changes nothing.
"""

from __future__ import annotations

import pytest
from web3 import Web3

from dcmx_core import DeepForkError, Indexer
from dcmx_core.sources.jsonrpc import JsonRpcSource
from dcmx_generated import dcmx_token
from dcmx_plugins import platform_contracts
from dcmx_plugins.devchain import MINTER_ROLE, PLATFORM_CONTRACTS, load_artifact

from .snapshot import dump_tables

pytestmark = pytest.mark.anvil
WINDOW = 8


TRANSFER = dcmx_token.DCMXToken.transfer.encode

def _rpc(w3: Web3, method: str, params: list):
    response = w3.provider.make_request(method, params)
    assert "error" not in response, response
    return response["result"]


def _deploy_platform(w3: Web3) -> dict[str, bytes]:
    admin = w3.eth.accounts[0]
    addresses: dict[str, bytes] = {}
    for name in PLATFORM_CONTRACTS:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        args = [Web3.to_checksum_address(addresses["DCMXToken"])] if name == "RewardVault" else []
        receipt = w3.eth.wait_for_transaction_receipt(
            factory.constructor(*args).transact({"from": admin})
        )
        addresses[name] = bytes.fromhex(receipt.contractAddress[2:])
    token = _token(w3, addresses)
    token.functions.grantRole(MINTER_ROLE, admin).transact({"from": admin})
    return addresses


def _token(w3: Web3, addresses: dict[str, bytes]):
    return w3.eth.contract(
        address=Web3.to_checksum_address("0x" + addresses["DCMXToken"].hex()),
        abi=load_artifact("DCMXToken")["abi"],
    )


def _activity(w3: Web3, token, rounds: int) -> None:
    admin, *wallets = w3.eth.accounts[:6]
    for i in range(rounds):
        token.functions.mint(wallets[i % 5], 1000 + i).transact({"from": admin})
        token.functions.transfer(wallets[(i + 1) % 5], 7 + i).transact({"from": wallets[i % 5]})


def _indexer(url: str, db: str, addresses: dict[str, bytes]) -> Indexer:
    return Indexer(
        JsonRpcSource(url, confirmations=WINDOW),
        db,
        platform_contracts(addresses),
        entry_points=True,
        window=WINDOW,
        poll_interval=0,
    )


def test_anvil_reorg_rolls_back_to_a_fresh_index(anvil, tmp_path):
    w3 = Web3(Web3.HTTPProvider(anvil))
    addresses = _deploy_platform(w3)
    token = _token(w3, addresses)
    _activity(w3, token, rounds=8)
    forks = []
    indexer = _indexer(anvil, f"sqlite:///{tmp_path / 'live.db'}", addresses)
    indexer.subscribe(on_fork=forks.append)
    head = indexer.run()
    assert head == w3.eth.block_number

    # Replace the last 4 blocks by 4 blocks holding other transfers, then grow past them.
    admin, *wallets = w3.eth.accounts[:6]
    replacements = [
        [{"from": wallets[k], "to": token.address,
          "data": "0x" + TRANSFER(wallets[(k + 2) % 5], 1 + k).hex()}, k]
        for k in range(4)
    ]
    _rpc(w3, "anvil_reorg", [4, replacements])
    _activity(w3, token, rounds=1)
    indexer.run()

    assert [(f.depth, f.common_ancestor) for f in forks] == [(4, head - 4)]
    fresh = _indexer(anvil, f"sqlite:///{tmp_path / 'fresh.db'}", addresses)
    fresh.run(to_block=indexer.cursor())
    live, expected = dump_tables(indexer.engine), dump_tables(fresh.engine)
    assert live == expected
    assert any(row[-1] == 1 for row in live["dcmx_token__transfer"])  # a replacement landed


def test_anvil_reorg_deeper_than_the_window_changes_nothing(anvil, tmp_path):
    w3 = Web3(Web3.HTTPProvider(anvil))
    addresses = _deploy_platform(w3)
    token = _token(w3, addresses)
    _activity(w3, token, rounds=10)
    indexer = _indexer(anvil, f"sqlite:///{tmp_path / 'live.db'}", addresses)
    head = indexer.run()
    before = dump_tables(indexer.engine)

    admin = w3.eth.accounts[0]
    deep = [[{"from": admin, "to": token.address,
              "data": "0x" + dcmx_token.DCMXToken.mint.encode(admin, 5).hex()}, 0]]
    _rpc(w3, "anvil_reorg", [WINDOW + 3, deep])
    with pytest.raises(DeepForkError, match=f"deeper than the {WINDOW}-block window"):
        indexer.run()
    assert dump_tables(indexer.engine) == before
    assert indexer.cursor() == head
