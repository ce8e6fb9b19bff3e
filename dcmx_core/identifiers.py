"""SQL identifiers of a safe length: PostgreSQL keeps the first 63 bytes of a name and silently
drops the rest, so two long names could become one."""

from __future__ import annotations

import hashlib

__all__ = ["MAX_IDENTIFIER", "shorten"]

MAX_IDENTIFIER = 63


def shorten(name: str, original: str | None = None) -> str:
    """``name`` if it fits, else its first 54 characters, ``_`` and the first 8 hex digits of
    the sha256 of ``original`` (default: ``name``), the untruncated name it stands for."""
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256((original or name).encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('_')}_{digest}"
