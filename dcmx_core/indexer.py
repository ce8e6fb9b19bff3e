"""The indexing loop: fetch a block range, check it links to what is indexed, decode, write.

One step indexes one range in one database transaction: the raw event rows, every plugin's
writes and the cursor commit together or not at all, so a crash at any instant loses nothing
and duplicates nothing.

- Below the finalized height ranges are large and nothing is journaled.
- Above it (the unfinalized window) every block's hash is kept, writes are journaled block by
  block, and each new range must link by parent hash to the last indexed block. When it does
  not, the indexer finds the newest block it holds that the node still agrees with, rolls every
  table back to it, and goes on. A fork deeper than the window stops with
  :class:`~dcmx_core.errors.DeepForkError` and changes nothing.
- A node whose head goes backwards is only a fork when the hashes say so.
"""

from __future__ import annotations

import gc
import heapq
import logging
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .addresses import Profile, parse
from .batch import Batch, Decoded
from .caches import BoundedCache
from .chain import CHAIN_COLUMNS, Header, Log, Source, check_headers
from .decode import Contract, Decoder, TableRows
from .errors import ConfigError, DeepForkError, InconsistentAnswer, SourceError, StoreError
from .plugins import PluginHost
from .prefetch import ThreadPrefetch, Worker
from .store import Store, create_engine, forks_table

log = logging.getLogger("dcmx.indexer")

# Ranges of final blocks that must lie ahead for fetch worker processes to be worth starting.
WORKER_MIN_RANGES = 4
# How many: each builds a range's rows in about 1.6 times what the main process takes to write
# them (SQLite, 1M events without plugins), so with one the writer waited a third of the time;
# two, each a range ahead, keep it busy.
WORKER_PROCESSES = 2

@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one committed step did; passed to ``on_batch`` callbacks."""

    start: int
    end: int
    events: int
    finalized: bool
    seconds: float
    head: int
    safe: int  # the height below which nothing is journaled any more


@dataclass(frozen=True, slots=True)
class ForkReport:
    detected_at: int
    common_ancestor: int
    depth: int
    undone_writes: int


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off for one step.

    A step allocates several objects per event (logs, events, rows), tens of thousands per
    batch, none in reference cycles: reference counting frees them all, yet each 700
    allocations start a collection that walks the young objects, and the survivors' growth
    triggers full ones. Measured on 100,000 events: fetching 5.7 -> 3.2 us, decoding
    7.5 -> 4.4 us and building rows 4.5 -> 2.0 us per event. Left as it was when the
    embedding program has disabled it itself.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Indexer:
    """Indexes contracts' events from a source into a database, through plugins.

    Embedding::

        indexer = Indexer(source, "sqlite:///dcmx.db", contracts, plugins=[my_plugin])
        indexer.run(to_block=1_000)      # or run_once(), or follow()
    """

    def __init__(
        self,
        source: Source,
        database: str | Engine,
        contracts: Sequence[Contract],
        plugins: Iterable[object] = (),
        *,
        entry_points: bool = False,
        only_plugins: Iterable[str] | None = None,
        profile: Profile = "tron",
        window: int = 19,
        start_block: int = 0,
        batch_blocks: int = 500,
        max_batch_blocks: int = 20_000,
        target_events: int = 40_000,
        poll_interval: float = 3.0,
        retries: int = 5,
        prefetch: bool = True,
        on_batch: Callable[[BatchReport], None] | None = None,
        on_fork: Callable[[ForkReport], None] | None = None,
    ):
        if window < 1:
            raise ConfigError(f"window must be at least 1 block, got {window}")
        self.source = source
        self.engine = create_engine(database) if isinstance(database, str) else database
        self.contracts = list(contracts)
        self.window = window
        self.start_block = start_block
        self.batch_blocks = max(1, batch_blocks)
        self.max_batch_blocks = max_batch_blocks
        self.target_events = target_events
        self.poll_interval = poll_interval
        self.retries = retries
        self.on_batch = on_batch
        self.on_fork = on_fork
        self.plugins = PluginHost(plugins, entry_points=entry_points, only=only_plugins)
        seen: dict[bytes, str] = {}
        for c in self.contracts:
            for a in c.addresses:
                if a in seen:
                    raise ConfigError(
                        f"address 0x{a.hex()} is configured for both {seen[a]} and {c.name}"
                    )
                seen[a] = c.name
        self._check_plugin_contracts()
        self.decoder = Decoder(self.contracts, profile, self.engine.dialect)
        events = [cls for c in self.contracts for cls in c.module.EVENTS]
        tables = [(cls.TABLE, c.name) for c in self.contracts for cls in c.module.EVENTS]
        tables += [
            (t, p.declaration.name) for p in self.plugins.plugins for t in p.declaration.tables
        ]
        views = [(v, p.declaration.name) for p in self.plugins.plugins for v in p.declaration.views]
        self.store = Store(self.engine, tables, events, views)
        for cls in events:
            keys = tuple(col.key for col in cls.TABLE.columns[: len(CHAIN_COLUMNS)])
            if keys != CHAIN_COLUMNS or not hasattr(cls, "from_sql"):
                raise ConfigError(
                    f"{cls.__name__} of {cls.CONTRACT} was generated by an older dcmx-codegen "
                    f"(its table must start with the chain columns {', '.join(CHAIN_COLUMNS)}, "
                    "and it must have from_sql); regenerate the code with dcmx-codegen"
                )
        self._safe = -1
        # Read by health checks and metrics from other threads; plain attributes suffice.
        self.head: int | None = None
        self.last_step_at: float | None = None  # time.monotonic() of the last completed step
        self._stop = threading.Event()
        self._ready = False
        # Fetch the next finalized range while the current one is written (_prefetch_next).
        self.prefetch = prefetch
        self._ahead: deque[ThreadPrefetch | Worker] = deque()  # in flight, in range order
        self._prefetch_at_commit = (  # see _prefetch_next
            bool(getattr(source, "in_process", False)) and self.engine.dialect.name == "sqlite"
        )
        self._workers: list[Worker] = []  # started for a long backfill (_prefetch_next)
        self._no_worker = False  # set when one could not be started or died
        # Whether a backfill is under way (Store.enter_backfill); read from the database by
        # setup(), since a process killed during a backfill leaves one.
        self._backfilling = False

    def _check_plugin_contracts(self) -> None:
        configured = {cls for c in self.contracts for cls in c.module.EVENTS}
        for p in self.plugins.plugins:
            missing = [cls for cls in p.declaration.consumes if cls not in configured]
            if missing:
                names = sorted({getattr(cls, "CONTRACT", "?") for cls in missing})
                raise ConfigError(
                    f"plugin {p.declaration.name!r} consumes events of {', '.join(names)}, but no "
                    "address is configured for it; add it to the contracts of the configuration"
                )

    # -- public API ---------------------------------------------------------------------------

    def setup(self) -> None:
        """Create tables and triggers; build plugin tables that changed or are new.

        Plugin tables are derived from the raw event tables and are rebuilt from them without
        asking the chain: when a plugin's table changed, or a plugin was added to a database
        that already holds events. Raw event tables are the record of the chain itself: when
        one of those changed, indexing stops and asks for an explicit reindex.
        """
        if self._ready:
            return
        changed, new = self.store.table_changes()
        changed = self.store.upgrade_older(changed)
        derived = {t.name for t in self._plugin_tables()}
        raw = [name for name in changed if name not in derived]
        if raw:
            raise StoreError(
                f"the definition of raw event table(s) {', '.join(raw)} changed since they were "
                "filled (new generated code?); reindex into a new database, or drop those tables "
                "(on PostgreSQL with CASCADE: dcmx makes the blockchain_events view again) and "
                "reindex from the first block"
            )
        with self.engine.connect() as conn:
            indexed = Store.cursor(conn) is not None
        added = [n for n in new if n in derived] if indexed else []
        if changed or added:
            log.warning(
                "plugin tables %s, building them from the raw event tables: %s",
                "changed" if changed else "added",
                ", ".join(changed or added),
                extra={"tables": changed or added},
            )
            self._rebuild()
        else:
            with self.store.transaction() as conn:
                self.store.create(conn)
        with self.engine.connect() as conn:
            self._backfilling = Store.backfilling(conn)
        self.store.set_journal(self._backfilling)
        self._ready = True

    def _plugin_tables(self) -> list[sa.Table]:
        return [t for p in self.plugins.plugins for t in p.declaration.tables]

    def rebuild(self, chunk: int = 5_000) -> int:
        """Drop every plugin table and replay the raw event tables through the plugins.

        One transaction: the platform reads the old tables until the new ones are complete.
        Blocks still inside the unfinalized window are replayed one by one under the journal,
        so a fork after a rebuild rolls back as exactly as before it. Returns the event count.
        """
        if not self.plugins.plugins:
            return 0
        return self._rebuild(chunk)

    def _rebuild(self, chunk: int = 5_000) -> int:
        replayed = 0
        with self.store.transaction() as conn:
            self.store.drop(conn, self._plugin_tables())
            self.store.create(conn)
            window = sorted(Store.recent_blocks(conn))
            anchor = window[0] if window else None
            cursor = Store.cursor(conn)
            pending: list[Decoded] = []
            for d in self._stored_events(conn, chunk):
                pending.append(d)
                replayed += 1
                if anchor is not None and d.log.block_number > anchor:
                    continue  # the window is replayed block by block below
                if len(pending) >= chunk:
                    self._replay(conn, pending, final=True)
                    pending = []
            final = [d for d in pending if anchor is None or d.log.block_number <= anchor]
            if final:
                self._replay(conn, final, final=True)
            if window and cursor:
                by_block: dict[int, list[Decoded]] = {}
                for d in pending[len(final) :]:
                    by_block.setdefault(d.log.block_number, []).append(d)
                for number in window[1:]:
                    self.store.journal.set_block(conn, number)
                    self.plugins.handle(
                        Batch(number, number, by_block.get(number, []), False), conn
                    )
                self.store.journal.set_block(conn, None)
        log.info("rebuilt plugin tables from %d events", replayed, extra={"events": replayed})
        return replayed

    def _stored_events(self, conn: Connection, chunk: int) -> Iterator[Decoded]:
        """Every event of the raw tables, in chain order: the batches plugins saw."""
        addresses = BoundedCache(parse, 4096)  # contract address text -> its 20 bytes
        streams = [_table_events(conn, cls, chunk, addresses) for cls in self.store.events]
        return heapq.merge(*streams, key=lambda d: (d.log.block_number, d.log.log_index))

    def _replay(self, conn: Connection, events: list[Decoded], final: bool) -> None:
        batch = Batch(events[0].log.block_number, events[-1].log.block_number, events, final)
        self.plugins.handle(batch, conn)

    def stop(self) -> None:
        """Ask the loop to stop after the current step (safe from signal handlers)."""
        self._stop.set()

    def run(self, to_block: int | None = None) -> int:
        """Index up to ``to_block`` (default: the head as it is now); returns the cursor."""
        self.setup()
        with self.store.lock():
            if to_block is None:
                to_block = self.source.head()
            try:
                while not self._stop.is_set():
                    if not self.run_once(to_block):
                        cursor = self.cursor()
                        if cursor is not None and cursor >= to_block:
                            break
                        # The node is behind the target (a lagging replica): wait for it.
                        self._stop.wait(min(self.poll_interval, 0.5))
            finally:
                self._stop_workers()
            self._leave_backfill()
        return self.cursor() or -1

    def follow(self) -> None:
        """Index forever, polling the head every ``poll_interval`` seconds, until stop()."""
        self.setup()
        with self.store.lock():
            try:
                while not self._stop.is_set():
                    if not self.run_once():
                        self._stop.wait(self.poll_interval)
            finally:
                self._stop_workers()

    def _drop_ahead(self) -> None:
        while self._ahead:
            self._ahead.popleft().wait()

    def _stop_workers(self) -> None:
        """Let the prefetches in flight finish (so that nothing uses the source after
        ``run`` returns, and the workers' answers are received), then stop the workers."""
        self._drop_ahead()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()

    @property
    def safe(self) -> int:
        """The height up to which blocks count as final (nothing journaled), -1 before a step."""
        return self._safe

    def cursor(self) -> int | None:
        """The last indexed block, or None before the first batch."""
        self.setup()
        with self.engine.connect() as conn:
            cur = Store.cursor(conn)
        return cur.block_number if cur else None

    def run_once(self, to_block: int | None = None) -> bool:
        """One step; True when it indexed or rolled back something, False when caught up.

        A step that fails part-way commits nothing, so it is simply tried again when the cause
        may pass: an inconsistent answer (the node may be reorganising), a lost database
        connection, or a failed node when the source can move to another one.
        """
        self.setup()
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                with _gc_paused():
                    progressed = self._step(to_block)
                self.last_step_at = time.monotonic()
                if not progressed:
                    self.store.checkpoint()  # caught up: the wait for new blocks follows
                return progressed
            except InconsistentAnswer as why:
                if last:
                    raise SourceError(
                        f"the node's answers stayed inconsistent after {attempt + 1} tries: {why}; "
                        "check the node or use another one"
                    ) from None
                log.warning("inconsistent answer, fetching again", extra={"reason": str(why)})
            except SourceError as exc:
                if last or not getattr(self.source, "can_switch", False):
                    raise
                log.warning("node failed, moving to the next", extra={"error": str(exc)})
            except sa.exc.DBAPIError as exc:
                if last or not exc.connection_invalidated:
                    raise StoreError(
                        f"the database failed: {exc.orig}; nothing of the failed batch was "
                        "written, run again to resume"
                    ) from exc
                log.warning("database connection lost, batch retried", extra={"error": str(exc)})
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    # -- one step -----------------------------------------------------------------------------

    def _step(self, to_block: int | None) -> bool:
        # A prefetch still running is waited for first: the source is never called from two
        # threads at once (sources need not be thread-safe, and a failover source must not mix
        # nodes within a step).
        ahead = self._ahead.popleft() if self._ahead else None
        if ahead is not None:
            ahead.wait()
        head = self.head = self.source.head()
        self._safe = max(self._safe, min(head, max(self.source.finalized(), head - self.window)))
        target = head if to_block is None else min(head, to_block)
        with self.engine.connect() as conn:
            cursor = Store.cursor(conn)
        start = cursor.block_number + 1 if cursor else self.start_block
        if start > target:
            self._leave_backfill()
            return self._check_tip(cursor, head)
        final = start <= self._safe
        # The first step of blocks that may still change ends a backfill, in its transaction:
        # the journal's triggers before its writes (they are journaled), the indexes after them.
        # Its rows go into the indexes with their build: inserted one by one at random places
        # of every index, they cost 85 us an event on SQLite (and a 46 MB write-ahead log to
        # copy back): 0.24 s of a 1M-event run.
        ending = not final and self._backfilling
        if not final:
            self._stop_workers()
        fetched = ahead.take(start, target) if ahead is not None and final else None
        if fetched is None:
            self._drop_ahead()  # ranges after one that was not this step's are not wanted either
            if final and self.prefetch:
                # Start the fetch workers now, if this backfill is to have them: their imports
                # (~0.3 s) then overlap this range's fetch, and they are ready for the next.
                self._workers_for(start, target)
        t0 = time.perf_counter()
        rows: list[TableRows] | None = None
        if fetched is not None:
            end, headers, events, rows, count = fetched
        else:
            if final:
                end = min(self._safe, target, start + self.batch_blocks - 1)
            else:
                end = min(target, start + self.window - 1)
            headers = self.source.headers(start, end)
        check_headers(headers, start, end)
        if cursor and headers[0].parent_hash != cursor.block_hash:
            self._handle_fork(cursor, head)
            return True
        if fetched is None:
            events = self._fetch_logs(headers, start, end)
            count = len(events)
        if final:
            self._adapt(count, end - start + 1)
            self._prefetch_next(end + 1, target, committing=False)
        enter = final and not self._backfilling and self._worth_backfill(start, end, target)
        with self.store.transaction() as conn:
            again = Store.cursor(conn)
            if again != cursor:
                raise StoreError(
                    "another writer moved the cursor of this database while indexing; run only "
                    "one indexer per database"
                )
            if enter:
                self.store.enter_backfill(conn)
            if ending:
                self.store.journal.create_triggers(conn)
            if final:
                self._write(conn, Batch(start, end, events, True), rows)
                Store.add_blocks(conn, headers[-1:])
            else:
                self._write_blocks(conn, headers, events)
            Store.set_cursor(conn, end, headers[-1].hash)
            self.store.finalize(conn, self._safe)
            if final:
                self._prefetch_next(end + 1, target, committing=True)
            if ending:
                self._build_indexes(conn)
        if ending:
            self._backfill_ended()
        if enter:
            self._backfilling = True
            self.store.set_journal(True)
            log.info(
                "backfill: secondary indexes and journal triggers dropped until caught up",
                extra={"from_block": start, "safe": self._safe},
            )
        seconds = time.perf_counter() - t0
        report = BatchReport(start, end, count, final, seconds, head, self._safe)
        log.info(
            "indexed blocks %d..%d: %d events in %.3f s",
            start,
            end,
            count,
            seconds,
            extra={
                "start": start,
                "end": end,
                "events": count,
                "seconds": seconds,
                "final": final,
                "head": head,
            },
        )
        if self.on_batch:
            self.on_batch(report)
        return True

    def _fetch_logs(self, headers: list[Header], start: int, end: int) -> list[Decoded]:
        addresses = list(self.decoder.by_address)
        logs = self.source.logs(start, end, addresses) if addresses else []
        return self.decoder.decode(logs, headers, start)

    def _prefetch_next(self, start: int, target: int, committing: bool) -> None:
        """Fetch and decode the next range while this one is written; called twice a step,
        before the writes (``committing`` False) and as the batch commits.

        Only a range entirely below the safe height, where blocks cannot change: the step that
        takes it still checks that it links to the cursor like any other. The window near the
        head stays sequential (fetch, check, write) so that fork checks see fresh answers.

        Where: in worker processes when no plugin needs the events, the source can be opened
        there and many ranges lie ahead (starting one costs a third of a second of imports;
        until they are ready, threads fetch), each idle worker a range further ahead; else in
        a thread, one range ahead.

        When: the workers and a thread whose fetch waits on a node start before the writes, so
        that the fetch overlaps them. A thread whose fetch computes (a source ``in_process``:
        a file, an in-process chain) starts at the commit instead on SQLite, whose commit runs
        without the GIL: during the writes, every SQLite row step lets the GIL go and then
        waits to get it back from a computing thread, which costs more than the thread's work
        saves (bench/RESULTS.md). On PostgreSQL the writes wait on the server statement by
        statement, and the thread computes in those waits: before the writes there, +3% with
        plugins (6 alternations, 1M events).
        """
        if not self.prefetch:
            return
        if self._ahead:
            start = self._ahead[-1].end + 1  # after the ranges already asked for
        idle = [w for w in self._workers_for(start, target) if w.ready and w not in self._ahead]
        while True:
            end = min(self._safe, target, start + self.batch_blocks - 1)
            if start > end:
                return
            if idle:
                self._ahead.append(idle.pop(0).fetch(start, end))
            elif not self._ahead and committing == self._prefetch_at_commit:
                self._ahead.append(ThreadPrefetch(start, end, self._fetch_range))
            else:
                return
            start = end + 1

    def _workers_for(self, start: int, target: int) -> list[Worker]:
        """The fetch workers, started when no plugin needs the decoded events, the source can
        be opened in another process and at least ``WORKER_MIN_RANGES`` ranges of final blocks
        lie ahead of ``start``."""
        if self._workers:
            if not any(w.failed for w in self._workers):
                return self._workers
            self._stop_workers()
            self._no_worker = True
        opener = getattr(self.source, "opener", None)
        if self._no_worker or opener is None or self.plugins.plugins:
            return []
        if min(self._safe, target) - start < WORKER_MIN_RANGES * self.batch_blocks:
            return []
        spec = self.decoder.spec()
        if spec is None:
            self._no_worker = True  # a contract module only this process can import
            return []
        try:
            for _ in range(WORKER_PROCESSES):
                self._workers.append(Worker(opener(), self.decoder))
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.warning("no fetch worker process (%s); fetching in a thread", exc)
            self._stop_workers()
            self._no_worker = True
            return []
        log.info(
            "fetching ahead in %d worker processes",
            len(self._workers),
            extra={"from_block": start, "workers": len(self._workers)},
        )
        return self._workers

    def _fetch_range(self, start: int, end: int) -> tuple[list[Header], list[Decoded]]:
        headers = self.source.headers(start, end)
        check_headers(headers, start, end)
        return headers, self._fetch_logs(headers, start, end)

    def _worth_backfill(self, start: int, end: int, target: int) -> bool:
        """Whether to index the final blocks ahead as a backfill (Store.enter_backfill).

        Building the indexes once at the end costs about what the rows already indexed cost,
        so it pays when more final blocks lie ahead than were indexed before (a first sync, a
        long outage). Blocks stand in for rows: counting rows is itself a scan.
        """
        ahead = min(self._safe, target) - end
        return ahead > 0 and ahead >= start - self.start_block

    def _leave_backfill(self) -> None:
        """End a backfill that reached no block that may still change (see ``_step``): at the
        end of ``run``, or when caught up."""
        if not self._backfilling:
            return
        with self.store.transaction() as conn:
            self.store.journal.create_triggers(conn)
            self._build_indexes(conn)
        self._backfill_ended()

    def _build_indexes(self, conn: Connection) -> None:
        count = len(self.store.deferrable_indexes())
        log.info("backfill caught up: building %d indexes", count)
        t0 = time.perf_counter()
        self.store.leave_backfill(conn)
        seconds = time.perf_counter() - t0
        log.info(
            "backfill done: %d indexes built in %.1f s",
            count,
            seconds,
            extra={"seconds": seconds, "indexes": count},
        )

    def _backfill_ended(self) -> None:
        self._backfilling = False
        self.store.set_journal(False)

    def _adapt(self, events: int, blocks: int) -> None:
        """Grow ranges while events are sparse, shrink them when a batch gets too big."""
        if events < self.target_events // 2:
            self.batch_blocks = min(self.max_batch_blocks, self.batch_blocks * 2)
        elif events > self.target_events * 2:
            self.batch_blocks = max(1, blocks // 2)

    def _check_tip(self, cursor, head: int) -> bool:  # noqa: ANN001 - Cursor | None
        """Caught up: make sure the node still agrees with our newest block, else roll back."""
        if cursor is None:
            return False
        probe = min(cursor.block_number, head)
        with self.engine.connect() as conn:
            stored = Store.recent_blocks(conn)
        if probe not in stored:
            return False
        seen = self.source.headers(probe, probe)
        check_headers(seen, probe, probe)
        if seen[0].hash == stored[probe]:
            return False  # a lagging node (head behind our cursor) is not a fork
        self._handle_fork(cursor, head)
        return True

    # -- writing ------------------------------------------------------------------------------

    def _write(
        self, conn: Connection, batch: Batch, rows: list[TableRows] | None = None
    ) -> None:
        # Rows are plain tuples handed to the driver in bulk (executemany on SQLite, COPY on
        # PostgreSQL): SQLAlchemy's per-row parameter processing cost more than the database's
        # own work (profiled: ~60% of a raw run). The fetch worker sends them ready-made.
        writer, tables = self.store.writer, self.store.by_name
        for name, table_rows in self.decoder.rows(batch) if rows is None else rows:
            writer.insert(conn, tables[name], table_rows)
        self.plugins.handle(batch, conn)

    def _write_blocks(self, conn: Connection, headers: list[Header], events: list[Decoded]) -> None:
        """Inside the window: journal each block's writes under its own number."""
        by_block: dict[int, list[Decoded]] = {}
        for d in events:
            by_block.setdefault(d.log.block_number, []).append(d)
        for h in headers:
            self.store.journal.set_block(conn, h.number)
            self._write(conn, Batch(h.number, h.number, by_block.get(h.number, []), False))
        self.store.journal.set_block(conn, None)
        Store.add_blocks(conn, headers)

    # -- forks --------------------------------------------------------------------------------

    def _handle_fork(self, cursor, head: int) -> None:  # noqa: ANN001 - Cursor
        with self.engine.connect() as conn:
            stored = Store.recent_blocks(conn)
        if not stored:
            raise DeepForkError(
                f"block {cursor.block_number + 1} does not link to the indexed block "
                f"{cursor.block_number}, and no recent block hashes are kept to find where the "
                "chains split. The database is unchanged; reindex into a new database"
            )
        low, high = min(stored), min(max(stored), head)
        theirs = {h.number: h.hash for h in self.source.headers(low, high)} if low <= high else {}
        ancestor = next(
            (n for n in sorted(stored, reverse=True) if n <= high and theirs.get(n) == stored[n]),
            None,
        )
        if ancestor is None:
            raise DeepForkError(
                f"the chain reorganised deeper than the {self.window}-block window: none of the "
                f"indexed blocks {low}..{max(stored)} is on the node's chain any more. "
                "The database "
                "is unchanged. If the node is right, reindex from before the fork "
                f"(`dcmx rollback --to-block N` with N < {low}) or raise the window; if it is "
                "wrong, use another node"
            )
        depth = cursor.block_number - ancestor
        with self.store.transaction() as conn:
            undone = self.store.rollback_to(conn, ancestor, stored[ancestor])
            conn.execute(
                forks_table.insert(),
                {
                    "detected_at_block": cursor.block_number + 1,
                    "common_ancestor": ancestor,
                    "depth": depth,
                    "undone_writes": undone,
                },
            )
        report = ForkReport(cursor.block_number + 1, ancestor, depth, undone)
        log.warning(
            "chain fork: rolled back %d blocks to %d (%d writes undone)",
            depth,
            ancestor,
            undone,
            extra={"ancestor": ancestor, "depth": depth, "undone": undone},
        )
        if self.on_fork:
            self.on_fork(report)


def last_fork(engine: Engine) -> dict | None:
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(forks_table).order_by(forks_table.c.id.desc()).limit(1))
            .mappings()
            .first()
        )
    return dict(row) if row else None


def _table_events(
    conn: Connection, cls: type, chunk: int, addresses: BoundedCache
) -> Iterator[Decoded]:
    """The events of ``cls``'s raw table in chain order, read ``chunk`` rows at a time (by
    key, so that no cursor stays open while the plugins write)."""
    t = cls.TABLE
    k = len(CHAIN_COLUMNS)
    key = (t.c.block_number, t.c.log_index)
    query = sa.select(*t.columns).order_by(*key).limit(chunk)
    after: tuple[int, int] | None = None
    while True:
        q = query if after is None else query.where(sa.tuple_(*key) > after)
        rows = conn.execute(q).all()
        for r in rows:
            number, block_hash, timestamp, tx_hash, tx_index, log_index, address = r[:k]
            # The log's topics and data are not stored: the event holds their decoded values.
            lg = Log(number, bytes(block_hash), bytes(tx_hash), tx_index, log_index,
                     addresses[address], (), b"")
            yield Decoded(cls.from_sql(r[k:]), lg, timestamp, address)
        if len(rows) < chunk:
            return
        after = (number, log_index)
