"""RoyaltyDistributor: split rules, sales, exact distribution, pull withdrawals, re-entrancy."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sol_helpers import encode_error, events, only_event, reverts, role

from dcmx_plugins.devchain import Devchain

ADMIN = role("DEFAULT_ADMIN_ROLE")
MANAGER = role("SPLIT_MANAGER_ROLE")
ZERO = "0x" + "00" * 20
NFT = 42


@pytest.fixture(scope="module")
def deployment(chain: Devchain):
    dist = chain.deploy("RoyaltyDistributor")
    chain.transact(dist.functions.grantRole(MANAGER, chain.accounts[1]))
    attacker = chain.deploy("test/ReentrantWithdrawer", dist.address, alias="attacker")
    return dist, attacker


@pytest.fixture(scope="module")
def dist(deployment):
    return deployment[0]


@pytest.fixture(scope="module")
def who(chain: Devchain):
    admin, manager, seller, buyer, *recipients = chain.accounts
    return type("Who", (), dict(admin=admin, manager=manager, seller=seller, buyer=buyer,
                                recipients=recipients))


def sell(chain, dist, who, value, nft=NFT):
    return chain.transact(dist.functions.recordSale(nft, who.buyer), who.seller, value=value)


def test_set_splits_and_read_back(chain, dist, who):
    r = who.recipients[:3]
    receipt = chain.transact(dist.functions.setRoyaltySplits(NFT, r, [5000, 3000, 2000]),
                             who.manager)
    assert only_event(receipt, dist, "RoyaltySplitsSet") == {
        "nftTokenId": NFT, "version": 0, "recipients": r, "bps": [5000, 3000, 2000],
        "setter": who.manager,
    }
    assert dist.functions.getRoyaltyInfo(NFT).call() == [r, [5000, 3000, 2000]]
    receipt = chain.transact(dist.functions.setRoyaltySplits(NFT, r[:1], [10_000]))
    assert only_event(receipt, dist, "RoyaltySplitsSet")["version"] == 1
    assert dist.functions.getRoyaltyInfo(NFT).call() == [r[:1], [10_000]]
    assert dist.functions.splitVersions(NFT).call() == 2
    assert dist.functions.getRoyaltyInfo(7).call() == [[], []]


def test_split_validation(chain, dist, who):
    a, b, c = who.recipients[:3]
    f = dist.functions.setRoyaltySplits
    with reverts(dist, "MissingRole", MANAGER, who.buyer):
        chain.transact(f(NFT, [a], [10_000]), who.buyer)
    with reverts(dist, "EmptySplits"):
        chain.transact(f(NFT, [], []))
    with reverts(dist, "LengthMismatch", 2, 1):
        chain.transact(f(NFT, [a, b], [10_000]))
    with reverts(dist, "SplitsSumMismatch", 9_999, 10_000):
        chain.transact(f(NFT, [a, b], [5_000, 4_999]))
    with reverts(dist, "SplitsSumMismatch", 10_001, 10_000):
        chain.transact(f(NFT, [a, b], [5_000, 5_001]))
    with reverts(dist, "ZeroAddress"):
        chain.transact(f(NFT, [a, ZERO], [5_000, 5_000]))
    with reverts(dist, "ZeroShare", 1):
        chain.transact(f(NFT, [a, b, c], [10_000, 0, 0]))
    with reverts(dist, "DuplicateRecipient", a):
        chain.transact(f(NFT, [a, b, a], [3_000, 3_000, 4_000]))
    many = [chain.w3.to_checksum_address(bytes([0] * 19 + [i + 1])) for i in range(11)]
    with reverts(dist, "TooManyRecipients", 11, 10):
        chain.transact(f(NFT, many, [1_000] * 10 + [0]))
    chain.transact(f(NFT, many[:10], [1_000] * 10))


def test_sale_and_distribution(chain, dist, who):
    a, b, c = who.recipients[:3]
    chain.transact(dist.functions.setRoyaltySplits(NFT, [a, b, c], [3333, 3333, 3334]))
    receipt = sell(chain, dist, who, 1_000)
    assert only_event(receipt, dist, "SaleRecorded") == {
        "saleId": 1, "nftTokenId": NFT, "buyer": who.buyer, "seller": who.seller,
        "amount": 1_000, "splitVersion": 0,
    }
    assert chain.w3.eth.get_balance(dist.address) == 1_000
    assert dist.functions.getSale(1).call() == (NFT, who.buyer, who.seller, 1_000, 0, False)

    receipt = chain.transact(dist.functions.distributeRoyalties(1), who.buyer)
    # 333 + 333 + 333 = 999: the remainder of 1 goes to the first recipient.
    assert events(receipt, dist, "RoyaltyCredited") == [
        {"saleId": 1, "recipient": a, "amount": 334},
        {"saleId": 1, "recipient": b, "amount": 333},
        {"saleId": 1, "recipient": c, "amount": 333},
    ]
    assert only_event(receipt, dist, "RoyaltiesDistributed") == {
        "saleId": 1, "nftTokenId": NFT, "amount": 1_000, "recipients": 3,
    }
    assert [dist.functions.pendingRoyalties(x).call() for x in (a, b, c)] == [334, 333, 333]
    assert dist.functions.totalPending().call() == 1_000
    assert dist.functions.getSale(1).call()[5] is True
    with reverts(dist, "AlreadyDistributed", 1):
        chain.transact(dist.functions.distributeRoyalties(1))


def test_sale_uses_splits_current_when_recorded(chain, dist, who):
    a, b = who.recipients[:2]
    chain.transact(dist.functions.setRoyaltySplits(NFT, [a], [10_000]))
    sell(chain, dist, who, 500)
    chain.transact(dist.functions.setRoyaltySplits(NFT, [b], [10_000]))
    chain.transact(dist.functions.distributeRoyalties(1))
    assert dist.functions.pendingRoyalties(a).call() == 500
    assert dist.functions.pendingRoyalties(b).call() == 0


def test_sale_failures(chain, dist, who):
    with reverts(dist, "ZeroSaleValue"):
        sell(chain, dist, who, 0)
    with reverts(dist, "NoSplits", NFT):
        sell(chain, dist, who, 1)
    chain.transact(dist.functions.setRoyaltySplits(NFT, who.recipients[:1], [10_000]))
    with reverts(dist, "ZeroAddress"):
        chain.transact(dist.functions.recordSale(NFT, ZERO), who.seller, value=1)
    with reverts(dist, "SaleNotFound", 1):
        chain.transact(dist.functions.distributeRoyalties(1))
    with reverts(dist, "SaleNotFound", 1):
        dist.functions.getSale(1).call()


def test_withdraw(chain, dist, who):
    a = who.recipients[0]
    chain.transact(dist.functions.setRoyaltySplits(NFT, [a], [10_000]))
    sell(chain, dist, who, 10**18)
    chain.transact(dist.functions.distributeRoyalties(1))
    before = chain.w3.eth.get_balance(a)
    receipt = chain.transact(dist.functions.withdrawRoyalties(), a)
    assert only_event(receipt, dist, "RoyaltiesWithdrawn") == {"recipient": a, "amount": 10**18}
    gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert chain.w3.eth.get_balance(a) == before + 10**18 - gas
    assert dist.functions.pendingRoyalties(a).call() == 0
    assert chain.w3.eth.get_balance(dist.address) == 0
    with reverts(dist, "NothingToWithdraw", a):
        chain.transact(dist.functions.withdrawRoyalties(), a)


def test_withdraw_to_refusing_recipient_reverts_and_keeps_the_credit(chain, dist, who, deployment):
    attacker = deployment[1]
    chain.transact(attacker.functions.setRefuse(True), who.buyer)
    chain.transact(dist.functions.setRoyaltySplits(NFT, [attacker.address], [10_000]))
    sell(chain, dist, who, 77)
    chain.transact(dist.functions.distributeRoyalties(1))
    with reverts(dist, "TransferFailed", attacker.address, 77):
        chain.transact(attacker.functions.withdraw(), who.buyer)
    assert dist.functions.pendingRoyalties(attacker.address).call() == 77
    assert dist.functions.totalPending().call() == 77
    assert chain.w3.eth.get_balance(dist.address) == 77


def test_reentrant_withdraw_is_blocked(chain, dist, who, deployment):
    attacker = deployment[1]
    honest = who.recipients[0]
    chain.transact(dist.functions.setRoyaltySplits(NFT, [attacker.address, honest],
                                                   [5_000, 5_000]))
    sell(chain, dist, who, 1_000)
    chain.transact(dist.functions.distributeRoyalties(1))
    chain.transact(attacker.functions.withdraw(), who.buyer)
    assert attacker.functions.reentryAttempts().call() == 1
    assert attacker.functions.lastReentryError().call() == encode_error(dist, "ReentrantCall")
    assert chain.w3.eth.get_balance(attacker.address) == 500
    assert chain.w3.eth.get_balance(dist.address) == 500
    assert dist.functions.pendingRoyalties(honest).call() == 500


bps_splits = st.integers(1, 10).flatmap(
    lambda n: st.lists(st.integers(1, 10_000), min_size=n, max_size=n)
    .filter(lambda cuts: len(set(cuts)) == len(cuts))
    .map(lambda cuts: _shares(sorted(cuts), n))
    .filter(lambda shares: all(s > 0 for s in shares))
)


def _shares(cuts: list[int], n: int) -> list[int]:
    """n positive shares summing to 10,000 from n-1 distinct cut points (the last cut ignored)."""
    points = [0, *cuts[: n - 1], 10_000]
    return [b - a for a, b in pairwise(points)]


# The autouse snapshot fixture is per test, not per example: each example snapshots itself.
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(bps=bps_splits, prices=st.lists(st.integers(1, 10**23), min_size=1, max_size=3))
def test_distribution_neither_creates_nor_loses_value(chain, dist, who, bps, prices):
    snapshot = chain.snapshot()
    try:
        recipients = who.recipients[: len(bps)] + [
            chain.w3.to_checksum_address(bytes([0xAA] * 19 + [i])) for i in range(10)
        ][: max(0, len(bps) - len(who.recipients))]
        chain.transact(dist.functions.setRoyaltySplits(NFT, recipients, bps))
        credited = dict.fromkeys(recipients, 0)
        for sale_id, price in enumerate(prices, start=1):
            sell(chain, dist, who, price)
            receipt = chain.transact(dist.functions.distributeRoyalties(sale_id))
            got = events(receipt, dist, "RoyaltyCredited")
            assert sum(e["amount"] for e in got) == price
            for e, share in zip(got, bps, strict=True):
                assert e["amount"] >= price * share // 10_000
                credited[e["recipient"]] += e["amount"]
        for r in recipients:
            assert dist.functions.pendingRoyalties(r).call() == credited[r]
        assert dist.functions.totalPending().call() == sum(prices)
        assert chain.w3.eth.get_balance(dist.address) == sum(prices)
        # Withdraw from the funded accounts we control; balance drops by exactly their credit.
        for r in recipients:
            if r in who.recipients and credited[r]:
                before = chain.w3.eth.get_balance(r)
                receipt = chain.transact(dist.functions.withdrawRoyalties(), r)
                gas = receipt["gasUsed"] * receipt["effectiveGasPrice"]
                assert chain.w3.eth.get_balance(r) == before + credited[r] - gas
            elif r in who.recipients:  # a share that rounded down to nothing
                with reverts(dist, "NothingToWithdraw", r):
                    chain.transact(dist.functions.withdrawRoyalties(), r)
        left = sum(credited[r] for r in recipients if r not in who.recipients)
        assert chain.w3.eth.get_balance(dist.address) == left
        assert dist.functions.totalPending().call() == left
    finally:
        chain.revert(snapshot)
