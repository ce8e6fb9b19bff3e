"""Rollback cost does not grow with the database: undo 10 blocks on 10,000 and on 1,000,000 rows.

A :class:`MemoryChain` of token Transfer events (100 per block, 1,000 wallets) is indexed into
SQLite with the ``token`` plugin (raw event rows, which its ``transaction_index`` view shows;
balances upserted per wallet); then the last 10 blocks are replaced (``fork``) and the step
that finds the fork and rolls every table back is timed (``Store.rollback_to``, the undo
itself, and the whole step). Forks alternate between the two sizes; best of ``--forks``.
Target: the 1,000,000-row figure within 2x of the 10,000-row one.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from bench.common import sqlite_url
from dcmx_core import Contract, Indexer
from dcmx_core.sources.memory import MemoryChain, transfer_log

TOKEN = b"\xd0" * 20
PER_BLOCK = 100
DEPTH = 10


def build(events: int, rng: random.Random) -> MemoryChain:
    wallets = [rng.randbytes(20) for _ in range(1_000)]
    chain = MemoryChain(finality_depth=30)
    for _ in range(events // PER_BLOCK):
        chain.append_block(
            [transfer_log(TOKEN, rng.choice(wallets), rng.choice(wallets), rng.getrandbits(60))
             for _ in range(PER_BLOCK)]
        )
    return chain


class Sized:
    """An index of ``events`` Transfers, forked and rolled back on demand."""

    def __init__(self, events: int, url: str):
        from dcmx_generated import dcmx_token

        self.events = events
        self.chain = build(events, random.Random(3))
        self.indexer = Indexer(self.chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))],
                               entry_points=True, only_plugins=["token"], window=30)
        self.indexer.run()
        self.undo: list[float] = []
        self.step: list[float] = []
        inner = self.indexer.store.rollback_to

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                self.undo.append(time.perf_counter() - t)

        self.indexer.store.rollback_to = timed

    def fork(self) -> None:
        self.chain.fork(DEPTH)
        t = time.perf_counter()
        self.indexer.run_once()  # finds the fork and rolls back
        self.step.append(time.perf_counter() - t)
        self.indexer.run()  # re-indexes the new branch

    def rows(self) -> int:
        with self.indexer.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM dcmx_token__transfer").scalar()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(10_000, 1_000_000))
    parser.add_argument("--forks", type=int, default=5)
    args = parser.parse_args(argv)
    with sqlite_url() as small_url, sqlite_url() as large_url:
        indexes = [Sized(args.sizes[0], small_url), Sized(args.sizes[1], large_url)]
        # Alternated, so that load on a shared machine hits both sizes alike.
        for _ in range(args.forks):
            for x in indexes:
                x.fork()
        for x in indexes:
            print(f"{x.events:>9,} events ({x.rows():,} rows in the raw table): rollback "
                  f"of {DEPTH} blocks {min(x.undo) * 1e3:7.1f} ms (whole step "
                  f"{min(x.step) * 1e3:7.1f} ms; best of {args.forks})")
            x.indexer.engine.dispose()
    ratio = min(indexes[1].undo) / min(indexes[0].undo)
    step = min(indexes[1].step) / min(indexes[0].step)
    print(f"large / small: {ratio:.2f}x; target within 2x: {'met' if ratio <= 2 else 'MISSED'} "
          f"(the whole step, finding the fork and committing: {step:.2f}x)")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
