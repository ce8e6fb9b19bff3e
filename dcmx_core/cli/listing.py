"""``dcmx plugins``: the plugins and contracts installed packages provide."""

from __future__ import annotations

import json

import click

from .group import Context

__all__ = ["plugins"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins(obj: Context, as_json: bool) -> None:
    """The installed plugins (where they come from, the events they consume, their tables and
    views) and the contracts installed packages provide."""
    from ..contracts import installed
    from ..plugins import PluginHost

    obj.settings()
    host = PluginHost(entry_points=True)
    out = []
    for p in host.plugins:
        d = p.declaration
        consumes = sorted({f"{getattr(c, 'CONTRACT', '?')}.{c.__name__}" for c in d.consumes})
        out.append({
            "name": d.name,
            "origin": p.origin,
            "contracts": sorted({c.split(".")[0] for c in consumes}),
            "events": consumes,
            "tables": [t.name for t in d.tables],
            "views": [v.name for v in d.views],
            "after": list(d.after),
        })
    contracts = {
        name: f"{ep.value} ({ep.dist.name if ep.dist else '?'})"
        for name, ep in sorted(installed().items())
    }
    if as_json:
        click.echo(json.dumps({"plugins": out, "contracts": contracts}, indent=2))
        return
    for shown in out:
        click.echo(f"{shown['name']}")
        click.echo(f"  from       {shown['origin']}")
        click.echo(f"  contracts  {', '.join(shown['contracts']) or '-'}")
        click.echo(f"  events     {', '.join(e.split('.')[1] for e in shown['events']) or '-'}")
        click.echo(f"  tables     {', '.join(shown['tables']) or '-'}")
        if shown["views"]:
            click.echo(f"  views      {', '.join(shown['views'])}")
        if shown["after"]:
            click.echo(f"  after      {', '.join(shown['after'])}")
    if contracts:
        click.echo("contracts (name = generated module)")
        for name, where in contracts.items():
            click.echo(f"  {name} = {where}")
