"""What the index on ``tx_hash`` costs indexing, and what it buys a lookup by transaction.

The recorded mix of :mod:`bench.chainmix` (200,000 events by default) is indexed by
:func:`bench.e2e.dcmx_run` (all six plugins) into SQLite and PostgreSQL, each run in a fresh
process, with the raw tables' ``tx_hash`` index ("with") and with it taken off the tables'
definitions in that process ("without", as dcmx was before). Rounds alternate the two; best of
``--rounds``. Then :func:`dcmx_core.lookups.transaction` is timed on the indexed database,
with the index and after dropping it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import chainmix
from bench.common import postgres_url, sqlite_url


def _raw_tables() -> list:
    from dcmx_generated import CONTRACTS

    return [cls.TABLE for mod in CONTRACTS.values() for cls in mod.EVENTS]


def _drop_from_definitions() -> None:
    from dcmx_core.abi_runtime import tx_index_name

    for t in _raw_tables():
        for index in list(t.indexes):
            if index.name == tx_index_name(t.name):
                t.indexes.discard(index)


def _child(spec: str) -> None:
    variant, path, url = json.loads(spec)
    if variant == "without":
        _drop_from_definitions()
    from bench.e2e import dcmx_run

    n, s = dcmx_run(Path(path), url, True)
    print(json.dumps({"events": n, "seconds": s}))


def _run(variant: str, path: Path, url: str) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.tx_index", "--child", json.dumps([variant, str(path), url])],
        capture_output=True, text=True,
    )
    if out.returncode:
        raise RuntimeError(f"the {variant} run failed:\n{out.stderr[-4000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["events"] / r["seconds"]


def _lookup_ms(url: str, probes: int = 200) -> float:
    """Median milliseconds of one lookup by transaction (all 31 raw tables) on ``url``."""
    import sqlalchemy as sa

    from dcmx_core.lookups import transaction
    from dcmx_generated import CONTRACTS

    events = [cls for mod in CONTRACTS.values() for cls in mod.EVENTS]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        t = CONTRACTS["DCMXToken"].Transfer.TABLE
        hashes = list(conn.execute(sa.select(t.c.tx_hash).limit(probes)).scalars())
        times = []
        for h in hashes:
            start = time.perf_counter()
            assert transaction(conn, events, bytes(h)).events
            times.append(time.perf_counter() - start)
    engine.dispose()
    times.sort()
    return 1000 * times[len(times) // 2]


def _drop_indexes(url: str) -> None:
    import sqlalchemy as sa

    from dcmx_core.abi_runtime import tx_index_name

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for t in _raw_tables():
            conn.exec_driver_sql(f"DROP INDEX {tx_index_name(t.name)}")
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--child")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    path = chainmix.cached(args.events)
    dbs = {"sqlite": sqlite_url, "postgresql": postgres_url}
    names = list(dbs) if args.db == "both" else [args.db]
    for name in names:
        best: dict[str, float] = {}
        for r in range(args.rounds):
            for variant in ("without", "with") if r % 2 == 0 else ("with", "without"):
                with dbs[name]() as url:
                    rate = _run(variant, path, url)
                    print(f"  {name:10} {variant:8} {rate:9,.0f} events/s", flush=True)
                    best[variant] = max(best.get(variant, 0.0), rate)
                    if variant == "with" and r == 0:
                        probe = _lookup_ms(url)
                        _drop_indexes(url)
                        scan = _lookup_ms(url)
                        print(f"  {name:10} lookup by transaction: {probe:.2f} ms with the "
                              f"index, {scan:.2f} ms scanning ({args.events:,} events)")
        cost = 1 - best["with"] / best["without"]
        print(f"{name}: {args.events:,} events, best of {args.rounds}: without "
              f"{best['without']:,.0f}, with {best['with']:,.0f} events/s "
              f"(index costs {100 * cost:.1f}%)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
