"""The source that settings name: one node, or several behind a failover.

``tron+https://host`` (or ``source_kind = "tron"``) is TRON's full-node HTTP API, an
``http(s)://`` URL otherwise JSON-RPC (TRON serves it at ``/jsonrpc``; anvil; any EVM node),
``file:PATH`` a saved chain. Several sources make a :class:`~.failover.FailoverSource` that
moves to the next node when one fails or lags.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DcmxError
from ..redaction import redact_url

if TYPE_CHECKING:
    from ..chain import Source
    from ..settings import Settings

__all__ = ["make_source"]


def make_source(settings: Settings) -> Source:
    """The chain source of ``settings`` (several nodes: a failover over them)."""
    urls = settings.sources()
    if len(urls) == 1:
        return _one(urls[0], settings)
    from .failover import FailoverSource

    nodes: list[Any] = []
    try:
        for url in urls:
            nodes.append(_one(url, settings))
    except BaseException:
        for node in nodes:
            node.close()
        raise
    return FailoverSource(nodes)


def _one(text: str, settings: Settings) -> Source:
    kind = settings.source_kind
    if text.startswith(("tron+http://", "tron+https://")):
        if kind not in (None, "tron"):
            raise ConfigError(
                f"source {redact_url(text)!r} is a TRON URL but source_kind is {kind}"
            )
        text, kind = text.removeprefix("tron+"), "tron"
    if text.startswith("file:") or kind == "file":
        return _file(Path(text.removeprefix("file:")))
    if text.startswith(("http://", "https://")):
        if kind == "tron":
            from .tron_http import TronHttpSource

            return TronHttpSource(
                text,
                api_key=settings.tron_api_key,
                solidity_url=settings.solidity_url,
                concurrency=settings.source_concurrency,
                max_rate=settings.source_max_rate,
            )
        if kind not in (None, "jsonrpc"):
            raise ConfigError(f"source kind {kind!r} does not take an http(s) URL")
        from .jsonrpc import JsonRpcSource

        return JsonRpcSource(
            text, confirmations=settings.confirmations, max_rate=settings.source_max_rate
        )
    raise ConfigError(
        f"source {redact_url(text)!r} is not one dcmx reads: use tron+https://host (TRON HTTP "
        "API), http(s)://host (JSON-RPC), or file:PATH (a saved chain)"
    )


def _file(path: Path) -> Source:
    from .memory import MemoryChain

    if not path.is_file():
        raise ConfigError(f"source file {path} not found")
    try:
        return MemoryChain.load(path)
    except DcmxError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise ConfigError(f"source file {path} is not a saved MemoryChain: {exc}") from None
