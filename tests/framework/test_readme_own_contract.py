"""The README's "Your own contract" commands, run as written: bindings from an ABI by
dcmx-codegen, then `dcmx run` indexing that contract raw-only from a real node (anvil). Only
the node's port differs (the README says 8545; the test's anvil takes a free one)."""

from __future__ import annotations

import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from anvil_erc20 import MINIMAL_ERC20, accounts, deploy_and_transfer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def readme_commands(heading: str) -> list[list[str]]:
    """The commands of the first ``sh`` block under ``heading``, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


@pytest.mark.anvil
def test_own_contract_commands_work_as_written(anvil: str, tmp_path: Path):
    commands = readme_commands("## Your own contract, no plugin needed")
    assert [c[:2] for c in commands] == [["dcmx-codegen", "Token.json"], ["dcmx", "run"]]
    # The README's address is what anvil's first account deploys first: deploy to get it.
    token, head = deploy_and_transfer(anvil)
    shutil.copy(MINIMAL_ERC20, tmp_path / "Token.json")
    for argv in commands:
        argv = [str(BIN / argv[0])] + [a.replace("http://127.0.0.1:8545", anvil)
                                       for a in argv[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    assert token.lower() in " ".join(commands[1]).lower()

    db = sqlite3.connect(tmp_path / "token.db")
    tables = {r[0] for r in db.execute("select name from sqlite_master where type = 'table'")}
    # named after the bindings' module (the artifact's contract name): <module>__<event>
    transfer, approval = "minimal_erc20__transfer", "minimal_erc20__approval"
    assert {transfer, approval} <= tables, tables
    moved = db.execute(f"select count(*), max(block_number) from {transfer}").fetchone()
    assert moved == (5, head)  # the mint and four transfers, up to the node's head
    assert db.execute(f"select count(*) from {approval}").fetchone() == (1,)
    deployer, alice = accounts(anvil)[:2]
    senders = [r[0].lower() for r in db.execute(
        f"select from_ from {transfer} order by block_number, log_index")]
    assert senders == ["0x" + "00" * 20, deployer, deployer, alice, deployer]
    # no plugin ran: dcmx's own tables, the raw ones and their undo journals, nothing else
    assert {t for t in tables if not t.startswith(("dcmx_", "_dcmx_"))} == {transfer, approval}
