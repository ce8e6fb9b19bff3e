"""``dcmx-codegen`` never destroys a user's data.

Each reported case first: a project folder given as ``-o`` (``.git``, README, hand-written
code), a user's file inside a previous output, dcmx's own ``generated/`` and another ABI.
Then the rules behind the fix: only files the folder's marker lists and that still carry the
generated header are replaced or deleted; anything else is refused with one line, before
anything is touched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcmx_codegen.cli import main
from dcmx_codegen.marker import MARKER, parse_marker

ROOT = Path(__file__).resolve().parents[2]

GOOD = [
    {
        "type": "event",
        "name": "Transfer",
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
    {"type": "function", "name": "balanceOf", "stateMutability": "view",
     "inputs": [{"name": "a", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
]


def _artifact(folder: Path, name: str, abi) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"contractName": name, "abi": abi}))
    return path


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (hidden ones too) with its bytes."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = Path(dirpath, f)
            out[os.path.relpath(p, root)] = p.read_bytes()
    return out


def _run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _refused(result, *words: str) -> str:
    """The one error line of a refused run (exit 2), checked to contain ``words``."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("dcmx-codegen: error: ")
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A user's project: a git folder, a README, hand-written code, and an artifact."""
    root = tmp_path / "project"
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "README.md").write_text("# my project\n")
    (root / "app.py").write_text("print('hand-written')\n")
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text("def main():\n    return 42\n")
    _artifact(root / "abi", "Good", GOOD)
    monkeypatch.chdir(root)
    return root


# --- the reported cases --------------------------------------------------------------------


@pytest.mark.parametrize("target", [".", "src", "{root}"])
def test_a_project_folder_as_output_survives(project: Path, target: str):
    before = _tree(project)
    result = _run("abi/Good.json", "-o", target.format(root=project))
    _refused(result, "not empty", MARKER, "choose another -o")
    assert _tree(project) == before


def test_a_users_file_in_a_previous_output_survives_regeneration(project: Path):
    assert _run("abi/Good.json", "-o", "gen").exit_code == 0
    (project / "gen" / "NOTES.md").write_text("my notes\n")
    (project / "gen" / "helpers.py").write_text("def helper(): ...\n")
    (project / "gen" / "sub").mkdir()
    (project / "gen" / "sub" / "data.txt").write_text("kept\n")
    _artifact(project / "abi", "Good", GOOD + [{"type": "event", "name": "New", "inputs": []}])
    _artifact(project / "abi", "Other", GOOD)
    result = _run("abi", "-o", "gen")
    assert result.exit_code == 0, result.output
    gen = project / "gen"
    assert (gen / "NOTES.md").read_text() == "my notes\n"
    assert (gen / "helpers.py").read_text() == "def helper(): ...\n"
    assert (gen / "sub" / "data.txt").read_text() == "kept\n"
    assert "class New:" in (gen / "good.py").read_text()
    assert (gen / "other.py").exists()
    # a contract left out of the inputs: its module goes (it was ours), the user's files stay
    result = _run("abi/Other.json", "-o", "gen")
    assert result.exit_code == 0, result.output
    assert not (gen / "good.py").exists() and (gen / "other.py").exists()
    assert (gen / "helpers.py").exists() and (gen / "NOTES.md").exists()
    assert parse_marker((gen / MARKER).read_bytes()).files == (
        "__init__.py", "other.py", "py.typed", "schema.postgresql.sql", "schema.sqlite.sql"
    )
    assert _run("abi/Other.json", "-o", "gen", "--check").exit_code == 0


def test_dcmx_own_generated_is_not_overwritten_by_another_abi(tmp_path: Path, monkeypatch):
    # a dcmx checkout: its contracts' artifacts and the generated/ made from them
    checkout = tmp_path / "dcmx"
    shutil.copytree(ROOT / "contracts" / "build", checkout / "contracts" / "build")
    monkeypatch.chdir(checkout)
    assert _run().exit_code == 0
    assert _run("--check").exit_code == 0
    before = _tree(checkout / "generated")
    other = _artifact(tmp_path / "elsewhere", "Other", GOOD)
    for args in ([str(other)], [str(other), "--check"], ["contracts/build", str(other)]):
        _refused(_run(*args), "give -o FOLDER")
    assert _tree(checkout / "generated") == before
    assert _run("--check").exit_code == 0


# --- the rules -----------------------------------------------------------------------------


def test_new_and_empty_folders_are_written(project: Path):
    (project / "empty").mkdir()
    for target in ("empty", "new/deeper/gen"):
        result = _run("abi/Good.json", "-o", target)
        assert result.exit_code == 0, result.output
        files = sorted(p.name for p in (project / target).iterdir())
        assert files == [MARKER, "__init__.py", "good.py", "py.typed",
                         "schema.postgresql.sql", "schema.sqlite.sql"]
        assert not [p for p in (project / target).parent.iterdir() if ".new-" in p.name]


def test_a_generated_file_replaced_by_the_user_is_not_overwritten(project: Path):
    assert _run("abi/Good.json", "-o", "gen").exit_code == 0
    (project / "gen" / "good.py").write_text("# my own code now\n")
    before = _tree(project / "gen")
    _refused(_run("abi/Good.json", "-o", "gen"), "gen/good.py", "was not written by dcmx-codegen")
    assert _tree(project / "gen") == before


def test_a_users_file_named_like_a_new_module_is_not_overwritten(project: Path):
    assert _run("abi/Good.json", "-o", "gen").exit_code == 0
    (project / "gen" / "other.py").write_text("# the user's\n")
    _artifact(project / "abi", "Other", GOOD)
    before = _tree(project / "gen")
    _refused(_run("abi", "-o", "gen"), "gen/other.py", "not listed")
    assert _tree(project / "gen") == before


def test_a_listed_symlink_is_not_followed_or_replaced(project: Path):
    assert _run("abi/Good.json", "-o", "gen").exit_code == 0
    (project / "gen" / "good.py").unlink()
    (project / "gen" / "good.py").symlink_to(project / "app.py")
    before = _tree(project)
    _refused(_run("abi/Good.json", "-o", "gen"), "gen/good.py")
    assert _tree(project) == before


@pytest.mark.parametrize(
    "marker",
    [
        b"not json",
        b'{"generator": "dcmx-codegen", "version": "0", "package": "dcmx_generated", '
        b'"files": ["../app.py"]}',
        b'{"generator": "someone-else", "version": "0", "package": "dcmx_generated", '
        b'"files": []}',
    ],
)
def test_a_marker_dcmx_did_not_write_proves_nothing(project: Path, marker: bytes):
    assert _run("abi/Good.json", "-o", "gen").exit_code == 0
    (project / "gen" / MARKER).write_bytes(marker)
    before = _tree(project)
    _refused(_run("abi/Good.json", "-o", "gen"), "not a marker dcmx-codegen wrote")
    assert _tree(project) == before


def test_another_package_is_not_regenerated_under_a_new_name(project: Path):
    assert _run("abi/Good.json", "-o", "gen", "--package", "app.gen").exit_code == 0
    before = _tree(project / "gen")
    _refused(_run("abi/Good.json", "-o", "gen"), "holds package app.gen", "--package app.gen")
    assert _tree(project / "gen") == before
    assert _run("abi/Good.json", "-o", "gen", "--package", "app.gen").exit_code == 0


def test_the_output_must_be_a_folder(project: Path):
    _refused(_run("abi/Good.json", "-o", "app.py"), "app.py", "is not a folder")
    _refused(_run("abi/Good.json", "-o", "app.py/gen"), "app.py/gen", "cannot write")
    assert (project / "app.py").read_text() == "print('hand-written')\n"


@pytest.mark.parametrize(
    "package", ["1abc", "a-b", "class", "a..b", "a.", 'x"""; import os', "é" * 3, "a.None", ""]
)
def test_the_package_must_be_a_dotted_module_name(project: Path, package: str):
    _refused(_run("abi/Good.json", "-o", "gen", "--package", package), "--package",
             "not a dotted Python module name")
    assert not (project / "gen").exists()


def test_check_treats_the_marker_as_output(project: Path):
    assert _run("abi/Good.json", "-o", "gen").exit_code == 0
    gen = project / "gen"
    (gen / "NOTES.md").write_text("mine\n")  # a user's file is not stale
    assert _run("abi/Good.json", "-o", "gen", "--check").exit_code == 0
    marker = (gen / MARKER).read_bytes()
    (gen / MARKER).unlink()
    result = _run("abi/Good.json", "-o", "gen", "--check")
    assert result.exit_code == 1 and f"gen/{MARKER}" in result.output
    (gen / MARKER).write_bytes(marker.replace(b"good.py", b"gone.py"))
    result = _run("abi/Good.json", "-o", "gen", "--check")
    assert result.exit_code == 1 and f"gen/{MARKER}" in result.output
    (gen / MARKER).write_bytes(marker)
    # a file an earlier run wrote and this one would delete is stale
    shutil.copy(gen / "good.py", gen / "old.py")
    result = _run("abi/Good.json", "-o", "gen", "--check")
    assert result.exit_code == 1 and "gen/old.py" in result.output
    assert "NOTES.md" not in result.output


def test_the_repo_generated_folder_carries_its_marker():
    marker = parse_marker((ROOT / "generated" / MARKER).read_bytes())
    assert marker is not None and marker.package == "dcmx_generated"
    on_disk = sorted(
        p.name for p in (ROOT / "generated").iterdir() if p.is_file() and p.name != MARKER
    )
    assert list(marker.files) == on_disk
