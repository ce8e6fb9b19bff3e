"""RewardVault: pools, claim lifecycle, one-time proofs, DCMX minting on claim, events."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sol_helpers import only_event, reverts, role

from dcmx_plugins.devchain import Devchain

ADMIN = role("DEFAULT_ADMIN_ROLE")
MINTER = role("MINTER_ROLE")
ZERO = "0x" + "00" * 20
SHARING, LISTENING, BANDWIDTH = 0, 1, 2
PENDING, APPROVED, REJECTED, CLAIMED = 1, 2, 3, 4


def proof(n: int) -> bytes:
    return keccak(text=f"proof-{n}")


@pytest.fixture(scope="module")
def deployment(chain: Devchain):
    token = chain.deploy("DCMXToken")
    vault = chain.deploy("RewardVault", token.address)
    chain.transact(token.functions.grantRole(MINTER, vault.address))
    chain.transact(vault.functions.setPool(SHARING, 1_000, 100))
    chain.transact(vault.functions.setPool(LISTENING, 50, 40))
    return token, vault


@pytest.fixture(scope="module")
def token(deployment):
    return deployment[0]


@pytest.fixture(scope="module")
def vault(deployment):
    return deployment[1]


@pytest.fixture(scope="module")
def who(chain: Devchain):
    admin, alice, bob = chain.accounts[:3]
    return type("Who", (), dict(admin=admin, alice=alice, bob=bob))


def submit(chain, vault, user, n=1, amount=10, kind=SHARING):
    return chain.transact(vault.functions.submitClaim(kind, proof(n), amount), user)


def test_set_pool(chain, vault, who):
    receipt = chain.transact(vault.functions.setPool(BANDWIDTH, 500, 25))
    assert only_event(receipt, vault, "PoolConfigured") == {
        "rewardType": BANDWIDTH, "budget": 500, "maxPerClaim": 25,
    }
    assert vault.functions.getPool(BANDWIDTH).call() == (500, 25, 0)
    with reverts(vault, "MissingRole", ADMIN, who.alice):
        chain.transact(vault.functions.setPool(BANDWIDTH, 1, 1), who.alice)
    with reverts(vault, "InvalidRewardType", 3):
        chain.transact(vault.functions.setPool(3, 1, 1))
    with reverts(vault, "InvalidRewardType", 3):
        vault.functions.getPool(3).call()


def test_constructor_rejects_zero_token(chain):
    with pytest.raises(Exception):  # noqa: B017 - constructor reverts carry no contract ABI yet
        chain.deploy("RewardVault", ZERO, alias="broken")


def test_full_claim_lifecycle(chain, token, vault, who):
    receipt = submit(chain, vault, who.alice, n=1, amount=60)
    assert only_event(receipt, vault, "ClaimSubmitted") == {
        "claimId": 1, "user": who.alice, "rewardType": SHARING, "proofHash": proof(1),
        "amount": 60,
    }
    ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert vault.functions.getClaim(1).call() == (who.alice, SHARING, PENDING, ts, proof(1), 60)
    assert vault.functions.proofClaim(proof(1)).call() == 1

    receipt = chain.transact(vault.functions.verifyClaim(1, True))
    assert only_event(receipt, vault, "ClaimVerified") == {
        "claimId": 1, "approved": True, "verifier": who.admin,
    }
    assert vault.functions.getPool(SHARING).call() == (940, 100, 60)
    assert vault.functions.getUserRewards(who.alice).call() == [0, 60, [1]]

    receipt = chain.transact(vault.functions.claimRewards(1), who.alice)
    assert only_event(receipt, vault, "RewardsClaimed") == {
        "claimId": 1, "user": who.alice, "amount": 60,
    }
    assert only_event(receipt, token, "Transfer") == {"from": ZERO, "to": who.alice, "value": 60}
    assert token.functions.balanceOf(who.alice).call() == 60
    assert vault.functions.getUserRewards(who.alice).call() == [60, 0, [1]]
    assert vault.functions.getClaim(1).call()[2] == CLAIMED
    assert vault.functions.claimCount().call() == 1


def test_submit_failures(chain, vault, who):
    with reverts(vault, "InvalidRewardType", 7):
        chain.transact(vault.functions.submitClaim(7, proof(1), 1), who.alice)
    with reverts(vault, "ZeroAmount"):
        submit(chain, vault, who.alice, amount=0)
    with reverts(vault, "EmptyProof"):
        chain.transact(vault.functions.submitClaim(SHARING, b"\x00" * 32, 1), who.alice)
    with reverts(vault, "ClaimAboveMax", 101, 100):
        submit(chain, vault, who.alice, amount=101)
    # Bandwidth was never configured: its maximum is 0.
    with reverts(vault, "ClaimAboveMax", 1, 0):
        submit(chain, vault, who.alice, kind=BANDWIDTH, amount=1)
    chain.transact(vault.functions.setPool(LISTENING, 30, 40))
    with reverts(vault, "PoolBudgetExceeded", LISTENING, 31, 30):
        submit(chain, vault, who.alice, kind=LISTENING, amount=31)


def test_proof_is_usable_once_ever(chain, vault, who):
    submit(chain, vault, who.alice, n=5)
    with reverts(vault, "ProofAlreadyUsed", proof(5), 1):
        submit(chain, vault, who.bob, n=5)
    chain.transact(vault.functions.verifyClaim(1, False))
    with reverts(vault, "ProofAlreadyUsed", proof(5), 1):
        submit(chain, vault, who.alice, n=5)


def test_verify_failures(chain, vault, who):
    with reverts(vault, "ClaimNotFound", 1):
        chain.transact(vault.functions.verifyClaim(1, True))
    submit(chain, vault, who.alice)
    with reverts(vault, "MissingRole", ADMIN, who.alice):
        chain.transact(vault.functions.verifyClaim(1, True), who.alice)
    chain.transact(vault.functions.verifyClaim(1, False))
    with reverts(vault, "ClaimNotPending", 1, REJECTED):
        chain.transact(vault.functions.verifyClaim(1, True))


def test_approval_draws_budget_and_refuses_overdraw(chain, vault, who):
    submit(chain, vault, who.alice, n=1, kind=LISTENING, amount=30)
    submit(chain, vault, who.bob, n=2, kind=LISTENING, amount=30)  # both fit the budget of 50
    chain.transact(vault.functions.verifyClaim(1, True))
    with reverts(vault, "PoolBudgetExceeded", LISTENING, 30, 20):
        chain.transact(vault.functions.verifyClaim(2, True))
    # Rejecting still works and leaves the budget alone.
    chain.transact(vault.functions.verifyClaim(2, False))
    assert vault.functions.getPool(LISTENING).call() == (20, 40, 30)


def test_claim_failures(chain, vault, who):
    with reverts(vault, "ClaimNotFound", 1):
        chain.transact(vault.functions.claimRewards(1), who.alice)
    submit(chain, vault, who.alice, n=1)
    with reverts(vault, "ClaimNotApproved", 1, PENDING):
        chain.transact(vault.functions.claimRewards(1), who.alice)
    submit(chain, vault, who.alice, n=2)
    chain.transact(vault.functions.verifyClaim(2, False))
    with reverts(vault, "ClaimNotApproved", 2, REJECTED):
        chain.transact(vault.functions.claimRewards(2), who.alice)
    chain.transact(vault.functions.verifyClaim(1, True))
    with reverts(vault, "NotClaimant", 1, who.bob):
        chain.transact(vault.functions.claimRewards(1), who.bob)
    chain.transact(vault.functions.claimRewards(1), who.alice)
    with reverts(vault, "AlreadyClaimed", 1):
        chain.transact(vault.functions.claimRewards(1), who.alice)
    with reverts(vault, "ClaimNotFound", 3):
        vault.functions.getClaim(3).call()


def test_claim_needs_vault_to_be_minter(chain, token, vault, who):
    chain.transact(token.functions.revokeRole(MINTER, vault.address))
    submit(chain, vault, who.alice)
    chain.transact(vault.functions.verifyClaim(1, True))
    # The token's error bubbles up through the vault unchanged.
    with reverts(token, "MissingRole", MINTER, vault.address):
        chain.transact(vault.functions.claimRewards(1), who.alice)


# The autouse snapshot fixture is per test, not per example: each example snapshots itself.
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 100), st.sampled_from(["approve", "reject", "skip"]),
                          st.booleans()), min_size=1, max_size=6))
def test_rewards_accounting(chain, token, vault, who, claims):
    snapshot = chain.snapshot()
    try:
        budget, approved_total, claimed, pending = 1_000, 0, 0, 0
        for i, (amount, verdict, collect) in enumerate(claims, start=1):
            submit(chain, vault, who.alice, n=i, amount=amount)
            if verdict == "approve":
                chain.transact(vault.functions.verifyClaim(i, True))
                budget -= amount
                approved_total += amount
                if collect:
                    chain.transact(vault.functions.claimRewards(i), who.alice)
                    claimed += amount
                else:
                    pending += amount
            elif verdict == "reject":
                chain.transact(vault.functions.verifyClaim(i, False))
        assert vault.functions.getPool(SHARING).call() == (budget, 100, approved_total)
        assert vault.functions.getUserRewards(who.alice).call() == [
            claimed, pending, list(range(1, len(claims) + 1))]
        assert token.functions.totalSupply().call() == claimed
    finally:
        chain.revert(snapshot)
