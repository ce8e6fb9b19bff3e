"""What each optimisation of the core's hot path buys: each switched off in turn, same run.

The recorded mix of :mod:`bench.chainmix` (100,000 events by default) is indexed into SQLite
with all six plugins and with plugins off, once with everything on ("after") and once with each
optimisation off. Rounds alternate the variants so that load on a shared machine hits them
alike; best of ``--rounds``. (The optimisations of the previous session, rows as tuples through
the driver and trigger-free final batches, are in bench/RESULTS.md; the second one is now part
of the backfill.)

Each variant is a :class:`dcmx_core.Tuning`:

- **backfill**: secondary indexes and journal triggers dropped while far behind
  (``dcmx_core.indexing.backfill``), built once when caught up;
- **gc paused**: the cyclic garbage collector held off during a step;
- **prefetch at the commit**: the prefetch of an in-process source (this file) starts when
  the batch commits instead of before its writes (``dcmx_core.indexing.readahead``).
"""

from __future__ import annotations

import argparse
import sys

from bench import chainmix
from bench.common import sqlite_url
from bench.e2e import dcmx_run
from dcmx_core import Tuning

VARIANTS = {
    "after": Tuning(),
    "no backfill": Tuning(backfill=False),
    "gc on": Tuning(pause_gc=False),
    # as for a node: the in-process source's prefetch starts before the writes
    "prefetch before writes": Tuning(prefetch_at_commit=False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    path = chainmix.cached(args.events)
    for plugins in (False, True):
        variants = VARIANTS
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for v in variants:
                with sqlite_url() as url:
                    n, s = dcmx_run(path, url, plugins, tuning=VARIANTS[v])
                best[v] = max(best.get(v, 0), n / s)
        print(f"SQLite, {'all six plugins' if plugins else 'plugins off'}, {n:,} events "
              f"(best of {args.rounds}):")
        for v in variants:
            print(f"  {v:18s} {best[v]:9,.0f} events/s  after = {best['after'] / best[v]:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
