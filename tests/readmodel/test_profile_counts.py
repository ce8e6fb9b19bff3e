"""user_profiles counts each event once per wallet, whatever roles the wallet plays in it."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from dcmx_core import Indexer
from dcmx_core.addresses import to_tron
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import CONTRACTS, dcmx_token
from dcmx_plugins import platform, platform_contracts

TOKEN = bytes.fromhex("22" * 20)
WALLETS = [bytes([k]) * 20 for k in range(1, 5)]
APPROVAL = dcmx_token.Approval.TOPIC0


def _approval_log(owner: bytes, spender: bytes, value: int) -> tuple:
    return (TOKEN, (APPROVAL, owner.rjust(32, b"\0"), spender.rjust(32, b"\0")),
            value.to_bytes(32, "big"))


events = st.lists(
    st.tuples(st.sampled_from(["transfer", "approval"]), st.sampled_from(WALLETS),
              st.sampled_from(WALLETS), st.integers(1, 10**20), st.booleans()),
    min_size=1, max_size=30,
)


@settings(max_examples=25, deadline=None)
@given(events)
def test_profile_counts_equal_the_events(tmp_path_factory, drawn) -> None:
    chain = MemoryChain(finality_depth=2)
    block: list = []
    for kind, a, b, value, new_block in drawn:
        if new_block and block:
            chain.append_block(block)
            block = []
        block.append(transfer_log(TOKEN, a, b, value) if kind == "transfer"
                     else _approval_log(a, b, value))
    chain.append_block(block)
    chain.extend(3)
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'index.db'}"
    # the platform plugin reads all five contracts; only the token emits here
    addresses = {name: bytes([0x30 + k]) * 20 for k, name in enumerate(CONTRACTS)}
    indexer = Indexer(chain, url, platform_contracts({**addresses, "DCMXToken": TOKEN}),
                      plugins=[platform], window=3)
    indexer.run()

    involved, transfers = Counter(), Counter()
    for kind, a, b, _, _ in drawn:
        for w in {a, b}:  # a wallet on both sides is in the event once
            involved[w] += 1
            transfers[w] += kind == "transfer"
    with indexer.engine.connect() as conn:
        stored = {
            wallet: (n, t)
            for wallet, n, t in conn.execute(
                sa.select(platform.user_profiles.c["wallet", "events", "transfers"])
            )
        }
    assert stored == {to_tron(w): (involved[w], transfers[w]) for w in involved}
    indexer.engine.dispose()
