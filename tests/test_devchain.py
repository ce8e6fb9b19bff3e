"""The embedded devchain and its Source: deployment, logs, headers, forks via snapshot/revert."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from eth_utils import keccak

from dcmx_core.chain import Source
from dcmx_core.errors import ConfigError, SourceError
from dcmx_core.sources.devchain import DevchainSource
from dcmx_plugins.devchain import (
    DEFAULT_POOLS,
    MINTER_ROLE,
    PLATFORM_CONTRACTS,
    Devchain,
    load_artifact,
)

TRANSFER = keccak(text="Transfer(address,address,uint256)")
APPROVAL = keccak(text="Approval(address,address,uint256)")


@pytest.fixture(scope="module")
def platform() -> tuple[Devchain, dict[str, str]]:
    chain = Devchain()
    return chain, chain.deploy_platform()


@pytest.fixture
def chain(platform):
    chain = platform[0]
    snapshot = chain.snapshot()
    yield chain
    chain.revert(snapshot)


def raw(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def test_deploy_platform_wires_the_contracts(platform):
    chain, addresses = platform
    assert list(addresses) == list(PLATFORM_CONTRACTS)
    for name, address in addresses.items():
        assert chain.w3.eth.get_code(address), f"{name} has no code"
    c = chain.contracts
    assert c["DCMXToken"].functions.hasRole(MINTER_ROLE, addresses["RewardVault"]).call()
    assert c["RewardVault"].functions.token().call() == addresses["DCMXToken"]
    for reward_type, (budget, max_per_claim) in DEFAULT_POOLS.items():
        assert c["RewardVault"].functions.getPool(reward_type).call() == (budget, max_per_claim, 0)
    assert c["ComplianceRegistry"].functions.getDocument(0, "1.0").call()[0] != b"\0" * 32


def test_missing_artifacts_say_how_to_build(tmp_path: Path):
    with pytest.raises(ConfigError, match="npm --prefix contracts run build"):
        load_artifact("DCMXToken", tmp_path)
    with pytest.raises(ConfigError, match="npm --prefix contracts run build"):
        Devchain(build_dir=tmp_path).deploy_platform()


def test_source_returns_logs_with_block_positions(chain, platform):
    addresses = platform[1]
    source = DevchainSource(chain)
    assert isinstance(source, Source)
    token = chain.contracts["DCMXToken"]
    alice, bob = chain.accounts[1], chain.accounts[2]
    chain.transact(token.functions.grantRole(MINTER_ROLE, chain.admin))
    start = chain.head + 1

    # Two transactions in one block from two senders, so the second tx's log sits at position 1
    # of the block even though eth-tester numbers it 0 within its transaction.
    chain.tester.disable_auto_mine_transactions()
    try:
        h1 = token.functions.mint(alice, 5).transact({"from": chain.admin, "gas": 200_000})
        h2 = token.functions.approve(bob, 7).transact({"from": alice, "gas": 200_000})
        chain.mine()
    finally:
        chain.tester.enable_auto_mine_transactions()
    number = chain.w3.eth.get_transaction_receipt(h1)["blockNumber"]
    block = chain.w3.eth.get_block(number)
    assert [bytes(h) for h in block["transactions"]] == [bytes(h1), bytes(h2)]

    logs = source.logs(start, chain.head, [raw(addresses["DCMXToken"])])
    assert [(log.block_number, log.tx_index, log.log_index) for log in logs] == [
        (number, 0, 0), (number, 1, 1)]
    mint, approval = logs
    assert mint.block_hash == bytes(block["hash"])
    assert mint.tx_hash == bytes(h1) and approval.tx_hash == bytes(h2)
    assert mint.address == raw(addresses["DCMXToken"])
    assert mint.topics == (TRANSFER, b"\0" * 32, b"\0" * 12 + raw(alice))
    assert mint.data == (5).to_bytes(32, "big")
    assert approval.topics == (APPROVAL, b"\0" * 12 + raw(alice), b"\0" * 12 + raw(bob))

    # Filtering by topic0 keeps the block position of what is left.
    only = source.logs(start, chain.head, [raw(addresses["DCMXToken"])], [APPROVAL])
    assert [(log.tx_index, log.log_index) for log in only] == [(1, 1)]
    assert source.logs(start, chain.head, [raw(addresses["MusicNFT"])]) == []
    assert source.logs(start, chain.head, []) == []
    assert source.logs(start, chain.head, [raw(addresses["DCMXToken"])], []) == []


def test_logs_from_several_contracts_are_sorted(chain, platform):
    addresses = platform[1]
    source = DevchainSource(chain)
    everything = source.logs(0, chain.head, [raw(a) for a in addresses.values()])
    keys = [(log.block_number, log.log_index) for log in everything]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {log.address for log in everything} == {raw(a) for a in addresses.values()}
    # Deployments emit RoleGranted, pools PoolConfigured, documents DocumentPublished.
    assert len(everything) >= len(addresses) + len(DEFAULT_POOLS) + 2


def test_headers_link_by_parent_hash(chain):
    chain.mine(3)
    source = DevchainSource(chain)
    headers = source.headers(0, chain.head)
    assert [h.number for h in headers] == list(range(chain.head + 1))
    for parent, child in pairwise(headers):
        assert child.parent_hash == parent.hash
        assert child.timestamp >= parent.timestamp
    assert all(len(h.hash) == 32 for h in headers)
    with pytest.raises(SourceError, match="no block"):
        source.headers(chain.head, chain.head + 1)
    with pytest.raises(SourceError):
        source.logs(0, chain.head + 1, [b"\1" * 20])
    with pytest.raises(ValueError):
        source.headers(-1, 0)


def test_finalized_trails_head_by_confirmations(chain):
    assert DevchainSource(chain).finalized() == chain.head
    assert DevchainSource(chain, confirmations=5).finalized() == chain.head - 5
    assert DevchainSource(chain, confirmations=10_000).finalized() == 0
    with pytest.raises(ConfigError):
        DevchainSource(chain, confirmations=-1)


def test_snapshot_revert_forks_the_chain(chain, platform):
    addresses = platform[1]
    source = DevchainSource(chain)
    token = chain.contracts["DCMXToken"]
    alice, bob = chain.accounts[1], chain.accounts[2]
    fork_point = chain.head
    snapshot = chain.snapshot()

    chain.transact(token.functions.approve(alice, 1), bob)
    chain.mine()
    old = source.headers(fork_point, chain.head)
    old_logs = source.logs(fork_point + 1, chain.head, [raw(addresses["DCMXToken"])])
    assert [log.topics[2] for log in old_logs] == [b"\0" * 12 + raw(alice)]

    chain.revert(snapshot)
    assert chain.head == fork_point
    chain.transact(token.functions.approve(bob, 2), alice)
    chain.mine()
    new = source.headers(fork_point, chain.head)

    assert new[0] == old[0]  # the common ancestor is untouched
    assert new[1].number == old[1].number and new[1].hash != old[1].hash
    assert new[2].hash != old[2].hash and new[2].parent_hash == new[1].hash
    new_logs = source.logs(fork_point + 1, chain.head, [raw(addresses["DCMXToken"])])
    assert [log.topics[2] for log in new_logs] == [b"\0" * 12 + raw(bob)]
    assert new_logs[0].block_hash == new[1].hash
