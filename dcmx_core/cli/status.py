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
@setting_options("database_url", "source", "source_kind", "solidity_url", "network", "profile")
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
    views = counts(engine, _views(engine))
    built_from = _built_from(engine, settings.profile)
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
        "built_from": built_from,
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
    if built_from["anchor"] is not None:
        anchor = built_from["anchor"]
        echo(f"built from       block {anchor['block']} {anchor['hash']} (final when indexed)")
    for name, addresses in built_from["contracts"].items():
        echo(f"  {name:<30} {', '.join(addresses)}")
    if fork is None:
        echo("last fork        none")
    else:
        echo(
            f"last fork        at block {fork['detected_at_block']}: depth {fork['depth']}, "
            f"common ancestor {fork['common_ancestor']}, {fork['undone_writes']} writes undone "
            f"({out['last_fork']['at']})"
        )




def _views(engine: sa.Engine) -> list[str]:
    """The views dcmx made (``dcmx_views``); all views in a database an older dcmx made."""
    from ..store.tables import views_table

    present = sorted(sa.inspect(engine).get_view_names())
    if not sa.inspect(engine).has_table(views_table.name):
        return present
    with engine.connect() as conn:
        made = set(conn.execute(sa.select(views_table.c.view_name)).scalars())
    return [v for v in present if v in made] if made else present


def _built_from(engine: sa.Engine, profile: Any) -> dict[str, Any]:
    """What the database records it was built from (see dcmx_core.store.identity)."""
    from ..addresses import renderer
    from ..store import Store
    from ..store.tables import identity_table

    if not sa.inspect(engine).has_table(identity_table.name):  # an older dcmx's database
        return {"contracts": {}, "plugins": [], "anchor": None}
    render = renderer(profile)
    with engine.connect() as conn:
        contracts = Store.recorded_contracts(conn)
        plugins = sorted(Store.recorded_plugins(conn))
        anchor = Store.anchor(conn)
    return {
        "contracts": {n: [render(a) for a in sorted(v)] for n, v in sorted(contracts.items())},
        "plugins": plugins,
        "anchor": None if anchor is None else {
            "block": anchor.number, "hash": "0x" + anchor.block_hash.hex()
        },
    }
