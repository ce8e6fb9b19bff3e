"""A recorded DCMX chain for the end-to-end and memory benchmarks: a realistic mix of events.

The events are what the five contracts emit, encoded with eth_abi from the compiled ABIs of
``contracts/build`` (so the generated decoders read real ABI encodings), and they hold together
the way the built-in plugins need them to: claims are verified and paid only after they were
submitted, NFTs are transferred after they were minted, sales have unique ids, a wallet accepts
a document version once, reward pools are configured before the first claim.

The mix. The simulator (``dcmx_core/simulator.py``) drives a real EVM one transaction at a time
and plays an NFT-heavy round (mints, sales, claims, compliance every round, a few token
transfers); a production chain is dominated by token traffic. So the mix is fixed here, by
operation (weights per 100 operations; the events each operation emits in brackets):

    55   token transfer            [Transfer]          (0.5% of them mints, 0.5% burns)
    10   token approval            [Approval]
     5   NFT mint                  [Transfer from 0, Minted]
     5   NFT transfer              [Transfer]
     1   NFT approval              [Approval]
     0.5 NFT approval for all      [ApprovalForAll]
     1.5 NFT sale                  [SaleRecorded, RoyaltyCredited x2, RoyaltiesDistributed]
     1   royalty split set         [RoyaltySplitsSet]
     1   royalty withdrawal        [RoyaltiesWithdrawn]
     2   claim submitted           [ClaimSubmitted]
     1.5 claim verified            [ClaimVerified]  (90% approved)
     1.5 rewards claimed           [RewardsClaimed]
     3   document acceptance       [AcceptanceRecorded]  (a new DocumentPublished when needed)
     1   KYC change                [KycStatusChanged]
     0.5 deletion request          [DeletionRequested]
     0.5 deletion processed        [DeletionProcessed]

which comes to ~55% token Transfer, ~10% Approval, ~10% NFT Transfer, ~5% Minted, ~6% sales and
royalties, ~5% claims, ~5% compliance (``describe`` prints the realised mix). Wallets: 5,000,
drawn Zipf-like (weight 1/rank), so a few exchanges and whales appear in most blocks and the
long tail rarely. Blocks carry 50..150 logs (TRON blocks hold a few hundred transactions).

The chain is saved with :meth:`MemoryChain.save` under ``bench/.cache/`` and reused while this
file and the ABIs are unchanged (the key is a hash of both).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections import Counter
from pathlib import Path

import eth_abi
from eth_hash.auto import keccak

from dcmx_core.sources.memory import MemoryChain

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
BUILD = ROOT / "contracts" / "build"

CONTRACT_NAMES = (
    "DCMXToken", "MusicNFT", "RoyaltyDistributor", "RewardVault", "ComplianceRegistry"
)
# Fixed deployment addresses (20 bytes); the indexer is configured with these.
ADDRESSES = {name: bytes([0xD0 + i]) * 20 for i, name in enumerate(CONTRACT_NAMES)}

OPERATIONS = (
    ("token_transfer", 55.0),
    ("token_approval", 10.0),
    ("nft_mint", 5.0),
    ("nft_transfer", 5.0),
    ("nft_approval", 1.0),
    ("nft_approval_all", 0.5),
    ("sale", 1.5),
    ("split", 1.0),
    ("withdraw", 1.0),
    ("claim_submit", 2.0),
    ("claim_verify", 1.5),
    ("claim_pay", 1.5),
    ("accept", 3.0),
    ("kyc", 1.0),
    ("deletion_request", 0.5),
    ("deletion_process", 0.5),
)
WALLETS = 5_000


class Encoder:
    """Encodes events of the compiled ABIs into (address, topics, data) log specs."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], tuple[bytes, list, list]] = {}
        for contract in CONTRACT_NAMES:
            abi = json.loads((BUILD / f"{contract}.json").read_text())["abi"]
            for e in abi:
                if e["type"] != "event":
                    continue
                sig = f"{e['name']}({','.join(i['type'] for i in e['inputs'])})"
                indexed = [i["type"] for i in e["inputs"] if i["indexed"]]
                plain = [i["type"] for i in e["inputs"] if not i["indexed"]]
                self.events[contract, e["name"]] = (keccak(sig.encode()), indexed, plain)

    def __call__(self, contract: str, event: str, indexed: list, plain: list) -> tuple:
        topic0, itypes, ptypes = self.events[contract, event]
        topics = [topic0]
        for t, v in zip(itypes, indexed, strict=True):
            if t == "address":
                topics.append(bytes(12) + v)
            elif t == "bytes32":
                topics.append(v)
            else:  # uintN
                topics.append(v.to_bytes(32, "big"))
        data = eth_abi.encode(ptypes, plain) if ptypes else b""
        return (ADDRESSES[contract], topics, data)


def _wallets(rng: random.Random) -> tuple[list[bytes], list[float]]:
    wallets = [rng.randbytes(20) for _ in range(WALLETS)]
    cum = list(itertools.accumulate(1.0 / rank for rank in range(1, WALLETS + 1)))
    return wallets, cum


def generate(events: int, seed: int = 1) -> tuple[MemoryChain, Counter]:
    """A chain of at least ``events`` events (stops at the end of the block that reaches it)."""
    rng = random.Random(seed)
    enc = Encoder()
    wallets, cum = _wallets(rng)
    names = [name for name, _ in OPERATIONS]
    op_cum = list(itertools.accumulate(w for _, w in OPERATIONS))
    zero = bytes(20)
    admin = wallets[0]

    def wallet() -> bytes:
        return rng.choices(wallets, cum_weights=cum)[0]

    def uniform_wallet() -> bytes:
        return rng.choice(wallets)

    chain = MemoryChain(finality_depth=19)
    mix: Counter = Counter()
    # state the plugins rely on
    nft_owner: dict[int, bytes] = {}
    next_token = itertools.count(1)
    next_sale = itertools.count(1)
    next_claim = itertools.count(1)
    next_request = itertools.count(1)
    submitted: list[tuple[int, bytes, int]] = []  # (claim id, user, amount) awaiting verification
    approved: list[tuple[int, bytes, int]] = []
    pending_deletions: list[tuple[int, bytes]] = []
    doc_version = {0: 1, 1: 1}
    accepted: set[tuple[bytes, int, int]] = set()
    timestamp = 1_700_000_000

    def doc_hash(doc_type: int, version: int) -> bytes:
        return keccak(f"doc:{doc_type}:{version}".encode())

    def publish(doc_type: int) -> tuple:
        v = doc_version[doc_type]
        return enc(
            "ComplianceRegistry", "DocumentPublished", [doc_type, admin],
            [f"v{v}", doc_hash(doc_type, v), timestamp],
        )

    genesis_ops = [
        enc("RewardVault", "PoolConfigured", [t], [10**30, 10**24]) for t in range(3)
    ] + [publish(0), publish(1)]
    chain.append_block([(*spec, i) for i, spec in enumerate(genesis_ops)], timestamp=timestamp)
    for spec in genesis_ops:
        mix[_name(enc, spec)] += 1
    total = len(genesis_ops)

    while total < events:
        timestamp += 3
        specs: list[tuple] = []
        target = rng.randint(50, 150)
        tx = 0
        while len(specs) < target:
            op = rng.choices(names, cum_weights=op_cum)[0]
            out: list[tuple] = []
            if op == "token_transfer":
                r = rng.random()
                if r < 0.005:  # a mint
                    frm, to = zero, wallet()
                else:  # a burn below 1%, else a plain transfer
                    frm, to = wallet(), zero if r < 0.01 else wallet()
                out.append(enc("DCMXToken", "Transfer", [frm, to], [rng.getrandbits(70)]))
            elif op == "token_approval":
                out.append(enc("DCMXToken", "Approval", [wallet(), uniform_wallet()],
                               [rng.getrandbits(80)]))
            elif op == "nft_mint":
                tid = next(next_token)
                to = wallet()
                nft_owner[tid] = to
                content = keccak(tid.to_bytes(8, "big"))
                out.append(enc("MusicNFT", "Transfer", [zero, to, tid], []))
                out.append(enc(
                    "MusicNFT", "Minted", [to, tid, content],
                    [f"Track {tid}", f"Artist {tid % 997}",
                     rng.choice(("house", "jazz", "ambient")), 1 + tid % 5, 10, to,
                     rng.choice((250, 500, 1000))],
                ))
            elif op in ("nft_transfer", "nft_approval") and nft_owner:
                tid = rng.randint(max(1, len(nft_owner) - 5_000), len(nft_owner))
                owner, to = nft_owner[tid], wallet()
                if op == "nft_transfer":
                    nft_owner[tid] = to
                    out.append(enc("MusicNFT", "Transfer", [owner, to, tid], []))
                else:
                    out.append(enc("MusicNFT", "Approval", [owner, to, tid], []))
            elif op == "nft_approval_all":
                out.append(enc("MusicNFT", "ApprovalForAll", [wallet(), uniform_wallet()],
                               [rng.random() < 0.8]))
            elif op == "sale" and nft_owner:
                sid, tid = next(next_sale), rng.randint(1, len(nft_owner))
                buyer, seller, amount = wallet(), nft_owner[tid], rng.getrandbits(64)
                out.append(enc("RoyaltyDistributor", "SaleRecorded", [sid, tid, buyer],
                               [seller, amount, 1]))
                for r in (seller, uniform_wallet()):
                    out.append(enc("RoyaltyDistributor", "RoyaltyCredited", [sid, r],
                                   [amount // 2]))
                out.append(enc("RoyaltyDistributor", "RoyaltiesDistributed", [sid, tid],
                               [amount, 2]))
            elif op == "split" and nft_owner:
                tid = rng.randint(1, len(nft_owner))
                recipients = [nft_owner[tid], uniform_wallet()]
                out.append(enc("RoyaltyDistributor", "RoyaltySplitsSet", [tid, nft_owner[tid]],
                               [rng.randint(1, 9), recipients, [7000, 3000]]))
            elif op == "withdraw":
                out.append(enc("RoyaltyDistributor", "RoyaltiesWithdrawn", [wallet()],
                               [rng.getrandbits(60)]))
            elif op == "claim_verify" and submitted:
                cid, user, amount = submitted.pop(rng.randrange(len(submitted)))
                ok = rng.random() < 0.9
                if ok:
                    approved.append((cid, user, amount))
                out.append(enc("RewardVault", "ClaimVerified", [cid], [ok, admin]))
            elif op == "claim_pay" and approved:
                cid, user, amount = approved.pop(rng.randrange(len(approved)))
                out.append(enc("RewardVault", "RewardsClaimed", [cid, user], [amount]))
            elif op in ("claim_submit", "claim_verify", "claim_pay"):
                cid, user, amount = next(next_claim), wallet(), rng.getrandbits(50)
                submitted.append((cid, user, amount))
                out.append(enc("RewardVault", "ClaimSubmitted", [cid, user, rng.randrange(3)],
                               [rng.randbytes(32), amount]))
            elif op == "accept":
                user, dt = wallet(), rng.randrange(2)
                if (user, dt, doc_version[dt]) in accepted:
                    doc_version[dt] += 1
                    out.append(publish(dt))
                v = doc_version[dt]
                accepted.add((user, dt, v))
                out.append(enc("ComplianceRegistry", "AcceptanceRecorded", [user, dt],
                               [f"v{v}", doc_hash(dt, v), timestamp]))
            elif op == "kyc":
                out.append(enc("ComplianceRegistry", "KycStatusChanged", [uniform_wallet(), admin],
                               [rng.randrange(4), rng.randrange(4), timestamp]))
            elif op == "deletion_process" and pending_deletions:
                rid, user = pending_deletions.pop(0)
                out.append(enc("ComplianceRegistry", "DeletionProcessed", [rid, user, admin],
                               [rng.random() < 0.8, timestamp]))
            elif op in ("deletion_request", "deletion_process"):
                rid, user = next(next_request), uniform_wallet()
                pending_deletions.append((rid, user))
                out.append(enc("ComplianceRegistry", "DeletionRequested", [rid, user],
                               ["privacy", timestamp]))
            else:  # an NFT operation before the first mint
                continue
            for spec in out:
                specs.append((*spec, tx))
                mix[_name(enc, spec)] += 1
            tx += 1
        chain.append_block(specs, timestamp=timestamp)
        total += len(specs)
    return chain, mix


_NAMES: dict[tuple[bytes, bytes], str] = {}


def _name(enc: Encoder, spec: tuple) -> str:
    if not _NAMES:  # token and NFT Transfer/Approval share topic0: the address tells them apart
        for (contract, event), (topic0, _, _) in enc.events.items():
            _NAMES[ADDRESSES[contract], topic0] = f"{contract}.{event}"
    name = _NAMES[spec[0], spec[1][0]]
    if name == "MusicNFT.Transfer" and spec[1][1] == bytes(32):
        return "MusicNFT.Transfer (mint)"
    return name


def cache_key(events: int) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for name in CONTRACT_NAMES:
        h.update((BUILD / f"{name}.json").read_bytes())
    return f"chain-{events}-{h.hexdigest()[:12]}"


def cached(events: int, quiet: bool = False) -> Path:
    """The path of the saved chain of ``events`` events, generated (once) if missing."""
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")  # never committed: a few hundred MB, regenerable
    key = cache_key(events)
    path = CACHE / f"{key}.bin"
    if not path.exists():
        import time

        t0 = time.perf_counter()
        chain, mix = generate(events)
        tmp = path.with_suffix(".tmp")
        chain.save(tmp)
        tmp.rename(path)
        (CACHE / f"{key}.mix.json").write_text(json.dumps(dict(mix), indent=1))
        if not quiet:
            print(f"  generated {sum(mix.values()):,} events in {chain.head()} blocks "
                  f"({time.perf_counter() - t0:.0f} s, cached in {path.name})")
    return path


def describe(events: int) -> str:
    key = cache_key(events)
    mix = json.loads((CACHE / f"{key}.mix.json").read_text())
    total = sum(mix.values())
    return "\n".join(
        f"    {name:42s} {n:9,d}  {100 * n / total:5.1f}%"
        for name, n in sorted(mix.items(), key=lambda kv: -kv[1])
    )
