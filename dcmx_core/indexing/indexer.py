"""The indexing loop: fetch a block range, check it links to what is indexed, decode, write.

One step indexes one range in one database transaction: the raw event rows, every plugin's
writes and the cursor commit together or not at all, so a crash at any instant loses nothing
and duplicates nothing.

- Below the finalized height ranges are large and nothing is journaled; while far behind, a
  backfill (:mod:`.backfill`) drops secondary indexes, and the next ranges are fetched ahead
  (:mod:`.readahead`).
- Above it (the unfinalized window) every block's hash is kept, writes are journaled block by
  block, and each new range must link by parent hash to the last indexed block; when it does
  not, :mod:`.reorg` rolls every table back to the common ancestor.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..addresses import Profile, renderer
from ..batch import Batch, Decoded
from ..chain import CHAIN_COLUMNS, MAX_BLOCK, Header, Source, check_headers
from ..contracts import Contract
from ..dbfaults import transient_fault
from ..decode import Decoder
from ..errors import ConfigError, InconsistentAnswer, SourceError, StoreError
from ..plugins import PluginHost
from ..store import Origin, Store, TableRows, create_engine
from ..store.throughput import Throughput
from .backfill import Backfill
from .fetch import fetch_logs
from .identity import Identity
from .readahead import ReadAhead
from .reorg import Reorg
from .replay import rebuild
from .reports import BatchReport, ForkReport
from .tuning import Tuning, batch_bytes

__all__ = ["Indexer"]

log = logging.getLogger("dcmx.indexer")

# Seconds between two "waiting for block N" lines: a wait for a block hours away stays visible
# without filling the log.
WAIT_LOG_INTERVAL = 60.0


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

    ``on_batch`` and ``on_fork`` (or :meth:`subscribe`) are called after each committed
    batch and each fork rolled back, on the loop's thread.
    """

    def __init__(
        self,
        source: Source,
        database: str | Engine,
        contracts: Sequence[Contract],
        plugins: Iterable[object] | PluginHost = (),
        *,
        entry_points: bool = False,
        only_plugins: Iterable[str] | None = None,
        profile: Profile = "tron",
        window: int = 19,
        start_block: int = 0,
        poll_interval: float = 3.0,
        tuning: Tuning | None = None,
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
        self.poll_interval = poll_interval
        self.tuning = tuning or Tuning()
        self.batch_blocks = self.tuning.batch_blocks  # adapts to the events per block
        if isinstance(plugins, PluginHost):
            self.plugins = plugins
        else:
            self.plugins = PluginHost(plugins, entry_points=entry_points, only=only_plugins)
        self._batch_listeners: list[Callable[[BatchReport], None]] = []
        self._fork_listeners: list[Callable[[ForkReport], None]] = []
        self.subscribe(on_batch=on_batch, on_fork=on_fork)
        _check_addresses(self.contracts)
        self.plugins.check_consumed({cls for c in self.contracts for cls in c.module.EVENTS})
        self.decoder = Decoder(self.contracts, profile, self.engine.dialect)
        events = [cls for c in self.contracts for cls in c.module.EVENTS]
        _check_generated(events)
        tables = [(cls.TABLE, c.name) for c in self.contracts for cls in c.module.EVENTS]
        self.store = Store(self.engine, tables + self.plugins.owned_tables(), events,
                           self.plugins.owned_views())
        self.origin = Origin(
            {c.name: frozenset(c.addresses) for c in self.contracts},
            frozenset(p.declaration.name for p in self.plugins.plugins),
        )
        self.reorg = Reorg(source, self.store, window)
        self.identity = Identity(self.engine, source, self.contracts, self.origin,
                                 renderer(profile), self.reorg)
        self.backfill = Backfill(self.store, start_block, enabled=self.tuning.backfill)
        self.readahead = ReadAhead(
            source, self.decoder, self.tuning, plugins=bool(self.plugins.plugins),
            sqlite=self.engine.dialect.name == "sqlite",
        )
        self._safe = -1
        self.throughput = Throughput()  # per-minute record of committed steps, for the service
        # Read by health checks and metrics from other threads; plain attributes suffice.
        self.head: int | None = None
        self.last_step_at: float | None = None  # time.monotonic() of the last completed step
        self.last_beat_at: float | None = None  # of the loop's last sign of life (beat())
        self._stop = threading.Event()
        bind = getattr(source, "bind_stop", None)
        if bind is not None:  # its retry back-offs end when the loop is stopped
            bind(self._stop)
        self._next_wait_log = 0.0
        self._holder: int | None = None  # the thread holding the writer lock, if any
        self._ready = False
        self._setting_up = threading.Lock()

    # -- public API ---------------------------------------------------------------------------

    def subscribe(
        self,
        on_batch: Callable[[BatchReport], None] | None = None,
        on_fork: Callable[[ForkReport], None] | None = None,
    ) -> None:
        """Call ``on_batch`` after each committed batch and ``on_fork`` after each fork."""
        if on_batch is not None:
            self._batch_listeners.append(on_batch)
        if on_fork is not None:
            self._fork_listeners.append(on_fork)

    def setup(self) -> None:
        """Create tables and triggers; build plugin tables that changed or are new.

        Plugin tables are derived from the raw event tables and are rebuilt from them without
        asking the chain: when a plugin's table changed, or a plugin was added to a database
        that already holds events. Raw event tables are the record of the chain itself: when
        one of those changed, indexing stops and asks for an explicit reindex.
        """
        with self._setting_up:  # once, whichever thread asks first (the loop, a reader)
            if not self._ready:
                self._setup()

    def _setup(self) -> None:
        changed, new = self.store.table_changes()
        self.identity.check_origin()
        changed = self.store.upgrade_older(changed)
        derived = {t.name for t in self.plugins.tables()}
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
            with self._exclusive():  # it drops tables: never beside another writer
                rebuild(self.store, self.plugins, beat=self.beat)
        else:
            with self.store.transaction() as conn:
                self.store.create(conn)
        with self.store.transaction() as conn:
            Store.record_origin(conn, self.origin)
        self.backfill.resume()
        self._ready = True

    def rebuild(self, chunk: int = 5_000) -> int:
        """Drop every plugin table and replay the raw event tables through the plugins
        (:func:`.replay.rebuild`); returns the event count."""
        if not self.plugins.plugins:
            return 0
        self.store.table_changes()  # dcmx's own tables, in a database an older dcmx made
        self.identity.check_origin()
        with self._exclusive():
            replayed = rebuild(self.store, self.plugins, chunk, beat=self.beat)
            with self.store.transaction() as conn:
                Store.record_origin(conn, Origin(plugins=self.origin.plugins))
        return replayed

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The database's writer lock (:meth:`Store.lock`), taken once however deep the
        calls that need it: setting up, rebuilding and the loop all write."""
        me = threading.get_ident()
        if self._holder == me:
            yield
            return
        with self.engine.connect():  # a --db that is no database: refused before a lock file
            pass
        with self.store.lock():
            self._holder = me
            try:
                yield
            finally:
                self._holder = None

    def stop(self) -> None:
        """Ask the loop to stop after the current step (safe from signal handlers and other
        threads): its waits (for new blocks, before a retry) end at once, and the ranges
        being fetched ahead are abandoned rather than waited for."""
        self._stop.set()

    @property
    def interruptible(self) -> bool:
        """Whether no write transaction is open: an exception raised now (by a signal
        handler, to end a wait on a slow node) leaves the database exactly as committed.
        Inside one, :meth:`stop` takes effect when it has committed."""
        return not self.store.in_transaction

    def beat(self) -> None:
        """Mark the loop as alive: it is fetching, writing or waiting for blocks."""
        self.last_beat_at = time.monotonic()

    @property
    def alive_at(self) -> float | None:
        """``time.monotonic()`` of the loop's last sign of life: a completed step, a
        :meth:`beat`, or a request to the node. Liveness follows this, not batch length: a
        first batch may fetch for minutes, request after request."""
        stats = getattr(self.source, "stats", None)
        times = [self.last_step_at, self.last_beat_at, getattr(stats, "last_request_at", None)]
        known = [t for t in times if t is not None]
        return max(known) if known else None

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, less when :meth:`stop` is called; True when stopping."""
        return self._stop.wait(seconds)

    def run(self, to_block: int | None = None) -> int:
        """Index up to ``to_block`` (default: the head as it is now); returns the cursor."""
        with self._exclusive():
            self.setup()
            if to_block is None:
                # A start block still to come is waited for (once indexed past it, the
                # cursor is above it: nothing to wait for).
                to_block = max(self._head(), self.start_block)
            try:
                while not self.stopping:
                    if not self.run_once(to_block):
                        cursor = self.cursor()
                        if cursor is not None and cursor >= to_block:
                            break
                        # The node is behind the target (a lagging replica, or a block still
                        # to come): wait for it, saying so.
                        self._waiting(to_block)
                        self.wait(min(self.poll_interval, 0.5))
            finally:
                self.readahead.stop(abandon=self.stopping)
            if not self.stopping:  # else the next run builds the indexes (Backfill.resume)
                self.backfill.leave()
        return self.cursor() or -1

    def follow(self) -> None:
        """Index forever, polling the head every ``poll_interval`` seconds, until stop()."""
        with self._exclusive():
            self.setup()
            try:
                while not self.stopping:
                    if not self.run_once():
                        with self.engine.connect() as conn:
                            if Store.cursor(conn) is None:  # the start block is still to come
                                self._waiting(self.start_block)
                        self.wait(self.poll_interval)
            finally:
                self.readahead.stop(abandon=self.stopping)

    def _waiting(self, block: int) -> None:
        """Log, now and then, that the loop waits for the node to reach ``block``."""
        self.beat()
        now = time.monotonic()
        if self.head is None or self.head >= block or now < self._next_wait_log:
            return
        self._next_wait_log = now + WAIT_LOG_INTERVAL
        log.info(
            "waiting for block %d, head is %d", block, self.head,
            extra={"waiting_for": block, "head": self.head},
        )

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
        retries = self.tuning.retries
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                with _gc_paused() if self.tuning.pause_gc else nullcontext():
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
                if self.stopping:
                    return False  # a wait of the node's cut short: nothing was written
                if last or not getattr(self.source, "can_switch", False):
                    raise
                log.warning("node failed, moving to the next", extra={"error": str(exc)})
            except sa.exc.DBAPIError as exc:
                if last or not (exc.connection_invalidated or transient_fault(exc)):
                    raise StoreError(
                        f"the database failed: {exc.orig}; nothing of the failed batch was "
                        "written, run again to resume"
                    ) from exc
                log.warning("database connection lost or busy, batch retried",
                            extra={"error": str(exc)})
            if self.wait(min(0.05 * 2**attempt, 2.0)):
                return False  # stopping: the failed step committed nothing
        raise AssertionError("unreachable")

    # -- one step -----------------------------------------------------------------------------

    def _step(self, to_block: int | None) -> bool:
        self.beat()
        held = self.readahead.settle()  # before the source is asked anything (see ReadAhead)
        head = self.head = self._head()
        self.identity.check_anchor(head)
        self._safe = max(self._safe, min(head, max(self.source.finalized(), head - self.window)))
        target = head if to_block is None else min(head, to_block)
        with self.engine.connect() as conn:
            cursor = Store.cursor(conn)
        start = cursor.block_number + 1 if cursor else self.start_block
        if start > target:
            self.backfill.leave()
            if cursor is not None and self.reorg.tip_moved(cursor, head):
                self._forked(self.reorg.roll_back(cursor, head))
                return True
            return False
        final = start <= self._safe
        fetched = self.readahead.take(
            held, start, target, final=final, safe=self._safe, batch_blocks=self.batch_blocks
        )
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
        self.beat()
        if cursor and headers[0].parent_hash != cursor.block_hash:
            self._forked(self.reorg.roll_back(cursor, head))
            return True
        if fetched is None:
            events = fetch_logs(self.source, self.decoder, headers, start, end)
            count = len(events)
        self.beat()
        if final:
            # (a worker's batch: its events stayed in the worker, its rows count alone)
            self._adapt(count, batch_bytes(events), end - start + 1)
            self._read_ahead(end + 1, target, committing=False)
        move = self.backfill.move(
            final=final, start=start, end=end, ahead_to=min(self._safe, target)
        )
        with self.store.transaction() as conn:
            if Store.cursor(conn) != cursor:
                raise StoreError(
                    "another writer moved the cursor of this database while indexing; run only "
                    "one indexer per database"
                )
            self.backfill.before_writes(conn, move)
            if final:
                self._write(conn, Batch(start, end, events, True), rows)
                Store.add_blocks(conn, headers[-1:])
            else:
                self._write_blocks(conn, headers, events)
            Store.set_cursor(conn, end, headers[-1].hash)
            self.store.bump_versions(conn, final=final, start=start)  # before the journal is pruned
            self.throughput.record(conn, events=count, blocks=end - start + 1, cursor=end,
                                   head=head, finalized=self._safe)
            self.store.finalize(conn, self._safe)
            if final:
                self._read_ahead(end + 1, target, committing=True)
            self.backfill.after_writes(conn, move)
        self.backfill.committed(move, start, self._safe)
        seconds = time.perf_counter() - t0
        log.info(
            "indexed blocks %d..%d: %d events in %.3f s",
            start,
            end,
            count,
            seconds,
            extra={"start": start, "end": end, "events": count, "seconds": seconds,
                   "final": final, "head": head},
        )
        report = BatchReport(start, end, count, final, seconds, head, self._safe)
        for listener in self._batch_listeners:
            listener(report)
        return True

    def _head(self) -> int:
        head = self.source.head()
        if not 0 <= head <= MAX_BLOCK:
            raise SourceError(
                f"the node says its head is block {head}, which no chain has reached; it is "
                "faulty or not a chain node: use another one"
            )
        return head

    def _adapt(self, events: int, nbytes: int, blocks: int) -> None:
        """Grow ranges while events are sparse, shrink them when a batch gets too big, by its
        events or its bytes (``nbytes``, :func:`~.tuning.batch_bytes`)."""
        t = self.tuning
        load = max(events / t.target_events, nbytes / t.target_bytes)  # 1: on target
        if load < 0.5:
            self.batch_blocks = min(t.max_batch_blocks, self.batch_blocks * 2)
        elif load > 2:
            # straight to the size that holds about the target (not halving step by step: a
            # dense chain's first batch would be followed by several more too large)
            self.batch_blocks = max(1, min(blocks // 2, int(blocks / load)))

    def _read_ahead(self, start: int, target: int, *, committing: bool) -> None:
        self.readahead.schedule(
            start, target, safe=self._safe, batch_blocks=self.batch_blocks, committing=committing
        )

    def _forked(self, report: ForkReport) -> None:
        for listener in self._fork_listeners:
            listener(report)

    # -- writing ------------------------------------------------------------------------------

    def _write(self, conn: Connection, batch: Batch, rows: list[TableRows] | None = None) -> None:
        # Rows are plain tuples handed to the driver in bulk (executemany on SQLite, COPY on
        # PostgreSQL): SQLAlchemy's per-row parameter processing cost more than the database's
        # own work (profiled: ~60% of a raw run). The fetch worker sends them ready-made.
        self.store.write_rows(conn, self.decoder.rows(batch) if rows is None else rows)
        self.plugins.handle(batch, conn)

    def _write_blocks(
        self, conn: Connection, headers: list[Header], events: list[Decoded[Any]]
    ) -> None:
        """Inside the window: journal each block's writes under its own number."""
        by_block: dict[int, list[Decoded[Any]]] = {}
        for d in events:
            by_block.setdefault(d.log.block_number, []).append(d)
        for h in headers:
            with self.store.block(conn, h.number):
                self._write(conn, Batch(h.number, h.number, by_block.get(h.number, []), False))
        Store.add_blocks(conn, headers)


def _check_addresses(contracts: Sequence[Contract]) -> None:
    seen: dict[bytes, str] = {}
    for c in contracts:
        for a in c.addresses:
            if a in seen:
                raise ConfigError(
                    f"address 0x{a.hex()} is configured for both {seen[a]} and {c.name}"
                )
            seen[a] = c.name


def _check_generated(events: Sequence[type[Any]]) -> None:
    for cls in events:
        keys = tuple(col.key for col in cls.TABLE.columns[: len(CHAIN_COLUMNS)])
        if keys != CHAIN_COLUMNS or not hasattr(cls, "from_sql"):
            raise ConfigError(
                f"{cls.__name__} of {getattr(cls, 'CONTRACT', '?')} was generated by an older "
                f"dcmx-codegen (its table must start with the chain columns "
                f"{', '.join(CHAIN_COLUMNS)}, and it must have from_sql); regenerate the code "
                "with dcmx-codegen"
            )
