"""The ``dcmx`` command: demo, run, status, rollback, rebuild, plugins, simulate.

Settings come from flags > environment (DCMX_*) > the config file (``--config``, default
``./dcmx.toml``) > defaults; see :mod:`dcmx_core.config` for every key. Errors a user can cause
print one line on stderr and exit with the error's ``exit_code`` (``--debug`` adds the
traceback).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click
import sqlalchemy as sa

from . import config as cfg
from .errors import ConfigError, DcmxError, StoreError
from .redaction import redact, redact_url

log = logging.getLogger("dcmx.cli")

DEMO_DB = "dcmx-demo.db"


# -- error handling -------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return redact(" ".join(str(text).split()))


class _Group(click.Group):
    """Turns errors into one line on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("DCMX_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except DcmxError as exc:
            _report(debug, f"error: {exc}")
            ctx.exit(exc.exit_code)
        except sa.exc.OperationalError as exc:
            _report(debug, f"error: the database refused or is unreachable: {exc.orig}")
            ctx.exit(StoreError.exit_code)
        except BrokenPipeError:
            # `dcmx plugins | head`: the reader left; nothing more to say.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except KeyboardInterrupt:
            _report(debug, "interrupted")
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - still one line unless --debug
            _report(
                debug,
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                "traceback and report it)",
            )
            ctx.exit(1)


def _report(debug: bool, message: str) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)
    click.echo(_one_line(message), err=True)


@dataclass
class _Obj:
    config: str | None
    log_format: str | None
    log_level: str | None
    debug: bool

    def settings(self, **flags: Any) -> cfg.Settings:
        flags.setdefault("log_format", self.log_format)
        flags.setdefault("log_level", self.log_level)
        settings = cfg.load(self.config, flags)
        from .observability import setup_logging
        from .redaction import register_secret

        register_secret(settings.tron_api_key)
        register_secret(settings.private_key)
        setup_logging(settings.log_format, "debug" if self.debug else settings.log_level)
        return settings


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $DCMX_CONFIG, else ./dcmx.toml if present).",
)
@click.option(
    "--log-format", type=click.Choice(cfg.LOG_FORMATS), default=None,
    help="human (default) or json lines with every structured field.",
)
@click.option("--log-level", type=click.Choice(cfg.LOG_LEVELS), default=None)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="dcmx")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_format: str | None, log_level: str | None,
        debug: bool) -> None:
    """dcmx: index the DCMX platform's TRON contract events into SQL.

    Start with `dcmx demo`. Settings: flags > DCMX_* environment > dcmx.toml > defaults.
    """
    ctx.obj = _Obj(config, log_format, log_level, debug)


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    cli.main(args=argv, prog_name="dcmx")


# -- shared helpers -------------------------------------------------------------------------


def _db_url(text: str) -> str:
    """A path becomes a SQLite URL; a URL stays as it is."""
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    db = sa.engine.make_url(url).database
    return None if db in (None, "", ":memory:") else Path(db)


def _open_existing(url: str) -> sa.Engine:
    """An engine on a database dcmx has indexed into; a clear error otherwise."""
    from .store import create_engine

    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        raise ConfigError(f"no database at {path}: run `dcmx run` (or `dcmx demo`) first")
    engine = create_engine(url)
    if not sa.inspect(engine).has_table("dcmx_cursor"):
        raise StoreError(
            f"{redact_url(url)} holds no dcmx index (no dcmx_cursor table); check --db"
        )
    return engine


def _tracked(engine: sa.Engine) -> list[tuple[str, str]]:
    """(table, owner) of every table dcmx tracks in this database, in creation order."""
    from .store import schema_table

    with engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(
            sa.select(schema_table.c.table_name, schema_table.c.owner)
        )]


def _counts(engine: sa.Engine, tables: list[str]) -> dict[str, int]:
    out = {}
    with engine.connect() as conn:
        for name in tables:
            t = sa.table(name)
            out[name] = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    return out


def make_source(settings: cfg.Settings) -> Any:
    """The chain source the settings name (not the devchain: the caller builds that)."""
    from .sources.jsonrpc import JsonRpcSource
    from .sources.tron_http import TronHttpSource

    text = settings.resolved_source()
    kind = settings.source_kind
    if text.startswith(("tron+http://", "tron+https://")):
        if kind not in (None, "tron"):
            raise ConfigError(
                f"source {redact_url(text)!r} is a TRON URL but source_kind is {kind}"
            )
        text, kind = text.removeprefix("tron+"), "tron"
    if text.startswith("file:") or kind == "file":
        from .sources.memory import MemoryChain

        path = Path(text.removeprefix("file:"))
        if not path.is_file():
            raise ConfigError(f"source file {path} not found")
        try:
            return MemoryChain.load(path)
        except DcmxError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unreadable file
            raise ConfigError(f"source file {path} is not a saved MemoryChain: {exc}") from None
    if text.startswith(("http://", "https://")):
        if kind == "tron":
            return TronHttpSource(
                text,
                api_key=settings.tron_api_key,
                concurrency=settings.source_concurrency,
                max_rate=settings.source_max_rate,
            )
        if kind not in (None, "jsonrpc"):
            raise ConfigError(f"source kind {kind!r} does not take an http(s) URL")
        return JsonRpcSource(
            text, confirmations=settings.confirmations, max_rate=settings.source_max_rate
        )
    raise ConfigError(
        f"source {redact_url(text)!r} is not one dcmx reads: use tron+https://host (TRON HTTP "
        "API), http(s)://host (JSON-RPC), devchain, or file:PATH"
    )


def _is_devchain(settings: cfg.Settings) -> bool:
    return settings.resolved_source() == "devchain" or settings.source_kind == "devchain"


class Bar:
    """A small stderr progress bar for multi-phase work (redrawn on a TTY, lines otherwise)."""

    def __init__(self, total: int, stream: IO[str] | None = None, width: int = 30) -> None:
        self.total = max(1, total)
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.width = width
        self.label = ""

    def phase(self, label: str) -> None:
        self.label = label
        if self.tty:
            self._draw()
        else:
            self.stream.write(f"[{self._pct():3d}%] {label}\n")
            self.stream.flush()

    def advance(self, n: int = 1, label: str | None = None) -> None:
        self.done = min(self.total, self.done + n)
        if label:
            self.label = label
        if self.tty:
            self._draw()

    def _pct(self) -> int:
        return int(100 * self.done / self.total)

    def _draw(self) -> None:
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r\x1b[K[{bar}] {self._pct():3d}%  {self.label}")
        self.stream.flush()

    def close(self) -> None:
        self.done = self.total
        if self.tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM ask the indexer to stop after its current batch; a second SIGINT exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = {"n": 0}

    def handler(signum: int, _frame: Any) -> None:
        hits["n"] += 1
        if hits["n"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning(
            "%s received: stopping after the current batch", signal.Signals(signum).name,
            extra={"signal": signal.Signals(signum).name},
        )
        stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# -- demo -----------------------------------------------------------------------------------


@cli.command()
@click.option("--db", default=DEMO_DB, show_default=True,
              help="SQLite file (or database URL) to index into; recreated each run.")
@click.option("--rounds", default=36, show_default=True, type=click.IntRange(2, 10_000),
              help="Rounds of platform activity on the main branch.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--window", default=128, show_default=True, type=click.IntRange(8, 100_000),
              help="Unfinalized blocks kept (the fork must be shallower).")
@click.pass_obj
def demo(obj: _Obj, db: str, rounds: int, seed: int, window: int) -> None:
    """Deploy the five contracts on an in-process devchain, simulate activity with a chain
    fork, index it all with the built-in plugins into SQLite, and show what was indexed."""
    obj.settings()  # logging (the demo reads nothing else from the config)
    started = time.perf_counter()
    url = _db_url(db)
    path = _sqlite_path(url)
    if path is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    result = run_demo(url, rounds=rounds, seed=seed, window=window)
    result["seconds"] = time.perf_counter() - started
    _print_demo(result)


def run_demo(url: str, *, rounds: int = 36, seed: int = 7, window: int = 128,
             bar: Bar | None = None) -> dict[str, Any]:
    """The demo without printing: returns what :func:`_print_demo` shows."""
    from dcmx_plugins import platform_contracts

    from .devchain import Devchain
    from .indexer import ForkReport, Indexer, last_fork
    from .simulator import Simulator

    # Main branch in three parts; the fork: 2 rounds on a branch that is then abandoned
    # for 3 rounds of different activity on a longer one.
    first, fork_old, fork_new = max(1, rounds - 8), 2, 3
    after = max(1, rounds - first)
    bar = bar or Bar(total=first + fork_old + fork_new + after + 12)
    bar.phase("starting the devchain and deploying the five contracts")
    chain = Devchain()
    sim = Simulator.on_devchain(chain, seed=seed, wallets=24)
    addresses = sim.deploy()
    bar.advance(2)
    from .sources.devchain import DevchainSource
    forks: list[ForkReport] = []
    indexer = Indexer(
        DevchainSource(chain, confirmations=window),
        url,
        platform_contracts(addresses),
        entry_points=True,
        window=window,
        poll_interval=0.2,
        on_fork=forks.append,
    )
    txs = refused = 0

    def simulate(s: Simulator, n: int, what: str) -> None:
        nonlocal txs, refused
        bar.phase(f"{what}: {n} rounds of platform activity")
        report = s.run(n, on_round=lambda r, _rep: bar.advance(1, f"{what}: round {r + 1}/{n}"))
        txs += report.transactions
        refused += report.refused

    def index(what: str) -> None:
        bar.phase(f"indexing {what}")
        indexer.run()
        bar.advance(2, f"indexed up to block {indexer.cursor()}")

    simulate(sim, first, "main branch")
    index("the main branch")
    snapshot = chain.snapshot()
    other = sim.branch(seed + 1_000)
    simulate(sim, fork_old, "branch A (to be abandoned)")
    index("branch A")
    abandoned_head = chain.head
    chain.revert(snapshot)
    simulate(other, fork_new, "branch B (longer: the chain reorganises)")
    index("branch B (the indexer rolls back branch A)")
    simulate(other, after, "main branch, after the fork")
    index("the rest")
    bar.close()
    if not forks:
        raise DcmxError("the demo staged a fork but the indexer saw none; please report this")
    return {
        "url": url,
        "engine": indexer.engine,
        "head": chain.head,
        "cursor": indexer.cursor(),
        "transactions": txs,
        "refused": refused,
        "abandoned_head": abandoned_head,
        "fork": forks[-1],
        "last_fork": last_fork(indexer.engine),
        "addresses": addresses,
    }


def _coin(amount: int) -> str:
    return f"{amount / 10**18:,.2f}"


def demo_summary(engine: sa.Engine) -> dict[str, Any]:
    """Rows per table, top artists and reward totals of an indexed platform database."""
    from dcmx_plugins.nft import nft_index
    from dcmx_plugins.royalty import royalty_sales
    from dcmx_plugins.vault import reward_claims_index

    tables = [name for name, _ in _tracked(engine)]
    counts = _counts(engine, tables)
    n, s, c = nft_index.c, royalty_sales.c, reward_claims_index.c
    with engine.connect() as conn:
        artists: dict[str, dict[str, int]] = {}
        for artist, nfts in conn.execute(
            sa.select(n.artist, sa.func.count()).group_by(n.artist)
        ):
            artists[artist] = {"nfts": nfts, "sales": 0, "volume": 0}
        # Sums in Python: ExactInt is text on SQLite.
        for artist, amount in conn.execute(
            sa.select(n.artist, s.amount).join(royalty_sales, s.nft_token_id == n.token_id)
        ):
            artists[artist]["sales"] += 1
            artists[artist]["volume"] += int(amount)
        rewards: dict[str, dict[str, int]] = {}
        for pool, status, amount in conn.execute(sa.select(c.pool, c.status, c.amount)):
            by = rewards.setdefault(pool, {})
            by[status] = by.get(status, 0) + int(amount)
    top = sorted(artists.items(), key=lambda kv: (-kv[1]["sales"], -kv[1]["volume"], kv[0]))
    return {"counts": counts, "top_artists": top[:5], "rewards": dict(sorted(rewards.items()))}


def _print_demo(r: dict[str, Any]) -> None:
    summary = demo_summary(r["engine"])
    echo = click.echo
    fork = r["fork"]
    echo(f"dcmx demo: indexed the DCMX platform from an in-process devchain in "
         f"{r['seconds']:.1f} s")
    echo("")
    echo(f"chain       blocks 0..{r['head']}, {r['transactions']} transactions "
         f"({r['refused']} refused on purpose), indexed to block {r['cursor']}")
    echo(f"database    {r['url']}")
    echo("")
    echo("rows per table")
    width = max(len(t) for t in summary["counts"])
    for table, count in summary["counts"].items():
        echo(f"  {table:<{width}}  {count:>8}")
    echo(f"  {'total':<{width}}  {sum(summary['counts'].values()):>8}")
    echo("")
    echo("top artists (by sales)")
    for artist, a in summary["top_artists"]:
        echo(f"  {artist:<16} {a['nfts']:>3} NFTs  {a['sales']:>3} sales  "
             f"{_coin(a['volume'])} in sales volume")
    echo("")
    echo("reward totals (DCMX, by pool and claim status)")
    for pool, by in summary["rewards"].items():
        parts = ", ".join(f"{status} {_coin(v)}" for status, v in sorted(by.items()))
        echo(f"  {pool:<10} {parts}")
    echo("")
    echo("fork survived")
    echo(f"  branch A (blocks up to {r['abandoned_head']}) was replaced by a longer branch B")
    echo(f"  detected at block {fork.detected_at}, common ancestor block "
         f"{fork.common_ancestor}, depth {fork.depth} blocks, {fork.undone_writes} writes undone")
    echo("")
    path = _sqlite_path(r["url"])
    if path is not None:
        echo(f"query it:    sqlite3 {path} 'select artist, title, owner from nft_index limit 5'")
    echo(f"status:      dcmx status --db {path or redact_url(r['url'])}")


# -- run ------------------------------------------------------------------------------------

_RUN_HELP = f"""Index from a chain source into a database.

\b
SOURCE (--source / DCMX_SOURCE / `source` / the network's default):
  tron+https://host   TRON full-node HTTP API (or an https URL with --source-kind tron)
  https://host        Ethereum-style JSON-RPC (TRON serves it at /jsonrpc; anvil)
  devchain            an in-process devchain, deployed and driven by the simulator
  file:PATH           a saved MemoryChain file

\b
Precedence: flags > environment > config file > defaults.
{cfg.__doc__.split("Precedence, highest first::", 1)[1].split("Per network,", 1)[0]}
Contract addresses come from [networks.<name>.contracts] in the config file.
Secrets (database password, DCMX_TRON_API_KEY) come from the environment only.

Progress (blocks/s, events/s, ETA) goes to stderr; SIGINT/SIGTERM stop after the current
batch.
"""


@cli.command(help=_RUN_HELP)
@click.option("--db", "database_url", default=None, help="Database URL or SQLite path.")
@click.option("--source", default=None)
@click.option("--source-kind", type=click.Choice(cfg.SOURCE_KINDS), default=None)
@click.option("--network", default=None, help="mainnet | shasta | nile | devchain | ...")
@click.option("--from-block", "start_block", type=int, default=None,
              help="First block (for an empty database; later runs resume at the cursor).")
@click.option("--to-block", type=int, default=None, help="Stop after this block.")
@click.option("--follow", is_flag=True, help="Keep indexing new blocks until stopped.")
@click.option("--window", type=int, default=None)
@click.option("--confirmations", type=int, default=None)
@click.option("--batch-blocks", type=int, default=None)
@click.option("--poll-interval", type=float, default=None)
@click.option("--plugins", default=None, help="Only these plugins (comma-separated).")
@click.option("--metrics-port", type=int, default=None,
              help="Serve /metrics, /health and /ready on this port.")
@click.option("--metrics-host", default=None)
@click.option("--ready-lag", type=int, default=None,
              help="/ready is 200 within this many blocks of the head (3).")
@click.option("--rounds", type=int, default=10, show_default=True,
              help="devchain only: rounds of simulated activity (per poll with --follow).")
@click.option("--seed", type=int, default=0, show_default=True, help="devchain only.")
@click.pass_obj
def run(obj: _Obj, rounds: int, seed: int, to_block: int | None, follow: bool,
        database_url: str | None, **flags: Any) -> None:
    if database_url is not None:
        database_url = _db_url(database_url)
    settings = obj.settings(database_url=database_url, **flags)
    if follow and to_block is not None:
        raise ConfigError("--follow and --to-block exclude each other")
    from dcmx_plugins import platform_contracts

    from .indexer import Indexer
    from .observability import Metrics, Progress, serve

    devchain = None
    sim = None
    if _is_devchain(settings):
        from .devchain import Devchain
        from .plugins import PluginHost
        from .simulator import Simulator

        # A misspelt --plugins fails now, not after deploying and simulating (~10 s).
        PluginHost((), entry_points=True, only=settings.plugins)
        devchain = Devchain()
        sim = Simulator.on_devchain(devchain, seed=seed, wallets=24)
        contracts = sim.deploy()
        if rounds > 0:
            sim.run(rounds)
        from .sources.devchain import DevchainSource
        source: Any = DevchainSource(devchain, confirmations=settings.window)
    else:
        source = make_source(settings)
        contracts = settings.contracts
        if not contracts:
            source.close()
            raise ConfigError(
                f"no contract addresses configured for network {settings.network!r}: add "
                f"[networks.{settings.network}.contracts] to the config file (see "
                "dcmx.example.toml)"
            )
    progress = Progress(interval=10.0)
    indexer = Indexer(
        source,
        settings.database_url,
        platform_contracts(contracts),
        entry_points=True,
        only_plugins=settings.plugins,
        profile=settings.profile,  # type: ignore[arg-type]
        window=settings.window,
        start_block=settings.start_block,
        batch_blocks=settings.batch_blocks,
        poll_interval=settings.poll_interval,
        on_batch=progress.on_batch,
    )
    counts = {"batches": 0, "events": 0, "forks": 0}

    def count_batch(report: Any) -> None:
        counts["batches"] += 1
        counts["events"] += report.events

    def count_fork(_report: Any) -> None:
        counts["forks"] += 1

    chained = indexer.on_batch
    indexer.on_batch = lambda r: (count_batch(r), chained(r))  # type: ignore[func-returns-value]
    indexer.on_fork = count_fork
    server = None
    metrics = None
    if settings.metrics_port is not None:
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
    log.info(
        "indexing %s into %s", _describe(source), redact_url(settings.database_url),
        extra={"source": _describe(source), "database": redact_url(settings.database_url),
               "follow": follow},
    )
    started = time.perf_counter()
    try:
        with _stop_on_signals(indexer.stop), progress:
            if follow and sim is not None:
                indexer.setup()
                while not indexer._stop.is_set():
                    indexer.run()
                    indexer._stop.wait(settings.poll_interval)
                    if not indexer._stop.is_set() and rounds > 0:
                        sim.run(max(1, rounds // 5))
            elif follow:
                indexer.follow()
            else:
                indexer.run(to_block)
    finally:
        if metrics is not None:
            metrics.alive = False
        if server is not None:
            server.close()
        close = getattr(source, "close", None)
        if close is not None and devchain is None:
            close()
    cursor = indexer.cursor()
    click.echo(
        f"indexed to block {cursor if cursor is not None else '-'}: {counts['events']} events "
        f"in {counts['batches']} batches, {counts['forks']} fork(s), "
        f"{time.perf_counter() - started:.1f} s, into {redact_url(settings.database_url)}",
        err=True,
    )


def _describe(source: Any) -> str:
    return redact_url(repr(source))


# -- status ---------------------------------------------------------------------------------


@cli.command()
@click.option("--db", "database_url", default=None, help="Database URL or SQLite path.")
@click.option("--source", default=None, help="Ask this node for head and finalized height.")
@click.option("--source-kind", type=click.Choice(cfg.SOURCE_KINDS), default=None)
@click.option("--network", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def status(obj: _Obj, database_url: str | None, as_json: bool, **flags: Any) -> None:
    """Cursor, head, finalized height, lag, plugins and their tables, views, the last fork."""
    from .indexer import last_fork
    from .store import Store, blocks_table

    if database_url is not None:
        database_url = _db_url(database_url)
    settings = obj.settings(database_url=database_url, **flags)
    engine = _open_existing(settings.database_url)
    with engine.connect() as conn:
        cursor = Store.cursor(conn)
        window = conn.execute(
            sa.select(sa.func.min(blocks_table.c.number), sa.func.max(blocks_table.c.number))
        ).first()
    tracked = _tracked(engine)
    counts = _counts(engine, [t for t, _ in tracked])
    owners: dict[str, dict[str, int]] = {}
    for table, owner in tracked:
        owners.setdefault(owner, {})[table] = counts[table]
    views = _counts(engine, sorted(sa.inspect(engine).get_view_names()))
    head = finalized = None
    head_error = None
    if not _is_devchain(settings):
        source = None
        try:
            source = make_source(settings)
            head, finalized = source.head(), source.finalized()
        except DcmxError as exc:
            head_error = str(exc)
        finally:
            if source is not None and hasattr(source, "close"):
                source.close()
    else:
        head_error = "the devchain lives only inside a running dcmx process"
    fork = last_fork(engine)
    out = {
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
        echo(f"head             unknown ({_one_line(head_error or '')})")
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


# -- rollback -------------------------------------------------------------------------------


@cli.command()
@click.option("--to-block", "to_block", type=int, required=True,
              help="Keep blocks up to N, undo everything after it.")
@click.option("--db", "database_url", default=None, help="Database URL or SQLite path.")
@click.pass_obj
def rollback(obj: _Obj, to_block: int, database_url: str | None) -> None:
    """Undo everything indexed after block N (within the unfinalized window)."""
    if database_url is not None:
        database_url = _db_url(database_url)
    settings = obj.settings(database_url=database_url)
    engine = _open_existing(settings.database_url)
    cursor, undone = rollback_database(engine, to_block)
    click.echo(
        f"rolled back blocks {to_block + 1}..{cursor} ({undone} writes undone); the cursor is "
        f"at block {to_block}, the next run resumes at {to_block + 1}"
    )


def rollback_database(engine: sa.Engine, to_block: int) -> tuple[int, int]:
    """Roll every tracked table back to block ``to_block``; (old cursor, writes undone)."""
    from .store import Store

    meta = sa.MetaData()
    tables = []
    for name, owner in _tracked(engine):
        tables.append((sa.Table(name, meta, autoload_with=engine), owner))
    store = Store(engine, tables)
    with store.transaction() as conn:
        cursor = Store.cursor(conn)
        if cursor is None:
            raise ConfigError("nothing is indexed in this database yet; nothing to roll back")
        if to_block >= cursor.block_number:
            raise ConfigError(
                f"block {to_block} is not below the cursor (block {cursor.block_number}); "
                "nothing to undo"
            )
        stored = Store.recent_blocks(conn)
        if to_block not in stored:
            span = f"blocks {min(stored)}..{max(stored)}" if stored else "no blocks"
            raise ConfigError(
                f"block {to_block} is outside the unfinalized window the journal covers ({span}); "
                "finalized blocks cannot be rolled back: reindex into a new database instead"
            )
        undone = store.rollback_to(conn, to_block, stored[to_block])
    log.warning(
        "rolled back to block %d (%d writes undone)", to_block, undone,
        extra={"to_block": to_block, "from_block": cursor.block_number, "undone": undone},
    )
    return cursor.block_number, undone


# -- rebuild --------------------------------------------------------------------------------


@cli.command()
@click.option("--db", "database_url", default=None, help="Database URL or SQLite path.")
@click.option("--plugins", default=None, help="Only these plugins (comma-separated).")
@click.pass_obj
def rebuild(obj: _Obj, database_url: str | None, plugins: str | None) -> None:
    """Drop every plugin table and rebuild it from the raw event tables (no chain access)."""
    from dcmx_plugins import platform_contracts

    from .indexer import Indexer

    if database_url is not None:
        database_url = _db_url(database_url)
    settings = obj.settings(database_url=database_url, plugins=plugins)
    engine = _open_existing(settings.database_url)
    contracts = dict(settings.contracts) or _contracts_from_events(engine, settings.profile)
    indexer = Indexer(
        None,  # type: ignore[arg-type] - rebuild reads the database only
        engine,
        platform_contracts(contracts),
        entry_points=True,
        only_plugins=settings.plugins,
        profile=settings.profile,  # type: ignore[arg-type]
        window=settings.window,
    )
    t0 = time.perf_counter()
    replayed = indexer.rebuild()
    click.echo(
        f"rebuilt the tables of {len(indexer.plugins.plugins)} plugin(s) from {replayed} events "
        f"in {time.perf_counter() - t0:.1f} s"
    )


def _contracts_from_events(engine: sa.Engine, profile: str) -> dict[str, bytes]:
    """Contract name -> address as stored with the events; a placeholder for the others
    (rebuilding decodes stored events and never asks the chain)."""
    from dcmx_generated import CONTRACTS

    from .addresses import parse
    from .events_view import NAME

    view = sa.table(NAME, sa.column("contract"), sa.column("contract_address"))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(view.c.contract, view.c.contract_address).distinct()).all()
    found = {name: parse(addr) for name, addr in rows}
    for i, name in enumerate(sorted(CONTRACTS)):
        found.setdefault(name, b"\xff" * 19 + bytes([i]))
    return found


# -- plugins --------------------------------------------------------------------------------


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_cmd(obj: _Obj, as_json: bool) -> None:
    """The installed plugins: where they come from, the events they consume, their tables and
    views."""
    from .plugins import PluginHost

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
        })
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for p in out:
        click.echo(f"{p['name']}")
        click.echo(f"  from       {p['origin']}")
        click.echo(f"  contracts  {', '.join(p['contracts']) or '-'}")
        click.echo(f"  events     {', '.join(e.split('.')[1] for e in p['events']) or '-'}")
        click.echo(f"  tables     {', '.join(p['tables']) or '-'}")
        if p["views"]:
            click.echo(f"  views      {', '.join(p['views'])}")


# -- simulate -------------------------------------------------------------------------------


@cli.command()
@click.option("--rpc", required=True,
              help="JSON-RPC URL of a dev node with unlocked accounts (anvil), or `devchain`.")
@click.option("--rounds", type=click.IntRange(0, 100_000), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--wallets", type=click.IntRange(4, 1000), default=24, show_default=True)
@click.option("--network", "network_name", default="devchain", show_default=True,
              help="Network name used in the printed config snippet.")
@click.pass_obj
def simulate(obj: _Obj, rpc: str, rounds: int, seed: int, wallets: int,
             network_name: str) -> None:
    """Deploy the five contracts on a dev node and drive platform activity; print addresses."""
    from .addresses import to_evm, to_tron
    from .simulator import Simulator

    obj.settings()
    if rpc == "devchain":
        from .devchain import Devchain

        sim = Simulator.on_devchain(Devchain(), seed=seed, wallets=wallets)
    else:
        from .sources._http import check_url

        check_url(rpc, "JSON-RPC")
        sim = Simulator.on_rpc(rpc, seed=seed, wallets=wallets)
    addresses = sim.deploy()
    bar = Bar(total=max(1, rounds))
    report = None
    if rounds:
        bar.phase(f"simulating {rounds} rounds")
        report = sim.run(rounds, on_round=lambda r, _rep: bar.advance(1, f"round {r + 1}"))
        bar.close()
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


if __name__ == "__main__":  # pragma: no cover
    main()
