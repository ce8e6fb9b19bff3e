"""``dcmx restore``: put a backup back; the next ``dcmx run`` catches up from its cursor."""

from __future__ import annotations

from typing import Any

import click

from ..redaction import redact_url
from .group import Context
from .options import setting_options

__all__ = ["restore"]


@click.command()
@click.option("--from", "source", required=True, metavar="PATH",
              help="A file `dcmx backup` wrote.")
@setting_options("database_url")
@click.option("--replace", is_flag=True,
              help="Replace what the database already holds (a SQLite file is kept beside, "
              "renamed; PostgreSQL: the backup's tables are dropped and restored).")
@click.pass_obj
def restore(obj: Context, /, source: str, replace: bool, **flags: Any) -> None:
    """Put a backup into an empty database (or, with --replace, over an index)."""
    from ..backup import restore as put_back

    settings = obj.settings(**flags)
    snapshot = put_back(source, settings.database_url, replace=replace)
    if snapshot.kept is not None:
        click.echo(f"the file that was there is kept as {snapshot.kept}")
    resume = "at its start" if snapshot.cursor is None else f"at block {snapshot.cursor + 1}"
    click.echo(
        f"restored {source} into {redact_url(settings.database_url)}; `dcmx run` resumes "
        f"{resume} (rolling back first whatever the chain has replaced since)"
    )
