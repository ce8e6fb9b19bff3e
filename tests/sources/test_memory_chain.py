from __future__ import annotations

import time

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dcmx_core.chain import Source
from dcmx_core.errors import SourceError
from dcmx_core.sources.memory import TRANSFER_TOPIC, MemoryChain, transfer_log

TOKEN_A, TOKEN_B = b"\x11" * 20, b"\x22" * 20
ALICE, BOB = b"\xaa" * 20, b"\xbb" * 20
APPROVAL = b"\x8c" * 32


def _chain(**options) -> MemoryChain:
    chain = MemoryChain(**options)
    for i in range(1, 21):
        chain.append_block(
            [
                transfer_log(TOKEN_A, ALICE, BOB, i),
                (TOKEN_B, (APPROVAL,), b"x", 0),
                transfer_log(TOKEN_B, BOB, ALICE, i),
            ][: i % 4]
        )
    return chain


def _linked(chain: MemoryChain) -> bool:
    headers = chain.headers(0, chain.head())
    return all(
        h.parent_hash == p.hash and h.number == p.number + 1
        for p, h in zip(headers, headers[1:], strict=False)
    )


def test_a_fresh_chain_has_an_empty_genesis_and_is_a_source():
    chain = MemoryChain()
    assert isinstance(chain, Source)
    assert chain.head() == chain.finalized() == 0
    [genesis] = chain.headers(0, 0)
    assert genesis.parent_hash == b"\0" * 32 and len(genesis.hash) == 32
    assert chain.logs(0, 0, [TOKEN_A]) == []


def test_blocks_link_and_hashes_are_reproducible():
    a, b = _chain(), _chain()
    assert _linked(a)
    assert a.headers(0, 20) == b.headers(0, 20)
    assert a.logs(0, 20, [TOKEN_A, TOKEN_B]) == b.logs(0, 20, [TOKEN_A, TOKEN_B])
    assert _chain(salt=b"other").headers(1, 1)[0].hash != a.headers(1, 1)[0].hash
    assert a.headers(20, 20)[0].timestamp == a.genesis_time + 20 * a.block_time


def test_logs_are_filtered_numbered_and_sorted():
    chain = _chain()
    everything = chain.logs(0, 20, [TOKEN_A, TOKEN_B])
    assert len(everything) == chain.log_count == sum(i % 4 for i in range(1, 21))
    assert everything == sorted(everything, key=lambda log: (log.block_number, log.log_index))
    block_3 = chain.block_logs(3)
    assert [(log.log_index, log.tx_index) for log in block_3] == [(0, 0), (1, 0), (2, 2)]
    assert block_3[0].tx_hash == block_3[1].tx_hash != block_3[2].tx_hash
    assert block_3[1].data == b"x" and block_3[2].topics[1] == BOB.rjust(32, b"\0")
    only_a = chain.logs(0, 20, [TOKEN_A])
    assert only_a and {log.address for log in only_a} == {TOKEN_A}
    approvals = chain.logs(0, 20, [TOKEN_A, TOKEN_B], [APPROVAL])
    assert approvals and all(log.topics[0] == APPROVAL for log in approvals)
    assert chain.logs(4, 7, [TOKEN_B], [TRANSFER_TOPIC]) == [
        log
        for log in everything
        if 4 <= log.block_number <= 7 and log.address == TOKEN_B and log.topics[0] == TRANSFER_TOPIC
    ]
    assert chain.logs(0, 20, [b"\x99" * 20]) == []


def test_asking_beyond_the_head_fails_like_a_node():
    chain = _chain()
    with pytest.raises(SourceError, match="beyond the head"):
        chain.headers(15, 21)
    with pytest.raises(SourceError):
        chain.logs(0, 21, [TOKEN_A])
    assert chain.headers(5, 4) == []


@pytest.mark.parametrize("length", [1, 3, 6])
def test_fork_replaces_the_tip_with_a_branch_of_any_length(length):
    chain = _chain()
    before = chain.headers(0, 20)
    logs_before = chain.logs(0, 20, [TOKEN_A, TOKEN_B])
    new = chain.fork(3, length=length)
    assert chain.head() == 17 + length == new[-1].number
    after = chain.headers(0, chain.head())
    assert after[:18] == before[:18]
    assert all(h.hash != old.hash for h, old in zip(after[18:], before[18:], strict=False))
    assert _linked(chain)
    # Without new logs, a replaced block keeps its logs (new block hash, same content).
    kept = chain.logs(0, chain.head(), [TOKEN_A, TOKEN_B])
    strip = [
        (lg.block_number, lg.log_index, lg.address, lg.topics, lg.data)
        for lg in logs_before
        if lg.block_number <= 17 + min(length, 3)
    ]
    assert [(lg.block_number, lg.log_index, lg.address, lg.topics, lg.data) for lg in kept] == strip
    assert all(lg.block_hash == after[lg.block_number].hash for lg in kept)


def test_fork_with_new_logs_and_repeated_forks_differ():
    chain = _chain()
    first = chain.fork(2, logs=[[transfer_log(TOKEN_A, BOB, BOB, 1000)], []])
    assert [lg.data[-2:] for lg in chain.logs(19, 20, [TOKEN_A, TOKEN_B])] == [
        (1000).to_bytes(2, "big")
    ]
    second = chain.fork(2, logs=[[transfer_log(TOKEN_A, BOB, BOB, 1000)], []])
    assert [h.hash for h in first] != [h.hash for h in second]
    with pytest.raises(ValueError):
        chain.fork(21)  # genesis stays
    with pytest.raises(ValueError):
        chain.fork(2, logs=[[]])  # one spec per new block


def test_finalized_follows_the_head_or_a_pinned_number():
    chain = _chain(finality_depth=5)
    assert chain.finalized() == 15
    chain.set_finalized(18)
    assert chain.finalized() == 18
    chain.fork(5, length=1)  # a deep fork, below the pinned number: the head is 16
    assert chain.finalized() == 16
    chain.set_finalized(None)
    assert chain.finalized() == 11
    assert MemoryChain(finality_depth=50).finalized() == 0


def test_save_and_load_round_trip_and_stream(tmp_path):
    chain = _chain(finality_depth=4, salt=b"s")
    chain.fork(2, length=4)
    chain.set_finalized(9)
    path = tmp_path / "chain.bin"
    chain.save(path)
    loaded = MemoryChain.load(path)
    assert loaded.head() == chain.head() and loaded.finalized() == 9
    assert loaded.headers(0, chain.head()) == chain.headers(0, chain.head())
    everything = chain.logs(0, chain.head(), [TOKEN_A, TOKEN_B])
    assert loaded.logs(0, chain.head(), [TOKEN_A, TOKEN_B]) == everything
    # It carries on exactly as the original would.
    assert loaded.append_block() == chain.append_block()
    assert loaded.fork(3) == chain.fork(3)
    streamed = list(MemoryChain.iter_file(path))
    assert [h for h, _ in streamed] == MemoryChain.load(path).headers(0, 22)
    assert [lg for _, logs in streamed for lg in logs] == everything
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(SourceError, match="truncated"):
        MemoryChain.load(path)


def test_a_lagging_view_can_move_its_head_backwards():
    chain = _chain(finality_depth=3)
    view = chain.view(lag=2)
    assert isinstance(view, Source)
    assert view.head() == 18 and view.finalized() == 17
    view.lag = 6
    assert view.head() == 14 and view.finalized() == 14
    with pytest.raises(SourceError, match="beyond the head 14"):
        view.headers(10, 15)
    assert view.logs(0, 14, [TOKEN_A]) == chain.logs(0, 14, [TOKEN_A])
    chain.extend(5)
    assert view.head() == 19


def test_a_copy_stays_on_the_old_branch():
    chain = _chain()
    stale = chain.copy()
    chain.fork(4, logs=[[], [], [], []])
    assert stale.headers(17, 20) != chain.headers(17, 20)
    assert stale.logs(17, 20, [TOKEN_A, TOKEN_B]) != chain.logs(17, 20, [TOKEN_A, TOKEN_B])
    stale.append_block()
    assert chain.head() == 20 and stale.head() == 21


def test_bad_specs_are_rejected():
    chain = MemoryChain()
    with pytest.raises(ValueError):
        chain.append_block([(b"short", (), b"")])
    with pytest.raises(ValueError):
        chain.append_block([(TOKEN_A, (b"\0" * 31,), b"")])
    with pytest.raises(ValueError):
        chain.append_block([(TOKEN_A, (), b"", 2), (TOKEN_A, (), b"", 1)])
    assert chain.head() == 0


def test_narrow_queries_on_a_large_chain_cost_what_they_return():
    chain = MemoryChain()
    spec = [transfer_log(TOKEN_A, ALICE, BOB, v) for v in range(50)]
    chain.extend(4000, spec)  # 200,000 logs
    started = time.perf_counter()
    for n in range(1000, 1100):
        assert len(chain.logs(n, n, [TOKEN_A])) == 50
    narrow = time.perf_counter() - started
    started = time.perf_counter()
    assert len(chain.logs(0, 4000, [TOKEN_A], [TRANSFER_TOPIC])) == 200_000
    wide = time.perf_counter() - started
    assert narrow < wide / 10  # 5,000 logs vs 200,000: not a scan of the whole chain


class ForkingChain(RuleBasedStateMachine):
    """Extend and fork at random; the chain must stay linked and agree with a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = MemoryChain(finality_depth=3)
        self.model: list[list[int]] = [[]]  # per block: the values of its Transfer logs
        self.seen_hashes: dict[bytes, int] = {}

    @rule(values=st.lists(st.integers(0, 2**64), max_size=3))
    def append(self, values):
        self.chain.append_block([transfer_log(TOKEN_A, ALICE, BOB, v) for v in values])
        self.model.append(values)

    @rule(data=st.data())
    def fork(self, data):
        depth = data.draw(st.integers(0, self.chain.head()))
        blocks = data.draw(st.lists(st.lists(st.integers(0, 99), max_size=2), max_size=5))
        old_tip = self.chain.headers(self.chain.head() - depth + 1, self.chain.head())
        new = self.chain.fork(
            depth,
            length=len(blocks),
            logs=[[transfer_log(TOKEN_A, ALICE, BOB, v) for v in b] for b in blocks],
        )
        del self.model[len(self.model) - depth :]
        self.model.extend(blocks)
        assert not {h.hash for h in new} & {h.hash for h in old_tip}

    @invariant()
    def agrees_with_the_model(self):
        head = self.chain.head()
        assert head == len(self.model) - 1
        assert 0 <= self.chain.finalized() == max(0, head - 3)
        assert _linked(self.chain)
        logs = self.chain.logs(0, head, [TOKEN_A])
        assert [int.from_bytes(lg.data, "big") for lg in logs] == [
            v for values in self.model for v in values
        ]
        for header in self.chain.headers(0, head):  # a hash never names two different blocks
            assert self.seen_hashes.setdefault(header.hash, header.number) == header.number


ForkingChain.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
test_forking_chain_state_machine = ForkingChain.TestCase
