"""Fetching the next finalized ranges while the current one is written.

:class:`ReadAhead` decides what to fetch ahead, when and where. Two ways, one interface
(``start``, ``end``, ``wait()``, ``take()``):

- :class:`ThreadPrefetch` fetches and decodes in a thread. It suits a source that waits on a
  node: the wait lets the GIL go, so the writes go on beside it.
- :class:`Worker` fetches, decodes and builds the raw tables' rows in a separate process,
  for a source that can be opened again there (``Source.opener``) when no plugin needs the
  decoded events. Reading a file, parsing a node's answers and decoding are CPU work, which a
  thread can only do between the writes' own turns at the GIL (on SQLite every row step lets
  it go and waits to get it back); another process does it on another core. What crosses
  the pipe is marshalled rows, cheaper to load than to build (0.4 against 5 us an event):
  the main process is left with the writes. The indexer runs two, each a range ahead, since
  one builds rows slower than SQLite takes them. Plugins need the events themselves, which
  cost as much to send as to decode again: measured, a worker did not make that run faster.

A prefetch that fails leaves no result: the step then fetches the range itself and meets the
error where it is handled (retries, failover, a clear message).
"""

from __future__ import annotations

import gc
import json
import logging
import marshal
import pickle
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..batch import Decoded
from ..chain import Header, Source, check_headers
from ..decode import Decoder
from ..store import TableRows
from .fetch import fetch_range
from .tuning import Tuning

log = logging.getLogger("dcmx.indexer")

# (end, headers, events, rows, count): rows is None when the caller builds them from the
# events; events is empty when they stayed in the worker, count is their number.
Fetched = tuple[int, list[Header], list[Decoded[Any]], list[TableRows] | None, int]


class ThreadPrefetch:
    """The fetch and decode of one finalized range, run in a thread."""

    def __init__(self, start: int, end: int, fetch: Callable[[int, int], tuple[Any, ...]]):
        self.start, self.end = start, end
        self._result: tuple[Any, ...] | None = None
        self._thread = threading.Thread(
            target=self._run, args=(fetch,), name="dcmx-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, fetch: Callable[[int, int], tuple[Any, ...]]) -> None:
        try:
            self._result = fetch(self.start, self.end)
        except Exception as exc:  # noqa: BLE001 - the step fetches again and meets it itself
            log.debug("prefetch of %d..%d failed: %s", self.start, self.end, exc)

    def wait(self) -> None:
        self._thread.join()

    def take(self, start: int, target: int) -> Fetched | None:
        """The range fetched, when it is the one a step starting at ``start`` needs."""
        if self._result is None or start != self.start or self.end > target:
            return None
        headers, events = self._result
        return (self.end, headers, events, None, len(events))


class Worker:
    """A process that fetches, decodes and builds rows for the ranges it is asked for.

    Started with the source's ``opener`` and the decoder's ``spec``, both picklable; it opens
    its own source, so nothing is shared with the main process but the pipe. One range is
    asked for at a time (:meth:`fetch`, then :meth:`take`); it answers with the headers, the
    number of events and the rows of the core's tables.
    """

    def __init__(self, opener: Callable[[], object], decoder: Decoder) -> None:
        setup = pickle.dumps((opener, decoder.spec()))  # before starting: it may fail
        # A new interpreter, not multiprocessing: fork is unsafe in a program with threads,
        # and multiprocessing's spawn runs the embedding program's main module again.
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(theirs.fileno()), json.dumps(sys.path)],
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send_bytes(setup)
        self._ready = False
        self.failed = False
        self.start = self.end = -1
        self._pending = False
        self._result: Fetched | None = None

    @property
    def ready(self) -> bool:
        """Whether the worker has started (imports done) and can take a range now."""
        if self._ready or self.failed:
            return self._ready
        try:
            if self._conn.poll():
                self._ready = self._conn.recv_bytes() == b"ready"
                self.failed = not self._ready
        except (EOFError, OSError):
            self.failed = True
        if self.failed:
            log.warning("the fetch worker process did not start; fetching in a thread instead")
        return self._ready

    def fetch(self, start: int, end: int) -> Worker:
        self.start, self.end, self._result = start, end, None
        try:
            self._conn.send((start, end))
            self._pending = True
        except OSError:
            self.failed = True
        return self

    def wait(self) -> None:
        """Receive the answer to the range asked for, if one is pending."""
        if not self._pending:
            return
        self._pending = False
        try:
            answer = self._conn.recv_bytes()
        except (EOFError, OSError):
            self.failed = True
            log.warning("the fetch worker process died; fetching in a thread from now on")
            return
        if answer[:1] == b"E":
            log.debug("worker fetch of %d..%d failed: %s", self.start, self.end, answer[1:])
            return
        headers, count, rows = marshal.loads(answer)
        self._result = (self.end, [Header(*h) for h in headers], [], rows, count)

    def take(self, start: int, target: int) -> Fetched | None:
        """The range fetched, when it is the one a step starting at ``start`` needs."""
        self.wait()
        result, self._result = self._result, None
        if result is None or start != self.start or self.end > target:
            return None
        return result

    def close(self, *, abandon: bool = False) -> None:
        """Tell the process to stop, once the answer pending (if any) is received; with
        ``abandon``, at once: it is killed (it holds nothing but a fetch).

        It is not waited for here: ending a process takes a few tens of milliseconds, which the
        index builds that follow the last range would wait. A thread reaps it.
        """
        if abandon:
            self._process.kill()
            self._pending = False
        try:
            self.wait()
            self._conn.send(None)
        except (OSError, EOFError):
            pass
        self._conn.close()
        threading.Thread(target=_reap, args=(self._process,), name="dcmx-reap", daemon=True).start()


class ReadAhead:
    """The ranges of final blocks being fetched ahead of the loop, in range order.

    Only ranges entirely below the safe height, where blocks cannot change, are fetched ahead:
    the step that takes one still checks that it links to the cursor like any other. The
    window near the head stays sequential (fetch, check, write) so that fork checks see fresh
    answers. The source is never called from two threads at once (sources need not be
    thread-safe, and a failover source must not mix nodes within a step): the loop waits for
    what is in flight (:meth:`settle`) before it asks the source anything itself.
    """

    def __init__(
        self, source: Source, decoder: Decoder, tuning: Tuning, *, plugins: bool, sqlite: bool
    ) -> None:
        self.source, self.decoder, self.tuning = source, decoder, tuning
        self.enabled = tuning.prefetch
        # When: see schedule().
        if tuning.prefetch_at_commit is None:
            self.at_commit = bool(getattr(source, "in_process", False)) and sqlite
        else:
            self.at_commit = tuning.prefetch_at_commit
        self._plugins = plugins
        self._ahead: deque[ThreadPrefetch | Worker] = deque()  # in flight, in range order
        self.workers: list[Worker] = []  # started for a long backfill (see schedule)
        self._no_worker = False  # set when one could not be started or died

    def settle(self) -> ThreadPrefetch | Worker | None:
        """The first range in flight, once its fetch is done (None when nothing is)."""
        held = self._ahead.popleft() if self._ahead else None
        if held is not None:
            held.wait()
        return held

    def take(
        self,
        held: ThreadPrefetch | Worker | None,
        start: int,
        target: int,
        *,
        final: bool,
        safe: int,
        batch_blocks: int,
    ) -> Fetched | None:
        """What ``held`` (from :meth:`settle`) fetched, when it is the range the step
        starting at ``start`` needs; otherwise None, and nothing else is kept in flight."""
        if not final:
            self.stop()
        fetched = held.take(start, target) if held is not None and final else None
        if fetched is None:
            self.drop()  # ranges after one that was not this step's are not wanted either
            if final and self.enabled:
                # Start the fetch workers now, if this backfill is to have them: their imports
                # (~0.3 s) then overlap this range's fetch, and they are ready for the next.
                self._workers_for(start, target, safe, batch_blocks)
        return fetched

    def schedule(
        self, start: int, target: int, *, safe: int, batch_blocks: int, committing: bool
    ) -> None:
        """Fetch ranges from ``start`` on ahead; called twice a step, before the writes
        (``committing`` False) and as the batch commits.

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
        if not self.enabled:
            return
        if self._ahead:
            start = self._ahead[-1].end + 1  # after the ranges already asked for
        idle = [
            w
            for w in self._workers_for(start, target, safe, batch_blocks)
            if w.ready and w not in self._ahead
        ]
        while True:
            end = min(safe, target, start + batch_blocks - 1)
            if start > end:
                return
            if idle:
                self._ahead.append(idle.pop(0).fetch(start, end))
            elif not self._ahead and committing == self.at_commit:
                self._ahead.append(ThreadPrefetch(start, end, self._fetch))
            else:
                return
            start = end + 1

    def drop(self) -> None:
        """Wait for what is in flight and forget it."""
        while self._ahead:
            self._ahead.popleft().wait()

    def stop(self, *, abandon: bool = False) -> None:
        """Let the fetches in flight finish (so that nothing uses the source afterwards, and
        the workers' answers are received), then stop the workers.

        With ``abandon`` (the program is stopping) nothing is waited for: a thread's fetch
        goes on alone until the program ends (a daemon thread), a worker is killed.
        """
        if abandon:
            self._ahead.clear()
        else:
            self.drop()
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.close(abandon=abandon)

    def _fetch(self, start: int, end: int) -> tuple[list[Header], list[Decoded[Any]]]:
        return fetch_range(self.source, self.decoder, start, end)

    def _workers_for(self, start: int, target: int, safe: int, batch_blocks: int) -> list[Worker]:
        """The fetch workers, started when no plugin needs the decoded events, the source can
        be opened in another process and enough ranges of final blocks lie ahead of ``start``
        (``Tuning.worker_min_ranges``)."""
        if self.workers:
            if not any(w.failed for w in self.workers):
                return self.workers
            self.stop()
            self._no_worker = True
        opener = getattr(self.source, "opener", None)
        if self._no_worker or opener is None or self._plugins:
            return []
        if min(safe, target) - start < self.tuning.worker_min_ranges * batch_blocks:
            return []
        if self.decoder.spec() is None:
            self._no_worker = True  # a contract module only this process can import
            return []
        try:
            for _ in range(self.tuning.worker_processes):
                self.workers.append(Worker(opener(), self.decoder))
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.warning("no fetch worker process (%s); fetching in a thread", exc)
            self.stop()
            self._no_worker = True
            return []
        if self.workers:
            log.info(
                "fetching ahead in %d worker processes",
                len(self.workers),
                extra={"from_block": start, "workers": len(self.workers)},
            )
        return self.workers


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Once served, the process ends without tearing its interpreter down (it holds nothing to
# flush but stderr), which took 0.11 s.
_CHILD = (
    "import json, os, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from dcmx_core.indexing.readahead import _serve; _serve(int(sys.argv[1])); "
    "sys.stderr.flush(); os._exit(0)"
)


def _serve(fd: int) -> None:
    """The worker process: answer ranges until told to stop (None) or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    # Nothing here makes reference cycles, and the collector's walks over the tens of
    # thousands of objects a range makes cost as much as decoding them (see indexer._gc_paused).
    gc.disable()
    conn = Connection(fd)
    try:
        opener, spec = pickle.loads(conn.recv_bytes())
        source = opener()
        decoder = Decoder.from_spec(spec)
        addresses = list(decoder.by_address)
    except Exception as exc:  # noqa: BLE001 - reported to the main process, which goes on
        conn.send_bytes(b"E" + str(exc).encode())
        return
    conn.send_bytes(b"ready")
    try:
        while (ask := conn.recv()) is not None:
            start, end = ask
            try:
                headers = source.headers(start, end)
                check_headers(headers, start, end)
                found = source.logs(start, end, addresses) if addresses else []
                count, rows = decoder.decode_rows(found, headers, start)
                answer = marshal.dumps(
                    ([(h.number, h.hash, h.parent_hash, h.timestamp) for h in headers], count, rows)
                )
            except Exception as exc:  # noqa: BLE001 - the main process fetches it itself
                answer = b"E" + str(exc).encode()
            conn.send_bytes(answer)
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        source.close()
