"""End to end from a recorded chain: dcmx (all six plugins, or raw tables only) vs the hand loop.

The chain is the realistic mix of :mod:`bench.chainmix` (1,000,000 events by default), replayed
from its file through :meth:`MemoryChain.open` (a file source) by ``Indexer.run``; the figure is
events over the wall time of ``run`` (setup, fetch, decode, every write, every commit).

The baseline is the loop a developer writes by hand: web3.py's ``process_log`` on every log and
one SQLAlchemy ORM object per event (``session.add``, a commit per block), on the first 20,000
events of the same chain, into the same kind of database, in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys

import sqlalchemy as sa
from sqlalchemy import orm

from bench import chainmix
from bench.common import Timer, machine, postgres_url, sqlite_url
from dcmx_core import Indexer
from dcmx_core.sources.memory import MemoryChain


def dcmx_run(
    path, url: str, plugins: bool = True, to_block: int | None = None  # noqa: ANN001
) -> tuple[int, float]:
    """(events, seconds) of indexing the saved chain at ``path`` into ``url``."""
    from dcmx_plugins import platform_contracts

    source = MemoryChain.open(path)
    indexer = Indexer(
        source,
        url,
        platform_contracts(chainmix.ADDRESSES),
        entry_points=True,
        only_plugins=None if plugins else [],
        window=19,
    )
    events = 0

    def count(report) -> None:  # noqa: ANN001
        nonlocal events
        events += report.events

    indexer.on_batch = count
    with Timer() as t:
        indexer.run(to_block=source.head() if to_block is None else to_block)
    indexer.engine.dispose()
    source.close()
    return events, t.seconds


def sqlite_floor(path, url: str, events: int) -> tuple[int, float]:  # noqa: ANN001
    """(events, seconds) of SQLite alone taking the rows of the raw run for ``events`` events.

    The rows are built by the indexer's own decode and row code, outside the timer; the timer
    covers only ``RowWriter.insert`` of every row into primary-key-only tables (as in a
    backfill) and the commit. No Python pipeline can index faster than this into SQLite.
    """
    from dcmx_core.batch import Batch
    from dcmx_plugins import platform_contracts

    source = MemoryChain.open(path)
    indexer = Indexer(source, url, platform_contracts(chainmix.ADDRESSES), only_plugins=[])
    indexer.setup()
    end, n = 0, 0
    for header, logs in MemoryChain.iter_file(path):
        end, n = header.number, n + len(logs)
        if n >= events:
            break
    headers = source.headers(0, end)
    decoded = indexer._decode(source.logs(0, end, list(chainmix.ADDRESSES.values())), headers, 0)
    writes = []
    writer = indexer.store.writer

    class Collect:
        converter = writer.converter

        def insert(self, conn, table, rows):  # noqa: ANN001, ANN202
            writes.append((table, rows))

    indexer.store.writer = Collect()
    with indexer.engine.connect() as conn:
        indexer._write(conn, Batch(0, end, decoded, True))
    with Timer() as t, indexer.engine.begin() as conn:
        for table, rows in writes:
            writer.insert(conn, table, rows)
    indexer.engine.dispose()
    source.close()
    return len(decoded), t.seconds


# -- the hand-written baseline ------------------------------------------------------------------


class _Base(orm.DeclarativeBase):
    pass


class EventRow(_Base):
    """What a developer stores per event: where it is, what it is, its arguments as JSON."""

    __tablename__ = "events"
    block_number: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True)
    log_index: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    block_hash: orm.Mapped[str] = orm.mapped_column(sa.String(66))
    tx_hash: orm.Mapped[str] = orm.mapped_column(sa.String(66), index=True)
    contract: orm.Mapped[str] = orm.mapped_column(sa.String(42))
    event: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    args: orm.Mapped[str] = orm.mapped_column(sa.Text)


def _jsonable(value):  # noqa: ANN001, ANN202
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def hand_loop(path, url: str, events: int) -> tuple[int, float]:
    """web3 process_log + one ORM object per event + a commit per block, over ``events``."""
    from hexbytes import HexBytes
    from web3 import Web3

    w3 = Web3()
    processors = {}
    for name, address in chainmix.ADDRESSES.items():
        abi = json.loads((chainmix.BUILD / f"{name}.json").read_text())["abi"]
        checksum = Web3.to_checksum_address("0x" + address.hex())
        contract = w3.eth.contract(address=checksum, abi=abi)
        for e in abi:
            if e["type"] == "event":
                sig = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
                topic0 = Web3.keccak(text=sig)
                processors[address, bytes(topic0)] = getattr(contract.events, e["name"])()
    blocks = []
    n = 0
    for _, logs in MemoryChain.iter_file(path):
        if n >= events:
            break
        blocks.append(logs)
        n += len(logs)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    _Base.metadata.create_all(engine)
    done = 0
    with Timer() as t, orm.Session(engine) as session:
        for logs in blocks:
            for lg in logs:
                entry = {
                    "address": Web3.to_checksum_address("0x" + lg.address.hex()),
                    "topics": [HexBytes(x) for x in lg.topics],
                    "data": HexBytes(lg.data),
                    "blockNumber": lg.block_number,
                    "blockHash": HexBytes(lg.block_hash),
                    "transactionHash": HexBytes(lg.tx_hash),
                    "transactionIndex": lg.tx_index,
                    "logIndex": lg.log_index,
                }
                decoded = processors[lg.address, lg.topics[0]].process_log(entry)
                session.add(
                    EventRow(
                        block_number=decoded["blockNumber"],
                        log_index=decoded["logIndex"],
                        block_hash=decoded["blockHash"].to_0x_hex(),
                        tx_hash=decoded["transactionHash"].to_0x_hex(),
                        contract=decoded["address"],
                        event=decoded["event"],
                        args=json.dumps({k: _jsonable(v) for k, v in decoded["args"].items()}),
                    )
                )
                done += 1
            session.commit()
    engine.dispose()
    return done, t.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=20_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-raw", action="store_true", help="skip the plugins-off run")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    path = chainmix.cached(args.events)
    print(f"chain: {path.name}\n{chainmix.describe(args.events)}")
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    failed = []
    for db in dbs:
        make = sqlite_url if db == "sqlite" else postgres_url
        with make() as url:
            base_n, base_s = hand_loop(path, url, args.baseline_events)
        base = base_n / base_s
        runs = [("all six plugins", True, 50_000)]
        if db == "sqlite" and not args.no_raw:
            runs.append(("plugins off (raw event tables)", False, 150_000))
        print(f"\n{db}: hand loop (web3 process_log + ORM, commit per block): "
              f"{base:10,.0f} events/s  ({base_n:,} events in {base_s:.1f} s)")
        if db == "sqlite" and not args.no_raw:
            with make() as url:
                fn, fs = sqlite_floor(path, url, min(args.events, 100_000))
            print(f"sqlite: its own insert of the raw run's rows (prebuilt, first {fn:,} events): "
                  f"{fn / fs:10,.0f} events/s: the ceiling of any pipeline into these tables")
        for title, plugins, target in runs:
            with make() as url:
                n, s = dcmx_run(path, url, plugins)
            rate = n / s
            ok = rate >= target
            print(f"{db}: dcmx, {title:32s} {rate:10,.0f} events/s  ({n:,} events in {s:.1f} s)"
                  f"  {rate / base:6.1f}x the hand loop; target {target:,}: "
                  f"{'met' if ok else 'MISSED'}")
            if not ok:
                failed.append(f"{db} {title}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
