"""``dcmx-codegen``: generate bindings for the contract artifacts, or check they are current."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dcmx_core.errors import DcmxError

from .output import load_inputs, stale_files, write_package
from .render import GENERATOR_VERSION, render_package


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Output folder (replaced as a whole).",
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
def main(inputs: tuple[Path, ...], out: Path, package: str, profile: str, check: bool) -> None:
    """Generate typed event classes, call bindings, tables and DDL from contract ABIs.

    INPUTS are artifact files or folders of them (default: contracts/build).
    """
    try:
        contracts = load_inputs(list(inputs) or [Path("contracts/build")])
        files = render_package(contracts, profile, package)
        if check:
            stale = stale_files(files, out)
            for name in stale:
                click.echo(f"stale: {name}", err=True)
            if stale:
                click.echo(f"{out} is out of date: run dcmx-codegen to regenerate", err=True)
                sys.exit(1)
            return
        write_package(files, out)
    except DcmxError as exc:
        click.echo(f"dcmx-codegen: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"wrote {len(files)} files to {out} ({len(contracts)} contracts)")
