"""A file and a folder of the user's, dropped where dcmx would write, survive every command.

For each place a command writes (the database of `run`, `status`, `rebuild` and `rollback`,
the demo's database, the folder `dcmx new` makes, `dcmx-codegen`'s output folder, the file
`dcmx backup` writes, the database `dcmx restore` writes into) a user's
file, then a user's folder (with a hidden ``.git`` inside), is put there first. The command
refuses with one line and a documented exit status, and the user's project is byte for byte
what it was, with nothing added beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcmx_codegen.cli import main as codegen
from dcmx_core.cli import cli
from dcmx_core.sources.memory import MemoryChain, transfer_log

ERC20 = Path(__file__).resolve().parents[1] / "data" / "reference" / "abis" / "oz-5.7.0_ERC20.json"
TOKEN = bytes.fromhex("11" * 20)
TOKEN_EVM = "0x" + "11" * 20

# command -> its arguments, with {p} the place it would write
COMMANDS = {
    "run": ["run", "--db", "sqlite:///{p}", "--source", "file:{chain}", "--profile", "evm",
            "--contract", f"DCMXToken={TOKEN_EVM}", "--plugins", "token"],
    "status": ["status", "--db", "sqlite:///{p}"],
    "rebuild": ["rebuild", "--db", "sqlite:///{p}"],
    "rollback": ["rollback", "--db", "sqlite:///{p}", "--to-block", "3"],
    "demo": ["demo", "--db", "{p}", "--rounds", "2"],
    "new": ["new", "{p}", "--abi", str(ERC20)],
    "backup": ["backup", "--db", "sqlite:///{index}", "--to", "{p}"],
    "restore": ["restore", "--from", "{backup}", "--db", "sqlite:///{p}"],
    "dcmx-codegen": [str(ERC20), "-o", "{p}"],
}


def _tree(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = Path(dirpath, f)
            out[os.path.relpath(p, root)] = p.read_bytes()
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A chain file, an index of it and a backup of the index, outside the user's project."""
    folder = tmp_path_factory.mktemp("inputs")
    chain = MemoryChain(finality_depth=3)
    for i in range(10):
        chain.append_block([transfer_log(TOKEN, bytes([1]) * 20, bytes([2]) * 20, i + 1)])
    chain.save(folder / "chain.dcmxmem")
    out = {"chain": folder / "chain.dcmxmem", "index": folder / "index.db",
           "backup": folder / "index.bak"}
    runner = CliRunner()
    run = [a.format(p=out["index"], **out) for a in COMMANDS["run"]]
    assert runner.invoke(cli, run).exit_code == 0
    backup = ["backup", "--db", f"sqlite:///{out['index']}", "--to", str(out["backup"])]
    assert runner.invoke(cli, backup).exit_code == 0
    return out


@pytest.mark.parametrize("owned", ["file", "folder"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_users_file_and_folder_survive(command, owned, inputs, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# my project\n")
    place = project / "mine.db"
    if owned == "file":
        place.write_text("my notes, not a database\n")
    else:
        (place / ".git").mkdir(parents=True)
        (place / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (place / "mine.py").write_text("print('hand-written')\n")
    before = _tree(project)
    monkeypatch.chdir(project)
    for var in ("DCMX_SOURCE", "DCMX_NETWORK", "DCMX_CONFIG", "DCMX_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)

    args = [a.format(p=place, **inputs) for a in COMMANDS[command]]
    result = CliRunner().invoke(codegen if command == "dcmx-codegen" else cli, args)

    assert result.exit_code in (2, 6), (result.exit_code, result.output)
    line = result.stderr.strip().splitlines()[-1]  # after run's log line, if any
    assert "error: " in line and "internal error" not in line, line
    assert "Traceback" not in result.output
    assert _tree(project) == before  # nothing changed, deleted or added
    print(command, owned, line)
