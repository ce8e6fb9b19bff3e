"""Structured logs: the ``dcmx.*`` loggers to stderr, for humans or as JSON lines.

Records carry structured fields in ``extra`` (block ranges, event counts, durations).
:func:`setup_logging` renders them for humans (the default) or as JSON lines, one object per
record with every extra field. Anything that may be a secret is redacted from messages and
fields before a record is written (:mod:`dcmx_core.redaction`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from .progress import Progress
from .redaction import redact

__all__ = ["JsonFormatter", "HumanFormatter", "extra_fields", "setup_logging"]


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed in ``extra``."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in extra_fields(record).items():
            out.setdefault(key, _clean(value))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS level  logger: message`` with secrets redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _Handler(logging.StreamHandler[IO[str]]):
    """Writes to stderr (looked up per record, so test runners that swap it see the output),
    clearing a progress line first when one is showing."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed or sys.stderr
        if Progress.active is not None:
            Progress.active.clear()
        super().emit(record)


def setup_logging(fmt: str = "human", level: str = "info", stream: IO[str] | None = None,
                  events: bool = False) -> None:
    """Route the ``dcmx`` loggers to stderr (or ``stream``) in the chosen format; with
    ``events``, the business-event lines too (:mod:`dcmx_core.eventlog`, JSON always)."""
    from .eventlog import LOGGER

    for name, formatter, lvl in (
        ("dcmx", JsonFormatter() if fmt == "json" else HumanFormatter(), level.upper()),
        (LOGGER, JsonFormatter(), logging.INFO if events else logging.CRITICAL + 1),
    ):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            if isinstance(h, _Handler):
                logger.removeHandler(h)
        handler = _Handler(stream)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        logger.setLevel(lvl)
        logger.propagate = False
