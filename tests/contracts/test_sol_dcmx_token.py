"""DCMXToken: TRC-20 behaviour, the supply cap, minter role and the events an indexer needs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sol_helpers import events, only_event, reverts, role

from dcmx_plugins.devchain import Devchain

TOKEN = 10**18
CAP = 1_000_000_000 * TOKEN
MINTER = role("MINTER_ROLE")
ADMIN = role("DEFAULT_ADMIN_ROLE")
ZERO = "0x" + "00" * 20
MAX = 2**256 - 1


@pytest.fixture(scope="module")
def deployment(chain: Devchain):
    token = chain.deploy("DCMXToken")
    chain.transact(token.functions.grantRole(MINTER, chain.accounts[1]))
    return token


@pytest.fixture(scope="module")
def token(deployment):
    return deployment


@pytest.fixture(scope="module")
def who(chain: Devchain):
    admin, minter, alice, bob, carol = chain.accounts[:5]
    return type("Who", (), dict(admin=admin, minter=minter, alice=alice, bob=bob, carol=carol))


def test_metadata_and_initial_state(chain, token, who):
    f = token.functions
    assert f.name().call() == "DCMX Token"
    assert f.symbol().call() == "DCMX"
    assert f.decimals().call() == 18
    assert f.cap().call() == CAP
    assert f.totalSupply().call() == 0
    assert f.hasRole(ADMIN, who.admin).call()
    assert f.hasRole(MINTER, who.minter).call()
    assert not f.hasRole(MINTER, who.admin).call()


def test_deployment_emits_admin_grant(chain):
    token = chain.deploy("DCMXToken", alias="fresh")
    receipt = chain.w3.eth.get_transaction_receipt(
        chain.w3.eth.get_block(chain.head)["transactions"][0]
    )
    assert only_event(receipt, token, "RoleGranted") == {
        "role": ADMIN, "account": chain.admin, "sender": chain.admin,
    }


def test_mint_credits_and_emits_transfer_from_zero(chain, token, who):
    receipt = chain.transact(token.functions.mint(who.alice, 5 * TOKEN), who.minter)
    assert only_event(receipt, token, "Transfer") == {
        "from": ZERO, "to": who.alice, "value": 5 * TOKEN,
    }
    assert token.functions.balanceOf(who.alice).call() == 5 * TOKEN
    assert token.functions.totalSupply().call() == 5 * TOKEN


def test_mint_requires_minter_role(chain, token, who):
    with reverts(token, "MissingRole", MINTER, who.admin):
        chain.transact(token.functions.mint(who.alice, 1), who.admin)


def test_mint_to_zero_address_reverts(chain, token, who):
    with reverts(token, "ZeroAddress"):
        chain.transact(token.functions.mint(ZERO, 1), who.minter)


def test_cap_is_reachable_exactly_and_not_beyond(chain, token, who):
    chain.transact(token.functions.mint(who.alice, CAP - 10), who.minter)
    with reverts(token, "CapExceeded", 11, 10):
        chain.transact(token.functions.mint(who.bob, 11), who.minter)
    chain.transact(token.functions.mint(who.bob, 10), who.minter)
    assert token.functions.totalSupply().call() == CAP
    with reverts(token, "CapExceeded", 1, 0):
        chain.transact(token.functions.mint(who.bob, 1), who.minter)


def test_transfer_moves_balance(chain, token, who):
    chain.transact(token.functions.mint(who.alice, 100), who.minter)
    receipt = chain.transact(token.functions.transfer(who.bob, 30), who.alice)
    assert only_event(receipt, token, "Transfer") == {"from": who.alice, "to": who.bob, "value": 30}
    assert token.functions.balanceOf(who.alice).call() == 70
    assert token.functions.balanceOf(who.bob).call() == 30


def test_transfer_failures(chain, token, who):
    chain.transact(token.functions.mint(who.alice, 100), who.minter)
    with reverts(token, "InsufficientBalance", who.alice, 100, 101):
        chain.transact(token.functions.transfer(who.bob, 101), who.alice)
    with reverts(token, "ZeroAddress"):
        chain.transact(token.functions.transfer(ZERO, 1), who.alice)


def test_approve_and_transfer_from_spends_allowance_with_event(chain, token, who):
    chain.transact(token.functions.mint(who.alice, 100), who.minter)
    receipt = chain.transact(token.functions.approve(who.bob, 40), who.alice)
    assert only_event(receipt, token, "Approval") == {
        "owner": who.alice, "spender": who.bob, "value": 40,
    }
    assert token.functions.allowance(who.alice, who.bob).call() == 40

    receipt = chain.transact(token.functions.transferFrom(who.alice, who.carol, 25), who.bob)
    # The remaining allowance is announced, so an indexer never has to call allowance().
    assert only_event(receipt, token, "Approval") == {
        "owner": who.alice, "spender": who.bob, "value": 15,
    }
    assert only_event(receipt, token, "Transfer") == {
        "from": who.alice, "to": who.carol, "value": 25,
    }
    assert token.functions.allowance(who.alice, who.bob).call() == 15
    assert token.functions.balanceOf(who.carol).call() == 25

    with reverts(token, "InsufficientAllowance", who.alice, who.bob, 15, 16):
        chain.transact(token.functions.transferFrom(who.alice, who.carol, 16), who.bob)


def test_unlimited_allowance_is_not_spent(chain, token, who):
    chain.transact(token.functions.mint(who.alice, 100), who.minter)
    chain.transact(token.functions.approve(who.bob, MAX), who.alice)
    receipt = chain.transact(token.functions.transferFrom(who.alice, who.carol, 60), who.bob)
    assert events(receipt, token, "Approval") == []
    assert token.functions.allowance(who.alice, who.bob).call() == MAX


def test_transfer_from_checks_balance_after_allowance(chain, token, who):
    chain.transact(token.functions.mint(who.alice, 10), who.minter)
    chain.transact(token.functions.approve(who.bob, 50), who.alice)
    with reverts(token, "InsufficientBalance", who.alice, 10, 20):
        chain.transact(token.functions.transferFrom(who.alice, who.carol, 20), who.bob)


def test_approve_zero_spender_reverts(chain, token, who):
    with reverts(token, "ZeroAddress"):
        chain.transact(token.functions.approve(ZERO, 1), who.alice)


def test_burn(chain, token, who):
    chain.transact(token.functions.mint(who.alice, 100), who.minter)
    receipt = chain.transact(token.functions.burn(40), who.alice)
    assert only_event(receipt, token, "Transfer") == {"from": who.alice, "to": ZERO, "value": 40}
    assert token.functions.totalSupply().call() == 60
    assert token.functions.balanceOf(who.alice).call() == 60
    with reverts(token, "InsufficientBalance", who.alice, 60, 61):
        chain.transact(token.functions.burn(61), who.alice)
    # Burnt supply can be minted again: the cap bounds what exists, not what was ever minted.
    chain.transact(token.functions.mint(who.bob, CAP - 60), who.minter)


def test_role_management(chain, token, who):
    receipt = chain.transact(token.functions.grantRole(MINTER, who.carol))
    assert only_event(receipt, token, "RoleGranted") == {
        "role": MINTER, "account": who.carol, "sender": who.admin,
    }
    # Granting a held role changes nothing, so it says nothing.
    assert events(chain.transact(token.functions.grantRole(MINTER, who.carol)), token,
                  "RoleGranted") == []
    chain.transact(token.functions.mint(who.alice, 1), who.carol)

    receipt = chain.transact(token.functions.revokeRole(MINTER, who.carol))
    assert only_event(receipt, token, "RoleRevoked") == {
        "role": MINTER, "account": who.carol, "sender": who.admin,
    }
    with reverts(token, "MissingRole", MINTER, who.carol):
        chain.transact(token.functions.mint(who.alice, 1), who.carol)

    receipt = chain.transact(token.functions.renounceRole(MINTER), who.minter)
    assert only_event(receipt, token, "RoleRevoked") == {
        "role": MINTER, "account": who.minter, "sender": who.minter,
    }
    assert not token.functions.hasRole(MINTER, who.minter).call()


def test_only_admin_grants_and_revokes(chain, token, who):
    with reverts(token, "MissingRole", ADMIN, who.alice):
        chain.transact(token.functions.grantRole(MINTER, who.alice), who.alice)
    with reverts(token, "MissingRole", ADMIN, who.minter):
        chain.transact(token.functions.revokeRole(MINTER, who.minter), who.minter)
    with reverts(token, "ZeroAddress"):
        chain.transact(token.functions.grantRole(MINTER, ZERO))


# The autouse snapshot fixture is per test, not per example: each example snapshots itself.
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mint=st.integers(0, CAP),
    moves=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 10**30)),
                   max_size=5),
)
def test_transfers_conserve_supply(chain, token, who, mint, moves):
    snapshot = chain.snapshot()
    try:
        holders = [who.alice, who.bob, who.carol]
        chain.transact(token.functions.mint(who.alice, mint), who.minter)
        expected = {h: 0 for h in holders} | {who.alice: mint}
        for src, dst, amount in moves:
            if expected[holders[src]] >= amount:
                chain.transact(token.functions.transfer(holders[dst], amount), holders[src])
                expected[holders[src]] -= amount
                expected[holders[dst]] += amount
        balances = {h: token.functions.balanceOf(h).call() for h in holders}
        assert balances == expected
        assert sum(balances.values()) == token.functions.totalSupply().call() == mint
    finally:
        chain.revert(snapshot)
