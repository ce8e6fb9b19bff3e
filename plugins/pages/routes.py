"""The platform's pages: marketplace, NFT, artist, wallet dashboard, trending.

Mounted by the ``pages`` plugin's ``dcmx_api_router`` hook into the core's site
(:func:`dcmx_core.service.pages.site_of`): its templates and script ship in this package,
its links join the navigation, the marketplace is the home page, and a signed-in wallet's
home is its own dashboard. Every read goes through ``cached_data`` (the service's cache,
under the versions of the tables read; the rate limits apply as to the API).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dcmx_core.service import ApiError
from dcmx_core.service.pages import cached_data, charts, html_errors, int_param, site_of
from dcmx_core.service.pages.formats import integer, when

from ..devchain import COMPLIANCE_OFFICER_ROLE
from ..roles import holds, platform_roles
from . import reads

__all__ = ["page_routes"]

PER_PAGE = 24
TX_PAGE = 20
WINDOWS = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
TOKEN = 10**18  # DCMX has 18 decimals


def _coins(value: Any) -> float:
    """For a chart's geometry only: the exact amount goes in its table and data-value."""
    return integer(value) / TOKEN


def _text(request: Request, name: str, limit: int = 100) -> str | None:
    value = request.query_params.get(name)
    value = value.strip()[:limit] if value else None
    return value or None


def page_routes(svc: Any) -> APIRouter:
    site = site_of(svc)
    site.add_templates(__package__ or "dcmx_plugins.pages")
    site.add_assets("dcmx", __package__ or "dcmx_plugins.pages", ("market.js",))
    site.add_link("Marketplace", "/market", 10)
    site.add_link("Trending", "/trending", 20)
    site.home = "/market"
    site.wallet_home = "/wallet/{wallet}"
    r = APIRouter(include_in_schema=False)

    async def search(request: Request) -> dict[str, Any]:
        q = _text(request, "q") or ""
        artist, genre = _text(request, "artist", 200), _text(request, "genre")
        per = int_param(request.query_params.get("per"), PER_PAGE, 4, 48)
        page = int_param(request.query_params.get("page"), 1, 1, 1000)
        offset = (page - 1) * per
        found = await cached_data(
            # JSON: the texts cannot run into each other, so two searches never share a key
            svc, "market|" + json.dumps([q, artist, genre, per, offset]), reads.SEARCH_TABLES,
            lambda c: reads.search_nfts(c, q=q, artist=artist, genre=genre, limit=per,
                                        offset=offset))
        params = {k: v for k, v in (("q", q), ("artist", artist), ("genre", genre)) if v}
        if per != PER_PAGE:
            params["per"] = str(per)

        def at(n: int) -> str:
            return "/market?" + urlencode({**params, "page": n}) if n > 1 else (
                "/market?" + urlencode(params) if params else "/market")

        return {"q": q, "artist": artist, "genre": genre, "per": per, "page": page,
                "nfts": found["items"],
                "prev_href": at(page - 1) if page > 1 else None,
                "next_href": at(page + 1) if found["more"] else None}

    @r.get("/market")
    @html_errors(site)
    async def market(request: Request) -> Response:
        found = await search(request)
        options = await cached_data(svc, "market-facets", reads.SEARCH_TABLES, reads.facets)
        return site.page(request, "market.html", s=found, facets=options)

    @r.get("/market/results")
    @html_errors(site)
    async def market_results(request: Request) -> Response:
        return site.page(request, "_market_results.html", s=await search(request))

    @r.get("/nft/{token_id}")
    @html_errors(site)
    async def nft(request: Request, token_id: str) -> Response:
        ident = int(token_id) if token_id.isdigit() and len(token_id) <= 78 else None
        if ident is None or ident >= 2**256:
            raise ApiError(404, "not_found", "no such NFT: a token id is a whole number")
        found = await cached_data(svc, f"nft|{ident}", reads.NFT_TABLES,
                                  lambda c: reads.nft_detail(c, ident))
        if found is None:
            raise ApiError(404, "not_found", f"no NFT {ident} is indexed")
        return site.page(request, "nft.html", d=found)

    @r.get("/artist")
    @html_errors(site)
    async def artist(request: Request) -> Response:
        name = _text(request, "name", 200)
        if name is None:
            raise ApiError(404, "not_found", "which artist? /artist?name=…")
        found = await cached_data(svc, "artist|" + json.dumps(name), reads.ARTIST_TABLES,
                                  lambda c: reads.artist(c, name))
        if found is None:
            raise ApiError(404, "not_found", "no NFT of this artist is indexed")
        series = found["series"]
        labels = [when(x["start"]) if found["bucket"] >= 86400 else when(x["start"])[11:16]
                  for x in series]
        chart = charts.grouped(
            f"Sales volume and royalties of {name} per {_span(found['bucket'])} (DCMX)", labels,
            [(name_, [_coins(x[key]) for x in series], [x[key] for x in series])
             for name_, key in (("Sales volume", "sales"), ("Royalties credited", "credited"),
                                ("Royalties withdrawn", "withdrawn"))],
            css="artist")
        return site.page(request, "artist.html", a=found, chart=chart,
                         span=_span(found["bucket"]))

    @r.get("/wallet")
    async def own_wallet(request: Request) -> Response:
        wallet = site.wallet_of(request)
        return RedirectResponse(f"/wallet/{wallet}" if wallet else "/sign-in", status_code=303)

    @r.get("/wallet/{address}")
    @html_errors(site)
    async def wallet(request: Request, address: str) -> Response:
        w = svc.address(address, "wallet")
        before = _position(request.query_params.get("before"))
        per = int_param(request.query_params.get("per"), TX_PAGE, 2, 100)
        summary = await cached_data(svc, f"wallet|{w}", reads.WALLET_TABLES,
                                    lambda c: reads.wallet_summary(c, w))
        txs = await cached_data(
            svc, f"wallet-txs|{w}|{before}|{per}", reads.TRANSACTION_TABLES,
            lambda c: reads.wallet_transactions(c, w, limit=per, before=before))
        viewer = site.wallet_of(request)
        record = None
        if viewer is not None and (viewer == w or await _officer(svc, viewer)):
            record = await cached_data(svc, f"wallet-compliance|{w}", reads.COMPLIANCE_TABLES,
                                       lambda c: reads.compliance(c, w))
        keep = "" if per == TX_PAGE else f"per={per}"
        following = txs["before"]
        older = (f"/wallet/{w}?before={following[0]}-{following[1]}"
                 + (f"&{keep}" if keep else "") if following is not None else None)
        newest = f"/wallet/{w}" + (f"?{keep}" if keep else "") if before else None
        return site.page(request, "wallet.html", w=summary, txs=txs, record=record,
                         own=viewer == w, newest=newest,
                         older=older, doc_types=reads.DOC_TYPES, kyc=reads.KYC,
                         pools=reads.POOLS, statuses=reads.CLAIM_STATUSES)

    @r.get("/trending")
    @html_errors(site)
    async def trending(request: Request) -> Response:
        window = request.query_params.get("window", "7d")
        if window not in WINDOWS:
            window = "7d"
        seconds = WINDOWS[window]
        # Whole hours: the cache key, and so the answer, stays the same within an hour.
        since = 0 if seconds is None else (int(time.time()) // 3600 * 3600 - seconds)
        limit = int_param(request.query_params.get("limit"), 10, 1, 50)
        tracks = await cached_data(svc, f"trending|{since}|{limit}", reads.TRENDING_TABLES,
                                   lambda c: reads.trending(c, since=since, limit=limit))
        chart = charts.hbars(
            f"Top tracks by sales, {_window_text(window)}",
            [f"{t['title']} — {t['artist']}" for t in tracks],
            [float(t["sales"]) for t in tracks], raw=[t["sales"] for t in tracks],
            shown=[f"{t['sales']} sales" for t in tracks], css="trending")
        return site.page(request, "trending.html", tracks=tracks, chart=chart, window=window,
                         windows=[(k, _window_text(k)) for k in WINDOWS], since=since)

    return r


async def _officer(svc: Any, wallet: str) -> bool:
    """A compliance officer sees any wallet's record, as the API's audit trail allows."""
    return bool(await cached_data(
        svc, f"officer|{wallet}", [platform_roles],
        lambda c: holds(c, wallet, "ComplianceRegistry", COMPLIANCE_OFFICER_ROLE)))


def _span(seconds: int) -> str:
    return {60: "minute", 300: "5 minutes", 900: "15 minutes", 3600: "hour",
            6 * 3600: "6 hours", 86400: "day", 7 * 86400: "week"}.get(seconds, "30 days")


def _window_text(window: str) -> str:
    return {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days",
            "all": "all time"}[window]


def _position(text: str | None) -> tuple[int, int] | None:
    """A page's ``before=BLOCK-LOG`` cursor (a chain position, exclusive); junk or none is
    the newest page (``BLOCK`` alone: before that block)."""
    if not text:
        return None
    block, _, log = text.partition("-")
    try:
        position = (int(block), int(log) if log else -1)
    except ValueError:
        return None
    return position if 0 <= position[0] < 2**62 and -1 <= position[1] < 2**31 else None
