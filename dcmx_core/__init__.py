"""dcmx: index TRON smart-contract events into SQL."""

from .addresses import parse as parse_address
from .addresses import render as render_address
from .chain import Header, Log, Source
from .errors import (
    AbiError,
    AddressError,
    ConfigError,
    DcmxError,
    DecodeError,
    DeepForkError,
    PluginError,
    SourceError,
    StoreError,
)

__all__ = [
    "AbiError",
    "AddressError",
    "ConfigError",
    "DcmxError",
    "DecodeError",
    "DeepForkError",
    "Header",
    "Log",
    "PluginError",
    "Source",
    "SourceError",
    "StoreError",
    "parse_address",
    "render_address",
]
