"""Who is calling: sign-in by wallet signature, short-lived tokens.

1. ``POST /api/v1/auth/nonce`` with the wallet gives a nonce and the exact message to sign.
   The nonce carries its expiry and the wallet, sealed with the service's key (HMAC), so any
   worker can check it without shared state.
2. The wallet signs the message: TRON's signed-message format (``"\\x19TRON Signed
   Message:\\n" + length``, tronpy's ``sign_msg``, TronWeb's ``signMessageV2``) or EIP-191
   (``personal_sign``, eth-account's ``encode_defunct``) on EVM chains; both are accepted,
   their prefixes keep them apart.
3. ``POST /api/v1/auth/login`` checks the seal, the expiry and that the signature recovers
   the wallet, marks the nonce used (Redis ``SET NX``, shared; else per worker) so that it
   cannot be replayed, and returns a token: the wallet and an expiry sealed the same way,
   sent back as ``Authorization: Bearer <token>``.

Tokens and signatures are never logged or echoed; the key comes from ``DCMX_API_SECRET`` or
is drawn at start and handed to the workers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import struct
import time
from typing import Any

from ..addresses import Profile, parse, render
from ..errors import AddressError
from .errors import ApiError

__all__ = ["Auth", "sign_in_message"]

log = logging.getLogger("dcmx.api")

NONCE_SECONDS = 300


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_in_message(wallet: str, nonce: str, expires: int) -> str:
    """The text a wallet signs to sign in (the same on every chain)."""
    return f"dcmx sign-in\nwallet: {wallet}\nnonce: {nonce}\nexpires: {expires}"


def _recover(message: str, signature: bytes) -> set[bytes]:
    """The 20-byte addresses ``signature`` recovers to, as a TRON and as an EIP-191
    signature of ``message`` (an invalid signature recovers nothing)."""
    found: set[bytes] = set()
    if len(signature) != 65:
        return found
    try:
        from tronpy.keys import Signature

        sig = bytearray(signature)
        if sig[64] >= 27:  # wallets write v as 27/28; tronpy wants 0/1
            sig[64] -= 27
        public = Signature(bytes(sig)).recover_public_key_from_msg(message.encode())
        found.add(bytes.fromhex(public.to_hex_address()[2:]))
    except Exception:  # noqa: BLE001 - not a valid TRON signature
        pass
    try:
        from eth_account import Account
        from eth_account.messages import encode_defunct

        address = Account.recover_message(encode_defunct(text=message), signature=signature)
        found.add(bytes.fromhex(address[2:]))
    except Exception:  # noqa: BLE001 - not a valid EIP-191 signature
        pass
    return found


class Auth:
    """Nonces, signatures and tokens, sealed with one key."""

    def __init__(self, secret: bytes, profile: Profile, token_ttl: int, used: Any) -> None:
        """``used``: an object with ``async first_use(key, ttl) -> bool`` (replay guard)."""
        if len(secret) < 16:
            raise ValueError("the API key must be at least 16 bytes")
        self._key = secret
        self.profile = profile
        self.token_ttl = token_ttl
        self._used = used

    def _seal(self, body: bytes) -> str:
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return _b64(body + mac)

    def _open(self, text: str, kind: bytes) -> bytes | None:
        try:
            raw = _unb64(text)
        except Exception:  # noqa: BLE001
            return None
        body, mac = raw[:-16], raw[-16:]
        good = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        if len(raw) < 17 or not hmac.compare_digest(mac, good) or body[:1] != kind:
            return None
        return body[1:]

    # -- sign-in ------------------------------------------------------------------------------

    def wallet(self, text: Any, field: str = "wallet") -> bytes:
        """The 20 bytes of an address from a request; 400 naming ``field`` otherwise."""
        try:
            return parse(text)
        except AddressError as exc:
            raise ApiError(400, "invalid_address", str(exc), field=field) from None

    def nonce(self, wallet: bytes) -> dict[str, Any]:
        expires = int(time.time()) + NONCE_SECONDS
        nonce = self._seal(b"n" + wallet + struct.pack(">Q", expires) + secrets.token_bytes(12))
        shown = render(wallet, self.profile)
        return {
            "wallet": shown,
            "nonce": nonce,
            "expires_at": expires,
            "message": sign_in_message(shown, nonce, expires),
        }

    async def login(self, wallet: bytes, nonce: str, signature: str) -> dict[str, Any]:
        body = self._open(nonce, b"n") if isinstance(nonce, str) and len(nonce) < 200 else None
        if body is None or len(body) != 40:
            raise ApiError(401, "invalid_nonce", "the nonce is not one this service issued; "
                           "ask POST /api/v1/auth/nonce for one", field="nonce")
        if body[:20] != wallet:
            raise ApiError(401, "invalid_nonce", "the nonce was issued for another wallet",
                           field="nonce")
        (expires,) = struct.unpack(">Q", body[20:28])
        if expires < time.time():
            raise ApiError(401, "nonce_expired", "the nonce expired; ask for a new one",
                           field="nonce")
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
        except (ValueError, AttributeError):
            raise ApiError(400, "invalid_signature", "the signature must be 65 bytes of hex",
                           field="signature") from None
        message = sign_in_message(render(wallet, self.profile), nonce, expires)
        if wallet not in _recover(message, sig):
            raise ApiError(401, "bad_signature", "the signature is not the wallet's over the "
                           "sign-in message", field="signature")
        if not await self._used.first_use("nonce:" + nonce, max(1, int(expires - time.time()))):
            raise ApiError(401, "nonce_used", "this nonce was used already; ask for a new one",
                           field="nonce")
        token_expires = int(time.time()) + self.token_ttl
        token = self._seal(b"t" + wallet + struct.pack(">Q", token_expires))
        log.info("wallet signed in", extra={"wallet": render(wallet, self.profile)})
        return {"token": token, "token_type": "bearer", "expires_at": token_expires,
                "wallet": render(wallet, self.profile)}

    def token_wallet(self, token: str) -> bytes | None:
        """The wallet a token was issued to, None when it is not a valid current token."""
        if len(token) > 200:
            return None
        body = self._open(token, b"t")
        if body is None or len(body) != 28:
            return None
        (expires,) = struct.unpack(">Q", body[20:])
        return body[:20] if expires >= time.time() else None

    def from_header(self, header: str | None) -> bytes | None:
        if not header or not header.startswith("Bearer "):
            return None
        return self.token_wallet(header[7:].strip())
