"""Inputs (files or folders of artifacts) and the output folder, written without destroying
anything dcmx-codegen did not make.

The rule: dcmx-codegen replaces or deletes a file only when it can prove it wrote it: the
folder's marker (:mod:`dcmx_codegen.marker`) lists it and it still starts with the generated
header. Anything else in the folder (a README, hand-written code, ``__pycache__``) is left as
it is, and a run that would have to replace it is refused with one line saying what to do.
A folder without a marker is written only when it is absent or empty, so ``-o .`` or
``-o src`` in a project is refused before anything is touched.

A new folder is built beside its place and renamed into it, so it appears whole. In an existing
one each file is replaced atomically (written beside, then renamed over); a crash part way
leaves a marker that lists every file the run may have written, so the next run can finish.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from dcmx_core.errors import AbiError, ConfigError

from .abi import Contract, load_artifact
from .marker import MARKER, Marker, is_generated, parse_marker, render_marker

__all__ = ["load_inputs", "write_package", "stale_files", "OutputError"]

# files a build folder may hold besides artifacts (Hardhat debug files, solc-js metadata)
_SKIP_SUFFIXES = (".dbg.json", ".metadata.json")
_MARKER_BYTES = 1 << 20  # a real marker is a few hundred bytes
_TMP_PREFIX = ".dcmx-codegen-tmp-"


class OutputError(ConfigError):
    """An output folder dcmx-codegen will not write into (it would replace a file it did not
    make), or cannot."""


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
        elif p.exists():
            raise AbiError(f"{p}: not a file or folder of artifacts")
        else:
            raise AbiError(f"{p}: no such file or folder")
    contracts: list[Contract] = []
    for f in files:
        contracts += load_artifact(f, _shown(f))
    return contracts


# --- what is in an output folder ------------------------------------------------------------


def _read_head(path: Path, n: int) -> bytes | None:
    """The first ``n`` bytes of a regular file that is not a symlink, else None."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return None
        with path.open("rb") as f:
            return f.read(n)
    except OSError:
        return None


def _marker_of(out: Path) -> Marker | None:
    """The folder's marker; None when it has none. Raises when it has one dcmx-codegen did
    not write (unreadable, a symlink, not a marker): nothing in the folder is provably ours."""
    path = out / MARKER
    if not os.path.lexists(path):
        return None
    raw = _read_head(path, _MARKER_BYTES + 1)
    marker = parse_marker(raw) if raw is not None and len(raw) <= _MARKER_BYTES else None
    if marker is None:
        raise OutputError(
            f"{path} is not a marker dcmx-codegen wrote, so nothing in {out} is provably "
            "generated; move the folder away or choose another -o"
        )
    return marker


def _ours(path: Path) -> bool:
    """A file dcmx-codegen may replace or delete (given that the marker lists it): a regular
    file, not a symlink, that still starts with the generated header."""
    head = _read_head(path, 256)
    return head is not None and is_generated(head)


def _plan(out: Path, names: set[str], package: str) -> list[str]:
    """The files of ``out`` to delete (listed in its marker, no longer generated), after
    checking that writing ``names`` replaces or deletes nothing that is not provably ours;
    :class:`OutputError` otherwise."""
    if os.path.lexists(out) and not out.is_dir():
        raise OutputError(f"-o {out}: exists and is not a folder; give a folder to write into")
    try:
        entries = {p.name for p in out.iterdir()} if out.is_dir() else set()
    except OSError as exc:
        raise OutputError(f"-o {out}: cannot list it: {exc.strerror}") from None
    marker = _marker_of(out) if entries else None
    if entries and marker is None:
        raise OutputError(
            f"{out} is not empty and has no {MARKER} marker, so dcmx-codegen did not make it "
            "(it writes only into a new or empty folder, or one it made); choose another -o, "
            "or empty it if an older dcmx-codegen made it"
        )
    if marker is not None and marker.package != package:
        raise OutputError(
            f"{out} holds package {marker.package}, not {package}; pass --package "
            f"{marker.package} to regenerate it, or choose another -o"
        )
    listed = set(marker.files) if marker else set()
    delete = sorted((listed & entries) - names)
    for name in sorted(names & entries) + delete:
        if name not in listed or not _ours(out / name):
            raise OutputError(
                f"{out / name} was not written by dcmx-codegen (not listed in its {MARKER} "
                "marker, or no longer a generated file); move it away or choose another -o"
            )
    return delete


# --- writing ---------------------------------------------------------------------------------


def _write_file(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder/name`` whole: a reader sees the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _new_folder(files: dict[str, bytes], out: Path) -> None:
    """Build the folder beside its place and rename it in: it appears whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for name, data in sorted(files.items()):
            (tmp / name).write_bytes(data)
        os.chmod(tmp, 0o755)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_package(files: dict[str, str], out: Path, package: str) -> None:
    """Write ``files`` (as :func:`~dcmx_codegen.render.render_package` made them, marker
    included) into ``out``, replacing or deleting only what dcmx-codegen provably wrote
    there before (see the module docstring); raises :class:`OutputError` before touching
    anything otherwise."""
    marker = parse_marker(files.get(MARKER, "").encode())
    if marker is None or marker.package != package:
        raise ValueError(f"the files to write need the {MARKER} marker of package {package}")
    data = {name: text.encode() for name, text in files.items()}
    names = set(data) - {MARKER}
    try:
        delete = _plan(out, names, package)
        if not os.path.lexists(out):
            _new_folder(data, out)
            return
        # first a marker listing every file this run may leave behind if it stops part way
        interim = render_marker(marker.version, package, sorted(names | set(delete)))
        _write_file(out, MARKER, interim.encode())
        for name in sorted(names):
            _write_file(out, name, data[name])
        for name in delete:
            (out / name).unlink()
        _write_file(out, MARKER, data[MARKER])
    except OSError as exc:
        raise OutputError(f"-o {out}: cannot write: {exc.strerror or exc}") from None


def stale_files(files: dict[str, str], out: Path) -> list[str]:
    """Files of ``out`` that differ from ``files`` (sorted paths): changed or missing, the
    marker included, and extra ones dcmx-codegen wrote (listed in the folder's marker or
    carrying the generated header). A user's own files in the folder are not stale."""
    want = {name: text.encode() for name, text in files.items()}
    extra: set[str] = set()
    if out.is_dir():
        try:
            marker = _marker_of(out)
        except OutputError:
            marker = None  # reported below: the marker differs from the one wanted
        listed = set(marker.files) if marker else set()
        for p in out.iterdir():
            if p.name not in want and (p.name in listed or _ours(p)):
                extra.add(p.name)
    stale = [n for n in sorted(want) if _read_head(out / n, len(want[n]) + 1) != want[n]]
    return [(out / n).as_posix() for n in sorted(set(stale) | extra)]
