"""HTTP errors as JSON: what was wrong, which field, what to do.

Every error the service answers has the body ``{"error": code, "message": text, "field":
name or null}`` (validation errors list each field in ``fields``). Messages go through the
redactor: no secret, token or signature is ever echoed, and a value from the request is
quoted with ``repr`` and cut short.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..errors import DcmxError
from ..redaction import redact

__all__ = ["ApiError", "error_body", "shown"]

log = logging.getLogger("dcmx.api")


class ApiError(DcmxError):
    """An answer other than 2xx, raised anywhere in a route or dependency."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.headers = headers or {}


def shown(value: Any, width: int = 60) -> str:
    """A request value as it may appear in a message: repr'd (so escaped), short, redacted."""
    text = repr(value)
    return redact(text if len(text) <= width else text[: width - 3] + "...")


def error_body(code: str, message: str, field: str | None = None, **more: Any) -> bytes:
    return json.dumps(
        {"error": code, "message": redact(message), "field": field, **more}
    ).encode()
