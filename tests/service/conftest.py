"""``dcmx serve`` as a process on a free port, called over HTTP; Redis databases per test run.

A served database is shared per module where the tests only read (the simulated demo takes
a few seconds to index); each server is a real uvicorn process of the ``dcmx`` command.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DCMX = [sys.executable, "-m", "dcmx_core.cli"]
SECRET = "test-secret-of-the-service-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(db: str, *args: str, env: dict[str, str] | None = None,
           log: Path | None = None) -> Iterator[str]:
    """``dcmx serve --db db args...`` until the block ends; yields its base URL."""
    port = free_port()
    environ = {**os.environ, "DCMX_API_SECRET": SECRET, **(env or {})}
    environ.pop("DCMX_CONFIG", None)
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [*DCMX, "--log-format", "json", "serve", "--db", db, "--port", str(port), *args],
        env=environ, stdout=out, stderr=out, cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            detail = log.read_text()[-3000:] if log else ""
            pytest.fail(f"dcmx serve did not start (status {proc.poll()}): {detail}")
        time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis database of its own for this module's run, emptied before and after."""
    import redis

    number = random.Random(os.getpid() + time.time_ns()).randrange(1, 16)
    url = f"redis://127.0.0.1:6379/{number}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis not reachable at {url}: {exc} (CI must start it: .ci/run)")
        pytest.skip(f"Redis not reachable: {exc}")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()
