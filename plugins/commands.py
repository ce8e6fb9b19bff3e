"""The DCMX platform's commands, added to ``dcmx`` through the ``dcmx.commands`` entry points:
``dcmx demo`` and ``dcmx simulate``."""

from __future__ import annotations

import time

import click

from dcmx_core.cli.group import Context
from dcmx_core.progress import Progress
from dcmx_core.redaction import redact_url

from .demo import DEMO_DB, print_demo, run_demo

__all__ = ["demo", "simulate"]


@click.command()
@click.option("--db", default=DEMO_DB, show_default=True,
              help="SQLite file (or database URL) to index into; a file an earlier demo made is "
                   "recreated, any other existing file refused.")
@click.option("--rounds", default=36, show_default=True, type=click.IntRange(2, 10_000),
              help="Rounds of platform activity on the main branch.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--window", default=128, show_default=True, type=click.IntRange(8, 100_000),
              help="Unfinalized blocks kept (the fork must be shallower).")
@click.option("--serve", "serve", is_flag=True,
              help="Then keep the devchain, new simulated activity, the indexer and the API "
                   "(dcmx serve) running until Ctrl-C: open /docs and try the write flows.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="The API's port with --serve.")
@click.pass_obj
def demo(obj: Context, db: str, rounds: int, seed: int, window: int, serve: bool,
         port: int) -> None:
    """Deploy the five contracts on an in-process devchain, simulate activity with a chain
    fork, index it all with the built-in plugins into SQLite, and show what was indexed."""
    settings = obj.settings(database_url=db)  # logging, and the path as a URL
    started = time.perf_counter()
    url = settings.database_url
    result = run_demo(url, rounds=rounds, seed=seed, window=window)
    result["seconds"] = time.perf_counter() - started
    print_demo(result)
    if serve:
        from .demo_serve import serve_demo

        serve_demo(result, settings, port)


@click.command()
@click.option("--rpc", required=True,
              help="JSON-RPC URL of a dev node with unlocked accounts (anvil), or `devchain`.")
@click.option("--rounds", type=click.IntRange(0, 100_000), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--wallets", type=click.IntRange(4, 1000), default=24, show_default=True)
@click.option("--network", "network_name", default="devchain", show_default=True,
              help="Network name used in the printed config snippet.")
@click.pass_obj
def simulate(obj: Context, rpc: str, rounds: int, seed: int, wallets: int,
             network_name: str) -> None:
    """Deploy the five contracts on a dev node and drive platform activity; print addresses."""
    from dcmx_core.addresses import to_evm, to_tron

    from .simulator import Simulator

    obj.settings()
    if rpc == "devchain":
        from .devchain import Devchain

        sim = Simulator.on_devchain(Devchain(), seed=seed, wallets=wallets)
    else:
        from dcmx_core.http import check_url

        check_url(rpc, "JSON-RPC")
        sim = Simulator.on_rpc(rpc, seed=seed, wallets=wallets)
    addresses = sim.deploy()
    report = None
    if rounds:
        with Progress(total=rounds) as bar:
            bar.phase(f"simulating {rounds} rounds")
            report = sim.run(rounds, on_round=lambda r, _rep: bar.advance(1, f"round {r + 1}"))
    click.echo(f"# contracts on {redact_url(rpc)} (paste into dcmx.toml)")
    click.echo(f"[networks.{network_name}.contracts]")
    for name, raw in addresses.items():
        click.echo(f'{name} = "{to_evm(raw)}"  # {to_tron(raw)}')
    if report is not None:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.by_kind.items()))
        click.echo(
            f"# {report.transactions} transactions ({report.refused} refused on purpose) in "
            f"blocks {report.first_block}..{report.last_block}: {kinds}"
        )
