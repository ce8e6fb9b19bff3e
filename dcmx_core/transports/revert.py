"""``ErrorDecoder``: revert data named, as ``Error(string)``, ``Panic(uint256)`` or an ABI's
custom error with its arguments. eth-abi and the keccak are imported when first needed."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..addresses import to_tron

__all__ = ["ErrorDecoder"]

_PANIC = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialised internal function",
}


def _canonical(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param.get("components", ()))
        return f"({inner}){kind[5:]}"
    return kind


class ErrorDecoder:
    """Names revert data: ``Error(string)``, ``Panic(uint256)`` and the custom errors of ABIs.

    ``ErrorDecoder(abi, ...)`` takes ABI lists (``error`` entries are used, the rest ignored);
    ``from_artifacts(paths)`` reads compiled artifacts (``{"abi": [...]}``) or bare ABI files.
    """

    ERROR_STRING = bytes.fromhex("08c379a0")
    PANIC = bytes.fromhex("4e487b71")

    def __init__(self, *abis: Iterable[Mapping[str, Any]]) -> None:
        from eth_hash.auto import keccak

        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                inputs = list(entry.get("inputs", ()))
                types = [_canonical(p) for p in inputs]
                names = [str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)]
                signature = f"{entry['name']}({','.join(types)})"
                self._errors[keccak(signature.encode())[:4]] = (str(entry["name"]), types, names)

    @classmethod
    def from_artifacts(cls, paths: Iterable[str | os.PathLike[str]]) -> ErrorDecoder:
        import json
        from pathlib import Path

        abis = []
        for path in paths:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            abis.append(doc["abi"] if isinstance(doc, dict) else doc)
        return cls(*abis)

    def __len__(self) -> int:
        return len(self._errors)

    def decode(self, data: bytes) -> tuple[str | None, dict[str, Any], str]:
        """``(error name or None, arguments, one-line description)`` of revert data."""
        from eth_abi.abi import decode as abi_decode

        if not data:
            return None, {}, "reverted without a reason (no revert data)"
        selector, body = data[:4], data[4:]
        try:
            if selector == self.ERROR_STRING:
                (reason,) = abi_decode(["string"], body)
                return "Error", {"message": reason}, f"Error({reason!r})"
            if selector == self.PANIC:
                (code,) = abi_decode(["uint256"], body)
                what = _PANIC.get(code, "unknown panic code")
                return "Panic", {"code": code}, f"Panic(0x{code:02x}: {what})"
            if selector in self._errors:
                name, types, names = self._errors[selector]
                values = abi_decode(types, body)
                args = {n: _show(v) for n, v in zip(names, values, strict=True)}
                shown = ", ".join(f"{n}={v!r}" for n, v in args.items())
                return name, args, f"{name}({shown})"
        except Exception:  # noqa: BLE001 - malformed revert data is reported, not raised
            return None, {}, f"undecodable revert data 0x{data.hex()}"
        return (
            None,
            {},
            f"unknown custom error 0x{selector.hex()} (data 0x{data.hex()}); pass the "
            "contract's ABI as TronpyTransport(errors=...) to name it",
        )


def _show(value: Any) -> Any:
    """ABI values for messages: addresses as TRON addresses, bytes as hex."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_tron(bytes.fromhex(value[2:]))
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return type(value)(_show(v) for v in value)
    return value
