"""``dcmx serve``: the HTTP API over the database the indexer writes."""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from typing import Any

import click

from ..redaction import redact_url
from .group import Context
from .options import setting_options

__all__ = ["serve"]

log = logging.getLogger("dcmx.cli")

_HELP = """Serve the indexed database over HTTP: FastAPI under uvicorn, OpenAPI at /docs.

\b
Reads come from the database (read-only connections, short transactions: the indexer is
never held up), cached under the versions of the tables they read (never staler than the
database, across forks). Writes go to the configured contracts: signed by the platform's
key (DCMX_PRIVATE_KEY or a keystore) or returned unsigned for the user's wallet.
With --redis, the cache, rate limits and sign-in nonces are shared by the workers.
"""


@click.command(help=_HELP)
@setting_options(
    "database_url", "redis_url", "api_host", "api_port", "api_workers", "network", "profile",
    "source", "source_kind", "contracts", "plugins", "ready_lag", "rate_limit_ip",
    "rate_limit_wallet", "token_ttl", "pool_size", "max_overflow", "pool_timeout", "pool_recycle",
)
@click.pass_obj
def serve(obj: Context, /, **flags: Any) -> None:
    import uvicorn

    from ..redaction import register_secret
    from ..service.app import SECRET_ENV, SETTINGS_ENV, create_app

    settings = obj.settings(**flags)
    # One key for every worker: a nonce issued by one is checked by another.
    secret = settings.api_secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
    register_secret(secret)
    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in flags.items()
             if v is not None and v != ()}
    given.update(_config=obj.config, log_format=settings.log_format,
                 log_level="debug" if obj.debug else settings.log_level)
    os.environ[SETTINGS_ENV] = json.dumps(given)
    os.environ[SECRET_ENV] = secret
    workers = settings.api_workers
    if workers > 1:
        # Each worker counts in files of this folder; /metrics adds them up.
        folder = tempfile.mkdtemp(prefix="dcmx-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        if settings.redis_url is None:
            log.warning("%d workers without --redis: each keeps its own cache, rate limits "
                        "and spent sign-in nonces", workers)
    app = create_app(settings, secret=secret.encode())  # checks the database now
    log.info(
        "serving %s on http://%s:%d (docs at /docs), %d worker(s)",
        redact_url(settings.database_url), settings.api_host, settings.api_port, workers,
        extra={"database": redact_url(settings.database_url), "port": settings.api_port,
               "workers": workers},
    )
    options: dict[str, Any] = dict(
        host=settings.api_host, port=settings.api_port, log_config=None, access_log=False,
        server_header=False, proxy_headers=False, timeout_graceful_shutdown=5,
    )
    if workers > 1:
        uvicorn.run("dcmx_core.service.app:app_from_env", factory=True, workers=workers,
                    **options)
    else:
        uvicorn.run(app, **options)
