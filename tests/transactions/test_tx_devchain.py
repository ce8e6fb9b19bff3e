"""The same generated bindings drive the devchain (web3 + eth-tester) as the TRON node."""

from __future__ import annotations

import pytest

from dcmx_core.addresses import to_tron
from dcmx_core.transports import ErrorDecoder, Transport, Web3Transport


def test_generated_token_binding_on_the_devchain(token_abi):
    from dcmx_generated import dcmx_token
    from dcmx_plugins.devchain import Devchain, revert_data

    chain = Devchain()
    addresses = chain.deploy_platform()
    admin, alice, bob = chain.accounts[:3]
    raw = bytes.fromhex(addresses["DCMXToken"][2:])

    transport = Web3Transport(chain.w3, from_=admin)
    assert isinstance(transport, Transport)
    token = dcmx_token.DCMXToken(raw, transport)
    if not token.has_role(token.minter_role(), admin):
        assert token.grant_role(token.minter_role(), admin)["status"] == 1
    assert token.mint(alice, 100 * 10**18)["status"] == 1

    as_alice = dcmx_token.DCMXToken(raw, Web3Transport(chain.w3, from_=alice))
    receipt = as_alice.transfer(bob, 40 * 10**18)
    assert receipt["status"] == 1
    assert token.balance_of(alice) == 60 * 10**18 and token.balance_of(bob) == 40 * 10**18
    (log,) = receipt["logs"]
    event = dcmx_token.decode_log([bytes(t) for t in log["topics"]], bytes(log["data"]))
    assert isinstance(event, dcmx_token.Transfer)
    assert event.to_ == to_tron(bytes.fromhex(bob[2:])) and event.value == 40 * 10**18

    # a revert there decodes with the same ErrorDecoder the TRON transport uses
    with pytest.raises(Exception) as info:
        as_alice.transfer(bob, 10**30)
    name, args, _ = ErrorDecoder(token_abi).decode(revert_data(info.value) or b"")
    assert name == "InsufficientBalance" and args["needed"] == 10**30
