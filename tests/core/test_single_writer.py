"""Two indexers against one database: the second refuses to start instead of interleaving."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dcmx_core import Contract, Indexer, StoreError
from dcmx_core.sources.memory import MemoryChain
from dcmx_generated import dcmx_token

TOKEN = bytes.fromhex("11" * 20)

HOLDER = textwrap.dedent(
    """
    import sys
    from dcmx_core import Contract, Indexer
    from dcmx_core.sources.memory import MemoryChain
    from dcmx_generated import dcmx_token

    chain = MemoryChain()
    chain.extend(3)
    indexer = Indexer(chain, sys.argv[1],
                      [Contract("DCMXToken", dcmx_token, (bytes.fromhex("11" * 20),))],
                      poll_interval=0.05)
    indexer.subscribe(on_batch=lambda report: print("indexing", flush=True))
    indexer.follow()
    """
)


def _second_indexer(url: str) -> Indexer:
    chain = MemoryChain()
    chain.extend(3)
    return Indexer(chain, url, [Contract("DCMXToken", dcmx_token, (TOKEN,))])


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_second_indexer_refuses_while_the_first_runs(db, request, tmp_path):
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    first = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "indexing", first.stderr.read()
        with pytest.raises(StoreError, match="another dcmx indexer"):
            _second_indexer(url).run()
    finally:
        first.kill()
        first.wait()
    # The lock dies with its holder, even on kill -9: now the second one runs.
    assert _second_indexer(url).run() == 3


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
@pytest.mark.parametrize("command", [["rollback", "--to-block", "1"], ["rebuild"]],
                         ids=["rollback", "rebuild"])
def test_rollback_and_rebuild_refuse_beside_a_running_follower(db, command, request):
    """Reported: both exited 0 beside `dcmx run --follow`; on a busy PostgreSQL the two
    deadlocked and the follower died with status 5, blaming a plugin."""
    from click.testing import CliRunner

    from dcmx_core.cli import cli

    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    first = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "indexing", first.stderr.read()
        for _ in range(3):  # while it keeps polling and writing
            r = CliRunner().invoke(cli, [*command, "--db", url])
            assert r.exit_code == 6, r.output
            assert "another dcmx indexer" in r.stderr
        assert first.poll() is None, first.stderr.read()  # the follower lives on
    finally:
        first.kill()
        first.wait()
