"""Inputs (files or folders of artifacts) and outputs (atomic replace, staleness check)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dcmx_core.errors import AbiError

from .abi import Contract, load_artifact

__all__ = ["load_inputs", "write_package", "stale_files"]

# files a build folder may hold besides artifacts (Hardhat debug files, solc-js metadata)
_SKIP_SUFFIXES = (".dbg.json", ".metadata.json")


def _shown(path: Path) -> str:
    """How a source is named in headers: relative to the working directory when inside it,
    so the output does not depend on where the checkout lives."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def load_inputs(inputs: list[Path]) -> list[Contract]:
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(
                f
                for f in p.iterdir()
                if f.is_file() and f.suffix == ".json" and not f.name.endswith(_SKIP_SUFFIXES)
            )
            if not found:
                raise AbiError(f"{_shown(p)}: no *.json artifacts in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise AbiError(f"{p}: no such file or folder")
    contracts: list[Contract] = []
    for f in files:
        contracts += load_artifact(f, _shown(f))
    return contracts


def _listing(out: Path) -> dict[str, bytes]:
    if not out.is_dir():
        return {}
    return {
        f.name: f.read_bytes()
        for f in sorted(out.iterdir())
        if f.is_file() and not f.name.startswith(".")
    }


def stale_files(files: dict[str, str], out: Path) -> list[str]:
    """Files of ``out`` that differ from ``files``: changed, missing or extra (sorted)."""
    have = _listing(out)
    want = {name: text.encode() for name, text in files.items()}
    stale = [n for n in sorted(set(have) | set(want)) if have.get(n) != want.get(n)]
    return [(out / n).as_posix() for n in stale]


def write_package(files: dict[str, str], out: Path) -> None:
    """Replace ``out`` by exactly ``files``: written to a temp folder beside it, then swapped,
    so a reader sees the old package or the new one, never a mix."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for name, text in sorted(files.items()):
            (tmp / name).write_bytes(text.encode())
        os.chmod(tmp, 0o755)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / out.name)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
