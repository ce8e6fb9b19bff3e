"""Signing keys for sending transactions, loaded from the environment, never shown.

A :class:`SigningKey` holds the 32 private-key bytes in a private slot and exposes only what a
transport needs: the sender address and ``sign_digest``. Its ``repr``/``str`` show the address,
it refuses to be pickled or copied, and no error raised here quotes the key (nor its length).

Sources, in the order :func:`load_signing_key` tries them:

1. ``DCMX_PRIVATE_KEY``: 64 hex characters (``0x`` optional);
2. ``DCMX_KEYSTORE``: path of an encrypted Ethereum keystore JSON file (as written by
   ``eth_account.Account.encrypt`` / geth / MetaMask export), decrypted with the password in
   ``DCMX_KEYSTORE_PASSWORD``. TRON and Ethereum keys are the same secp256k1 keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from .addresses import to_tron
from .errors import ConfigError

__all__ = [
    "KEY_ENV",
    "KEYSTORE_ENV",
    "KEYSTORE_PASSWORD_ENV",
    "SigningKey",
    "as_signing_key",
    "getenv",
    "load_signing_key",
]

KEY_ENV = "DCMX_PRIVATE_KEY"
KEYSTORE_ENV = "DCMX_KEYSTORE"
KEYSTORE_PASSWORD_ENV = "DCMX_KEYSTORE_PASSWORD"

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX = frozenset("0123456789abcdefABCDEF")


class SigningKey:
    """A secp256k1 private key that never shows itself.

    ``address`` is the TRON ``T...`` address, ``address_bytes`` its 20 bytes (the same bytes are
    the Ethereum address of the key).
    """

    __slots__ = ("__raw", "_address20")

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
            raise ConfigError("a private key must be exactly 32 bytes")
        if not 0 < int.from_bytes(raw, "big") < _SECP256K1_N:
            raise ConfigError("the private key is out of range for secp256k1")
        from coincurve import PrivateKey as _Curve
        from eth_hash.auto import keccak

        self.__raw = bytes(raw)
        public = _Curve(self.__raw).public_key.format(compressed=False)[1:]
        self._address20 = keccak(public)[-20:]

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def from_hex(cls, text: str, *, source: str = "the private key") -> SigningKey:
        """Parse 64 hex characters (``0x`` optional, surrounding blanks ignored)."""
        if not isinstance(text, str):
            raise ConfigError(f"{source} must be a hex string")
        body = text.strip()
        body = body[2:] if body[:2] in ("0x", "0X") else body
        problem = None
        if len(body) != 64 or not _HEX.issuperset(body):
            problem = "expected 64 hex characters (32 bytes, optionally 0x-prefixed)"
        else:
            try:
                return cls(bytes.fromhex(body))
            except ConfigError as exc:
                problem = str(exc)
        # drop the value before raising, so tracebacks that capture locals cannot show it
        del text, body
        raise ConfigError(f"{source} is not a usable private key: {problem}")

    @classmethod
    def from_keystore(
        cls,
        path: str | os.PathLike[str],
        password: str | None = None,
        *,
        password_env: str = KEYSTORE_PASSWORD_ENV,
        environ: Mapping[str, str] | None = None,
    ) -> SigningKey:
        """Decrypt an Ethereum keystore JSON file; the password comes from ``password_env``."""
        if password is None:
            password = getenv(password_env, environ)
            if password is None:
                raise ConfigError(
                    f"keystore {path} needs its password: set {password_env}"
                )
        file = Path(path)
        try:
            keyfile = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"keystore {file} cannot be read ({exc.strerror})") from None
        except ValueError:
            raise ConfigError(f"keystore {file} is not JSON") from None
        from eth_account import Account

        problem = "is not a valid keystore file"
        try:
            return cls(bytes(Account.decrypt(keyfile, password)))
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                problem = f"did not decrypt: wrong password in {password_env}"
        except Exception:  # noqa: BLE001 - eth-account raises many kinds; never chain them
            pass
        # drop the secret before raising, so tracebacks that capture locals cannot show it
        del password, keyfile
        raise ConfigError(f"keystore {file} {problem}")

    # -- what a transport needs ------------------------------------------------------------

    @property
    def address(self) -> str:
        """The TRON base58check address (``T...``)."""
        return to_tron(self._address20)

    @property
    def address_bytes(self) -> bytes:
        """The 20 address bytes (no 0x41 prefix)."""
        return self._address20

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte recoverable signature ``r || s || v`` (v in {0, 1}) of a 32-byte digest.

        TRON signs ``sha256(raw_data)`` (the transaction id) this way.
        """
        if len(digest) != 32:
            raise ValueError("sign_digest needs a 32-byte digest")
        from coincurve import PrivateKey as _Curve

        return _Curve(self.__raw).sign_recoverable(bytes(digest), hasher=None)

    # -- never show, never copy ---------------------------------------------------------------

    def __repr__(self) -> str:
        return f"SigningKey(address={self.address!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SigningKey cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("a SigningKey cannot be pickled or copied")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError("a SigningKey cannot be pickled or copied")

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


def getenv(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``environ[name]`` (default: the process environment), without keeping the mapping."""
    return (os.environ if environ is None else environ).get(name)


def load_signing_key(
    *,
    key_env: str = KEY_ENV,
    keystore_env: str = KEYSTORE_ENV,
    password_env: str = KEYSTORE_PASSWORD_ENV,
    environ: Mapping[str, str] | None = None,
) -> SigningKey:
    """The key from ``key_env`` (hex), else from the keystore file named by ``keystore_env``.

    Raises :class:`ConfigError` naming the variables to set; the values are never echoed.
    """
    # No local variable holds the value or the environment (whose repr shows every variable),
    # so even a traceback that captures locals cannot show the key.
    if (getenv(key_env, environ) or "").strip():
        return SigningKey.from_hex(getenv(key_env, environ) or "", source=f"${key_env}")
    keystore = getenv(keystore_env, environ)
    if keystore:
        return SigningKey.from_keystore(keystore, password_env=password_env, environ=environ)
    raise ConfigError(
        f"no signing key: set {key_env} to the sender's private key (64 hex characters), "
        f"or {keystore_env} to an encrypted keystore file and {password_env} to its password"
    )


def as_signing_key(value: Any) -> SigningKey | None:
    """``value`` as a :class:`SigningKey`: one already, 64 hex characters, 32 bytes, or an object
    with ``to_bytes()`` (tronpy's ``PrivateKey``, whose repr shows the key: it is not kept)."""
    if value is None or isinstance(value, SigningKey):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return SigningKey(bytes(value))
        except ConfigError:
            raise ConfigError("private_key is not a usable 32-byte private key") from None
    if isinstance(value, str):
        return SigningKey.from_hex(value, source="private_key")
    try:
        return SigningKey(bytes(value.to_bytes()))
    except Exception:  # noqa: BLE001 - never echo key material
        raise ConfigError(
            "private_key must be a SigningKey, 64 hex characters or 32 bytes"
        ) from None
