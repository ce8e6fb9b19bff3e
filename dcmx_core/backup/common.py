"""What a backup file holds, and writing a file so that a half-written one never shows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["Snapshot", "partial", "publish"]


@dataclass(frozen=True)
class Snapshot:
    """A backup file: its kind (``sqlite`` or ``pg_dump``), the block its index had reached
    (None: nothing indexed yet), for ``pg_dump`` the schema it holds, and after a restore with
    ``replace`` where the SQLite file it replaced was kept."""

    path: Path
    kind: str
    cursor: int | None
    schema: str | None = None
    kept: Path | None = None


def partial(target: Path) -> Path:
    """Where ``target`` is written before it is complete (same directory: same filesystem)."""
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


def publish(written: Path, target: Path) -> None:
    """Give the complete file ``written`` its name ``target``, which must not exist yet (a
    file that appeared meanwhile is left alone)."""
    try:
        os.link(written, target)
    except FileExistsError:
        raise ConfigError(f"{target} appeared while it was written; give a new path") from None
    finally:
        written.unlink()
