"""Progress of long work on stderr: catching up (blocks/s, events/s, ETA) or the steps of a job.

One line, two kinds of work:

- an indexer catching up feeds :meth:`Progress.on_batch` (an ``on_batch`` listener): the line
  shows the block reached, blocks/s, events/s and the ETA;
- a job of known size (deploying, simulating, a demo) calls :meth:`Progress.phase` and
  :meth:`Progress.advance` with ``total`` steps: the line shows a bar, the percentage and what
  is being done.

On a terminal the line is redrawn in place (log lines clear it first, see :mod:`.logs`);
otherwise it is logged through ``dcmx.progress`` (so it is JSON when logs are): catch-up every
``interval`` seconds, a job at each phase.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .indexing.reports import BatchReport

__all__ = ["Progress"]

_BAR = 30  # characters of a job's bar


class Progress:
    """Progress of catching up, or of a job of ``total`` steps."""

    active: Progress | None = None

    def __init__(self, stream: IO[str] | None = None, *, tty: bool | None = None,
                 interval: float = 10.0, total: int | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.started = time.monotonic()
        self.blocks = 0
        self.events = 0
        self.first: int | None = None
        self.cursor: int | None = None
        self.head: int | None = None
        self.total = None if total is None else max(1, total)
        self.done = 0
        self.label = ""
        self._last_print = 0.0
        self._shown = False
        self._log = logging.getLogger("dcmx.progress")

    def __enter__(self) -> Progress:
        if self.tty:
            Progress.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    # -- catching up ----------------------------------------------------------------------------

    def on_batch(self, report: BatchReport) -> None:
        if self.first is None:
            self.first = report.start
        self.blocks += report.end - report.start + 1
        self.events += report.events
        self.cursor, self.head = report.end, report.head
        if self.total is not None:
            return  # a job's line shows its steps; a batch is part of a step
        now = time.monotonic()
        if self.tty:
            if now - self._last_print >= 0.1 or report.end >= report.head:
                self._draw(now)
        elif now - self._last_print >= self.interval:
            self._last_print = now
            self._log.info(self.line(now), extra=self.fields(now))

    def fields(self, now: float | None = None) -> dict[str, Any]:
        elapsed = max(1e-9, (now or time.monotonic()) - self.started)
        bps, eps = self.blocks / elapsed, self.events / elapsed
        remaining = max(0, (self.head or 0) - (self.cursor or 0))
        eta = remaining / bps if bps > 0 else None
        out: dict[str, Any] = {
            "cursor": self.cursor,
            "head": self.head,
            "blocks_per_s": round(bps, 1),
            "events_per_s": round(eps, 1),
            "remaining_blocks": remaining,
            "eta_s": None if eta is None else round(eta, 1),
        }
        if self.total is not None:
            out.update(step=self.done, steps=self.total, phase=self.label)
        return out

    # -- a job of known size --------------------------------------------------------------------

    def phase(self, label: str) -> None:
        """A new phase of the job begins."""
        self.label = label
        if self.tty:
            self._draw(time.monotonic())
        else:
            now = time.monotonic()
            self._log.info(self.line(now), extra=self.fields(now))

    def advance(self, n: int = 1, label: str | None = None) -> None:
        """``n`` more steps of the job are done."""
        if self.total is not None:
            self.done = min(self.total, self.done + n)
        if label:
            self.label = label
        if self.tty:
            self._draw(time.monotonic())

    # -- the line -------------------------------------------------------------------------------

    def line(self, now: float | None = None) -> str:
        if self.total is not None:
            pct = int(100 * self.done / self.total)
            if not self.tty:
                return f"[{pct:3d}%] {self.label}"
            filled = int(_BAR * self.done / self.total)
            return f"[{'#' * filled}{'-' * (_BAR - filled)}] {pct:3d}%  {self.label}"
        f = self.fields(now)
        eta = "--" if f["eta_s"] is None else _duration(f["eta_s"])
        pct_text = ""
        if self.head and self.first is not None and self.head > self.first:
            done = ((self.cursor or 0) - self.first + 1) / (self.head - self.first + 1)
            pct_text = f"{100 * min(1.0, done):5.1f}% "
        return (
            f"{pct_text}block {f['cursor']}/{f['head']}  {f['blocks_per_s']:,.1f} blocks/s  "
            f"{f['events_per_s']:,.1f} events/s  ETA {eta}"
        )

    def _draw(self, now: float) -> None:
        self._last_print = now
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def finish(self) -> None:
        if self.total is not None:
            self.done = self.total
        shown = self.cursor is not None or self.total is not None
        if self.tty:
            if shown:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
                self._shown = False
            if Progress.active is self:
                Progress.active = None
        elif self.cursor is not None and self.total is None:
            now = time.monotonic()
            self._log.info(self.line(now), extra=self.fields(now))


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
