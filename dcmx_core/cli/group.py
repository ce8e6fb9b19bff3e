"""The ``dcmx`` group: global options, the commands of this package and of installed ones, and
the mapping of errors to one line on stderr and a documented exit status.

Exit statuses: 0 done, 1 internal error (a bug: report it), 2 configuration, 3 node,
4 deep fork, 5 plugin, 6 database, 7 transaction, 130 interrupted. ``--debug`` adds the
traceback (redacted like every line dcmx prints).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import click

from ..errors import ConfigError, DcmxError, StoreError
from ..extras import missing_extra
from ..redaction import mask_keys, redact

__all__ = ["COMMANDS", "ENTRY_POINT_GROUP", "Context", "DcmxGroup", "one_line"]

#: Commands other packages add, as ``name = "package.module:click_command"``.
ENTRY_POINT_GROUP = "dcmx.commands"

#: This package's commands: name -> "module:attribute", imported when used.
COMMANDS = {
    "run": "dcmx_core.cli.run:run",
    "status": "dcmx_core.cli.status:status",
    "rollback": "dcmx_core.cli.maintenance:rollback",
    "rebuild": "dcmx_core.cli.maintenance:rebuild",
    "backup": "dcmx_core.cli.backup:backup",
    "restore": "dcmx_core.cli.restore:restore",
    "plugins": "dcmx_core.cli.listing:plugins",
    "serve": "dcmx_core.cli.serve:serve",
    "new": "dcmx_core.cli.new:new",
}


def one_line(text: object) -> str:
    """``text`` on one line, with anything that may be a secret masked."""
    return redact(" ".join(str(text).split()))


class DcmxGroup(click.Group):
    """Finds commands lazily (only the one run is imported) and turns errors into one line on
    stderr and the error's exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *(ep.name for ep in _entry_points())})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        origin = "dcmx"
        if target is None:
            ep = next((e for e in _entry_points() if e.name == cmd_name), None)
            if ep is None:
                return None
            target, origin = ep.value, f"package {ep.dist.name if ep.dist else '?'}"
        module, _, attr = target.partition(":")
        try:
            command = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # noqa: BLE001 - a broken package's command, named
            raise click.ClickException(
                f"command {cmd_name!r} ({target} of {origin}) failed to import: "
                f"{type(exc).__name__}: {exc}; fix or uninstall that package"
            ) from None
        if not isinstance(command, click.Command):
            raise click.ClickException(
                f"command {cmd_name!r} ({target} of {origin}) is not a click command"
            )
        return command

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("DCMX_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.ClickException as exc:
            # click quotes a bad value: never a key. (Its stubs mark message final; it is
            # only read when the error is shown, below.)
            exc.message = mask_keys(exc.message)  # type: ignore[misc]
            raise
        except DcmxError as exc:
            # A configuration error quotes what was typed, which may be a key pasted in the
            # wrong place; the others may quote hashes, which have a key's form.
            report(debug, f"error: {mask_keys(str(exc)) if exc.exit_code == 2 else exc}")
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # `dcmx plugins | head`: the reader left; nothing more to say.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except KeyboardInterrupt as exc:
            report(debug, f"interrupted: {exc}" if str(exc) else "interrupted")
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - still one line unless --debug
            # SQLAlchemy is imported by the commands that use a database, not here: `dcmx
            # --help` has no use for it. Its errors can only come from a command that did.
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
                from ..dbfaults import database_fault

                if isinstance(exc, sa_exc.OperationalError) or database_fault(exc):
                    report(
                        debug,
                        "error: the database refused, is unreachable or is not one dcmx can "
                        f"use: {exc.orig}; check --db (a SQLite file must be one dcmx made, or "
                        "new)",
                    )
                    ctx.exit(StoreError.exit_code)
            hint = missing_extra(exc)  # e.g. `dcmx simulate` without the devchain extra
            if hint is not None:
                report(debug, f"error: {hint}")
                ctx.exit(ConfigError.exit_code)
            internal(debug, exc)
            ctx.exit(1)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return [
        ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.name not in COMMANDS
    ]


def internal(debug: bool, exc: BaseException) -> None:
    report(
        debug,
        f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback and "
        "report it)",
    )


def report(debug: bool, message: str) -> None:
    if debug:
        sys.stderr.write(redact(traceback.format_exc()))
    click.echo(one_line(message), err=True)


@dataclass
class Context:
    """What the group's options give every command (``click.pass_obj``)."""

    config: str | None
    log_format: str | None
    log_level: str | None
    debug: bool

    def settings(self, **flags: Any) -> Any:
        """The settings from ``flags`` (None: not given), the environment and the file; logging
        is set up from them and their secrets registered for redaction."""
        from ..logs import setup_logging
        from ..redaction import register_secret, register_url_secrets
        from ..settings import load

        flags.setdefault("log_format", self.log_format)
        flags.setdefault("log_level", self.log_level)
        # A repeatable flag not given arrives as an empty tuple: not given.
        settings = load(self.config, {k: (None if v == () else v) for k, v in flags.items()})
        register_secret(settings.tron_api_key)
        register_secret(settings.private_key)
        for url in (settings.database_url, settings.solidity_url, *settings.source):
            register_url_secrets(url)
        setup_logging(settings.log_format, "debug" if self.debug else settings.log_level,
                      events=settings.event_log == "on")
        return settings
