"""What the write transports saw, for Prometheus: outcomes, energy and fee per call, the
time from broadcast to the transaction's block, and on TRON to its solidification (when the
sender waits for it: :meth:`~dcmx_core.transports.TronpyTransport.wait_solidified`).

One set per process (transactions are sent from the service's threads and from scripts alike);
``dcmx run`` and ``dcmx serve`` add :data:`COLLECTORS` to the registries they expose. Under
``dcmx serve --workers N`` the values are kept in prometheus_client's multiprocess files and
added up across workers. The success rate is
``rate(dcmx_tx_total{outcome="success"}[5m]) / rate(dcmx_tx_total[5m])``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from prometheus_client import Counter, Histogram

__all__ = ["COLLECTORS", "OUTCOMES", "failed", "mined", "sent", "solidified"]

#: success: in a block and succeeded; reverted: in a block and failed (energy spent);
#: refused: the node did not take it; timeout: no receipt within the wait.
OUTCOMES = ("success", "reverted", "refused", "timeout")

_outcomes = Counter("dcmx_tx", "transactions sent, by outcome", ["outcome"], registry=None)
_energy = Histogram(
    "dcmx_tx_energy_used", "energy (TRON) or gas (EVM) a mined transaction used, by function "
    "selector", ["selector"], registry=None,
    buckets=(10_000, 25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 5_000_000),
)
_fee = Histogram(
    "dcmx_tx_fee", "fee a mined transaction paid, in sun (TRON) or wei (EVM), by function "
    "selector", ["selector"], registry=None,
    buckets=(1e5, 1e6, 1e7, 1e8, 1e9, 1e12, 1e15, 1e18),
)
_to_block = Histogram(
    "dcmx_tx_confirm_seconds", "seconds from broadcast to the receipt of the transaction's "
    "block", registry=None, buckets=(0.1, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120),
)

_to_final = Histogram(
    "dcmx_tx_solidified_seconds", "seconds from broadcast to the solidification of the "
    "transaction's block (TRON; measured when the sender waits for it)", registry=None,
    buckets=(1, 5, 10, 20, 30, 45, 60, 90, 120, 300),
)

COLLECTORS = (_outcomes, _energy, _fee, _to_block, _to_final)


# Transactions broadcast and not yet seen in a block: txid -> (when, selector). Bounded: a
# transaction never looked up again is forgotten after this many newer ones.
_PENDING: OrderedDict[str, tuple[float, str]] = OrderedDict()
_PENDING_MAX = 10_000
# Broadcast times kept after the receipt, until the block is solidified (same bound).
_UNFINAL: OrderedDict[str, float] = OrderedDict()
_lock = threading.Lock()


def selector(data: bytes) -> str:
    """The function a call's calldata names (its 4-byte selector), as a label."""
    return "0x" + data[:4].hex() if len(data) >= 4 else "none"


def sent(txid: str, data: bytes) -> None:
    """Transaction ``txid`` with calldata ``data`` was broadcast now."""
    with _lock:
        _PENDING[txid] = (time.monotonic(), selector(data))
        while len(_PENDING) > _PENDING_MAX:
            _PENDING.popitem(last=False)
        _UNFINAL[txid] = _PENDING[txid][0]
        while len(_UNFINAL) > _PENDING_MAX:
            _UNFINAL.popitem(last=False)


def mined(txid: str, succeeded: bool, energy: int, fee: int) -> None:
    """The receipt of ``txid`` came: counted once, if this process broadcast it."""
    with _lock:
        pending = _PENDING.pop(txid, None)
    if pending is None:
        return  # someone else's transaction, or already counted
    at, label = pending
    _outcomes.labels("success" if succeeded else "reverted").inc()
    _energy.labels(label).observe(energy)
    _fee.labels(label).observe(fee)
    _to_block.observe(time.monotonic() - at)


def failed(outcome: str, txid: str | None = None) -> None:
    """A transaction that got no receipt: ``refused`` by the node, or ``timeout`` (counted
    once per txid this process broadcast)."""
    if txid is not None:
        with _lock:
            if _PENDING.pop(txid, None) is None:
                return
    _outcomes.labels(outcome).inc()


def solidified(txid: str) -> None:
    """The block holding ``txid`` is solidified: timed once, if this process broadcast it."""
    with _lock:
        at = _UNFINAL.pop(txid, None)
    if at is not None:
        _to_final.observe(time.monotonic() - at)
