"""The core's page routes: ``/`` (home), static files, the Overview and the sign-in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from .overview import add_overview
from .signin import add_sign_in
from .site import site_of

__all__ = ["pages_router"]


def pages_router(svc: Any) -> APIRouter:
    """The core's pages of ``svc`` (plugins add theirs through :func:`.site_of`)."""
    site = site_of(svc)
    r = APIRouter(include_in_schema=False)  # /docs documents the API, not the pages

    @r.get("/")
    async def home(request: Request) -> Response:
        """A signed-in wallet's own page first (when a plugin has one), else the home page."""
        wallet = site.wallet_of(request)
        target = (site.wallet_home.format(wallet=wallet)
                  if wallet is not None and site.wallet_home is not None else site.home)
        return RedirectResponse(target, status_code=303, headers={"cache-control": "no-store"})

    @r.get("/static/{group}/{name}")
    async def static(request: Request, group: str, name: str) -> Response:
        return site.asset(group, name, request.query_params.get("v"),
                          request.headers.get("if-none-match"))

    add_overview(r, svc, site)
    add_sign_in(r, svc, site)
    return r
