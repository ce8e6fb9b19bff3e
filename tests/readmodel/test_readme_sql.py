"""The README's plain-SQL analytics, run as written through the ``sqlite3`` shell on a
simulated platform, against Python's integers."""

from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
import subprocess
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dcmx_generated import dcmx_token
from dcmx_plugins import token

from .conftest import make_indexer

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_sql() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)


def _shell(path: str, sql: str) -> list[dict]:
    """Rows as the ``sqlite3`` shell prints them (as JSON); the stdlib module, which is the
    same SQLite without dcmx's functions, where the shell is not installed."""
    shell = shutil.which("sqlite3")
    if shell is None:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [
                {k: (v.decode() if isinstance(v, bytes) else v) for k, v in dict(r).items()}
                for r in conn.execute(sql)
            ]
        finally:
            conn.close()
    out = subprocess.run(
        [shell, "-readonly", "-json", path], input=sql, capture_output=True, text=True,
        check=True,
    ).stdout
    return json.loads(out) if out.strip() else []


@pytest.fixture(scope="module")
def demo(simulated, tmp_path_factory):
    path = tmp_path_factory.mktemp("readme") / "dcmx-demo.db"
    indexer = make_indexer(simulated, f"sqlite:///{path}")
    indexer.run()
    yield indexer.engine, str(path)
    indexer.engine.dispose()


def test_readme_has_the_two_statements():
    assert len(_readme_sql()) == 2


def test_top_holders(demo):
    engine, path = demo
    top_sql = next(s for s in _readme_sql() if "token_balances" in s)
    with engine.connect() as conn:
        balances = conn.execute(sa.select(token.token_balances)).mappings().all()
        supply = conn.execute(sa.select(token.token_supply.c.total_supply)).scalar_one()
        transfers = conn.execute(sa.select(dcmx_token.Transfer.TABLE.c.from_)).scalars().all()
    assert sum(b["balance"] for b in balances) == supply  # exact through dcmx's engine
    expected = sorted(balances, key=lambda b: (-b["balance"], b["wallet"]))[:5]
    assert expected[0]["balance"] > 2**63  # amounts past 64 bits are in the example
    got = _shell(path, top_sql)
    assert [r["wallet"] for r in got] == [b["wallet"] for b in expected]
    for row, b in zip(got, expected, strict=True):
        assert math.isclose(row["dcmx"], b["balance"] / 10**18, rel_tol=1e-12)
        assert math.isclose(row["pct_of_supply"], 100 * b["balance"] / supply, abs_tol=0.006)
        assert row["sent"] == transfers.count(b["wallet"])


def test_volume_per_day(demo):
    engine, path = demo
    day_sql = next(s for s in _readme_sql() if "GROUP BY day" in s)
    t = dcmx_token.Transfer.TABLE.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.block_timestamp, t.value)).all()
    days: dict[str, list[int]] = defaultdict(list)
    for ts, value in rows:
        days[datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")].append(value)
    got = _shell(path, day_sql)
    assert [r["day"] for r in got] == sorted(days)
    for row in got:
        values = days[row["day"]]
        assert row["transfers"] == len(values)
        assert math.isclose(row["volume"], sum(values) / 10**18, rel_tol=1e-12)
        assert int(row["largest"]) == max(values)  # exact digits, past 64 bits too
