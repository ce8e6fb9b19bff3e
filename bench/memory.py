"""Peak RSS of indexing 250,000 and 1,000,000 events (all six plugins, SQLite), each size in a
fresh subprocess, read from ``getrusage(RUSAGE_SELF).ru_maxrss`` at the end of the run.

Targets: under 400 MB at 1,000,000 events, and flat: the two peaks within 10% of each other
(memory must not grow with the length of the chain). The chain is replayed from its file
through :meth:`MemoryChain.open`, which holds headers and offsets only; ``MemoryChain.load``
would hold every packed log in memory (~150 MB per million) and grow with the chain.
The baseline in the same run is the RSS of a process that has imported everything and set up
the database but indexed nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from bench import chainmix
from bench.common import peak_rss_mb, sqlite_url


def child(events: int) -> None:
    from bench.e2e import dcmx_run

    path = chainmix.cached(events, quiet=True)
    with sqlite_url() as url:
        n, s = dcmx_run(path, url, plugins=True, to_block=0 if events == 0 else None)
    print(json.dumps({"events": n, "seconds": s, "peak_rss_mb": peak_rss_mb()}))


def measure(events: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", str(events)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs=2, default=(250_000, 1_000_000))
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    small, large = args.sizes
    for n in (small, large):
        chainmix.cached(n)  # generated outside the measured processes
    idle = measure(0)
    print(f"baseline (imports + setup, block 0 only): peak RSS {idle['peak_rss_mb']:6.1f} MB")
    a, b = measure(small), measure(large)
    for r in (a, b):
        print(f"{r['events']:>9,} events: peak RSS {r['peak_rss_mb']:6.1f} MB "
              f"({r['peak_rss_mb'] - idle['peak_rss_mb']:+.1f} MB over the baseline; "
              f"{r['events'] / r['seconds']:,.0f} events/s)")
    growth = b["peak_rss_mb"] / a["peak_rss_mb"] - 1
    ok_cap, ok_flat = b["peak_rss_mb"] < 400, abs(growth) <= 0.10
    print(f"{large:,} vs {small:,}: {growth:+.1%} (target within 10%: "
          f"{'met' if ok_flat else 'MISSED'}); under 400 MB: {'met' if ok_cap else 'MISSED'}")
    return 0 if ok_cap and ok_flat else 1


if __name__ == "__main__":
    sys.exit(main())
