"""Signing in with a wallet, in the browser.

The sign-in page's script (``static/sign-in.js``) asks the wallet for its address, gets a
nonce and the message from ``POST /api/v1/auth/nonce``, has the wallet sign it (TronLink:
``tronWeb.trx.signMessageV2``, TRON's signed-message format; an EVM wallet on the devchain:
``personal_sign``, EIP-191), and exchanges the signature for a token at ``POST
/api/v1/auth/login``: the API's own sign-in, nothing of its own.

The pages then need to know who is signed in without script: ``POST /session`` puts the token
in an HttpOnly, SameSite=Strict cookie that only pages read (the API reads the
``Authorization`` header only, so the cookie can authorise nothing there). It holds the same
sealed token, checked on every page, and expires with it.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ...addresses import render
from ..errors import ApiError
from .site import SESSION_COOKIE, Site, html_errors

__all__ = ["add_sign_in"]


def _same_origin(request: Request) -> None:
    """Refuse a cross-site POST: browsers send ``Origin`` with every POST."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own:
        raise ApiError(403, "cross_origin", "sessions are set from this site's own pages only")


def add_sign_in(r: APIRouter, svc: Any, site: Site) -> None:
    @r.get("/sign-in")
    @html_errors(site)
    async def sign_in(request: Request) -> Response:
        return site.page(request, "sign_in.html")

    @r.post("/session")
    async def session(request: Request, token: str = Body(embed=True, max_length=200)
                      ) -> Response:
        _same_origin(request)
        raw = svc.auth.token_wallet(token)
        if raw is None:
            raise ApiError(401, "invalid_token", "not a valid sign-in token: sign in again")
        wallet = render(raw, svc.profile)
        # The token's expiry is sealed inside it; the cookie lives as long as the token.
        ttl = max(1, int(svc.settings.token_ttl) - 1)
        home = site.wallet_home.format(wallet=wallet) if site.wallet_home else "/"
        response = JSONResponse({"wallet": wallet, "next": home,
                                 "expires_at": int(time.time()) + ttl})
        response.set_cookie(SESSION_COOKIE, token, max_age=ttl, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    @r.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        _same_origin(request)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response
