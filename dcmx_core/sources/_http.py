"""Moved: the HTTP client of the node sources is :mod:`dcmx_core.http` (``HttpClient``).

Only ``check_url`` is still re-exported here, for callers not yet moved over
(``dcmx_core.cli``); import it from :mod:`dcmx_core.http`.
"""

from __future__ import annotations

from ..http import check_url

__all__ = ["check_url"]
