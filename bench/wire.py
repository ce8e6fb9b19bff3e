"""Over the wire: 100,000 ERC-20 Transfer events served by anvil over JSON-RPC, indexed with a
balance per address (the ``token`` plugin) into SQLite.

The events come from a tiny emitter contract (hand-assembled below: for every 96 bytes of
calldata it logs ``Transfer(from, to, value)``), not from DCMXToken's ``transfer``: minting and
transferring 100,000 times through signed transactions would take minutes of node time and
measure anvil, not dcmx. The logs are byte-for-byte what an ERC-20 emits; the indexer is
configured with the emitter as its DCMXToken. ~1,000 addresses (Zipf-like), 300 events per
transaction, one transaction per block (anvil automines).

Measured in a fresh subprocess (for its peak RSS; anvil is a separate process): the wall time
from the start of ``Indexer.run`` to the last row committed, and the time spent waiting on the
node (every source call, whichever thread made it: parsing and checking the answers
included), decoding, and writing (every database transaction from its start to its commit:
rows, plugin writes, cursor, bookkeeping, and the indexes built at the end of a backfill).
A call inside another of the same kind (``finalized`` asking ``head``) counts once. The rest
of the wall time ("other") is the indexer's own loop: reading the cursor, checking headers.
The fetch of the next range overlaps the write of the current one (``Indexer``'s prefetch, on
by default), so the shares add up to more than the wall time; ``DCMX_BENCH_PREFETCH=0`` turns
it off to see the shares of a sequential run.
Then latency: with ``follow()`` running (poll interval 0.5 s), one more transfer is sent and
the time until its row is visible in SQLite is measured.
Targets: >= 30,000 events/s, peak RSS < 200 MB, latency <= poll interval + 0.1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import httpx

from bench.common import Timer, peak_rss_mb, sqlite_url
from dcmx_core import Tuning

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
ANVIL = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"
TRANSFER = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
PER_TX = 300
POLL = 0.5

# for (i = 0; i < calldatasize; i += 96) { mstore(0, cd[i+64]); log3(0, 32, T, cd[i], cd[i+32]) }
_RUNTIME = (
    bytes.fromhex("6000" "5b" "36" "81" "10" "600c" "57" "00" "0000" "5b" "80" "6040" "01" "35"
                  "6000" "52" "80" "6020" "01" "35" "81" "35" "7f")
    + TRANSFER
    + bytes.fromhex("6020" "6000" "a3" "6060" "01" "6002" "56")
)
_INIT = bytes([0x60, len(_RUNTIME), 0x80, 0x60, 0x0B, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
EMITTER_CODE = _INIT + _RUNTIME


class Rpc:
    def __init__(self, url: str):
        self.client = httpx.Client(base_url=url, timeout=60)
        self.ids = 0

    def __call__(self, method: str, *params):
        self.ids += 1
        body = self.client.post("", json={"jsonrpc": "2.0", "id": self.ids, "method": method,
                                          "params": list(params)}).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]


def start_anvil() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--silent",
         "--gas-limit", "100000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("anvil did not start")


def deploy(rpc: Rpc) -> tuple[str, str]:
    sender = rpc("eth_accounts")[0]
    tx = rpc("eth_sendTransaction", {"from": sender, "data": "0x" + EMITTER_CODE.hex(),
                                     "gas": hex(200_000)})
    deadline = time.monotonic() + 10
    while (receipt := rpc("eth_getTransactionReceipt", tx)) is None:  # not mined yet
        if time.monotonic() > deadline:
            raise SystemExit("anvil did not mine the emitter's deployment")
        time.sleep(0.02)
    return sender, receipt["contractAddress"]


def emit(rpc: Rpc, sender: str, emitter: str, records: list[tuple[bytes, bytes, int]]) -> str:
    data = b"".join(bytes(12) + f + bytes(12) + t + v.to_bytes(32, "big") for f, t, v in records)
    return rpc("eth_sendTransaction", {"from": sender, "to": emitter, "data": "0x" + data.hex(),
                                "gas": hex(8_000 * len(records) + 50_000)})


def fill(rpc: Rpc, sender: str, emitter: str, events: int, rng: random.Random) -> int:
    wallets = [rng.randbytes(20) for _ in range(1_000)]
    weights = [1 / r for r in range(1, len(wallets) + 1)]
    for lo in range(0, events, PER_TX):
        n = min(PER_TX, events - lo)
        frm = rng.choices(wallets, weights, k=n)
        to = rng.choices(wallets, weights, k=n)
        records = [(f, t, rng.getrandbits(64)) for f, t in zip(frm, to, strict=True)]
        tx = emit(rpc, sender, emitter, records)
    while rpc("eth_getTransactionReceipt", tx) is None:  # sent is not yet mined
        time.sleep(0.05)
    return int(rpc("eth_blockNumber"), 16)


def child(url: str, emitter: str, head: int, sender: str) -> None:
    from dcmx_core import Contract, Indexer
    from dcmx_core.sources.jsonrpc import JsonRpcSource
    from dcmx_generated import dcmx_token

    busy = {"node": 0.0, "decode": 0.0, "write": 0.0}
    lock = threading.Lock()
    inside = threading.local()  # the kinds of call this thread is timing now

    @contextlib.contextmanager
    def timing(name):
        kinds = inside.__dict__.setdefault("kinds", set())
        if name in kinds:  # nested in a call already timed as the same kind
            yield
            return
        kinds.add(name)
        t = time.perf_counter()
        try:
            yield
        finally:
            kinds.discard(name)
            with lock:
                busy[name] += time.perf_counter() - t

    def timed(name, fn):
        def run(*a, **k):
            with timing(name):
                return fn(*a, **k)
        return run

    def timed_cm(name, cm):
        @contextlib.contextmanager
        def run(*a, **k):
            with timing(name), cm(*a, **k) as value:
                yield value
        return run

    source = JsonRpcSource(url, confirmations=0)
    for m in ("head", "finalized", "headers", "logs"):
        setattr(source, m, timed("node", getattr(source, m)))
    emitter_bytes = bytes.fromhex(emitter[2:])
    with sqlite_url() as db:
        indexer = Indexer(source, db, [Contract("DCMXToken", dcmx_token, (emitter_bytes,))],
                          entry_points=True, only_plugins=["token"], poll_interval=POLL,
                          tuning=Tuning(batch_blocks=32, prefetch=os.environ.get(
                              "DCMX_BENCH_PREFETCH", "1") == "1"))
        indexer.setup()
        indexer.decoder.decode = timed("decode", indexer.decoder.decode)
        indexer.store.transaction = timed_cm("write", indexer.store.transaction)
        busy.update(node=0.0, decode=0.0, write=0.0)
        with Timer() as t:
            indexer.run(to_block=head)
        figures = dict(busy)  # the run's, not the latency test's after it
        with indexer.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM transaction_index").scalar()
            wallets = conn.exec_driver_sql("SELECT count(*) FROM token_balances").scalar()
        # Latency after catching up: follow() in a thread, one more transfer, poll SQLite.
        follower = threading.Thread(target=indexer.follow, daemon=True)
        follower.start()
        time.sleep(POLL * 2.5)
        rpc = Rpc(url)
        latencies = []
        newest = "SELECT max(block_number) FROM transaction_index"
        # By the primary key: a count(*) every 5 ms would scan 100,000 index entries each
        # time, competing with the follower for the CPU and filling a page cache of its own.
        after = "SELECT 1 FROM transaction_index WHERE block_number > ? LIMIT 1"
        for _ in range(3):
            rng = random.Random()
            with indexer.engine.connect() as conn:
                before = conn.exec_driver_sql(newest).scalar()
            sent = time.perf_counter()
            emit(rpc, sender, emitter, [(rng.randbytes(20), rng.randbytes(20), 1)])
            while True:
                with indexer.engine.connect() as conn:
                    seen = conn.exec_driver_sql(after, (before,)).first()
                if seen is not None:
                    break
                time.sleep(0.005)
            latencies.append(time.perf_counter() - sent)
            time.sleep(rng.uniform(0.1, POLL))  # land anywhere in the poll cycle
        indexer.stop()
        follower.join()
        source.close()
    print(json.dumps({"rows": rows, "wallets": wallets, "seconds": t.seconds, **figures,
                      "prefetch": indexer.tuning.prefetch, "latencies": latencies,
                      "peak_rss_mb": peak_rss_mb()}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        url, emitter, head, sender = args.child
        child(url, emitter, int(head), sender)
        return 0
    proc, url = start_anvil()
    try:
        rpc = Rpc(url)
        sender, emitter = deploy(rpc)
        with Timer() as t:
            head = fill(rpc, sender, emitter, args.events, random.Random(5))
        print(f"anvil: {args.events:,} Transfer events in {head} blocks "
              f"({t.seconds:.0f} s to emit)")
        out = subprocess.run(
            [sys.executable, "-m", "bench.wire", "--child", url, emitter, str(head), sender],
            check=True, capture_output=True, text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rate = r["rows"] / r["seconds"]
    worst = max(r["latencies"])
    print(f"indexed {r['rows']:,} transfers, {r['wallets']:,} balances: {rate:,.0f} events/s "
          f"({r['seconds']:.1f} s start to last commit); target 30,000: "
          f"{'met' if rate >= 30_000 else 'MISSED'}")
    other = r["seconds"] - r["node"] - r["decode"] - r["write"]
    print(f"  busy: node {r['node']:.2f} s ({r['node'] / r['seconds']:.0%}), decode "
          f"{r['decode']:.2f} s ({r['decode'] / r['seconds']:.0%}), write {r['write']:.2f} s "
          f"({r['write'] / r['seconds']:.0%}), "
          + ("overlapping (prefetch)" if r["prefetch"] else
             f"other {other:.2f} s ({other / r['seconds']:.0%})")
          + f" of {r['seconds']:.2f} s wall")
    print(f"  peak RSS {r['peak_rss_mb']:.0f} MB; target < 200 MB: "
          f"{'met' if r['peak_rss_mb'] < 200 else 'MISSED'}")
    print(f"  new event in SQL after {', '.join(f'{x:.2f}' for x in r['latencies'])} s "
          f"(poll {POLL} s); target <= {POLL + 0.1:.1f} s: "
          f"{'met' if worst <= POLL + 0.1 else 'MISSED'}")
    return 0 if rate >= 30_000 and r["peak_rss_mb"] < 200 and worst <= POLL + 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
