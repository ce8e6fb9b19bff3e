"""``dcmx serve`` under load: platform reads, cached and uncached, against two baselines.

A database of the realistic chain (:mod:`bench.chainmix`, 1,000,000 events by default) is
indexed with every plugin into SQLite; ``dcmx serve --workers 2`` serves it; ``wrk`` (C,
one thread per core, a Lua script picking URLs) drives 32 connections for 30 s per figure.
wrk rather than a Python client: on 2 cores a Python load generator needs a core of its own
to reach a few thousand requests a second and would starve the server it measures.

Figures (req/s, p50, p99, non-2xx/errors):

- constant: a FastAPI endpoint returning a constant, in a bare app under the same uvicorn
  settings and 2 workers: the framework's ceiling on this machine;
- cached: a mix of platform reads (NFT, owner's NFTs, balance, profile, transactions,
  rewards, trending) over a fixed set of 64 URLs: all served from the cache after warm-up;
- uncached: the same mix over URLs that change every request (a new token id, wallet or
  page each time) so that nearly every read queries the database; ``uncached-t``: the same
  without trending (an aggregate over every sale since a time, tens of ms of CPU each);
- in-process: the same queries through SQLAlchemy in this process, one after another (the
  database's floor, no HTTP).

Targets: cached >= 70% of constant req/s; uncached p99 <= 50 ms; no errors.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

from bench import chainmix
from bench.common import Timer, machine

CONSTANT_APP = """
from fastapi import FastAPI
from fastapi.responses import Response
app = FastAPI()
BODY = b'{"ok":true}'
@app.get("/c")
async def c():
    return Response(BODY, media_type="application/json")
"""

LUA = """
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%f %%f %%f\\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.duration, latency:percentile(50), latency:percentile(99),
    requests.mean))
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workers_holding(pid: int, path: str) -> int:
    """How many child processes of ``pid`` have the file ``path`` open (Linux /proc)."""
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or int((entry / "stat").read_text().split()[3]) != pid:
                continue
            if any(os.readlink(fd) == path for fd in (entry / "fd").iterdir()):
                count += 1
        except OSError:
            continue
    return count


@contextmanager
def process(args: list[str], port: int, env: dict | None = None, workers: int = 0,
            db_file: str | None = None, log: Path | None = None):
    """The server ``args`` until the block ends; with ``db_file``, only once all ``workers``
    have opened it (a worker still starting would count its queue as latency)."""
    import httpx

    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=out, stderr=out)
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            if db_file is None or workers_holding(proc.pid, db_file) >= workers:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {args}")
        time.sleep(0.2)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)
        if log:
            out.close()


def wrk_args(port: int, folder: Path, paths: list[str], seconds: int,
             connections: int = 32) -> list[str]:
    """The wrk command driving ``paths`` in turn (its script and list written to ``folder``)."""
    script, listing = folder / "mix.lua", folder / "paths.txt"
    script.write_text(LUA.replace("%%", "%"))
    listing.write_text("\n".join(paths) + "\n")
    return ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
            f"http://127.0.0.1:{port}", "--", str(listing)]


def wrk_result(out: str) -> dict:
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", out)
    assert m, out
    requests, errors, status, duration = (int(m[i]) for i in range(1, 5))
    return {"rps": requests / (duration / 1e6), "p50_ms": float(m[5]) / 1000,
            "p99_ms": float(m[6]) / 1000, "errors": errors + status, "requests": requests}


def wrk(port: int, paths: list[str], seconds: int, connections: int = 32) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(wrk_args(port, Path(d), paths, seconds, connections),
                             capture_output=True, text=True, check=True).stdout
    return wrk_result(out)


def warm(port: int, paths: list[str], seconds: float = 180) -> None:
    """Ask every URL until each has come from the cache four times running, on fresh
    connections (so every worker has it): the cached figure measures hits only."""
    import httpx

    runs = dict.fromkeys(paths, 0)
    deadline = time.monotonic() + seconds
    while any(n < 4 for n in runs.values()):
        if time.monotonic() > deadline:
            cold = [p for p, n in runs.items() if n < 4]
            raise RuntimeError(f"{len(cold)} URLs still not cached after {seconds:.0f} s: "
                               f"{cold[:3]}")
        for path in [p for p, n in runs.items() if n < 4]:
            r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30,
                          headers={"connection": "close"})
            r.raise_for_status()
            runs[path] = runs[path] + 1 if r.headers.get("x-cache") == "hit" else 0


def urls(db: str, uncached: bool, n: int, seed: int = 1) -> tuple[list[str], list]:
    """(paths for wrk, (query, args) for the in-process floor) of the read mix."""
    import sqlalchemy as sa

    from dcmx_core import create_engine

    engine = create_engine(db)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text(
            "SELECT token_id FROM nft_index ORDER BY random() LIMIT 2000"))]
        owners = [r[0] for r in conn.execute(sa.text(
            "SELECT wallet FROM token_balances ORDER BY random() LIMIT 2000"))]
        ids = [int(i[1:]) if isinstance(i, str) else int(i) for i in ids]
    engine.dispose()
    rng = random.Random(seed)
    paths, calls = [], []
    pool = n if uncached else 64
    for i in range(pool):
        kind = i % 7
        token, wallet = rng.choice(ids), rng.choice(owners)
        paths.append([
            f"/api/v1/nfts/{token}", f"/api/v1/nfts/by-owner/{wallet}?limit=20",
            f"/api/v1/wallets/{wallet}/balance", f"/api/v1/wallets/{wallet}/profile",
            f"/api/v1/wallets/{wallet}/transactions?limit=20",
            f"/api/v1/wallets/{wallet}/rewards", f"/api/v1/tracks/trending?since={i}&limit=10",
        ][kind])
        calls.append((kind, token, wallet, i))
    return paths, calls


KINDS = ["nft", "nfts by owner", "balance", "profile", "transactions", "rewards",
         "trending"]


def in_process(db: str, calls: list, seconds: float) -> dict:
    import sqlalchemy as sa

    from dcmx_core import create_engine
    from dcmx_plugins import queries
    from dcmx_plugins.token import token_balances

    engine = create_engine(db)
    fns = [
        lambda c, t, w, i: queries.nft(c, t),
        lambda c, t, w, i: queries.nfts_by_owner(c, w, limit=20),
        lambda c, t, w, i: c.execute(sa.select(token_balances.c.balance)
                                     .where(token_balances.c.wallet == w)).scalar(),
        lambda c, t, w, i: queries.profile(c, w),
        lambda c, t, w, i: queries.wallet_transactions(c, w, limit=20),
        lambda c, t, w, i: queries.wallet_rewards(c, w),
        lambda c, t, w, i: queries.trending_tracks(c, since=i, limit=10),
    ]
    done, lat = 0, []
    cpu: dict[int, list[float]] = {k: [] for k in range(len(fns))}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        kind, t, w, i = calls[done % len(calls)]
        t0, c0 = time.perf_counter(), time.process_time()
        with engine.connect() as conn:
            fns[kind](conn, t, w, i)
        lat.append(time.perf_counter() - t0)
        cpu[kind].append(time.process_time() - c0)
        done += 1
    lat.sort()
    engine.dispose()
    # CPU per read (not wall time: the machine's other load does not count), by kind
    by_kind = {KINDS[k]: (sum(v) / len(v) * 1000, sorted(v)[int(len(v) * 0.99)] * 1000)
               for k, v in cpu.items() if v}
    return {"rps": done / seconds, "p50_ms": lat[len(lat) // 2] * 1000,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1000, "errors": 0, "requests": done,
            "cpu_ms": by_kind}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--db", default=None, help="serve this indexed database (sqlite:///... or "
                    "postgresql://...) instead of indexing the chain anew")
    ap.add_argument("--redis", default=None, help="redis://... to share the cache (default: "
                    "each worker's own)")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (the API benchmarks need it; CI "
              "does not install it)")
        return 1
    print(f"machine: {machine()}")
    from bench.e2e import dcmx_run

    with tempfile.TemporaryDirectory(prefix="dcmx-bench-api-") as d:
        db = args.db or f"sqlite:///{d}/api.db"
        if args.db is None:
            path = chainmix.cached(args.events)
            with Timer() as t:
                events, _ = dcmx_run(path, db, plugins=True)
            print(f"indexed {events:,} events with every plugin in {t.seconds:.1f} s")
        results = {}
        app = Path(d) / "constant_app.py"
        app.write_text(textwrap.dedent(CONSTANT_APP))
        port = free_port()
        uv = [sys.executable, "-m", "uvicorn", "--app-dir", d, "constant_app:app", "--port",
              str(port), "--workers", str(args.workers), "--no-access-log", "--log-level",
              "warning", "--no-server-header"]
        with process(uv, port):
            wrk(port, ["/c"], 3)
            results["constant"] = wrk(port, ["/c"], args.seconds)
        port = free_port()
        serve = [sys.executable, "-m", "dcmx_core.cli", "--log-level", "warning", "serve",
                 "--db", db, "--port", str(port), "--workers", str(args.workers),
                 "--rate-limit-ip", "0"]
        if args.redis:
            serve += ["--redis", args.redis]
        cached_paths, calls = urls(db, uncached=False, n=64)
        fresh_paths, fresh_calls = urls(db, uncached=True, n=200_000, seed=2)
        db_file = str(Path(db.removeprefix("sqlite:///")).resolve()) if db.startswith(
            "sqlite:") else None
        log = Path(d) / "serve.log"
        with process(serve, port, env={"DCMX_API_SECRET": "bench-secret-0123456789abcdef"},
                     workers=args.workers, db_file=db_file, log=log):
            warm(port, cached_paths)
            results["cached"] = wrk(port, cached_paths, args.seconds)
            results["uncached"] = wrk(port, fresh_paths, args.seconds)
            # the same without its one aggregate over every sale (see the CPU by kind)
            results["uncached-t"] = wrk(port, [p for p in fresh_paths if "/trending" not in p],
                                        args.seconds)
        if any(results[k]["errors"] for k in ("cached", "uncached", "uncached-t")):
            print("errors; the server's log ends:\n" + log.read_text()[-3000:])
        results["in-process"] = in_process(db, fresh_calls, min(args.seconds, 10))
    base = results["constant"]["rps"]
    print(f"\n{'':<12} {'req/s':>9} {'x const':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:<12} {r['rps']:>9.0f} {r['rps'] / base:>8.2f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['errors']:>7}")
    print("\nin-process CPU per read, mean / p99 ms: " + "; ".join(
        f"{k} {m:.2f} / {p:.2f}" for k, (m, p) in results["in-process"]["cpu_ms"].items()))
    ok_cached = results["cached"]["rps"] >= 0.7 * base
    ok_p99 = results["uncached"]["p99_ms"] <= 50
    ok_errors = results["cached"]["errors"] == results["uncached"]["errors"] == 0
    print(f"\ncached >= 70% of constant: {'met' if ok_cached else 'MISSED'}; "
          f"uncached p99 <= 50 ms: {'met' if ok_p99 else 'MISSED'}; "
          f"no errors: {'met' if ok_errors else 'MISSED'}")
    return 0 if ok_cached and ok_p99 and ok_errors else 1


if __name__ == "__main__":
    sys.exit(main())
