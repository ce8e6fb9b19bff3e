"""End to end from a recorded chain: dcmx (all six plugins, or raw tables only) vs the hand loop.

The chain is the realistic mix of :mod:`bench.chainmix` (1,000,000 events by default), replayed
from its file through :meth:`MemoryChain.open` (a file source) by ``Indexer.run``; the figure is
events over the wall time of ``run`` (setup, fetch, decode, every write, every commit).

The baseline is the loop a developer writes by hand: web3.py's ``process_log`` on every log and
one SQLAlchemy ORM object per event (``session.add``, a commit per block), on the first 20,000
events of the same chain, into the same kind of database, in the same run.

Each figure is the median of three runs (``--repeat``), taken in turns with the others: on
this shared 2-core VM one run of the same code varies by 5-10% from minute to minute, and the
median does not follow one slow or fast minute. Every run is printed.

Each of those runs has a fresh process of its own (:func:`isolated`), as an indexer has: one
after another in the same process ran slower by what the ones before left behind (1M events on
PostgreSQL after the two SQLite runs: 50,140 events/s and 13.3 s of CPU, alone 54,721 and
11.7 s; raw SQLite after the plugin run: 148,942 against 154,185).

Beside them, each database's own share of the work on the first 100,000 events
(:func:`sqlite_replay`, :func:`postgres_replay`): dcmx's recorded statements run with no
Python in between, the ceiling of any indexer that writes what dcmx writes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import orm

from bench import chainmix
from bench.common import Timer, machine, postgres_cpu_seconds, postgres_url, sqlite_url
from dcmx_core import Indexer, Tuning
from dcmx_core.sources.memory import MemoryChain


def dcmx_run(
    path,
    url: str,
    plugins: bool = True,
    to_block: int | None = None,
    cpu: dict | None = None,
    tuning: Tuning | None = None,
) -> tuple[int, float]:
    """(events, seconds) of indexing the saved chain at ``path`` into ``url``; ``cpu``, when
    given, gets the CPU seconds of this process ("dcmx") and of a local PostgreSQL ("server")."""
    from dcmx_plugins import platform_contracts

    source = MemoryChain.open(path)
    indexer = Indexer(
        source,
        url,
        platform_contracts(chainmix.ADDRESSES),
        entry_points=True,
        only_plugins=None if plugins else [],
        window=19,
        tuning=tuning,
    )
    events = 0

    def count(report) -> None:
        nonlocal events
        events += report.events

    indexer.subscribe(on_batch=count)
    client, server = time.process_time(), postgres_cpu_seconds()
    with Timer() as t:
        indexer.run(to_block=source.head() if to_block is None else to_block)
    if cpu is not None:  # before the backends exit: their time is theirs until reaped
        after = postgres_cpu_seconds()
        cpu["dcmx"] = time.process_time() - client
        cpu["server"] = None if server is None or after is None else after - server
    indexer.engine.dispose()
    source.close()
    return events, t.seconds


def isolated(what: str, path, url: str, arg: int | bool) -> dict:
    """Run ``dcmx_run`` (``what`` "dcmx", ``arg`` plugins on or off) or ``hand_loop`` ("hand",
    ``arg`` events) in a fresh Python process; its result as a dict."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.e2e", "--child", json.dumps([what, str(path), url, arg])],
        capture_output=True, text=True,
    )
    if out.returncode:
        raise RuntimeError(f"the {what} run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(spec: str) -> None:
    what, path, url, arg = json.loads(spec)
    if what == "dcmx":
        cpu: dict = {}
        n, s = dcmx_run(Path(path), url, arg, cpu=cpu)
        print(json.dumps({"events": n, "seconds": s, "cpu": cpu}))
    else:
        n, s = hand_loop(Path(path), url, arg)
        print(json.dumps({"events": n, "seconds": s}))


def first_events_block(path, events: int) -> int:
    """The block at which the saved chain at ``path`` reaches ``events`` events."""
    end, n = 0, 0
    for header, logs in MemoryChain.iter_file(path):
        end, n = header.number, n + len(logs)
        if n >= events:
            break
    return end


def _set_up(path, database, plugins: bool) -> Indexer:
    """An indexer of the saved chain at ``path`` into ``database``, its tables created."""
    from dcmx_plugins import platform_contracts

    ix = Indexer(
        MemoryChain.open(path),
        database,
        platform_contracts(chainmix.ADDRESSES),
        entry_points=True,
        only_plugins=None if plugins else [],
        window=19,
    )
    ix.setup()
    return ix


def sqlite_replay(path, url: str, plugins: bool, to_block: int) -> tuple[int, float, float]:
    """(events, dcmx seconds, SQLite's seconds) of indexing the saved chain up to ``to_block``.

    dcmx indexes into ``url`` while every statement the driver gets is recorded (its text,
    parameters, and commits): the writes of the core and of every plugin, their reads, the
    index builds at the end of the backfill. A second database, set up by the same
    ``Indexer.setup``, then runs exactly those statements straight on the sqlite3 module, and
    only that is timed: the database's own work for this workload, which no Python pipeline
    into SQLite can beat (Python and SQLite share one thread; the GIL keeps them from
    overlapping). dcmx's own time is a separate run without the recording.
    """
    def indexer(url: str) -> Indexer:
        return _set_up(path, url, plugins)

    events, seconds = dcmx_run(path, url.replace("bench.db", "plain.db"), plugins, to_block)
    recorder = indexer(url)
    statements: list[tuple] = []

    @sa.event.listens_for(recorder.engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters, executemany))

    @sa.event.listens_for(recorder.engine, "commit")
    def _commit(conn):
        statements.append((None, "commit", False))

    @sa.event.listens_for(recorder.engine, "rollback")
    def _rollback(conn):
        statements.append((None, "rollback", False))

    recorder.run(to_block=to_block)
    recorder.engine.dispose()
    recorder.source.close()
    replay = indexer(url.replace("bench.db", "replay.db"))
    with replay.engine.connect() as conn:
        raw = conn.connection.driver_connection  # with the engine's pragmas
        cur = raw.cursor()
        with Timer() as t:
            for statement, parameters, many in statements:
                if statement is None:  # the DB-API's commit or rollback, as SQLAlchemy calls it
                    getattr(raw, parameters)()
                elif many:
                    cur.executemany(statement, parameters)
                else:
                    cur.execute(statement, parameters)
                    cur.fetchall()
    replay.engine.dispose()
    replay.source.close()
    return events, seconds, t.seconds


def postgres_replay(path, url: str, to_block: int) -> tuple[int, float, float, float | None]:
    """(events, dcmx seconds, replay seconds, server CPU of the replay) up to ``to_block``.

    :func:`sqlite_replay` for PostgreSQL: dcmx (all plugins) indexes while a cursor class
    records every statement, parameter and COPY row its connections send; then one psycopg
    connection sends exactly those to a schema set up by the same ``Indexer.setup``, with no
    Python work in between. That is the time one connection needs for this workload, whatever
    the client: statements of one transaction run one after another, and the next one waits
    for the result of the last (plugins read what they write).
    """
    import psycopg


    statements: list[tuple] = []
    recording = False

    class _Copy:
        def __init__(self, real, sql: str) -> None:
            self.real, self.types, self.rows = real, None, []
            statements.append(("copy", sql, self))

        def set_types(self, types: list) -> None:
            self.types = types
            self.real.set_types(types)

        def write_row(self, row: tuple) -> None:
            self.rows.append(row)
            self.real.write_row(row)

    class RecordingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kw):
            if recording:
                statements.append(("execute", query, params))
            return super().execute(query, params, **kw)

        def executemany(self, query, params_seq, **kw):
            if recording:
                params_seq = list(params_seq)
                statements.append(("executemany", query, params_seq))
            return super().executemany(query, params_seq, **kw)

        @contextmanager
        def copy(self, statement, *args, **kw):
            with super().copy(statement, *args, **kw) as real:
                yield _Copy(real, statement) if recording else real

    def indexer(url: str, **connect_args) -> Indexer:
        engine = sa.create_engine(
            url.replace("postgresql://", "postgresql+psycopg://", 1),
            pool_pre_ping=True,
            connect_args=connect_args,
        )
        return _set_up(path, engine, plugins=True)

    events, seconds = dcmx_run(path, url, True, to_block)
    with postgres_url() as url2:
        recorder = indexer(url2, cursor_factory=RecordingCursor)
        for name in ("commit", "rollback"):
            sa.event.listen(
                recorder.engine, name, lambda conn, name=name: recording
                and statements.append((name, None, None))
            )
        recording = True
        recorder.run(to_block=to_block)
        recording = False
        recorder.engine.dispose()
        recorder.source.close()
    with postgres_url() as url3:
        replay = indexer(url3)
        with replay.engine.connect() as conn:
            raw = conn.connection.driver_connection
            cur = raw.cursor()
            server = postgres_cpu_seconds()
            with Timer() as t:
                for kind, sql, arg in statements:
                    if kind == "execute":
                        cur.execute(sql, arg)
                        if cur.pgresult is not None and cur.description is not None:
                            cur.fetchall()
                    elif kind == "executemany":
                        cur.executemany(sql, arg)
                    elif kind == "copy":
                        with cur.copy(sql) as out:
                            if arg.types is not None:
                                out.set_types(arg.types)
                            for row in arg.rows:
                                out.write_row(row)
                    else:
                        getattr(raw, kind)()
            after = postgres_cpu_seconds()
        replay.engine.dispose()
        replay.source.close()
    busy = None if server is None or after is None else after - server
    return events, seconds, t.seconds, busy


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


def _jsonable(value):
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
    parser.add_argument(
        "--replay-events", type=int, default=100_000,
        help="events of the database-alone replays (default 100,000; they hold every "
             "statement in memory)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="runs of each measurement, in turns; the median is reported (default 3)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return 0
    print(f"machine: {machine()}")
    path = chainmix.cached(args.events)
    print(f"chain: {path.name}\n{chainmix.describe(args.events)}")
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    failed = []
    for db in dbs:
        make = sqlite_url if db == "sqlite" else postgres_url
        runs = [("all six plugins", True, 50_000)]
        if db == "sqlite" and not args.no_raw:
            runs.append(("plugins off (raw event tables)", False, 150_000))
        # Each figure is the median of --repeat runs, taken in turns (hand loop, each dcmx
        # run, and again), so that a slow minute of a shared machine weighs on all alike.
        hands: list[dict] = []
        measured: dict[str, list[dict]] = {title: [] for title, _, _ in runs}
        for _ in range(args.repeat):
            with make() as url:
                hands.append(isolated("hand", path, url, args.baseline_events))
            for title, plugins, _ in runs:
                with make() as url:
                    measured[title].append(isolated("dcmx", path, url, plugins))
        hand = _median(hands)
        base_n, base_s = hand["events"], hand["seconds"]
        base = base_n / base_s
        print(f"\n{db}: hand loop (web3 process_log + ORM, commit per block): "
              f"{base:10,.0f} events/s  ({base_n:,} events in {base_s:.1f} s){_spread(hands)}")
        if db == "sqlite":
            # The database's own share of the work (see sqlite_replay), on the first 100,000
            # events: the ceiling of any pipeline into SQLite on this machine.
            end = first_events_block(path, min(args.events, args.replay_events))
            for title, plugins, _ in runs:
                with make() as url:
                    n, dcmx_s, db_s = sqlite_replay(path, url, plugins, end)
                print(f"sqlite, {title}, first {n:,} events: SQLite alone running dcmx's "
                      f"statements {n / db_s:10,.0f} events/s; dcmx {n / dcmx_s:10,.0f} "
                      f"events/s = {db_s / dcmx_s:.0%} of the time in SQLite")
        else:
            # The same for PostgreSQL (see postgres_replay): one connection sending dcmx's
            # statements back to back, the server's part of it in CPU seconds.
            end = first_events_block(path, min(args.events, args.replay_events))
            with make() as url:
                n, dcmx_s, db_s, busy = postgres_replay(path, url, end)
            server = "" if busy is None else f" (server CPU {busy:.1f} s of {db_s:.1f} s)"
            print(f"postgresql, all six plugins, first {n:,} events: one connection sending "
                  f"dcmx's statements {n / db_s:10,.0f} events/s{server}; dcmx "
                  f"{n / dcmx_s:10,.0f} events/s = {db_s / dcmx_s:.0%} of the time")
        for title, _, target in runs:
            run = _median(measured[title])
            n, s, cpu = run["events"], run["seconds"], run["cpu"]
            rate = n / s
            ok = rate >= target
            print(f"{db}: dcmx, {title:32s} {rate:10,.0f} events/s  ({n:,} events in {s:.1f} s)"
                  f"  {rate / base:6.1f}x the hand loop; target {target:,}: "
                  f"{'met' if ok else 'MISSED'}{_spread(measured[title])}")
            if db == "postgresql" and cpu["server"] is not None:
                # Two processes on two cores: how much of the run each one was busy.
                print(f"postgresql: CPU of dcmx {cpu['dcmx']:.1f} s, of the server "
                      f"{cpu['server']:.1f} s, in {s:.1f} s of wall time (the median run)")
            if not ok:
                failed.append(f"{db} {title}")
    return 1 if failed else 0


def _median(runs: list[dict]) -> dict:
    """The run of median speed (the slower middle one of an even number)."""
    ordered = sorted(runs, key=lambda r: r["events"] / r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def _spread(runs: list[dict]) -> str:
    if len(runs) < 2:
        return ""
    rates = ", ".join(f"{r['events'] / r['seconds']:,.0f}" for r in runs)
    return f"\n    median of {len(runs)} runs, in the order taken: {rates}"


if __name__ == "__main__":
    sys.exit(main())
