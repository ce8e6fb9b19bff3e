"""The site of one service: its navigation, templates, static files, and how a page is sent.

The core makes it with the Overview and sign-in pages; a plugin adds its own pages from its
``dcmx_api_router`` hook through :func:`site_of` (templates from its package, static files,
links in the navigation, a home page)::

    site = site_of(service)
    site.add_templates("my_plugin")                  # my_plugin/templates/*.html
    site.add_assets("mine", "my_plugin", ["app.js"])  # my_plugin/static/app.js
    site.add_link("Tokens", "/tokens", order=10)

Every page is rendered by jinja2 with autoescape on and sent with a Content-Security-Policy
that allows scripts, styles and images from this origin only: no inline script or style, no
other host (the pages work offline, with nothing from a CDN). Pages read through
:func:`cached_data`, the service's cached reads, so the cache and the rate limits that the
API has apply to them too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ...addresses import render
from ..errors import ApiError
from .formats import FILTERS

__all__ = ["CSP", "SESSION_COOKIE", "Site", "cached_data", "html_errors", "int_param",
           "site_of"]

SESSION_COOKIE = "dcmx_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "private, no-cache",
    "vary": "Cookie",
}
MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png"}


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    path: str
    order: int


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


class Site:
    """Navigation, templates and static files of the pages of one service."""

    def __init__(self, service: Any) -> None:
        self._auth = service.auth  # no reference to the service: site_of keys on it weakly
        self._profile = service.profile
        self.links: list[Link] = [Link("Overview", "/overview", 90)]
        self.home = "/overview"
        #: Where ``/`` sends a signed-in wallet, with ``{wallet}`` (None: to :attr:`home`).
        self.wallet_home: str | None = None
        self._packages: list[str] = []
        self._assets: dict[tuple[str, str], Asset] = {}
        self._env: jinja2.Environment | None = None
        self.add_templates(__package__ or "dcmx_core.service.pages")
        self.add_assets("core", __package__ or "dcmx_core.service.pages",
                        ("dcmx.css", "site.js", "sign-in.js", "icon.svg"))

    # -- what plugins add -------------------------------------------------------------------

    def add_templates(self, package: str, folder: str = "templates") -> None:
        """Templates from ``package``/``folder``, looked up before those added earlier (so
        a plugin may replace a core template, say ``base.html`` for its own branding)."""
        if self._env is not None:
            raise RuntimeError("templates are added while the routers are made, not later")
        self._packages.insert(0, f"{package}:{folder}")

    def add_assets(self, group: str, package: str, names: Iterable[str],
                   folder: str = "static") -> None:
        """Static files of ``package``/``folder``, served at ``/static/<group>/<name>``."""
        base = resources.files(package).joinpath(folder)
        for name in names:
            body = base.joinpath(name).read_bytes()
            suffix = name[name.rfind("."):]
            self._assets[(group, name)] = Asset(body, MEDIA.get(suffix, "application/octet-stream"),
                                                hashlib.sha256(body).hexdigest()[:16])

    def add_link(self, label: str, path: str, order: int = 50) -> None:
        """A link in the navigation, by ``order`` (the Overview is 90)."""
        self.links.append(Link(label, path, order))

    # -- rendering --------------------------------------------------------------------------

    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:
            loaders: list[jinja2.BaseLoader] = []
            for spec in self._packages:
                package, folder = spec.split(":")
                loaders.append(jinja2.PackageLoader(package, folder))
            env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
            env.filters.update(FILTERS)
            env.globals["asset"] = self.asset_url
            self._env = env
        return self._env

    def asset_url(self, group: str, name: str) -> str:
        """The URL of a static file, with its hash: cached for good, renewed when it changes."""
        return f"/static/{group}/{name}?v={self._assets[(group, name)].etag}"

    def asset(self, group: str, name: str, version: str | None,
              if_none_match: str | None) -> Response:
        found = self._assets.get((group, name))
        if found is None:
            raise ApiError(404, "not_found", "no such static file")
        etag = f'"{found.etag}"'
        cache = ("public, max-age=31536000, immutable" if version == found.etag
                 else "public, no-cache")
        headers = {"etag": etag, "cache-control": cache, "x-content-type-options": "nosniff"}
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)

    def wallet_of(self, request: Request) -> str | None:
        """The wallet of the session cookie (set after a wallet sign-in), if still valid."""
        token = request.cookies.get(SESSION_COOKIE)
        raw = self._auth.token_wallet(token) if token else None
        return None if raw is None else render(raw, self._profile)

    def nav(self, path: str, wallet: str | None) -> list[dict[str, Any]]:
        links = sorted(self.links, key=lambda link: (link.order, link.label))
        out: list[dict[str, Any]] = []
        if wallet is not None and self.wallet_home is not None:
            out.append({"label": "My dashboard", "path": self.wallet_home.format(wallet=wallet)})
        out += [{"label": link.label, "path": link.path} for link in links]
        for item in out:
            item["current"] = path == item["path"] or path.startswith(item["path"] + "/")
        return out

    def page(self, request: Request, template: str, *, status: int = 200,
             **context: Any) -> HTMLResponse:
        """``template`` rendered for ``request`` (the navigation, who is signed in)."""
        wallet = self.wallet_of(request)
        html = self.env.get_template(template).render(
            signed_in=wallet, nav=self.nav(request.url.path, wallet), path=request.url.path,
            **context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.page(request, "error.html", status=status, status_code=status,
                         message=message)


_sites: weakref.WeakKeyDictionary[Any, Site] = weakref.WeakKeyDictionary()


def site_of(service: Any) -> Site:
    """The site of ``service`` (made on first use; one per service, so per worker)."""
    site = _sites.get(service)
    if site is None:
        site = _sites[service] = Site(service)
    return site


async def cached_data(service: Any, key: str, tables: Iterable[Any],
                      fn: Callable[[Any], Any]) -> Any:
    """``fn(conn)`` through the service's cache (keys of their own: ``page:<key>``), as the
    API's JSON gives it: big integers as strings, bytes as 0x hex."""
    response = await service.cached("page:" + key, tables, fn)
    return json.loads(response.body)


def html_errors(site: Site) -> Callable[[Callable[..., Awaitable[Response]]],
                                        Callable[..., Awaitable[Response]]]:
    """A page route's errors (a bad address, a missing NFT, the database away) as an HTML
    page with the status, instead of the API's JSON."""

    def wrap(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        @functools.wraps(fn)
        async def route(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await fn(request, *args, **kwargs)
            except ApiError as exc:
                response = site.error(request, exc.status, str(exc))
                response.headers.update(exc.headers)
                return response

        return route

    return wrap


def int_param(text: str | None, default: int, low: int, high: int) -> int:
    """A page's integer query parameter, forgiving: out of range is clamped, junk is the
    default (a page answers a hand-edited URL with a page, not a JSON error)."""
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    return min(high, max(low, value))
