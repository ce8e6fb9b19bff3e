"""``dcmx backup``: a consistent snapshot of an index, taken while the indexer runs."""

from __future__ import annotations

import time
from typing import Any

import click

from ..redaction import redact_url
from .group import Context
from .options import setting_options

__all__ = ["backup"]


@click.command()
@setting_options("database_url")
@click.option("--to", "to", required=True, metavar="PATH",
              help="The backup file to write (must not exist yet).")
@click.pass_obj
def backup(obj: Context, /, to: str, **flags: Any) -> None:
    """Snapshot the index into one file without stopping the indexer (SQLite: a SQLite file;
    PostgreSQL: a pg_dump archive of the index's schema)."""
    from ..backup import backup as take

    settings = obj.settings(**flags)
    t0 = time.perf_counter()
    snapshot = take(settings.database_url, to)
    at = "nothing indexed yet" if snapshot.cursor is None else f"block {snapshot.cursor}"
    size = snapshot.path.stat().st_size / 1e6
    click.echo(
        f"backed up {redact_url(settings.database_url)} at {at} to {snapshot.path} "
        f"({snapshot.kind}, {size:.1f} MB, {time.perf_counter() - t0:.1f} s); put it back with "
        f"`dcmx restore --from {snapshot.path} --db URL`"
    )
