"""dcmx: index TRON smart-contract events into SQL.

The public API. Everything not listed in ``__all__`` is private and may change.
"""

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
