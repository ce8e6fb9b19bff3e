"""The service's JSON: compact, bytes as 0x hex, integers beyond 2**53 as decimal strings.

JavaScript numbers are doubles; a token amount of 10**18 units or a uint256 id would lose
digits there, so any integer outside ``[-(2**53 - 1), 2**53 - 1]`` is written as a string
of its exact decimal value (documented in the OpenAPI description).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "plain"]

_SAFE = 2**53 - 1


def plain(value: Any) -> Any:
    """``value`` made of JSON types only."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return value if -_SAFE <= value <= _SAFE else str(value)
    if isinstance(value, Decimal):
        return plain(int(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def dumps(value: Any) -> bytes:
    return json.dumps(plain(value), separators=(",", ":")).encode()
