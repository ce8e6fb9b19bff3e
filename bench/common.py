"""Shared helpers: the machine, databases (a fresh schema per run), timing, RSS."""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PG_URL = os.environ.get("DCMX_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except OSError:
        mem_kb = 0
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"{mem_kb / 1024 / 1024:.1f} GiB RAM, Python {platform.python_version()}, "
        f"SQLite {__import__('sqlite3').sqlite_version}; speed probe {speed_probe():.2f} s"
    )


def speed_probe() -> float:
    """Seconds for a fixed pure-Python loop, best of 3: how fast this machine is right now.

    The VMs these figures come from vary by up to 3x between hours under the same CPU name;
    this number, printed with every run, tells which kind of hour a run had.
    """
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - t0)
    return best


def postgres_cpu_seconds() -> float | None:
    """CPU seconds used so far by the local PostgreSQL server's processes (the postmaster's
    counts include its exited backends), or None when none can be read (a remote server)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or (proc / "comm").read_text().strip() != "postgres":
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found = True
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick if found else None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dcmx-bench-") as d:
        yield f"sqlite:///{d}/bench.db"


@contextmanager
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a new schema, dropped (with everything in it) afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
