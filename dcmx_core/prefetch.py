"""Fetching the next finalized range while the current one is written.

Two ways, one interface (``start``, ``end``, ``wait()``, ``take()``):

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
from collections.abc import Callable
from multiprocessing.connection import Connection

from .batch import Decoded
from .chain import Header, check_headers
from .decode import Decoder, TableRows

log = logging.getLogger("dcmx.indexer")

# (end, headers, events, rows, count): rows is None when the caller builds them from the
# events; events is empty when they stayed in the worker, count is their number.
Fetched = tuple[int, list[Header], list[Decoded], list[TableRows] | None, int]


class ThreadPrefetch:
    """The fetch and decode of one finalized range, run in a thread."""

    def __init__(self, start: int, end: int, fetch: Callable[[int, int], tuple]):
        self.start, self.end = start, end
        self._result: tuple | None = None
        self._thread = threading.Thread(
            target=self._run, args=(fetch,), name="dcmx-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, fetch: Callable[[int, int], tuple]) -> None:
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

    def close(self) -> None:
        """Tell the process to stop, once the answer pending (if any) is received.

        It is not waited for here: ending a process takes a few tens of milliseconds, which the
        index builds that follow the last range would wait. A thread reaps it.
        """
        try:
            self.wait()
            self._conn.send(None)
        except (OSError, EOFError):
            pass
        self._conn.close()
        threading.Thread(target=_reap, args=(self._process,), name="dcmx-reap", daemon=True).start()


def _reap(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Once served, the process ends without tearing its interpreter down (it holds nothing to
# flush but stderr), which took 0.11 s.
_CHILD = (
    "import json, os, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from dcmx_core.prefetch import _serve; _serve(int(sys.argv[1])); "
    "sys.stderr.flush(); os._exit(0)"
)


def _serve(fd: int) -> None:
    """The worker process: answer ranges until told to stop (None) or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    # Nothing here makes reference cycles, and the collector's walks over the tens of
    # thousands of objects a range makes cost as much as decoding them (see _gc_paused).
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
                headers = source.headers(start, end)  # type: ignore[attr-defined]
                check_headers(headers, start, end)
                found = source.logs(start, end, addresses) if addresses else []  # type: ignore[attr-defined]
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
        source.close()  # type: ignore[attr-defined]
