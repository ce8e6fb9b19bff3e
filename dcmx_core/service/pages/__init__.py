"""The pages of ``dcmx serve``: HTML for people, over the same cached reads as the API.

- :mod:`.site`: :class:`Site` (navigation, templates, static files, the security headers) and
  :func:`site_of`, through which a plugin adds its pages from its ``dcmx_api_router`` hook;
  :func:`cached_data`, the reads pages make (the service's cache, under table versions);
- :mod:`.overview`: the indexer's status and health, with events per second and lag over the
  last hour (what the indexer records in ``dcmx_throughput``);
- :mod:`.signin`: signing in with a wallet in the browser (TronLink or an EVM wallet);
- :mod:`.charts`: SVG charts drawn on the server; :mod:`.formats`: the templates' filters.

Templates (``templates/``) and static files (``static/``) ship in the package: no build
step, nothing loaded from another host. Imported by the service only (jinja2 and FastAPI).
"""

from __future__ import annotations

from .routes import pages_router
from .site import Site, cached_data, html_errors, int_param, site_of

__all__ = ["Site", "cached_data", "html_errors", "int_param", "pages_router", "site_of"]
