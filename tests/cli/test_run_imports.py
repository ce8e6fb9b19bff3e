"""`dcmx run` against a JSON-RPC node imports only what it uses: no devchain stack (eth-tester,
py-evm), no API server (FastAPI, uvicorn), no web3, no metrics server unless asked for.

Checked on the modules a real run has loaded when it exits (not on timing): each of these
took tenths of a second of every start (`python -X importtime`; bench/RESULTS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NEVER = ("eth_tester", "evm", "fastapi", "uvicorn", "starlette", "web3", "prometheus_client")

# Runs dcmx's own entry point, then prints the top-level packages loaded by the end.
PROBE = """
import atexit, json, sys
top = lambda: sorted({m.split('.')[0] for m in sys.modules})
atexit.register(lambda: print("MODULES " + json.dumps(top())))
from dcmx_core.cli import main
sys.argv = ["dcmx", *sys.argv[1:]]
main()
"""


def _run(*args: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("MODULES ")]
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.anvil
def test_run_against_a_node_imports_neither_devchain_nor_server(anvil, sqlite_url):
    loaded = _run(
        "run", "--source", anvil, "--db", sqlite_url, "--profile", "evm", "--plugins", "",
        "--contract", "DCMXToken=0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--confirmations", "0", "--to-block", "0",
    )
    assert "dcmx_core" in loaded and "httpx" in loaded  # the run did happen, over HTTP
    assert sorted(loaded & set(NEVER)) == []
    assert "dcmx_plugins" not in loaded  # --plugins '': the built-in ones are not imported

    loaded = _run("status", "--db", sqlite_url)
    assert "sqlalchemy" in loaded and sorted(loaded & {*NEVER, "httpx", "pluggy"}) == []


def test_help_imports_neither_devchain_nor_server():
    loaded = _run("--help")
    assert "click" in loaded and sorted(loaded & set(NEVER)) == []
