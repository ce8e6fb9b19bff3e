"""An in-process EVM: compiled contracts deployed and driven with no server, for demos and tests.

py-evm through eth-tester, behind web3's ``EthereumTesterProvider``: no server, no ports, a fresh
chain in milliseconds. Every transaction is mined into its own block as soon as it is sent, so
block numbers move the way an indexer sees them on a real chain. ``snapshot()``/``revert()``
rewind the chain; sending different transactions afterwards builds a competing branch at the same
heights, which is how tests and the demo stage a chain reorganisation.

Contracts are deployed from compiled artifacts (solc, Hardhat or Foundry JSON with ``abi`` and
``bytecode``) in a folder given as ``build_dir``: compiled for the "paris" EVM, which TRON's
TVM also runs, what runs here is byte for byte what is deployed. An application subclasses
:class:`Devchain` to deploy its own contracts (the DCMX platform: ``dcmx_plugins.devchain``).
"""

from __future__ import annotations

import ast
import json
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .errors import AbiError, ConfigError
from .extras import needs

try:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3 import EthereumTesterProvider, Web3
    from web3.contract import Contract
    from web3.contract.contract import ContractFunction
    from web3.types import TxParams, TxReceipt, Wei
except ModuleNotFoundError as exc:  # installed without the devchain extra
    raise needs("devchain", exc) from None

_BUILD_HINT = "compile the contracts into that folder (solc, Hardhat or Foundry artifacts)"


def load_artifact(
    name: str, build_dir: Path | Traversable, hint: str = _BUILD_HINT
) -> dict[str, Any]:
    """The compiled artifact ``<build_dir>/<name>.json`` (ABI, bytecode, compiler, sourceHash);
    ``hint`` says how to make it when it is missing or unreadable."""
    path = build_dir / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"contract artifact {path} not found: {hint}")
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"contract artifact {path} is unreadable ({exc}): {hint}") from None
    if not isinstance(artifact, dict):
        raise AbiError(f"contract artifact {path} is not a JSON object")
    for key in ("abi", "bytecode"):
        if key not in artifact:
            raise AbiError(f"contract artifact {path} lacks {key!r}: {hint}")
    return artifact


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data (selector + ABI-encoded arguments) behind a failed call, if any.

    eth-tester reports a revert as ``TransactionFailed("execution reverted: b'...'")`` whose
    cause chain holds the original bytes; digging them out beats parsing a ``repr``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    from_repr = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        first = current.args[0] if current.args else None
        if isinstance(first, bytes | bytearray):
            return bytes(first)
        data = getattr(current, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if from_repr is None and isinstance(first, str):
            from_repr = _bytes_from_repr(first)
        current = current.__cause__ or current.__context__
    # eth_call reverts keep no bytes anywhere in the chain, only their repr in the message.
    return from_repr


def _bytes_from_repr(message: str) -> bytes | None:
    text = message.removeprefix("execution reverted: ")
    if not text.startswith(("b'", 'b"')):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) else None


class Devchain:
    """A fresh in-process chain with funded accounts; ``accounts[0]`` is the admin.

    ``contracts`` maps a contract name to its web3 contract object once deployed.
    """

    #: Where :meth:`deploy` finds artifacts by name, unless ``build_dir`` is given, and how
    #: to make them.
    BUILD_DIR: Path | Traversable | None = None
    BUILD_HINT = _BUILD_HINT

    def __init__(
        self, *, build_dir: Path | Traversable | None = None, num_accounts: int = 10
    ) -> None:
        if num_accounts < 1:
            raise ConfigError("a devchain needs at least one account (num_accounts >= 1)")
        self.build_dir = build_dir or self.BUILD_DIR
        genesis = PyEVMBackend.generate_genesis_params()
        state = PyEVMBackend.generate_genesis_state(num_accounts=num_accounts)
        self.tester = EthereumTester(PyEVMBackend(genesis_parameters=genesis, genesis_state=state))
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.accounts: list[str] = list(self.w3.eth.accounts)
        self.admin: str = self.accounts[0]
        self.contracts: dict[str, Contract] = {}

    # -- deploying -------------------------------------------------------------------------

    def deploy(
        self, name: str, *args: Any, sender: str | None = None, alias: str | None = None
    ) -> Contract:
        """Deploy artifact ``name`` with constructor ``args``, registered as ``alias or name``."""
        if self.build_dir is None:
            raise ConfigError(f"no artifacts folder to deploy {name} from: pass build_dir=")
        artifact = load_artifact(name, self.build_dir, self.BUILD_HINT)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = factory.constructor(*args).transact({"from": sender or self.admin})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        contract = self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
        assert isinstance(contract, Contract)  # with an address: an instance, not a factory
        self.contracts[alias or name] = contract
        return contract

    # -- transactions and blocks -----------------------------------------------------------

    def transact(
        self, call: ContractFunction, sender: str | None = None, value: int = 0
    ) -> TxReceipt:
        """Send ``call`` from ``sender`` (default: the admin), mined at once; its receipt.

        A revert raises eth-tester's ``TransactionFailed``; :func:`revert_data` extracts the
        custom error from it.
        """
        tx: TxParams = {"from": sender or self.admin}
        if value:
            tx["value"] = Wei(value)
        tx_hash = call.transact(tx)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash)

    @property
    def head(self) -> int:
        return self.w3.eth.block_number

    def mine(self, n: int = 1) -> int:
        """Mine ``n`` empty blocks; the new head number."""
        if n < 1:
            raise ValueError(f"mine(n) needs n >= 1, got {n}")
        self.tester.mine_blocks(n)
        return self.head

    def snapshot(self) -> int:
        """Remember the chain as it is now (head block and all state)."""
        return int(self.tester.take_snapshot())

    def revert(self, snapshot_id: int) -> None:
        """Drop every block mined after ``snapshot_id`` was taken.

        Contract objects stay valid for contracts deployed before the snapshot; the entries of
        ``contracts`` deployed after it point at addresses that no longer hold code.
        """
        self.tester.revert_to_snapshot(snapshot_id)
