"""Fixtures for real components: PostgreSQL, anvil, compiled artifacts.

PostgreSQL and anvil tests run in CI (``CI`` set), where a missing server is a failure; on a
developer's machine without them they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Recorded public chain data and published ABIs, copied in with their source notes
# (tests/data/reference/README.md): a clone carries everything its tests read.
REFERENCE = ROOT / "tests" / "data" / "reference"
BUILD = ROOT / "contracts" / "build"
PG_ADMIN_URL = os.environ.get("DCMX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = bool(os.environ.get("CI"))


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def reference() -> Path:
    assert REFERENCE.is_dir(), f"reference data missing from the checkout: {REFERENCE}"
    return REFERENCE


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            pass
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        _unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    return PG_ADMIN_URL


@contextmanager
def _fresh_schema(admin_url: str) -> Iterator[str]:
    """A SQLAlchemy URL to a new, empty schema of the test database, dropped afterwards."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url(pg_admin_url: str):
    """A fresh PostgreSQL schema for one test."""
    with _fresh_schema(pg_admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url(pg_admin_url: str):
    """A fresh PostgreSQL schema shared by a module's tests."""
    with _fresh_schema(pg_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'index.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Every store test runs on both databases."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


def anvil_binary() -> str | None:
    local = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    return shutil.which("anvil")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def anvil():
    """A fresh anvil node on a free loopback port; yields its JSON-RPC URL."""
    binary = anvil_binary()
    if binary is None:
        _unavailable("anvil not installed: run `npm ci --prefix contracts`")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--host", "127.0.0.1", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"anvil exited with status {proc.returncode}")
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("anvil did not open its port within 20 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
