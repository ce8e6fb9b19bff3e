"""How generated contract bindings reach a chain.

A :class:`Transport` sends raw calldata: ``call`` for view/pure functions (returns the raw
return data) and ``transact`` for the rest (returns the mined receipt). Generated code encodes
and decodes; transports only move bytes.

- :class:`Web3Transport` (``web3.py``): over a ``web3.Web3``: the devchain, any JSON-RPC node.
- :class:`TronpyTransport` (``tron.py``): TRON's write side over a full node's HTTP API; it
  builds and signs transactions locally (``transactions.py``, ``protobuf.py``), talks to the
  node through the HTTP client the node sources use (``node.py``, :mod:`dcmx_core.http`:
  retries, pacing, redacted messages, for broadcasts too), waits for a :class:`TronReceipt`
  (``receipts.py``) and raises the errors of ``errors.py``, with reverts named by an
  :class:`ErrorDecoder` (``revert.py``).

The names are imported from their modules when first used, so that importing this package
(as every generated module does, for :class:`Transport`) costs next to nothing and pulls in
none of web3, tronpy, eth-account or the HTTP client (httpx).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .protocol import Transport

if TYPE_CHECKING:
    from ..errors import TransactionError
    from .errors import BroadcastError, InsufficientResourcesError, ReceiptTimeout, RevertError
    from .protobuf import encode_raw_data
    from .receipts import TronReceipt, TxLog
    from .revert import ErrorDecoder
    from .transactions import SignedTransaction
    from .tron import TronpyTransport
    from .web3 import Web3Transport

__all__ = [
    "BroadcastError",
    "ErrorDecoder",
    "InsufficientResourcesError",
    "ReceiptTimeout",
    "RevertError",
    "SignedTransaction",
    "TransactionError",
    "Transport",
    "TronReceipt",
    "TronpyTransport",
    "TxLog",
    "Web3Transport",
    "encode_raw_data",
]

# name -> the module (relative to this package) that defines it
_WHERE = {
    "BroadcastError": ".errors",
    "ErrorDecoder": ".revert",
    "InsufficientResourcesError": ".errors",
    "ReceiptTimeout": ".errors",
    "RevertError": ".errors",
    "SignedTransaction": ".transactions",
    "TransactionError": "..errors",
    "TronReceipt": ".receipts",
    "TronpyTransport": ".tron",
    "TxLog": ".receipts",
    "Web3Transport": ".web3",
    "encode_raw_data": ".protobuf",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
