"""Addresses of the two chain profiles.

On the wire (ABI words, topics, log emitters) an address is 20 bytes. TRON shows it as base58check
of ``0x41 || 20 bytes`` (``T...``); EVM chains as EIP-55 checksummed hex. A *profile* renders the
20 bytes for humans and SQL, and parses user input back, rejecting bad checksums, prefixes and
lengths with an :class:`~dcmx_core.errors.AddressError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal

from eth_hash.auto import keccak

from .caches import BoundedCache
from .errors import AddressError
from .redaction import mask_keys

Profile = Literal["tron", "evm"]
PROFILES: tuple[Profile, ...] = ("tron", "evm")

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_TRON_PREFIX = b"\x41"


def _b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def _b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        i = _B58_INDEX.get(c)
        if i is None:
            raise AddressError(
                f"{mask_keys(repr(text))} is not base58: {c!r} is not a base58 character"
            )
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body


def _sha256d(raw: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(raw).digest()).digest()


def _render_tron(raw20: bytes) -> str:
    payload = _TRON_PREFIX + raw20
    return _b58encode(payload + _sha256d(payload)[:4])


def _render_evm(raw20: bytes) -> str:
    hexaddr = raw20.hex()
    digest = keccak(hexaddr.encode()).hex()
    return "0x" + "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(hexaddr, digest, strict=False)
    )


CACHE_SIZE = 65536  # rendered addresses kept per profile

# Address text is rendered for every address of every event: cached, bounded.
_TRON_CACHE: BoundedCache[bytes, str] = BoundedCache(_render_tron, CACHE_SIZE)
_EVM_CACHE: BoundedCache[bytes, str] = BoundedCache(_render_evm, CACHE_SIZE)


def to_tron(raw20: bytes) -> str:
    """Render 20 address bytes as a TRON base58check address (``T...``)."""
    return _TRON_CACHE[raw20]


def to_evm(raw20: bytes) -> str:
    """Render 20 address bytes as an EIP-55 checksummed ``0x`` address."""
    return _EVM_CACHE[raw20]


def render(raw20: bytes, profile: Profile) -> str:
    return _TRON_CACHE[raw20] if profile == "tron" else _EVM_CACHE[raw20]


def renderer(profile: Profile) -> Callable[[bytes], str]:
    """The cached render function of a profile (what generated decoders call per address).

    It is the cache's own ``__getitem__``: a hit costs one dict lookup, no Python call.
    """
    if profile not in PROFILES:
        raise AddressError(f"unknown chain profile {profile!r}; use one of {', '.join(PROFILES)}")
    return (_TRON_CACHE if profile == "tron" else _EVM_CACHE).__getitem__


def parse(text: str, profile: Profile | None = None) -> bytes:
    """Parse an address a user typed into its 20 bytes.

    Accepted: ``T...`` base58check, ``41`` + 40 hex (TRON hex form), ``0x`` + 40 hex (EIP-55
    checksum enforced when the hex is mixed-case). ``profile`` restricts the accepted forms to
    those of one chain when given.
    """
    if not isinstance(text, str):
        raise AddressError(f"address must be a string, got {type(text).__name__}")
    s = text.strip()
    shown = mask_keys(repr(text))
    if s.startswith("T") and profile in (None, "tron"):
        raw = _b58decode(s)
        if len(raw) != 25:
            raise AddressError(
                f"{shown} is not a TRON address: it decodes to {len(raw)} bytes, expected 25 "
                "(0x41 prefix + 20 bytes + 4-byte checksum)"
            )
        payload, check = raw[:21], raw[21:]
        if _sha256d(payload)[:4] != check:
            raise AddressError(f"{shown} has a bad base58check checksum; check for a typo")
        if payload[:1] != _TRON_PREFIX:
            raise AddressError(f"{shown} has prefix 0x{payload[0]:02x}, TRON addresses use 0x41")
        return payload[1:]
    if s[:2] in ("0x", "0X") and profile in (None, "evm", "tron"):
        body = s[2:]
        if len(body) != 40:
            raise AddressError(f"{shown} has {len(body)} hex digits after 0x, expected 40")
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise AddressError(f"{shown} is not hexadecimal") from None
        if body != body.lower() and body != body.upper() and to_evm(raw)[2:] != body:
            raise AddressError(f"{shown} fails its EIP-55 checksum; check for a typo")
        return raw
    if len(s) == 42 and s[:2] == "41" and profile in (None, "tron"):
        try:
            return bytes.fromhex(s[2:])
        except ValueError:
            raise AddressError(f"{shown} is not hexadecimal") from None
    expected = {
        "tron": "a base58check 'T...' address or '41' + 40 hex digits",
        "evm": "'0x' + 40 hex digits",
        None: "a TRON 'T...' address or '0x' + 40 hex digits",
    }[profile]
    raise AddressError(f"{shown} is not an address: expected {expected}")
