"""What API load does to a SQLite backfill: indexing speed with and without ``dcmx serve``
answering 32 clients.

The realistic chain (:mod:`bench.chainmix`, 1,000,000 events by default) is indexed with
every plugin into a fresh SQLite file twice, each time in a fresh process (as ``bench e2e``
does): once alone, once while ``dcmx serve --workers 2`` over the same file answers ``wrk``'s
32 connections asking the platform reads of :mod:`bench.api` (URLs that change every
request, so nearly every read queries the database). Each run first indexes the first
``--first`` blocks (the tables exist, the service can start), then the backfill of the rest
is timed. The figure: events/s loaded / alone. On a machine with 2 cores the service and
the load generator take CPU from the indexer, so this measures that too, not locking alone:
``dcmx serve`` reads in short read-only transactions (WAL readers never block the writer),
and the CPU the service used is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import api, chainmix
from bench.common import machine
from bench.e2e import dcmx_run, isolated


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its children so far (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(entry.name) == pid or int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--first", type=int, default=10, help="blocks indexed before timing")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk")
        return 1
    print(f"machine: {machine()}")
    path = chainmix.cached(args.events)
    with tempfile.TemporaryDirectory(prefix="dcmx-bench-backfill-") as d:
        alone_db = f"sqlite:///{d}/alone.db"
        dcmx_run(path, alone_db, to_block=args.first)
        alone = isolated("dcmx", path, alone_db, True)
        print(f"alone:  {alone['events']:,} events in {alone['seconds']:.1f} s")
        paths, _ = api.urls(alone_db, uncached=True, n=200_000, seed=3)

        loaded_db = f"{d}/loaded.db"
        dcmx_run(path, f"sqlite:///{loaded_db}", to_block=args.first)
        port = api.free_port()
        serve = [sys.executable, "-m", "dcmx_core.cli", "--log-level", "warning", "serve",
                 "--db", f"sqlite:///{loaded_db}", "--port", str(port), "--workers",
                 str(args.workers), "--rate-limit-ip", "0"]
        log = Path(d) / "serve.log"
        with api.process(serve, port, env={"DCMX_API_SECRET": "bench-secret-0123456789abcdef"},
                         workers=args.workers, db_file=str(Path(loaded_db).resolve()),
                         log=log) as server:
            load = subprocess.Popen(api.wrk_args(port, Path(d), paths, 3600, args.connections),
                                    stdout=subprocess.PIPE, text=True)
            time.sleep(2)  # the load running before the backfill starts
            cpu0 = cpu_seconds(server.pid)
            loaded = isolated("dcmx", path, f"sqlite:///{loaded_db}", True)
            served_cpu = cpu_seconds(server.pid) - cpu0
            load.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
            answers = api.wrk_result(load.communicate(timeout=30)[0])
        print(f"loaded: {loaded['events']:,} events in {loaded['seconds']:.1f} s; the API "
              f"answered {answers['rps']:.0f} req/s (p50 {answers['p50_ms']:.1f} ms, p99 "
              f"{answers['p99_ms']:.1f} ms, {answers['errors']} errors or non-2xx) using "
              f"{served_cpu:.1f} s of CPU")
        if answers["errors"]:
            errors = [line for line in log.read_text().splitlines() if "503" in line
                      or "WARNING" in line or "ERROR" in line]
            print("  the server's log: " + " | ".join(errors[-3:]))
    for name, run in (("alone", alone), ("loaded", loaded)):
        cpu = run["cpu"]
        print(f"the indexer {name}: {run['seconds']:.1f} s, of it {cpu['dcmx']:.1f} s on a core"
              + (f", {cpu['runqueue']:.1f} s waiting for one" if "runqueue" in cpu else "")
              + "; the rest waiting on SQLite or I/O")
    rate = alone["events"] / alone["seconds"], loaded["events"] / loaded["seconds"]
    print(f"\nindexing alone {rate[0]:,.0f} events/s; under API load {rate[1]:,.0f} events/s: "
          f"{rate[1] / rate[0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
