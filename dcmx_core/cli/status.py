"""``dcmx status``: what a database holds, and how far it is behind its node."""

from __future__ import annotations

import json
from typing import Any

import click
import sqlalchemy as sa

from ..errors import DcmxError
from ..redaction import redact_url
from .common import counts, open_existing, tracked
from .group import Context, one_line
from .options import setting_options

__all__ = ["status"]


@click.command()
@setting_options("database_url", "source", "source_kind", "solidity_url", "network")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def status(obj: Context, /, as_json: bool, **flags: Any) -> None:
    """Cursor, head, finalized height, lag, plugins and their tables, views, the last fork."""
    from ..sources.factory import make_source
    from ..store import Store
    from ..store.ledger import last_fork
    from ..store.tables import blocks_table

    settings = obj.settings(**flags)
    engine = open_existing(settings.database_url)
    with engine.connect() as conn:
        cursor = Store.cursor(conn)
        window = conn.execute(
            sa.select(sa.func.min(blocks_table.c.number), sa.func.max(blocks_table.c.number))
        ).one()  # aggregates: always one row
    owned = tracked(engine)
    rows = counts(engine, [t for t, _ in owned])
    owners: dict[str, dict[str, int]] = {}
    for table, owner in owned:
        owners.setdefault(owner, {})[table] = rows[table]
    views = counts(engine, sorted(sa.inspect(engine).get_view_names()))
    head = finalized = None
    head_error = None
    source = None
    try:
        source = make_source(settings)
        head, finalized = source.head(), source.finalized()
    except DcmxError as exc:
        head_error = str(exc)
    finally:
        if source is not None:
            source.close()
    fork = last_fork(engine)
    out: dict[str, Any] = {
        "database": redact_url(settings.database_url),
        "cursor": cursor.block_number if cursor else None,
        "cursor_hash": "0x" + cursor.block_hash.hex() if cursor else None,
        "head": head,
        "finalized": finalized,
        "lag": None if head is None or cursor is None else max(0, head - cursor.block_number),
        "rollback_window": None if window[0] is None else [window[0], window[1]],
        "source_error": head_error,
        "tables": owners,
        "views": views,
        "last_fork": None if fork is None else {
            k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fork.items()
        },
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    echo = click.echo
    echo(f"database         {out['database']}")
    echo(f"cursor           {out['cursor'] if cursor else '- (nothing indexed yet)'}")
    if head is not None:
        echo(f"head             {head}")
        echo(f"finalized        {finalized}")
        echo(f"lag              {out['lag']} blocks")
    else:
        echo(f"head             unknown ({one_line(head_error or '')})")
    if window[0] is not None:
        echo(f"rollback window  blocks {window[0]}..{window[1]} (dcmx rollback --to-block N)")
    echo("tables (rows)")
    for owner, tables in owners.items():
        echo(f"  {owner}")
        for table, n in tables.items():
            echo(f"    {table:<32} {n:>8}")
    if views:
        echo("views (rows)")
        for view, n in views.items():
            echo(f"    {view:<32} {n:>8}")
    if fork is None:
        echo("last fork        none")
    else:
        echo(
            f"last fork        at block {fork['detected_at_block']}: depth {fork['depth']}, "
            f"common ancestor {fork['common_ancestor']}, {fork['undone_writes']} writes undone "
            f"({out['last_fork']['at']})"
        )


