"""The optional parts of dcmx, and the ``pip install`` extra that brings each.

A plain ``pip install dcmx`` is what a service embedding the indexer needs. The embedded
devchain (py-evm through eth-tester, driven by web3: ``dcmx demo``, ``dcmx simulate``, tests
that deploy contracts in-process) weighs as much again and comes with
``pip install 'dcmx[devchain]'``. Importing it without the extra raises
:class:`~dcmx_core.errors.MissingExtraError`, an ImportError that says which extra to install.
"""

from __future__ import annotations

from .errors import MissingExtraError

__all__ = ["EXTRAS", "missing_extra", "needs"]

#: Top-level modules an extra provides -> the extra's name.
EXTRAS = {"web3": "devchain", "eth_tester": "devchain", "eth": "devchain"}
_WHAT = {"devchain": "the embedded devchain (web3, eth-tester, py-evm)"}


def missing_extra(exc: BaseException) -> str | None:
    """When ``exc`` is the import failure of a module an extra provides: the line saying which
    extra to install; else None."""
    if isinstance(exc, MissingExtraError):
        return str(exc)
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    extra = EXTRAS.get((name or "").split(".")[0])
    if extra is None:
        return None
    return (
        f"{_WHAT[extra]} is not installed (no module {name!r}): pip install 'dcmx[{extra}]'"
    )


def needs(extra: str, exc: ModuleNotFoundError) -> MissingExtraError:
    """The error to raise from a module that cannot work without ``extra``."""
    return MissingExtraError(
        missing_extra(exc) or f"{_WHAT[extra]} is not installed: pip install 'dcmx[{extra}]'",
        name=exc.name,
    )
