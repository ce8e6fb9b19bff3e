"""How values read from the API's JSON are shown on a page (the templates' filters).

Values arrive as the API writes them (:mod:`..jsonenc`): integers beyond 2**53 as decimal
strings, bytes as 0x hex; every filter takes either form and never loses a digit.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

__all__ = ["FILTERS", "amount", "bps", "clock", "count", "hexshort", "integer", "short", "when"]


def integer(value: Any) -> int:
    """An exact integer from an int, a decimal string or None (0)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return int(str(value))


def amount(value: Any, decimals: int = 18) -> str:
    """A token amount in whole tokens: ``1,234.56``; small ones keep their first digits
    (``0.00042``) instead of showing 0.00; exact (Decimal), never a float."""
    if value is None:
        return "—"
    q = Decimal(integer(value)).scaleb(-decimals)
    if q == 0:
        return "0"
    if abs(q) >= 1:
        return f"{q:,.2f}"
    text = f"{q:.{decimals}f}".rstrip("0")
    whole, _, frac = text.partition(".")
    digits = len(frac) - len(frac.lstrip("0"))
    return f"{whole}.{frac[:max(2, digits + 2)]}"


def count(value: Any) -> str:
    """A count with thousands separators."""
    return "—" if value is None else f"{integer(value):,}"


def short(address: Any) -> str:
    """``TXyz12…9abc``: an address shortened for a narrow column (the whole one goes in a
    title attribute or a link)."""
    text = "" if address is None else str(address)
    return text if len(text) <= 14 else f"{text[:6]}…{text[-4:]}"


def hexshort(value: Any) -> str:
    """``0x1234ab…cdef`` for hashes."""
    text = "" if value is None else str(value)
    return text if len(text) <= 18 else f"{text[:8]}…{text[-6:]}"


def when(ts: Any) -> str:
    """A unix time as ``2026-12-07 19:40 UTC``."""
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(integer(ts), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def clock(ts: Any) -> str:
    """A unix time as ``19:40`` (UTC): the minutes of an hour's chart."""
    return dt.datetime.fromtimestamp(integer(ts), dt.UTC).strftime("%H:%M")


def bps(value: Any) -> str:
    """Basis points as a percentage: 750 -> ``7.5%``."""
    if value is None:
        return "—"
    pct = Decimal(integer(value)) / 100
    return f"{pct.normalize():f}%"


FILTERS = {"amount": amount, "count": count, "short": short, "hexshort": hexshort,
           "when": when, "clock": clock, "bps": bps, "integer": integer}
