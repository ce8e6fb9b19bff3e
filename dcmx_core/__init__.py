"""dcmx: index TRON smart-contract events into SQL.

The public API. Everything not listed in ``__all__`` is private and may change.

Names are imported when first used (PEP 562): ``dcmx --help`` and ``dcmx status`` import the
``dcmx_core`` package but not the indexer, SQLAlchemy's compiler or pluggy behind these names,
tenths of a second of every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .addresses import parse as parse_address
    from .addresses import render as render_address
    from .batch import Batch, Declaration, Decoded
    from .chain import Header, Log, Source
    from .contracts import Contract
    from .errors import (
        AbiError,
        AddressError,
        ConfigError,
        DcmxError,
        DecodeError,
        DeepForkError,
        InconsistentAnswer,
        PluginError,
        SourceError,
        StoreError,
        TransactionError,
    )
    from .figures import Figure
    from .hookspecs import hookimpl, hookspec
    from .indexing import BatchReport, ForkReport, Indexer, Tuning
    from .plugins import PluginHost
    from .store import create_engine
    from .views import view

__all__ = [
    "AbiError",
    "AddressError",
    "Batch",
    "BatchReport",
    "ConfigError",
    "Contract",
    "DcmxError",
    "DecodeError",
    "Declaration",
    "Decoded",
    "DeepForkError",
    "Figure",
    "ForkReport",
    "Header",
    "InconsistentAnswer",
    "Indexer",
    "Log",
    "PluginError",
    "PluginHost",
    "Source",
    "SourceError",
    "StoreError",
    "TransactionError",
    "Tuning",
    "create_engine",
    "hookimpl",
    "hookspec",
    "parse_address",
    "render_address",
    "view",
]

# public name -> (module, name in it)
_WHERE: dict[str, tuple[str, str]] = {
    "parse_address": (".addresses", "parse"),
    "render_address": (".addresses", "render"),
    **{n: (".batch", n) for n in ("Batch", "Declaration", "Decoded")},
    **{n: (".chain", n) for n in ("Header", "Log", "Source")},
    "Contract": (".contracts", "Contract"),
    "Figure": (".figures", "Figure"),
    **{
        n: (".errors", n)
        for n in (
            "AbiError", "AddressError", "ConfigError", "DcmxError", "DecodeError",
            "DeepForkError", "InconsistentAnswer", "PluginError", "SourceError", "StoreError",
            "TransactionError",
        )
    },
    **{n: (".hookspecs", n) for n in ("hookimpl", "hookspec")},
    **{n: (".indexing", n) for n in ("BatchReport", "ForkReport", "Indexer", "Tuning")},
    "PluginHost": (".plugins", "PluginHost"),
    "create_engine": (".store", "create_engine"),
    "view": (".views", "view"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0], __name__), where[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
