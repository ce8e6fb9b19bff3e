"""Soak: follow a live chain for a long time; lag must stay bounded, memory flat, data right.

    python bench/soak.py --duration 600            # ten minutes (the default)
    python bench/soak.py --duration 180 --db postgresql+psycopg://postgres@127.0.0.1/test

Starts anvil mining a block every second, deploys the five DCMX contracts and drives the
simulator's activity continuously, reorganises the chain every ``--reorg-every`` seconds
(``anvil_reorg``: the newest blocks' transactions, re-sent in their order, land in other blocks,
so every log of those blocks moves and the simulator's view of the state stays true), and keeps
an :class:`Indexer` following the node in a thread (what ``dcmx run --follow`` does). Every
``--sample-every`` seconds it samples the lag (node head - indexed cursor) and the process's
RSS. At the end it stops everything, indexes the same chain into a fresh database and compares
the two (``tests/core/snapshot.dump_tables``). Exit status 1 when they differ.

RSS is the whole process (indexer, simulator, web3), measured after a warm-up sample.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from web3 import Web3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from core.snapshot import dump_tables  # noqa: E402

from dcmx_core import Indexer  # noqa: E402
from dcmx_core.sources.jsonrpc import JsonRpcSource  # noqa: E402
from dcmx_plugins import platform_contracts  # noqa: E402
from dcmx_plugins.simulator import Simulator  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_anvil(block_time: float) -> tuple[subprocess.Popen, str]:
    import socket

    binary = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--silent", "--block-time", f"{block_time:g}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("anvil did not start")


def reorg(w3: Web3, depth: int) -> int:
    """Move the newest ``depth`` blocks' transactions into other blocks; how many moved."""
    head = w3.eth.block_number
    raws = []
    for n in range(head - depth + 1, head + 1):
        for h in w3.eth.get_block(n).transactions:
            tx_hash = h.hex() if h.hex().startswith("0x") else "0x" + h.hex()
            answer = w3.provider.make_request("eth_getRawTransactionByHash", [tx_hash])
            raws.append(answer["result"])
    # All into the first replacement block, same order: same state, other blocks and hashes.
    answer = w3.provider.make_request("anvil_reorg", [depth, [[raw, 0] for raw in raws]])
    if "error" in answer:
        raise RuntimeError(f"anvil_reorg failed: {answer['error']}")
    return len(raws)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    ap.add_argument("--reorg-every", type=float, default=60, help="seconds between reorgs")
    ap.add_argument("--reorg-depth", type=int, default=4)
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--window", type=int, default=12)
    ap.add_argument("--block-time", type=float, default=1)
    ap.add_argument("--db", help="database URL (default: a SQLite file in a temporary folder)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dcmx-soak-"))
    db = args.db or f"sqlite:///{tmp / 'live.db'}"
    proc, url = start_anvil(args.block_time)
    try:
        sim = Simulator.on_rpc(url, seed=11, wallets=12)
        addresses = sim.deploy()
        w3 = sim.w3
        contracts = platform_contracts(addresses)

        def source() -> JsonRpcSource:
            return JsonRpcSource(url, confirmations=args.window, timeout=5)

        forks = []
        live = Indexer(source(), db, contracts, entry_points=True, window=args.window,
                       poll_interval=0.5, on_fork=forks.append)
        stop = threading.Event()
        chain_lock = threading.Lock()  # the simulator pauses while the chain is reorganised
        errors: list[BaseException] = []
        rounds = [0]

        def simulate() -> None:
            try:
                while not stop.is_set():
                    with chain_lock:
                        sim.run(1)
                    rounds[0] += 1
                    stop.wait(0.3)  # let a waiting reorg have the lock (locks are not fair)
            except BaseException as exc:  # noqa: BLE001 - reported at the end
                errors.append(exc)

        def follow() -> None:
            try:
                live.follow()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                stop.set()

        reorgs = moved = 0

        def reorganise() -> None:
            # Its own thread: waiting for the simulator to finish a round must not stop sampling.
            nonlocal reorgs, moved
            try:
                while not stop.wait(args.reorg_every):
                    with chain_lock:
                        moved += reorg(w3, args.reorg_depth)
                    reorgs += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=simulate, daemon=True),
                   threading.Thread(target=follow, daemon=True),
                   threading.Thread(target=reorganise, daemon=True)]
        for t in threads:
            t.start()

        samples: list[tuple[float, int, float]] = []  # (t, lag, rss)
        t0 = time.monotonic()
        next_sample = t0 + args.sample_every
        while not stop.is_set() and time.monotonic() - t0 < args.duration:
            now = time.monotonic()
            if now >= next_sample:
                head = w3.eth.block_number
                cursor = live.cursor() or 0
                samples.append((now - t0, head - cursor, rss_mb()))
                print(f"t={now - t0:6.0f}s head={head} lag={head - cursor:3d} "
                      f"rss={samples[-1][2]:.1f} MB forks={len(forks)} rounds={rounds[0]}",
                      flush=True)
                next_sample += args.sample_every
            time.sleep(0.1)

        stop.set()
        threads[2].join(timeout=120)
        threads[0].join(timeout=120)
        live.stop()
        threads[1].join(timeout=60)
        if errors:
            print(f"FAILED: {errors[0]!r}")
            return 1
        head = w3.eth.block_number
        # A reorg made just before the live indexer stopped is found here: count it too.
        catch_up = Indexer(source(), db, contracts, entry_points=True, window=args.window,
                           on_fork=forks.append)
        catch_up.run(to_block=head)
        fresh = Indexer(source(), f"sqlite:///{tmp / 'fresh.db'}", contracts,
                        entry_points=True, window=args.window)
        fresh.run(to_block=head)
        got, expected = dump_tables(catch_up.engine), dump_tables(fresh.engine)
        equal = got == expected
        rows = sum(map(len, expected.values()))

        lags = [lag for _, lag, _ in samples]
        rss = [r for _, _, r in samples]
        warm = rss[min(2, len(rss) - 1):] or rss
        print("\n== soak summary ==")
        print(f"duration {time.monotonic() - t0:.0f} s, {head + 1} blocks, {rounds[0]} simulator "
              f"rounds, {reorgs} reorgs ({moved} transactions moved), {len(forks)} forks handled "
              f"(depths {sorted({f.depth for f in forks})})")
        print(f"lag (blocks): max {max(lags)}, median {statistics.median(lags)}, "
              f"last {lags[-1]}")
        print(f"RSS (MB): first {rss[0]:.1f}, after warm-up {warm[0]:.1f}, last {rss[-1]:.1f}, "
              f"max {max(rss):.1f}; growth after warm-up {rss[-1] - warm[0]:+.1f} MB")
        print(f"final database equals a fresh index: {equal} ({rows} rows)")
        if not equal:
            for name in sorted(set(got) | set(expected)):
                if got.get(name) != expected.get(name):
                    print(f"  differs: {name} ({len(got.get(name, []))} vs "
                          f"{len(expected.get(name, []))} rows)")
        return 0 if equal else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
