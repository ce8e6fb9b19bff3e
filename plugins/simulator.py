"""Seeded, realistic activity on the five DCMX contracts: the demo's traffic and the tests' data.

A :class:`Simulator` drives many wallets (deterministic private keys derived from the seed,
funded from the node's first unlocked account, transactions signed locally with eth_account) so
the same code runs on the in-process devchain and on any JSON-RPC dev node such as anvil.

Every round, artists mint editions of tracks and set their royalty splits, fans buy and trade
NFTs, sales are distributed and royalties withdrawn, DCMX moves between wallets, reward claims
of all three types are submitted, verified by the admin (most approved, some rejected) and
claimed, users accept published documents, ask for data deletion (which the admin processes),
and the compliance officer changes KYC statuses.

Some transactions are meant to fail (a replayed proof, a double claim, a second acceptance of
the same document, ...). Each of those is first checked with ``eth_call`` to revert with the
expected custom error, then sent and mined (a failed transaction, as on a real chain) and
counted in :attr:`SimulationReport.refused`. Any other revert raises :class:`SimulationError`
naming the custom error: it means the simulator or a contract is wrong.

Same seed, same node state -> the same sequence of calls.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from eth_account import Account
from eth_hash.auto import keccak
from web3 import Web3
from web3.logs import DISCARD

from dcmx_core.errors import ConfigError, DcmxError

from .devchain import (
    BUILD_DIR,
    COMPLIANCE_OFFICER_ROLE,
    DEFAULT_DOCUMENTS,
    DEFAULT_POOLS,
    MINTER_ROLE,
    PLATFORM_CONTRACTS,
    SPLIT_MANAGER_ROLE,
    TOKEN,
    load_artifact,
    revert_data,
)

if TYPE_CHECKING:
    from .devchain import Devchain

__all__ = ["SimulationError", "SimulationReport", "Simulator"]

ETHER = 10**18
GAS = 2_000_000  # fixed: estimating every transaction would double the work
DEPLOY_GAS = 6_000_000
MAX_FEE = 5 * 10**9
PRIORITY_FEE = 10**9
FUNDING = 50 * ETHER  # native coin given to each wallet

FIRST = ("Nina", "Theo", "Luna", "Omar", "Iris", "Kai", "Mara", "Jules", "Ada", "Ravi", "Zoe")
LAST = ("Sol", "Vega", "North", "Reyes", "Okafor", "Lind", "Moreau", "Tanaka", "Blue", "Quinn")
GENRES = ("house", "techno", "jazz", "hip-hop", "ambient", "indie", "afrobeat", "classical")
ADJECTIVES = ("Electric", "Silent", "Golden", "Midnight", "Broken", "Neon", "Endless", "Velvet")
NOUNS = ("Dreams", "River", "Echoes", "Skyline", "Heart", "Signals", "Tides", "Garden", "Static")
REASONS = ("leaving the platform", "privacy", "duplicate account", "GDPR article 17 request")


class SimulationError(DcmxError):
    """A transaction the simulator expected to succeed (or to fail in a given way) did not."""


@dataclass
class SimulationReport:
    transactions: int  # sent and mined (refused ones included)
    refused: int  # reverted as intended (replayed proofs, double claims, ...)
    by_kind: dict[str, int]  # e.g. {"mint": 12, "transfer": 40, "sale": 9, ...}
    first_block: int
    last_block: int


@dataclass
class _Track:
    content_hash: bytes
    title: str
    artist: int  # wallet index
    genre: str
    max_editions: int
    minted: int = 0


@dataclass
class _State:
    """Everything the simulator knows about the chain it made; copied by :meth:`branch`."""

    nonces: dict[str, int] = field(default_factory=dict)
    tracks: list[_Track] = field(default_factory=list)
    owners: dict[int, str] = field(default_factory=dict)  # NFT token id -> owner
    creators: dict[int, int] = field(default_factory=dict)  # token id -> artist wallet index
    with_splits: set[int] = field(default_factory=set)
    undistributed: list[int] = field(default_factory=list)  # sale ids
    distributed: list[int] = field(default_factory=list)
    credited: set[str] = field(default_factory=set)  # addresses ever credited royalties
    balances: dict[str, int] = field(default_factory=dict)  # DCMX
    claims: dict[int, dict[str, Any]] = field(default_factory=dict)
    proofs: int = 0
    documents: list[tuple[int, str]] = field(default_factory=list)
    accepted: set[tuple[str, int, str]] = field(default_factory=set)
    deletion_pending: dict[str, int] = field(default_factory=dict)  # address -> request id
    kyc: dict[str, int] = field(default_factory=dict)
    next_version: int = 1


class Simulator:
    """Drives seeded platform activity through many locally signed wallets.

    ``addresses`` (name -> address, hex or 20 bytes) makes it use contracts deployed already;
    otherwise :meth:`deploy` deploys and wires the five. The admin is the node's first unlocked
    account and must hold the admin roles of those contracts.
    """

    def __init__(
        self,
        w3: Web3,
        *,
        seed: int = 0,
        wallets: int = 24,
        build_dir: Path | None = None,
        addresses: dict[str, str] | None = None,
    ) -> None:
        if wallets < 4:
            raise ConfigError(f"the simulator needs at least 4 wallets, got {wallets}")
        self.w3 = w3
        self.seed = seed
        self.build_dir = build_dir or BUILD_DIR
        self.rng = random.Random(seed)
        self._abis = {
            name: load_artifact(name, self.build_dir)["abi"] for name in PLATFORM_CONTRACTS
        }
        self._errors = _error_table(self._abis.values())
        self.admin: str = Web3.to_checksum_address(w3.eth.accounts[0])
        self.chain_id = w3.eth.chain_id
        self.accounts = [
            Account.from_key(keccak(f"dcmx-simulator:{seed}:{i}".encode())) for i in range(wallets)
        ]
        self.wallets: list[str] = [a.address for a in self.accounts]
        self._keys = {a.address: a for a in self.accounts}
        n_artists = max(2, wallets // 4)
        self.artists = list(range(n_artists))
        self.artist_names = {
            i: f"{FIRST[(seed + i) % len(FIRST)]} {LAST[(seed * 7 + i * 3) % len(LAST)]}"
            for i in self.artists
        }
        self.state = _State(documents=[(d, v) for d, v, _ in DEFAULT_DOCUMENTS])
        self._namespace = seed
        self._ready = False
        self._contracts: dict[str, Any] = {}
        if addresses is not None:
            missing = [n for n in PLATFORM_CONTRACTS if n not in addresses]
            if missing:
                raise ConfigError(f"addresses lacks {', '.join(missing)}")
            self._bind({n: addresses[n] for n in PLATFORM_CONTRACTS})
        self._deployed_here = False
        self._report = SimulationReport(0, 0, {}, -1, -1)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def on_devchain(cls, chain: Devchain, **kw: Any) -> Simulator:
        """A simulator on ``chain``'s web3; deploys the platform there first if it is not yet."""
        if not all(n in chain.contracts for n in PLATFORM_CONTRACTS):
            chain.deploy_platform()
        kw.setdefault("build_dir", chain.build_dir)
        kw.setdefault("addresses", {n: chain.contracts[n].address for n in PLATFORM_CONTRACTS})
        return cls(chain.w3, **kw)

    @classmethod
    def on_rpc(cls, url: str, **kw: Any) -> Simulator:
        """A simulator on any JSON-RPC dev node (anvil, hardhat) with unlocked accounts."""
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        if not w3.is_connected():
            raise ConfigError(f"no JSON-RPC node answers at {url}")
        if not w3.eth.accounts:
            raise ConfigError(f"the node at {url} has no unlocked account to deploy and fund from")
        return cls(w3, **kw)

    def branch(self, seed: int) -> Simulator:
        """A copy of this simulator (same wallets, same knowledge of the chain) with a new seed.

        Take it together with a chain snapshot: after reverting to the snapshot, the copy goes
        on from there with different activity, which builds a competing branch (a fork).
        """
        other = copy.copy(self)
        other.state = copy.deepcopy(self.state)
        other.rng = random.Random(seed)
        other._namespace = seed
        other._report = SimulationReport(0, 0, {}, -1, -1)
        return other

    # -- deployment ---------------------------------------------------------------------------

    @property
    def addresses(self) -> dict[str, bytes]:
        if not self._contracts:
            raise ConfigError("nothing deployed yet: call deploy() (or run()) first")
        return {n: bytes.fromhex(c.address[2:]) for n, c in self._contracts.items()}

    def deploy(self) -> dict[str, bytes]:
        """Deploy and wire the five contracts (unless addresses were given), set up the
        wallets (native coin, artist roles); name -> 20-byte address."""
        if self._ready:
            return self.addresses
        if not self._contracts:
            self._deploy_platform()
        nft, royalty = self._contracts["MusicNFT"], self._contracts["RoyaltyDistributor"]
        for i in self.artists:
            artist = self.wallets[i]
            if not nft.functions.hasRole(MINTER_ROLE, artist).call({"from": self.admin}):
                self._admin(nft.functions.grantRole(MINTER_ROLE, artist))
            if not royalty.functions.hasRole(SPLIT_MANAGER_ROLE, artist).call({"from": self.admin}):
                self._admin(royalty.functions.grantRole(SPLIT_MANAGER_ROLE, artist))
        for w in self.wallets:
            if self.w3.eth.get_balance(cast(Any, w)) < FUNDING // 2:
                self._fund(w)
            self.state.nonces[w] = self.w3.eth.get_transaction_count(cast(Any, w))
            self.state.balances[w] = (
                self._contracts["DCMXToken"].functions.balanceOf(w).call({"from": self.admin})
            )
        self._ready = True
        return self.addresses

    def _deploy_platform(self) -> None:
        deployed: dict[str, str] = {}
        for name in PLATFORM_CONTRACTS:
            artifact = load_artifact(name, self.build_dir)
            factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
            args = (deployed["DCMXToken"],) if name == "RewardVault" else ()
            tx = factory.constructor(*args).transact({"from": self.admin, **self._fees(DEPLOY_GAS)})
            receipt = self._check(tx, f"deploy {name}")
            deployed[name] = receipt["contractAddress"]
        self._bind(deployed)
        self._deployed_here = True
        c = self._contracts
        self._admin(c["DCMXToken"].functions.grantRole(MINTER_ROLE, c["RewardVault"].address))
        self._admin(c["MusicNFT"].functions.grantRole(MINTER_ROLE, self.admin))
        self._admin(
            c["ComplianceRegistry"].functions.grantRole(COMPLIANCE_OFFICER_ROLE, self.admin)
        )
        for reward_type, (budget, max_per_claim) in DEFAULT_POOLS.items():
            self._admin(c["RewardVault"].functions.setPool(reward_type, budget, max_per_claim))
        for doc_type, version, text in DEFAULT_DOCUMENTS:
            self._admin(
                c["ComplianceRegistry"].functions.publishDocument(
                    doc_type, version, Web3.keccak(text=text)
                )
            )

    def _bind(self, addresses: dict[str, Any]) -> None:
        for name, address in addresses.items():
            if isinstance(address, bytes | bytearray):
                address = "0x" + bytes(address).hex()
            checksum = Web3.to_checksum_address(address)
            self._contracts[name] = self.w3.eth.contract(address=checksum, abi=self._abis[name])

    # -- running ------------------------------------------------------------------------------

    def run(
        self,
        rounds: int,
        *,
        on_round: Callable[[int, SimulationReport], None] | None = None,
    ) -> SimulationReport:
        """Play ``rounds`` rounds of platform activity; what was sent (this call only)."""
        self.deploy()
        self._report = SimulationReport(0, 0, {}, -1, -1)
        for r in range(rounds):
            self._round(r)
            if on_round is not None:
                on_round(r, self._snapshot_report())
        return self._snapshot_report()

    def _snapshot_report(self) -> SimulationReport:
        r = self._report
        return SimulationReport(
            r.transactions, r.refused, dict(r.by_kind), r.first_block, r.last_block
        )

    def _round(self, r: int) -> None:
        rng = self.rng
        steps: list[Callable[[], None]] = []
        steps += [self._mint] * rng.randint(1, 3)
        steps += [self._sale] * rng.randint(2, 4)
        steps += [self._gift] * rng.randint(0, 2)
        steps += [self._resplit] * (rng.random() < 0.2)
        steps += [self._distribute] * rng.randint(1, 3)
        steps += [self._withdraw] * rng.randint(0, 2)
        steps += [self._submit_claim] * rng.randint(2, 4)
        steps += [self._verify_claim] * rng.randint(1, 3)
        steps += [self._claim_rewards] * rng.randint(1, 3)
        steps += [self._token_transfer] * rng.randint(2, 4)
        steps += [self._token_transfer_from] * (rng.random() < 0.3)
        steps += [self._burn] * (rng.random() < 0.15)
        steps += [self._accept] * rng.randint(1, 3)
        steps += [self._publish] * (r % 5 == 4)
        steps += [self._request_deletion] * (rng.random() < 0.4)
        steps += [self._process_deletion] * (rng.random() < 0.5)
        steps += [self._kyc] * rng.randint(0, 2)
        # the intended refusals
        steps += [self._replay_proof] * (rng.random() < 0.5)
        steps += [self._double_claim] * (rng.random() < 0.4)
        steps += [self._claim_rejected] * (rng.random() < 0.2)
        steps += [self._accept_again] * (rng.random() < 0.3)
        steps += [self._request_deletion_twice] * (rng.random() < 0.2)
        steps += [self._distribute_twice] * (rng.random() < 0.2)
        rng.shuffle(steps)
        for step in steps:
            step()

    # -- NFTs and royalties ---------------------------------------------------------------------

    def _mint(self) -> None:
        rng, st = self.rng, self.state
        open_tracks = [t for t in st.tracks if t.minted < t.max_editions]
        if open_tracks and rng.random() < 0.5:
            track = rng.choice(open_tracks)
        else:
            creator = rng.choice(self.artists)
            title = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
            content = keccak(f"dcmx-sim:{self._namespace}:{len(st.tracks)}:{title}".encode())
            track = _Track(content, title, creator, rng.choice(GENRES), rng.choice((1, 3, 5, 10)))
            st.tracks.append(track)
        artist = self.wallets[track.artist]
        edition = track.minted + 1
        receipt = self._send(
            artist,
            "MusicNFT",
            "mint",
            artist,
            track.title,
            self.artist_names[track.artist],
            track.genre,
            track.content_hash,
            edition,
            track.max_editions,
            artist,
            rng.choice((250, 500, 750, 1000)),
            kind="mint",
        )
        track.minted = edition
        minted = self._events(receipt, "MusicNFT", "Minted")
        token_id = minted[0]["args"]["tokenId"]
        st.owners[token_id] = artist
        st.creators[token_id] = track.artist
        self._set_splits(token_id)

    def _set_splits(self, token_id: int) -> None:
        rng = self.rng
        artist_index = self.state.creators[token_id]
        artist = self.wallets[artist_index]
        others = [w for w in self.wallets if w != artist]
        recipients = [artist] + rng.sample(others, rng.randint(0, 2))
        if rng.random() < 0.3:
            recipients.append(self.admin)  # the platform's cut
        shares = [rng.randint(1, 40) * 50 for _ in recipients[1:]]
        bps = [10_000 - sum(shares), *shares]
        self._send(
            artist,
            "RoyaltyDistributor",
            "setRoyaltySplits",
            token_id,
            recipients,
            bps,
            kind="royalty_split",
        )
        self.state.with_splits.add(token_id)

    def _resplit(self) -> None:
        if self.state.with_splits:
            self._set_splits(self.rng.choice(sorted(self.state.with_splits)))

    def _sale(self) -> None:
        rng, st = self.rng, self.state
        candidates = sorted(st.with_splits)
        if not candidates:
            return
        token_id = rng.choice(candidates)
        seller = st.owners[token_id]
        buyer = rng.choice([w for w in self.wallets if w != seller])
        price = rng.randint(1, 200) * ETHER // 100
        if self.w3.eth.get_balance(cast(Any, buyer)) < price + ETHER:
            self._fund(buyer)
        # The buyer pays the seller, who records the sale with the proceeds for the split.
        self._pay(buyer, seller, price)
        receipt = self._send(
            seller, "RoyaltyDistributor", "recordSale", token_id, buyer, value=price, kind="sale"
        )
        sale = self._events(receipt, "RoyaltyDistributor", "SaleRecorded")
        st.undistributed.append(sale[0]["args"]["saleId"])
        if rng.random() < 0.3:  # the buyer pulls the NFT with a single-token approval
            self._send(seller, "MusicNFT", "approve", buyer, token_id, kind="nft_approve")
            self._send(
                buyer, "MusicNFT", "transferFrom", seller, buyer, token_id, kind="nft_transfer"
            )
        else:
            self._send(
                seller, "MusicNFT", "transferFrom", seller, buyer, token_id, kind="nft_transfer"
            )
        st.owners[token_id] = buyer

    def _gift(self) -> None:
        rng, st = self.rng, self.state
        if not st.owners:
            return
        token_id = rng.choice(sorted(st.owners))
        owner = st.owners[token_id]
        to = rng.choice([w for w in self.wallets if w != owner])
        if rng.random() < 0.3:  # through an operator
            operator = rng.choice([w for w in self.wallets if w not in (owner, to)])
            self._send(
                owner, "MusicNFT", "setApprovalForAll", operator, True, kind="nft_approve_all"
            )
            self._send(
                operator, "MusicNFT", "transferFrom", owner, to, token_id, kind="nft_transfer"
            )
            self._send(
                owner, "MusicNFT", "setApprovalForAll", operator, False, kind="nft_approve_all"
            )
        else:
            self._send(owner, "MusicNFT", "transferFrom", owner, to, token_id, kind="nft_transfer")
        st.owners[token_id] = to

    def _distribute(self) -> None:
        st = self.state
        if not st.undistributed:
            return
        sale_id = st.undistributed.pop(self.rng.randrange(len(st.undistributed)))
        receipt = self._send(
            self.rng.choice(self.wallets),
            "RoyaltyDistributor",
            "distributeRoyalties",
            sale_id,
            kind="distribution",
        )
        credits = self._events(receipt, "RoyaltyDistributor", "RoyaltyCredited")
        st.credited.update(c["args"]["recipient"] for c in credits)
        st.distributed.append(sale_id)

    def _withdraw(self) -> None:
        distributor = self._contracts["RoyaltyDistributor"]
        candidates = sorted(a for a in self.state.credited if a in self._keys)
        self.rng.shuffle(candidates)
        for who in candidates[:4]:
            if distributor.functions.pendingRoyalties(who).call({"from": self.admin}) > 0:
                self._send(who, "RoyaltyDistributor", "withdrawRoyalties", kind="withdrawal")
                return
        broke = [w for w in self.wallets if w not in self.state.credited]
        if broke:  # nothing to withdraw: refused
            self._send(
                self.rng.choice(broke),
                "RoyaltyDistributor",
                "withdrawRoyalties",
                kind="withdrawal",
                refusal="NothingToWithdraw",
            )

    def _distribute_twice(self) -> None:
        if self.state.distributed:
            self._send(
                self.rng.choice(self.wallets),
                "RoyaltyDistributor",
                "distributeRoyalties",
                self.rng.choice(self.state.distributed),
                kind="distribution",
                refusal="AlreadyDistributed",
            )

    # -- DCMX -----------------------------------------------------------------------------------

    def _holders(self) -> list[str]:
        return [w for w in self.wallets if self.state.balances.get(w, 0) > 0]

    def _token_transfer(self) -> None:
        rng, st = self.rng, self.state
        holders = self._holders()
        if not holders:
            return
        sender = rng.choice(holders)
        to = rng.choice([w for w in self.wallets if w != sender])
        balance = st.balances[sender]
        if rng.random() < 0.05:  # more than it has: refused
            self._send(
                sender,
                "DCMXToken",
                "transfer",
                to,
                balance + 1,
                kind="token_transfer",
                refusal="InsufficientBalance",
            )
            return
        amount = max(1, balance * rng.randint(1, 60) // 100)
        self._send(sender, "DCMXToken", "transfer", to, amount, kind="token_transfer")
        st.balances[sender] -= amount
        st.balances[to] = st.balances.get(to, 0) + amount

    def _token_transfer_from(self) -> None:
        rng, st = self.rng, self.state
        holders = self._holders()
        if not holders:
            return
        owner = rng.choice(holders)
        spender = rng.choice([w for w in self.wallets if w != owner])
        allowance = max(1, st.balances[owner] // 2)
        self._send(owner, "DCMXToken", "approve", spender, allowance, kind="token_approve")
        amount = max(1, allowance // rng.randint(1, 3))
        to = rng.choice([w for w in self.wallets if w != owner])
        self._send(spender, "DCMXToken", "transferFrom", owner, to, amount, kind="token_transfer")
        st.balances[owner] -= amount
        st.balances[to] = st.balances.get(to, 0) + amount

    def _burn(self) -> None:
        holders = self._holders()
        if holders:
            who = self.rng.choice(holders)
            amount = max(1, self.state.balances[who] // 10)
            self._send(who, "DCMXToken", "burn", amount, kind="burn")
            self.state.balances[who] -= amount

    # -- rewards --------------------------------------------------------------------------------

    def _new_proof(self) -> bytes:
        self.state.proofs += 1
        return keccak(f"dcmx-sim-proof:{self._namespace}:{self.state.proofs}".encode())

    def _submit_claim(self) -> None:
        rng = self.rng
        who = rng.choice(self.wallets)
        reward_type = rng.randrange(3)
        max_per_claim = DEFAULT_POOLS[reward_type][1]
        amount = rng.randint(1, max_per_claim // TOKEN // 10) * TOKEN
        proof = self._new_proof()
        receipt = self._send(
            who, "RewardVault", "submitClaim", reward_type, proof, amount, kind="claim_submitted"
        )
        ev = self._events(receipt, "RewardVault", "ClaimSubmitted")
        claim_id = ev[0]["args"]["claimId"]
        self.state.claims[claim_id] = {
            "user": who,
            "status": "pending",
            "proof": proof,
            "amount": amount,
        }

    def _with_status(self, status: str) -> list[int]:
        return sorted(i for i, c in self.state.claims.items() if c["status"] == status)

    def _verify_claim(self) -> None:
        pending = self._with_status("pending")
        if not pending:
            return
        claim_id = pending[0] if self.rng.random() < 0.7 else self.rng.choice(pending)
        approve = self.rng.random() < 0.8
        self._admin_send(
            "RewardVault",
            "verifyClaim",
            claim_id,
            approve,
            kind="claim_approved" if approve else "claim_rejected",
        )
        self.state.claims[claim_id]["status"] = "approved" if approve else "rejected"

    def _claim_rewards(self) -> None:
        approved = self._with_status("approved")
        if not approved:
            return
        claim_id = self.rng.choice(approved)
        claim = self.state.claims[claim_id]
        self._send(claim["user"], "RewardVault", "claimRewards", claim_id, kind="reward_claimed")
        claim["status"] = "claimed"
        self.state.balances[claim["user"]] = (
            self.state.balances.get(claim["user"], 0) + claim["amount"]
        )

    def _replay_proof(self) -> None:
        if self.state.claims:
            claim = self.state.claims[self.rng.choice(sorted(self.state.claims))]
            who = self.rng.choice(self.wallets)
            self._send(
                who,
                "RewardVault",
                "submitClaim",
                self.rng.randrange(3),
                claim["proof"],
                TOKEN,
                kind="claim_submitted",
                refusal="ProofAlreadyUsed",
            )

    def _double_claim(self) -> None:
        claimed = self._with_status("claimed")
        if claimed:
            claim_id = self.rng.choice(claimed)
            self._send(
                self.state.claims[claim_id]["user"],
                "RewardVault",
                "claimRewards",
                claim_id,
                kind="reward_claimed",
                refusal="AlreadyClaimed",
            )

    def _claim_rejected(self) -> None:
        rejected = self._with_status("rejected")
        if rejected:
            claim_id = self.rng.choice(rejected)
            self._send(
                self.state.claims[claim_id]["user"],
                "RewardVault",
                "claimRewards",
                claim_id,
                kind="reward_claimed",
                refusal="ClaimNotApproved",
            )

    # -- compliance -----------------------------------------------------------------------------

    def _accept(self) -> None:
        rng, st = self.rng, self.state
        for _ in range(5):
            who = rng.choice(self.wallets)
            doc_type, version = rng.choice(st.documents)
            if (who, doc_type, version) not in st.accepted:
                self._send(
                    who,
                    "ComplianceRegistry",
                    "recordAcceptance",
                    doc_type,
                    version,
                    kind="acceptance",
                )
                st.accepted.add((who, doc_type, version))
                return

    def _accept_again(self) -> None:
        if self.state.accepted:
            who, doc_type, version = self.rng.choice(sorted(self.state.accepted))
            self._send(
                who,
                "ComplianceRegistry",
                "recordAcceptance",
                doc_type,
                version,
                kind="acceptance",
                refusal="AlreadyAccepted",
            )

    def _publish(self) -> None:
        st = self.state
        version = f"1.{st.next_version}-s{self._namespace}"
        st.next_version += 1
        text = f"DCMX Terms of Service, version {version}"
        self._admin_send(
            "ComplianceRegistry",
            "publishDocument",
            0,
            version,
            Web3.keccak(text=text),
            kind="document",
        )
        st.documents.append((0, version))

    def _request_deletion(self) -> None:
        free = [w for w in self.wallets if w not in self.state.deletion_pending]
        if free:
            who = self.rng.choice(free)
            receipt = self._send(
                who,
                "ComplianceRegistry",
                "requestDataDeletion",
                self.rng.choice(REASONS),
                kind="deletion_request",
            )
            ev = self._events(receipt, "ComplianceRegistry", "DeletionRequested")
            self.state.deletion_pending[who] = ev[0]["args"]["requestId"]

    def _request_deletion_twice(self) -> None:
        if self.state.deletion_pending:
            who = self.rng.choice(sorted(self.state.deletion_pending))
            self._send(
                who,
                "ComplianceRegistry",
                "requestDataDeletion",
                "again",
                kind="deletion_request",
                refusal="DeletionAlreadyPending",
            )

    def _process_deletion(self) -> None:
        pending = self.state.deletion_pending
        if pending:
            who = self.rng.choice(sorted(pending))
            approve = self.rng.random() < 0.6
            self._admin_send(
                "ComplianceRegistry",
                "processDeletionRequest",
                pending.pop(who),
                approve,
                kind="deletion_processed",
            )

    def _kyc(self) -> None:
        who = self.rng.choice(self.wallets)
        current = self.state.kyc.get(who, 0)
        status = {0: 1, 1: self.rng.choice((2, 2, 3)), 2: 4, 3: 1, 4: 1}[current]
        self._admin_send("ComplianceRegistry", "setKycStatus", who, status, kind="kyc")
        self.state.kyc[who] = status

    # -- sending --------------------------------------------------------------------------------

    def _fund(self, wallet: str) -> None:
        """Native coin from the admin (counted as kind "fund" when it happens in a run)."""
        receipt = self._check(
            self.w3.eth.send_transaction(
                cast(Any, {"from": self.admin, "to": wallet, "value": FUNDING,
                           **self._fees(21_000)})
            ),
            "fund",
        )
        self._count(receipt, "fund")

    def _pay(self, sender: str, to: str, value: int) -> None:
        """A plain native-coin payment between simulated wallets."""
        tx = {
            "to": to,
            "value": value,
            "nonce": self.state.nonces[sender],
            "chainId": self.chain_id,
            "type": 2,
            **self._fees(21_000),
        }
        tx_hash = self.w3.eth.send_raw_transaction(
            self._keys[sender].sign_transaction(tx).raw_transaction
        )
        self.state.nonces[sender] += 1
        self._count(self._check(tx_hash, f"payment {sender} -> {to}"), "payment")

    def _fees(self, gas: int) -> dict[str, int]:
        return {"gas": gas, "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": PRIORITY_FEE}

    def _admin(self, call: Any) -> Any:
        """A setup transaction from the admin (not counted in a run's report)."""
        return self._check(call.transact({"from": self.admin, **self._fees(GAS)}), "setup")

    def _admin_send(self, contract: str, fn: str, *args: Any, kind: str) -> Any:
        call = getattr(self._contracts[contract].functions, fn)(*args)
        tx_hash = call.transact({"from": self.admin, **self._fees(GAS)})
        receipt = self._check(tx_hash, f"{contract}.{fn}{args!r}", sender=self.admin)
        self._count(receipt, kind)
        return receipt

    def _send(
        self,
        sender: str,
        contract: str,
        fn: str,
        *args: Any,
        value: int = 0,
        kind: str,
        refusal: str | None = None,
    ) -> Any:
        """Sign and send ``contract.fn(*args)`` from a simulated wallet; its receipt.

        With ``refusal``, the call must revert with that custom error: checked with eth_call
        first, then sent anyway (a failed transaction is mined, as on a real chain).
        """
        target = self._contracts[contract]
        data = target.encode_abi(fn, args=list(args))
        what = f"{contract}.{fn}{args!r} from {sender}"
        if refusal is not None:
            reason = self._call_error(sender, target.address, data, value)
            if reason != refusal:
                raise SimulationError(
                    f"{what} was meant to be refused with {refusal}, but "
                    + (f"reverts with {reason}" if reason else "would succeed")
                )
        tx = {
            "to": target.address,
            "data": data,
            "value": value,
            "nonce": self.state.nonces[sender],
            "chainId": self.chain_id,
            "type": 2,
            **self._fees(GAS),
        }
        signed = self._keys[sender].sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.state.nonces[sender] += 1
        if refusal is not None:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
            if receipt["status"] != 0:
                raise SimulationError(f"{what} was meant to be refused with {refusal} but passed")
            self._count(receipt, f"refused:{refusal}", refused=True)
            return receipt
        receipt = self._check(
            tx_hash, what, sender=sender, data=data, to=target.address, value=value
        )
        self._count(receipt, kind)
        return receipt

    def _events(self, receipt: Any, contract: str, event: str) -> list[Any]:
        """The decoded ``event`` logs of ``contract`` in ``receipt``."""
        found = getattr(self._contracts[contract].events, event)().process_receipt(
            receipt, errors=DISCARD
        )
        return list(found)

    def _count(self, receipt: Any, kind: str, refused: bool = False) -> None:
        r = self._report
        r.transactions += 1
        r.refused += refused
        r.by_kind[kind] = r.by_kind.get(kind, 0) + 1
        block = receipt["blockNumber"]
        r.first_block = block if r.first_block < 0 else min(r.first_block, block)
        r.last_block = max(r.last_block, block)

    def _check(
        self,
        tx_hash: Any,
        what: str,
        *,
        sender: str | None = None,
        data: str | None = None,
        to: str | None = None,
        value: int = 0,
    ) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] == 1:
            return receipt
        reason = None
        if sender and data and to:
            # A reverted transaction changed nothing but nonce and fees: replaying it as a
            # call on the current state gives the same custom error.
            reason = self._call_error(sender, to, data, value)
        raise SimulationError(
            f"{what} reverted unexpectedly in block {receipt['blockNumber']}: "
            f"{reason or 'no custom error'}"
        )

    def _call_error(self, sender: str, to: str, data: str, value: int) -> str | None:
        """The custom error ``Name(args)``'s name an eth_call reverts with; None if it passes."""
        try:
            self.w3.eth.call(cast(Any, {"from": sender, "to": to, "data": data, "value": value,
                                        "gas": GAS}))
        except Exception as exc:  # noqa: BLE001 - eth-tester and web3 raise different types
            raw = revert_data(exc)
            if not raw:
                return f"<revert without data: {exc}>"
            return self._errors.get(raw[:4], f"<unknown error 0x{raw.hex()}>")
        return None


def _error_table(abis: Any) -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    for abi in abis:
        for entry in abi:
            if entry.get("type") == "error":
                sig = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
                out[keccak(sig.encode())[:4]] = entry["name"]
    return out
