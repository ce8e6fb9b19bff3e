"""``dcmx-codegen``: generate bindings for the contract artifacts, or check they are current."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dcmx_core.errors import ConfigError, DcmxError

from .output import load_inputs, stale_files, write_package
from .render import GENERATOR_VERSION, check_package, render_package

# Without INPUTS, dcmx-codegen regenerates a dcmx checkout's own bindings (`make check` runs
# `dcmx-codegen --check`); with INPUTS, the output folder must be named.
_OWN_INPUTS = Path("contracts/build")
_OWN_OUTPUT = Path("generated")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help=(
        "Output folder, required with INPUTS: created, or regenerated when dcmx-codegen made "
        "it (its .dcmx-codegen marker lists what it wrote; nothing else in it is replaced or "
        "deleted). Without INPUTS: generated."
    ),
)
@click.option(
    "--package",
    default="dcmx_generated",
    show_default=True,
    help="Import name of the output package (shown in its __init__).",
)
@click.option(
    "--profile",
    type=click.Choice(["tron", "evm"]),
    default="tron",
    show_default=True,
    help="Chain profile: how addresses are rendered (T... or 0x checksummed).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 naming every stale file when the output is not current.",
)
@click.version_option(GENERATOR_VERSION, prog_name="dcmx-codegen")
def main(
    inputs: tuple[Path, ...], out: Path | None, package: str, profile: str, check: bool
) -> None:
    """Generate typed event classes, call bindings, tables and DDL from contract ABIs.

    INPUTS are artifact files or folders of them. Without INPUTS: contracts/build into
    generated (a dcmx checkout's own bindings).
    """
    try:
        check_package(package)
        if inputs and out is None:
            raise ConfigError(
                "give -o FOLDER: where to write the bindings of these inputs (without inputs, "
                f"dcmx-codegen regenerates {_OWN_OUTPUT}/ from {_OWN_INPUTS}/)"
            )
        out = out if out is not None else _OWN_OUTPUT
        if os.path.lexists(out) and not out.is_dir():
            raise ConfigError(f"-o {out}: exists and is not a folder; give a folder to write into")
        contracts = load_inputs(list(inputs) or [_OWN_INPUTS])
        files = render_package(contracts, profile, package)
        if check:
            stale = stale_files(files, out)
            for name in stale:
                click.echo(f"stale: {name}", err=True)
            if stale:
                click.echo(f"{out} is out of date: run dcmx-codegen to regenerate", err=True)
                sys.exit(1)
            return
        write_package(files, out, package)
    except DcmxError as exc:
        click.echo(f"dcmx-codegen: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"wrote {len(files)} files to {out} ({len(contracts)} contracts)")
