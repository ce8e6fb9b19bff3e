"""`dcmx demo` end to end through the console script: its printout matches the database."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dcmx_core.store import create_engine
from dcmx_core.store.ledger import last_fork

DCMX = str(Path(sys.executable).with_name("dcmx"))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    db = tmp_path / "demo.db"
    started = time.monotonic()
    proc = subprocess.run(
        [DCMX, "demo", "--db", str(db)], capture_output=True, text=True, timeout=180,
        cwd=tmp_path,
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    print(out, f"\nwall time {seconds:.1f} s")  # a figure to read, not a test: bench/ times

    section = out.split("rows per table\n", 1)[1].split("\n\n", 1)[0]
    printed = {}
    for line in section.splitlines():
        name, n = line.split()
        printed[name] = int(n)
    total = printed.pop("total")
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        for table, n in printed.items():
            assert conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar() \
                == n, table
    assert total == sum(printed.values())
    assert printed["nft_index"] > 0 and printed["reward_claims_index"] > 0

    fork = last_fork(engine)
    assert fork is not None and fork["depth"] > 0 and fork["undone_writes"] > 0
    m = re.search(
        r"detected at block (\d+), common ancestor block (\d+), depth (\d+) blocks, "
        r"(\d+) writes undone", out)
    assert m, out
    assert tuple(map(int, m.groups())) == (
        fork["detected_at_block"], fork["common_ancestor"], fork["depth"], fork["undone_writes"]
    )
    assert "top artists" in out and "reward totals" in out
    assert str(db) in out
    assert "indexing" in proc.stderr  # progress went to stderr
