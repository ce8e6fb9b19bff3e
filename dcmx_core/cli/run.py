"""``dcmx run``: index the configured contracts from a node into a database."""

from __future__ import annotations

import logging
import time
from typing import Any

import click

from ..chain import MAX_BLOCK
from ..errors import ConfigError
from ..redaction import redact, redact_url
from .common import stop_on_signals
from .group import Context
from .options import setting_options

__all__ = ["check_to_block", "run"]

log = logging.getLogger("dcmx.cli")

_HELP = """Index contracts' events from a chain node into a database.

\b
SOURCE (--source, DCMX_SOURCE, `source`, or the network's default):
  tron+https://host   TRON full-node HTTP API (or an https URL with --source-kind tron)
  https://host        Ethereum-style JSON-RPC (TRON serves it at /jsonrpc; anvil)
  file:PATH           a saved chain file
  --source A --source B: several nodes of one chain, failing over in order

\b
CONTRACTS (--contract, DCMX_CONTRACTS, [networks.<name>.contracts]):
  NAME=ADDRESS                    a contract an installed package provides (`dcmx plugins`)
  NAME=MODULE@ADDRESS[@START]     any contract: MODULE is its dcmx-codegen bindings
Every contract gets its raw event tables; installed plugins run when their contracts are
configured (--plugins '' for none).

Settings: flags > environment > config file > defaults (`dcmx.example.toml` documents every
key). Secrets (database password, DCMX_TRON_API_KEY) come from the environment only.
Progress (blocks/s, events/s, ETA) goes to stderr. SIGINT/SIGTERM stop within moments
(exit status 130), the database as last committed; a second signal exits at once.
"""


def check_to_block(to_block: int | None, start: int | None) -> None:
    """Refuse a range that cannot be meant, before anything is opened or written."""
    if to_block is None:
        return
    if not 0 <= to_block <= MAX_BLOCK:
        raise ConfigError(
            f"option --to-block: must be a block number, 0..{MAX_BLOCK:,}, got {to_block}"
        )
    if start is not None and start > to_block:
        raise ConfigError(
            f"--to-block {to_block} is below the first block {start} (--from-block, or the "
            "contracts' start block): give a --to-block at or above it"
        )


@click.command(help=_HELP)
@setting_options(
    "database_url", "source", "source_kind", "solidity_url", "network", "profile", "contracts",
    "start_block", "window", "confirmations", "batch_blocks", "poll_interval",
    "source_concurrency", "source_max_rate", "plugins", "metrics_port", "metrics_host",
    "ready_lag", "pool_size", "max_overflow", "pool_timeout", "pool_recycle", "event_log",
)
@click.option("--to-block", type=int, default=None, help="Stop after this block.")
@click.option("--follow", is_flag=True, help="Keep indexing new blocks until stopped.")
@click.pass_obj
def run(obj: Context, /, to_block: int | None, follow: bool, **flags: Any) -> None:
    from .. import Indexer, PluginHost, Tuning
    from ..contracts import resolve
    from ..progress import Progress
    from ..sources.factory import make_source
    from ..store import create_engine

    settings = obj.settings(**flags)
    if follow and to_block is not None:
        raise ConfigError("--follow and --to-block exclude each other")
    check_to_block(to_block, settings.start_block)
    source = make_source(settings)  # first: a bad URL is the likelier mistake
    try:
        if not settings.contracts:
            where = f"[networks.{settings.network}.contracts]" if settings.network else "contracts"
            raise ConfigError(
                "no contract addresses configured: add --contract NAME=[MODULE@]ADDRESS, or "
                f"{where} to the config file (see dcmx.example.toml)"
            )
        contracts = resolve(settings.contracts)
        plugins = PluginHost(entry_points=True, only=settings.plugins)
    except BaseException:
        source.close()
        raise
    start = settings.start_block
    if start is None:
        start = min(c.start_block for c in contracts)
    try:
        check_to_block(to_block, start)
    except ConfigError:
        source.close()
        raise
    progress = Progress(interval=10.0)
    totals = {"batches": 0, "events": 0, "forks": 0}

    def count_batch(report: Any) -> None:
        totals["batches"] += 1
        totals["events"] += report.events

    def count_fork(_report: Any) -> None:
        totals["forks"] += 1

    try:
        indexer = Indexer(
            source,
            create_engine(settings.database_url, settings.pool("run")),
            contracts,
            plugins,
            profile=settings.profile,
            window=settings.window,
            start_block=start,
            poll_interval=settings.poll_interval,
            tuning=Tuning(batch_blocks=settings.batch_blocks),
            on_batch=progress.on_batch,
        )
    except BaseException:
        source.close()
        raise
    indexer.subscribe(on_batch=count_batch, on_fork=count_fork)
    server = None
    metrics = None
    if settings.metrics_port is not None:
        from ..metrics import Metrics, serve  # prometheus_client: 0.1 s of start-up otherwise

        metrics = Metrics(poll_interval=settings.poll_interval, ready_lag=settings.ready_lag)
        metrics.attach(indexer)
        server = serve(metrics, settings.metrics_port, settings.metrics_host)
        log.info(
            "serving metrics on http://%s:%d/metrics (/health, /ready)", server.host, server.port,
            extra={"metrics_port": server.port},
        )
    if progress.tty and settings.log_format == "human" and settings.log_level == "info":
        # The progress line replaces the per-batch log lines on a terminal.
        logging.getLogger("dcmx.indexer").setLevel(logging.WARNING)
    described = redact(repr(source))
    log.info(
        "indexing %s into %s", described, redact_url(settings.database_url),
        extra={"source": described, "database": redact_url(settings.database_url),
               "follow": follow},
    )
    started = time.perf_counter()
    try:
        with stop_on_signals(indexer.stop, lambda: indexer.interruptible) as stopping, progress:
            if follow:
                indexer.follow()
            else:
                indexer.run(to_block)
    finally:
        if metrics is not None:
            metrics.alive = False
            metrics.close()
        if server is not None:
            server.close()
        source.close()
    cursor = indexer.cursor()
    click.echo(
        f"indexed to block {cursor if cursor is not None else '-'}: {totals['events']} events "
        f"in {totals['batches']} batches, {totals['forks']} fork(s), "
        f"{time.perf_counter() - started:.1f} s, into {redact_url(settings.database_url)}",
        err=True,
    )
    if stopping.signal is not None:
        click.echo(f"interrupted: stopped by {stopping.signal}", err=True)
        raise click.exceptions.Exit(130)
