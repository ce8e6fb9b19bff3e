"""The one redactor: what may be a secret never reaches a log line, an error, a response or stdout.

Secrets hide in three places, and every piece of text dcmx shows goes through :func:`redact`:

- URLs. Hosted nodes take API keys as userinfo (``https://key@host``), as query values
  (``?apikey=``) and as path segments (``/v3/<key>``); database URLs carry passwords as userinfo
  or as query values (``?password=``). :func:`redact_url` masks all of them.
- ``key=value`` text such as ``password=...`` in a driver's message.
- Values the program knows to be secret (an API key, a private key from the environment):
  :func:`register_secret` them once, and they are masked wherever they appear; the secrets a
  URL carries (its password, query values, key-like path segments) with
  :func:`register_url_secrets`, so that a node echoing its key in an error is masked too.
- What a user typed where something else belongs: an error about a bad address never shows
  a private key pasted there (:func:`mask_keys`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = [
    "has_secret",
    "mask_keys",
    "redact",
    "redact_url",
    "register_secret",
    "register_url_secrets",
]

MASK = "***"
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()]+")
_KEY_ASSIGN = re.compile(
    r"(?i)\b(password|passwd|pwd|private_key|privatekey|api_key|apikey|secret)"
    r"(\s*[=:]\s*)([^\s,;&'\"]+)"
)
_SECRET_WORD = re.compile(r"(?i)pass|pwd|key|secret|token|auth|sig")
_WEB = ("http", "https", "ws", "wss")
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never show ``value`` (an API key, a private key) from now on, in any text."""
    if value and len(value) >= 6:
        _secrets.add(value)
        if value.lower().startswith("0x"):
            _secrets.add(value[2:])


def register_url_secrets(url: str | None) -> None:
    """Never show the secrets ``url`` carries (:func:`redact_url` masks them in the URL; this
    masks them anywhere else, such as a node's error quoting its key)."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    register_secret(password)
    for kv in parts.query.split("&"):
        register_secret(unquote(kv.split("=", 1)[-1]))
    if parts.scheme.lower() in _WEB:
        if parts.username and password is None:
            register_secret(parts.username)
        for segment in parts.path.split("/"):
            if _looks_like_key(segment):
                register_secret(segment)


# A private key's forms: 64 hex digits (with or without 0x, alone or run into other text), or
# WIF base58 (51-52 characters).
_KEY_LIKE = re.compile(
    r"(?:0[xX])?[0-9A-Fa-f]{64,}"
    r"|(?<![0-9A-Za-z])[5KL][1-9A-HJ-NP-Za-km-z]{50,51}(?![0-9A-Za-z])"
)


def mask_keys(text: str) -> str:
    """``text`` with whatever has the form of a private key replaced by a note saying so: for
    messages that quote what a user typed as an address, an amount, a name. (Hashes have the
    same form; such messages never need one.)"""
    return _KEY_LIKE.sub("<a private key? not shown>", text)


def redact_url(url: str) -> str:
    """``url`` without anything that may be a secret.

    Userinfo becomes ``user:***`` (on http(s) a name alone too becomes ``***``: hosted nodes
    take keys there), every query value ``***``, and on http(s) URLs every path segment that
    looks like a key (long, letters and digits mixed) ``***``. Paths of files, database names
    and database users stay.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    web = parts.scheme.lower() in _WEB
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    if parts.password is not None:
        host = f"{parts.username or ''}:{MASK}@{host}"
    elif parts.username:
        host = f"{MASK if web else parts.username}@{host}"
    query = "&".join(
        f"{kv.split('=', 1)[0]}={MASK}" if "=" in kv else MASK
        for kv in parts.query.split("&")
        if kv
    )
    path = parts.path
    if web:
        path = "/".join(MASK if _looks_like_key(seg) else seg for seg in path.split("/"))
    rest = url[len(parts.scheme) + 1 :]
    out = f"{parts.scheme}://{host}{path}" if rest.startswith("//") else f"{parts.scheme}:{path}"
    if query:
        out += f"?{query}"
    if parts.fragment:  # may carry a token too (OAuth-style): never shown
        out += f"#{MASK}"
    return out


def has_secret(url: str) -> bool:
    """Whether ``url`` may carry a secret, which a config file must not hold: a password; on
    http(s) anything :func:`redact_url` masks; elsewhere (a database URL) a query parameter
    named like a secret (``password``, ``sslkey``, ...)."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            return True
    except ValueError:
        return True
    if parts.scheme.lower() in _WEB:
        return redact_url(url) != url
    keys = [kv.split("=", 1)[0] for kv in parts.query.split("&") if kv]
    return any(_SECRET_WORD.search(k) for k in keys)


def redact(text: str) -> str:
    """``text`` with every URL redacted (:func:`redact_url`), ``key=value`` secrets masked and
    every registered secret replaced by ``***``."""
    text = str(text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _KEY_ASSIGN.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)


def _looks_like_key(segment: str) -> bool:
    # API paths are words (wallet, jsonrpc, gettransactioninfobyblocknum); keys mix letters
    # and digits and are long.
    return (
        len(segment) >= 16
        and re.fullmatch(r"[A-Za-z0-9_\-]+", segment) is not None
        and re.search(r"\d", segment) is not None
        and re.search(r"[A-Za-z]", segment) is not None
    )
