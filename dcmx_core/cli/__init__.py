"""The ``dcmx`` command.

Each command lives in its own module and is imported only when it runs; installed packages add
theirs through the entry-point group ``dcmx.commands`` (the DCMX platform adds ``demo`` and
``simulate``). Settings come from flags > environment (``DCMX_*``) > the config file
(``--config``, default ``./dcmx.toml``) > defaults (:mod:`dcmx_core.settings`). Errors a
user can cause print one line on stderr and exit with the error's ``exit_code``
(:mod:`.group`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import click

from .group import Context, DcmxGroup

__all__ = ["cli", "main"]

_LOG_FORMATS = ("human", "json")
_LOG_LEVELS = ("debug", "info", "warning", "error")


@click.group(cls=DcmxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML config file (default: $DCMX_CONFIG, else ./dcmx.toml if present).",
)
@click.option(
    "--log-format", type=click.Choice(_LOG_FORMATS), default=None,
    help="human (default) or json lines with every structured field.",
)
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default=None)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="dcmx")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_format: str | None, log_level: str | None,
        debug: bool) -> None:
    """dcmx: index TRON (and any EVM chain's) contract events into SQL.

    Start with `dcmx demo`.
    Settings: flags > DCMX_* environment > dcmx.toml > defaults.
    """
    ctx.obj = Context(config, log_format, log_level, debug)


def main(argv: list[str] | None = None) -> None:
    """The console script."""
    cli.main(args=argv, prog_name="dcmx")
