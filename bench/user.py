"""The user's view: spawn ``dcmx run`` against a node and wait for the rows.

The chain is built on anvil by a deterministic script: a token with ``batchTransfer``
(``contracts/bench/BatchToken.sol``) whose transfers among 1,010 holders make 100,000
``Transfer`` events (the deployment's mint and 99,999 moved by ``batchTransfer`` transactions
of up to 100 each, in 345 blocks); ``--events 1000000`` makes ten times as many in ten times
as many blocks. The token's bindings come from ``dcmx-codegen``; a third-party plugin keeping
exact balances (``bench/balances_plugin``) is pip-installed into a folder put on the path, and
found through its entry point.

Then, per database (SQLite, PostgreSQL), in the same run:

- ``dcmx run`` spawned as a process: spawn to first row (the first batch committed: the
  cursor appears with its rows), spawn to last row (the cursor at the head), events/s over
  the latter, and the peak RSS of the whole process tree (the CLI and every process it
  starts, summed at each sample of /proc every 10 ms);
- the baselines: ``python -c pass`` (an interpreter's start-up, spawn to exit) and a
  hand-written web3.py loop doing the same job (``eth_getLogs`` by ranges, Transfer decoded
  by hand, raw rows and exact balances written with SQLAlchemy, a commit per range), spawned
  and measured the same way.

Targets (issue 27): spawn to last row >= 50,000 events/s on SQLite and >= 35,000 on
PostgreSQL, peak RSS of the tree <= 150 MB; the run path's imports within 0.3 s of a bare
interpreter. Figures: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import inspect
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ARTIFACT = ROOT / "contracts" / "build" / "bench" / "BatchToken.json"
PLUGIN = ROOT / "bench" / "balances_plugin"
ANVIL = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"
HOLDERS = 1_010
SENDERS = 10  # anvil's unlocked accounts; the other 1,000 holders only receive
PER_TX = 100
SEED = 27
TARGET_RATE = {"sqlite": 50_000, "postgresql": 35_000}
TARGET_RSS_MB = 150


# --- the chain ------------------------------------------------------------------------------


class Node:
    """A fresh anvil, mining only when told."""

    def __init__(self, state: Path | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(ANVIL), "--port", str(self.port), "--host", "127.0.0.1", "--silent",
             "--no-mining", "--gas-limit", "100000000",
             *(["--load-state", str(state)] if state else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300  # loading a saved state of 1M events takes long
        while True:
            try:
                self.rpc("eth_chainId")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("anvil did not start") from None
                time.sleep(0.05)

    def rpc(self, method: str, *params: object, timeout: float = 60) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        req = urllib.request.Request(
            self.url, body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _word(n: int) -> str:
    return f"{n:064x}"


def _batch_calldata(selector: str, to: list[str], values: list[int]) -> str:
    """``batchTransfer(address[],uint256[])`` encoded by hand (two dynamic arrays)."""
    n = len(to)
    head = _word(64) + _word(64 + 32 * (n + 1))
    a = _word(n) + "".join(_word(int(x, 16)) for x in to)
    v = _word(n) + "".join(_word(x) for x in values)
    return "0x" + selector + head + a + v


def chain(events: int, work: Path) -> tuple[Node, str, int]:
    """A node holding the chain of :func:`build_chain`: built, or loaded from the state saved
    the first time (bench/.cache: anvil's state keeps blocks and logs)."""
    from bench.chainmix import CACHE

    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    recipe = inspect.getsource(build_chain) + repr((HOLDERS, SENDERS, PER_TX, SEED))
    key = hashlib.sha256(ARTIFACT.read_bytes() + recipe.encode()).hexdigest()[:12]
    path = CACHE / f"anvil-batch-{events}-{key}"
    if path.with_suffix(".json").exists():
        saved = json.loads(path.with_suffix(".json").read_text())
        state = work / "state.json"
        state.write_bytes(gzip.decompress(path.with_suffix(".gz").read_bytes()))
        return Node(state), saved["token"], saved["head"]
    node = Node()
    try:
        token, head = build_chain(node, events)
        # hex of the gzipped JSON that --load-state reads (minutes for 1M events)
        dumped = str(node.rpc("anvil_dumpState", timeout=1800))
    except BaseException:
        node.close()
        raise
    path.with_suffix(".gz").write_bytes(bytes.fromhex(dumped.removeprefix("0x")))
    path.with_suffix(".json").write_text(json.dumps({"token": token, "head": head}))
    return node, token, head


def build_chain(node: Node, events: int) -> tuple[str, int]:
    """Deploy the token and fill ``events * 345 / 100,000`` blocks with batchTransfer
    transactions; (token address, head)."""
    artifact = json.loads(ARTIFACT.read_text())
    accounts = list(node.rpc("eth_accounts"))[:SENDERS]  # type: ignore[call-overload]
    rng = random.Random(SEED)
    receivers = [f"0x{rng.getrandbits(160):040x}" for _ in range(HOLDERS - SENDERS)]
    supply = 10**30
    deploy = node.rpc("eth_sendTransaction", {
        "from": accounts[0], "gas": hex(3_000_000),
        "data": artifact["bytecode"] + _word(supply),
    })
    node.rpc("evm_mine")
    receipt = node.rpc("eth_getTransactionReceipt", deploy)
    token = receipt["contractAddress"]  # type: ignore[index]
    from eth_utils import function_signature_to_4byte_selector

    selector = function_signature_to_4byte_selector("batchTransfer(address[],uint256[])").hex()
    # the mint is event 1; then the dev accounts are funded, then they pay the holders
    moves: list[tuple[int, str, int]] = [(0, a, supply // 100) for a in accounts[1:]]
    while len(moves) < events - 1:
        moves.append((rng.randrange(SENDERS), rng.choice(receivers), rng.randrange(1, 10**6)))
    txs: list[tuple[int, list[str], list[int]]] = []
    for m in moves:
        if not txs or txs[-1][0] != m[0] or len(txs[-1][1]) == PER_TX:
            txs.append((m[0], [], []))
        txs[-1][1].append(m[1])
        txs[-1][2].append(m[2])
    blocks = max(1, round(events * 345 / 100_000))
    for b in range(blocks):
        for sender, to, values in txs[b * len(txs) // blocks : (b + 1) * len(txs) // blocks]:
            node.rpc("eth_sendTransaction", {
                "from": accounts[sender], "to": token, "gas": hex(200_000 + 40_000 * len(to)),
                "data": _batch_calldata(selector, to, values),
            })
        node.rpc("evm_mine")
    head = int(node.rpc("eth_blockNumber"), 16)  # type: ignore[arg-type]
    logs = node.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head), "address": token})
    if len(logs) != events:  # type: ignore[arg-type]
        raise RuntimeError(f"the chain holds {len(logs)} events, not {events}")  # type: ignore
    return token, head


# --- measuring a process tree ---------------------------------------------------------------


def _tree_rss_kb(root: int) -> int:
    """The summed VmRSS of ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        pid = int(entry)
        ppid = kb = 0
        for line in status.splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                kb = int(line.split()[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = kb
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def watch(cmd: list[str], env: dict[str, str], progress, done) -> dict:
    """Spawn ``cmd``; sample its tree's RSS and ``progress()`` (rows committed so far, or
    None) every 10 ms until it exits. Seconds from spawn to the first rows, to ``done(n)``,
    to exit; peak RSS in MB; CPU seconds of the tree (its processes once reaped)."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = last = None
    peak = 0
    while True:
        exited = proc.poll() is not None
        peak = max(peak, _tree_rss_kb(proc.pid)) if not exited else peak
        n = progress()
        now = time.perf_counter() - start
        if n and first is None:
            first = now
        if n is not None and done(n) and last is None:
            last = now
        if exited:
            break
        time.sleep(0.01)
    end = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-3000:]}")
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"first": first, "last": last if last is not None else end, "exit": end,
            "rss_mb": peak / 1024,
            "cpu": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime}


def cursor_probe(url: str):
    """A function returning the indexed block (None before the first commit)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def probe() -> int | None:
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql("SELECT block_number FROM dcmx_cursor").scalar()
        except sa.exc.DBAPIError:
            return None

    return probe


def rows_probe(url: str, table: str):
    """For the web3 loop: the highest block committed to its raw table."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    def probe() -> int | None:
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql(f"SELECT max(block_number) FROM {table}").scalar()
        except sa.exc.DBAPIError:
            return None

    return probe


# --- the baselines --------------------------------------------------------------------------

WEB3_LOOP = '''
import sys
import sqlalchemy as sa
from web3 import Web3

node, url, token, head = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
TRANSFER = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")
w3 = Web3(Web3.HTTPProvider(node))
token = Web3.to_checksum_address(token)
engine = sa.create_engine(url)
with engine.begin() as conn:
    conn.exec_driver_sql(
        "CREATE TABLE transfers (block_number BIGINT, log_index INT, tx_hash BYTEA_OR_BLOB,"
        " from_ TEXT, to_ TEXT, value TEXT, PRIMARY KEY (block_number, log_index))"
        .replace("BYTEA_OR_BLOB", "BYTEA" if engine.dialect.name == "postgresql" else "BLOB"))
    conn.exec_driver_sql("CREATE TABLE balances (holder TEXT PRIMARY KEY, balance TEXT)")
balances = {}
step = 100
for start in range(0, head + 1, step):
    end = min(head, start + step - 1)
    logs = w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": token,
                            "topics": [TRANSFER]})
    rows, touched = [], set()
    for lg in logs:
        frm = Web3.to_checksum_address(lg["topics"][1][-20:])
        to = Web3.to_checksum_address(lg["topics"][2][-20:])
        value = int.from_bytes(lg["data"], "big")
        rows.append({"b": lg["blockNumber"], "i": lg["logIndex"], "h": bytes(lg["transactionHash"]),
                     "f": frm, "t": to, "v": str(value)})
        if int(frm, 16):
            balances[frm] = balances.get(frm, 0) - value
            touched.add(frm)
        balances[to] = balances.get(to, 0) + value
        touched.add(to)
    with engine.begin() as conn:
        if rows:
            conn.execute(sa.text("INSERT INTO transfers VALUES (:b, :i, :h, :f, :t, :v)"), rows)
        for h in touched:
            conn.execute(sa.text("DELETE FROM balances WHERE holder = :h"), {"h": h})
        if touched:
            conn.execute(sa.text("INSERT INTO balances VALUES (:h, :v)"),
                         [{"h": h, "v": str(balances[h])} for h in touched])
'''


def python_startup(repeat: int = 5) -> float:
    """Median seconds of ``python -c pass``, spawn to exit."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


@contextmanager
def database(kind: str):
    from bench.common import postgres_url, sqlite_url

    with (sqlite_url() if kind == "sqlite" else postgres_url()) as url:
        yield url


def prepare(work: Path) -> dict[str, str]:
    """Bindings and the plugin installed under ``work``; the environment ``dcmx`` runs in."""
    subprocess.run(
        [str(BIN / "dcmx-codegen"), str(ARTIFACT), "-o", str(work / "bindings" / "batch_token"),
         "--package", "batch_token", "--profile", "evm"],
        check=True, capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(work / "site"), str(PLUGIN)],
        check=True, capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCMX_")}
    env["PYTHONPATH"] = os.pathsep.join([str(work / "site"), str(work / "bindings")])
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--no-web3", action="store_true", help="skip the web3.py loop")
    parser.add_argument(
        "--before", type=Path, default=None,
        help="a source tree of another dcmx (e.g. `git archive` of main) whose dcmx_core is "
        "measured too, first on the path, in the same run",
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    missed = []
    with tempfile.TemporaryDirectory(prefix="dcmx-user-") as tmp:
        work = Path(tmp)
        env = prepare(work)
        variants = [("after", env, [str(BIN / "dcmx")])]
        if args.before is not None:
            before = dict(env, PYTHONPATH=f"{args.before.resolve()}{os.pathsep}{env['PYTHONPATH']}")
            # -P: the working directory (a checkout of this dcmx) does not go first on the path
            dcmx_before = [sys.executable, "-P", "-m", "dcmx_core.cli"]
            variants.insert(0, ("before", before, dcmx_before))
        t = time.perf_counter()
        node, token, head = chain(args.events, work)
        try:
            print(f"chain: {args.events:,} Transfer events, {head} blocks, {HOLDERS:,} holders, "
                  f"ready in {time.perf_counter() - t:.0f} s", flush=True)
            bare = python_startup()
            print(f"python -c pass: {bare * 1000:.0f} ms (spawn to exit, median of 5)", flush=True)
            for kind in kinds:
                for name, run_env, dcmx in variants:
                    with database(kind) as url:
                        cmd = [*dcmx, "run", "--source", node.url, "--db", url,
                               "--profile", "evm", "--plugins", "holder_balances",
                               "--contract", f"BatchToken=batch_token.batch_token@{token}@1",
                               "--confirmations", "0", "--to-block", str(head)]
                        r = watch(cmd, run_env, cursor_probe(url), lambda n: n >= head)
                    rate = args.events / r["last"]
                    print(f"{kind:10} dcmx {name:6} first row {r['first']:.2f} s, last row "
                          f"{r['last']:.2f} s, exit {r['exit']:.2f} s, {rate:,.0f} events/s, "
                          f"peak RSS {r['rss_mb']:.0f} MB, CPU {r['cpu']:.1f} s (targets "
                          f"{TARGET_RATE[kind]:,}/s, {TARGET_RSS_MB} MB)", flush=True)
                    if name == "after" and (
                        rate < TARGET_RATE[kind] or r["rss_mb"] > TARGET_RSS_MB
                    ):
                        missed.append(kind)
                if args.no_web3:
                    continue
                with database(kind) as url:
                    cmd = [sys.executable, "-c", WEB3_LOOP, node.url, url, token, str(head)]
                    r = watch(cmd, env, rows_probe(url, "transfers"), lambda n: n >= head)
                print(f"{kind:10} web3 loop   first row {r['first']:.2f} s, last row "
                      f"{r['last']:.2f} s, {args.events / r['last']:,.0f} events/s, "
                      f"peak RSS {r['rss_mb']:.0f} MB, CPU {r['cpu']:.1f} s", flush=True)
        finally:
            node.close()
    print(f"targets missed: {', '.join(missed)}" if missed else "all targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
