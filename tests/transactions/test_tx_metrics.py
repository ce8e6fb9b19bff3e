"""The write transports' figures for Prometheus: outcomes, energy and fee per function,
broadcast-to-block time, equal to what the receipts say (a TRON node over HTTP, the devchain)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tx_tron_node import ALICE, TOKEN

from dcmx_core.addresses import to_tron
from dcmx_core.transports import TransactionError, TronpyTransport, Web3Transport, tally


def figures() -> dict[str, float]:
    registry = CollectorRegistry()
    for collector in tally.COLLECTORS:
        registry.register(collector)
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "le")
            if "le" not in s.labels:
                out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def test_tron_outcomes_energy_fee_and_time(node, key_env, token_abi):
    from dcmx_generated.dcmx_token import DCMXToken

    transport = TronpyTransport.from_env(node.url, fee_limit=30_000_000, errors=[token_abi],
                                         timeout=0.3, poll_interval=0.02)
    token = DCMXToken(TOKEN, transport)
    before = figures()
    receipts = [token.transfer(to_tron(ALICE), 10**18), token.transfer(to_tron(ALICE), 2)]
    for outcome in ("revert", "out_of_energy", "broadcast:CONTRACT_VALIDATE_ERROR",
                    "never_confirm"):
        node.next_outcome = outcome
        with pytest.raises(TransactionError):
            token.transfer(to_tron(ALICE), 3)
    moved = delta(before, figures())

    transfer = "0x" + DCMXToken.transfer.encode(to_tron(ALICE), 1)[:4].hex()
    assert moved['dcmx_tx_total{outcome=success}'] == 2
    assert moved['dcmx_tx_total{outcome=reverted}'] == 2  # a revert, out of energy: in a block
    assert moved['dcmx_tx_total{outcome=refused}'] == 1
    assert moved['dcmx_tx_total{outcome=timeout}'] == 1
    mined = moved[f"dcmx_tx_energy_used_count{{selector={transfer}}}"]
    assert mined == 4
    assert moved[f"dcmx_tx_energy_used_sum{{selector={transfer}}}"] >= sum(
        r.energy_used for r in receipts)
    assert moved[f"dcmx_tx_fee_sum{{selector={transfer}}}"] >= sum(r.fee for r in receipts)
    assert moved["dcmx_tx_confirm_seconds_count"] == 4
    assert moved["dcmx_tx_confirm_seconds_sum"] > 0


def test_devchain_receipts_are_counted_once(token_abi):
    from dcmx_generated import dcmx_token
    from dcmx_plugins.devchain import Devchain

    chain = Devchain()
    addresses = chain.deploy_platform()
    admin, alice, bob = chain.accounts[:3]
    raw = bytes.fromhex(addresses["DCMXToken"][2:])
    token = dcmx_token.DCMXToken(raw, Web3Transport(chain.w3, from_=admin))
    before = figures()
    receipts = []
    if not token.has_role(token.minter_role(), admin):
        receipts.append(token.grant_role(token.minter_role(), admin))
    receipts.append(token.mint(alice, 100 * 10**18))
    as_alice = dcmx_token.DCMXToken(raw, Web3Transport(chain.w3, from_=alice))
    receipts.append(as_alice.transfer(bob, 40 * 10**18))
    with pytest.raises(Exception):  # noqa: B017 - the node refuses a transfer it would revert
        as_alice.transfer(bob, 10**30)
    moved = delta(before, figures())

    assert moved["dcmx_tx_total{outcome=success}"] == len(receipts)
    assert moved["dcmx_tx_total{outcome=refused}"] == 1
    gas = sum(r["gasUsed"] for r in receipts)
    fees = sum(r["gasUsed"] * r["effectiveGasPrice"] for r in receipts)
    energy = sum(v for k, v in moved.items() if k.startswith("dcmx_tx_energy_used_sum"))
    paid = sum(v for k, v in moved.items() if k.startswith("dcmx_tx_fee_sum"))
    assert (energy, paid) == (gas, fees)
    mint = "0x" + dcmx_token.DCMXToken.mint.encode(alice, 1)[:4].hex()
    assert moved[f"dcmx_tx_energy_used_count{{selector={mint}}}"] == 1


def test_tron_broadcast_to_solidified(node, key_env, token_abi):
    """Waiting for solidification (the solidity node knows the transaction a few polls after
    the full node) times broadcast to solidified, once per transaction this process sent."""
    from dcmx_generated.dcmx_token import DCMXToken

    transport = TronpyTransport.from_env(node.url, fee_limit=30_000_000, errors=[token_abi],
                                         timeout=2, poll_interval=0.02)
    token = DCMXToken(TOKEN, transport)
    before = figures()
    receipt = token.transfer(to_tron(ALICE), 5)
    final = transport.wait_solidified(receipt.txid)
    assert final.txid == receipt.txid and final.block_number == receipt.block_number
    assert node.polls["solid:" + receipt.txid] == node.solidify_after + 1
    transport.wait_solidified(receipt.txid)  # asked again: not timed twice
    moved = delta(before, figures())
    assert moved["dcmx_tx_solidified_seconds_count"] == 1
    assert moved["dcmx_tx_solidified_seconds_sum"] >= moved["dcmx_tx_confirm_seconds_sum"] > 0
    with pytest.raises(TransactionError, match="not solidified within"):
        transport.wait_solidified("ab" * 32, timeout=0.1)
