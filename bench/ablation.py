"""What each optimisation of the core's hot path bought: before/after in the same run.

Each optimisation is switched off in turn (the code it replaced is kept here, verbatim, as the
"before") and the recorded mix of :mod:`bench.chainmix` (100,000 events by default) is indexed
into SQLite with all six plugins and with plugins off. Rounds alternate the variants so that
load on a shared machine hits them alike; best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import sys

from bench import chainmix
from bench.common import sqlite_url
from bench.e2e import dcmx_run
from dcmx_core import indexer as ix
from dcmx_core.batch import Batch
from dcmx_core.store import Store, events_table


def legacy_write(self, conn, batch: Batch) -> None:  # noqa: ANN001
    """The indexer's _write before: a dict per row through SQLAlchemy's executemany."""
    rows: dict[type, list[dict]] = {}
    audit = []
    for d in batch.events:
        lg, event = d.log, d.event
        cls = type(event)
        values = (lg.block_number, lg.block_hash, d.timestamp, lg.tx_hash, lg.tx_index,
                  lg.log_index, d.contract_address, *event.sql_values())
        cols = [c.key for c in cls.TABLE.columns]
        rows.setdefault(cls, []).append(dict(zip(cols, values, strict=True)))
        audit.append({
            "block_number": lg.block_number, "log_index": lg.log_index,
            "block_hash": lg.block_hash, "block_timestamp": d.timestamp, "tx_hash": lg.tx_hash,
            "tx_index": lg.tx_index, "contract_address": d.contract_address,
            "contract": cls.CONTRACT, "event": cls.__name__, "args": event.args(),
            "topics": b"".join(lg.topics), "data": lg.data,
        })
    for cls, batch_rows in rows.items():
        conn.execute(cls.TABLE.insert(), batch_rows)
    if audit:
        conn.execute(events_table.insert(), audit)
    self.plugins.handle(batch, conn)


FAST_WRITE = ix.Indexer._write
INIT = ix.Indexer.__init__


def configure(variant: str) -> None:
    ix.Indexer._write = legacy_write if variant in ("before", "sqlalchemy rows") else FAST_WRITE
    Store.UNJOURNALED_MIN_EVENTS = 10**12 if variant in ("before", "triggers kept") else 2_000

    def init(self, *a, **k):  # noqa: ANN001, ANN002, ANN003
        INIT(self, *a, **k, prefetch=variant == "after + prefetch")

    ix.Indexer.__init__ = init


VARIANTS = ("before", "sqlalchemy rows", "triggers kept", "after", "after + prefetch")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    path = chainmix.cached(args.events)
    for plugins in (False, True):
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for v in VARIANTS:
                configure(v)
                with sqlite_url() as url:
                    n, s = dcmx_run(path, url, plugins)
                best[v] = max(best.get(v, 0), n / s)
        configure("after")
        print(f"SQLite, {'all six plugins' if plugins else 'plugins off'}, {n:,} events "
              f"(best of {args.rounds}):")
        for v in VARIANTS:
            print(f"  {v:18s} {best[v]:9,.0f} events/s  {best[v] / best['before']:5.2f}x before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
