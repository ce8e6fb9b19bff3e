"""Batches are sized by the bytes of their logs as well as by their events
(``Tuning.target_bytes``): a range whose logs are too many bytes makes the next ranges
shorter, straight to about the target, even when the events alone would not."""

from __future__ import annotations

from dcmx_core import Tuning
from dcmx_core.indexing.tuning import LOG_BYTES
from dcmx_core.testing import TestChain, TestIndexer
from dcmx_generated import dcmx_token

TOKEN = "0x" + "70" * 20
ALICE, BOB = "0x" + "a1" * 20, "0x" + "b0" * 20
PER_BLOCK = 10
# a Transfer: 32 bytes of data, three topics, the per-log columns
BLOCK_BYTES = PER_BLOCK * (32 + 3 * 32 + LOG_BYTES)


def _final_ranges(tuning: Tuning) -> list[int]:
    chain = TestChain(finality_depth=5)
    for n in range(300):
        chain.block(*[(TOKEN, dcmx_token.Transfer(from_=ALICE, to_=BOB, value=n))] * PER_BLOCK)
    sizes: list[int] = []
    with TestIndexer(chain, tuning=tuning) as indexer:
        indexer.indexer.subscribe(
            on_batch=lambda r: sizes.append(r.end - r.start + 1) if r.finalized else None
        )
        indexer.run()
        assert len(indexer.rows(dcmx_token.Transfer.TABLE)) == 300 * PER_BLOCK
    return sizes


def test_too_many_bytes_shrink_the_ranges_to_the_target():
    events_only = _final_ranges(Tuning(batch_blocks=50, target_events=10**6, prefetch=False))
    assert events_only[:2] == [50, 100]  # sparse by events: ranges grow (to the final height)
    # 50 blocks are five times the target: the next ranges hold about 10 blocks
    by_bytes = _final_ranges(
        Tuning(batch_blocks=50, target_events=10**6, target_bytes=10 * BLOCK_BYTES,
               prefetch=False)
    )
    assert by_bytes[0] == 50
    assert set(by_bytes[1:-1]) == {10}
