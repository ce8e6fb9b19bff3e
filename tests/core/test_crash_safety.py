"""kill -9 at random moments of a run, restart each time: the result equals an uninterrupted run.

The indexer runs in a child process over a saved memory chain, in small batches so that most
kills land inside a transaction. Part of the chain lies in the unfinalized window, so kills also
hit journaled, block-by-block writes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dcmx_core.sources.memory import MemoryChain, transfer_log

from .snapshot import dump_tables

TOKEN = bytes.fromhex("11" * 20)
KILLS = 20

CHILD = textwrap.dedent(
    """
    import sys
    from dcmx_core import Contract, Indexer, Tuning
    from dcmx_core.sources.memory import MemoryChain
    from dcmx_generated import dcmx_token
    from dcmx_plugins import token

    chain_file, url = sys.argv[1], sys.argv[2]
    indexer = Indexer(
        MemoryChain.load(chain_file), url,
        [Contract("DCMXToken", dcmx_token, (bytes.fromhex("11" * 20),))],
        plugins=[token], window=60,
        tuning=Tuning(batch_blocks=2, max_batch_blocks=3, target_events=10),
    )
    indexer.setup()
    print("ready", flush=True)
    indexer.run()
    print("done", flush=True)
    """
)


def _chain(path: Path) -> MemoryChain:
    rng = random.Random(7)
    wallets = [bytes([i]) * 20 for i in range(1, 30)]
    chain = MemoryChain(finality_depth=60, salt=b"crash")
    for _ in range(3000):
        chain.append_block(
            [transfer_log(TOKEN, rng.choice(wallets), rng.choice(wallets), rng.randrange(10**24))
             for _ in range(rng.randrange(1, 8))]
        )
    chain.save(path)
    return chain


def _run_child(script: Path, chain_file: Path, url: str, kill_after: float | None) -> bool:
    """Run the indexer; kill -9 it ``kill_after`` seconds into indexing. True if it finished."""
    proc = subprocess.Popen(
        [sys.executable, str(script), str(chain_file), url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    if kill_after is None:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return True
    time.sleep(kill_after)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return False
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    return "done" in out


def _crash_and_resume(tmp_path: Path, url: str) -> None:
    chain_file = tmp_path / "chain.bin"
    _chain(chain_file)
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    assert _run_child(script, chain_file, reference, None)

    rng = random.Random(11)
    kills = 0
    finished = False
    while kills < KILLS and not finished:
        finished = _run_child(script, chain_file, url, rng.uniform(0.0, 0.1))
        kills += not finished
    assert kills == KILLS, "the run finished before every kill landed: make the chain longer"
    if not finished:
        assert _run_child(script, chain_file, url, None)

    from dcmx_core.store import create_engine

    expected, got = create_engine(reference), create_engine(url)
    assert dump_tables(got) == dump_tables(expected)


def test_kill_9_at_random_moments_sqlite(tmp_path):
    _crash_and_resume(tmp_path, f"sqlite:///{tmp_path / 'crashy.db'}")


@pytest.mark.postgres
def test_kill_9_at_random_moments_postgresql(tmp_path, pg_url):
    _crash_and_resume(tmp_path, pg_url)
