"""Fetching a block range from the source and decoding its logs: the loop's first stage.

Shared by the loop itself and by the read-ahead thread, which runs the same code one range
ahead (:mod:`.readahead`).
"""

from __future__ import annotations

from typing import Any

from ..batch import Decoded
from ..chain import Header, Source, check_headers
from ..decode import Decoder

__all__ = ["fetch_logs", "fetch_range"]


def fetch_logs(
    source: Source, decoder: Decoder, headers: list[Header], start: int, end: int
) -> list[Decoded[Any]]:
    """The decoded events of blocks ``start``..``end`` whose ``headers`` are checked already."""
    addresses = list(decoder.by_address)
    logs = source.logs(start, end, addresses) if addresses else []
    return decoder.decode(logs, headers, start)


def fetch_range(
    source: Source, decoder: Decoder, start: int, end: int
) -> tuple[list[Header], list[Decoded[Any]]]:
    """Headers (checked to link to each other) and decoded events of ``start``..``end``."""
    headers = source.headers(start, end)
    check_headers(headers, start, end)
    return headers, fetch_logs(source, decoder, headers, start, end)
