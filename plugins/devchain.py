"""The DCMX platform on an in-process devchain: its five contracts deployed and wired.

The artifacts are the committed solc output of ``contracts/``, shipped as package data of
:mod:`dcmx_plugins.artifacts`, so an installed wheel runs ``dcmx demo`` as a checkout does.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from web3 import Web3

from dcmx_core.devchain import Devchain as _Devchain
from dcmx_core.devchain import load_artifact as _load_artifact
from dcmx_core.devchain import revert_data

__all__ = [
    "BUILD_DIR",
    "COMPLIANCE_OFFICER_ROLE",
    "DEFAULT_ADMIN_ROLE",
    "DEFAULT_DOCUMENTS",
    "DEFAULT_POOLS",
    "Devchain",
    "MINTER_ROLE",
    "PLATFORM_CONTRACTS",
    "SPLIT_MANAGER_ROLE",
    "TOKEN",
    "load_artifact",
    "revert_data",
]

#: The five compiled contracts (ABI and bytecode), wherever the package is installed.
BUILD_DIR = files("dcmx_plugins.artifacts")
BUILD_HINT = "run `npm ci --prefix contracts && npm --prefix contracts run build`"


def load_artifact(name: str, build_dir: Path | Traversable = BUILD_DIR) -> dict[str, Any]:
    """A platform contract's compiled artifact (ABI, bytecode, compiler, source hash)."""
    return _load_artifact(name, build_dir, BUILD_HINT)

#: The platform's contracts, in deployment order (RewardVault needs the token's address).
PLATFORM_CONTRACTS: tuple[str, ...] = (
    "DCMXToken",
    "MusicNFT",
    "ComplianceRegistry",
    "RewardVault",
    "RoyaltyDistributor",
)

DEFAULT_ADMIN_ROLE = b"\x00" * 32
MINTER_ROLE = bytes(Web3.keccak(text="MINTER_ROLE"))
COMPLIANCE_OFFICER_ROLE = bytes(Web3.keccak(text="COMPLIANCE_OFFICER_ROLE"))
SPLIT_MANAGER_ROLE = bytes(Web3.keccak(text="SPLIT_MANAGER_ROLE"))

TOKEN = 10**18  # one DCMX in its smallest unit (18 decimals)

#: Pool budgets and per-claim maxima set by ``deploy_platform``: (budget, max per claim).
DEFAULT_POOLS: Mapping[int, tuple[int, int]] = {
    0: (10_000_000 * TOKEN, 10_000 * TOKEN),  # Sharing
    1: (50_000_000 * TOKEN, 1_000 * TOKEN),  # Listening
    2: (20_000_000 * TOKEN, 5_000 * TOKEN),  # Bandwidth
}

#: Documents published by ``deploy_platform``: (docType, version, text whose keccak is docHash).
DEFAULT_DOCUMENTS: tuple[tuple[int, str, str], ...] = (
    (0, "1.0", "DCMX Terms of Service, version 1.0"),
    (1, "1.0", "DCMX Privacy Policy, version 1.0"),
)



class Devchain(_Devchain):
    """An in-process chain that deploys the DCMX contracts by name (``deploy("MusicNFT")``)."""

    BUILD_DIR = BUILD_DIR
    BUILD_HINT = BUILD_HINT

    def deploy_platform(self) -> dict[str, str]:
        """Deploy and wire the five platform contracts; returns name -> checksum address.

        Wiring: RewardVault may mint DCMX; the three reward pools get budgets; the first terms of
        service and privacy policy are published; the admin also holds the operational roles
        (NFT minter, compliance officer) so a demo can exercise every contract from one account.
        """
        token = self.deploy("DCMXToken")
        nft = self.deploy("MusicNFT")
        compliance = self.deploy("ComplianceRegistry")
        vault = self.deploy("RewardVault", token.address)
        self.deploy("RoyaltyDistributor")

        self.transact(token.functions.grantRole(MINTER_ROLE, vault.address))
        self.transact(nft.functions.grantRole(MINTER_ROLE, self.admin))
        self.transact(compliance.functions.grantRole(COMPLIANCE_OFFICER_ROLE, self.admin))
        for reward_type, (budget, max_per_claim) in DEFAULT_POOLS.items():
            self.transact(vault.functions.setPool(reward_type, budget, max_per_claim))
        for doc_type, version, text in DEFAULT_DOCUMENTS:
            doc_hash = Web3.keccak(text=text)
            self.transact(compliance.functions.publishDocument(doc_type, version, doc_hash))
        return {name: self.contracts[name].address for name in PLATFORM_CONTRACTS}
