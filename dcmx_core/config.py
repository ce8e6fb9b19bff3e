"""Configuration of the ``dcmx`` command: a TOML file, environment variables and flags.

Precedence, highest first::

    command-line flags  >  environment variables (DCMX_*)  >  the config file  >  defaults

The config file is ``--config PATH`` (or ``DCMX_CONFIG``), else ``./dcmx.toml`` when it exists.
Its top-level keys and the matching environment variables:

=================  ======================  =================================================
key                environment             meaning
=================  ======================  =================================================
database_url       DCMX_DATABASE_URL       SQLAlchemy URL (sqlite:///dcmx.db, postgresql://..)
source             DCMX_SOURCE             tron+https://host, http(s)://host (JSON-RPC),
                                           ``devchain``, or ``file:PATH`` (a saved MemoryChain)
source_kind        DCMX_SOURCE_KIND        tron | jsonrpc | devchain | file (when the URL
                                           alone does not say)
network            DCMX_NETWORK            mainnet | shasta | nile | devchain | any name that
                                           has a ``[networks.<name>]`` section
window             DCMX_WINDOW             unfinalized blocks kept to survive forks (19)
confirmations      DCMX_CONFIRMATIONS      JSON-RPC: blocks below head counted final (20)
start_block        DCMX_START_BLOCK        first block to index (0)
batch_blocks       DCMX_BATCH_BLOCKS       first range size below the finalized height (500)
poll_interval      DCMX_POLL_INTERVAL      seconds between head polls when following (3.0)
plugins            DCMX_PLUGINS            only these plugins (list; env: comma-separated)
metrics_port       DCMX_METRICS_PORT       serve /metrics, /health, /ready on this port
metrics_host       DCMX_METRICS_HOST       address to bind it to (127.0.0.1)
ready_lag          DCMX_READY_LAG          /ready is 200 within this many blocks of head (3)
log_format         DCMX_LOG_FORMAT         human | json
log_level          DCMX_LOG_LEVEL          debug | info | warning | error
=================  ======================  =================================================

Per network, ``[networks.<name>]`` may set ``source``, ``profile`` (tron | evm) and
``start_block``, and ``[networks.<name>.contracts]`` maps a platform contract name
(DCMXToken, MusicNFT, ComplianceRegistry, RewardVault, RoyaltyDistributor) to its address,
TRON ``T...`` or ``0x...``.

Secrets never live in the file: a database URL with a password, an API key or a private key
there is refused. Give them through the environment (``DCMX_DATABASE_URL``,
``DCMX_TRON_API_KEY``, ``DCMX_PRIVATE_KEY``) or, for a signing key, a keystore file
(``keystore = "path"`` with its password in ``DCMX_KEYSTORE_PASSWORD``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .addresses import PROFILES, parse
from .errors import AddressError, ConfigError
from .redaction import has_secret, redact_url

DEFAULT_CONFIG = "dcmx.toml"

#: Known public networks and the source each uses unless told otherwise.
NETWORK_SOURCES: dict[str, str] = {
    "mainnet": "tron+https://api.trongrid.io",
    "shasta": "tron+https://api.shasta.trongrid.io",
    "nile": "tron+https://nile.trongrid.io",
    "devchain": "devchain",
}

SOURCE_KINDS = ("tron", "jsonrpc", "devchain", "file")
LOG_FORMATS = ("human", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Names that hold secrets: refused anywhere in the file.
_SECRET_KEYS = ("password", "passwd", "private_key", "privatekey", "secret", "api_key", "apikey",
                "mnemonic", "token_key")


@dataclass(frozen=True)
class Settings:
    """The resolved configuration (see the module docstring for each field)."""

    database_url: str = "sqlite:///dcmx.db"
    source: str | None = None
    source_kind: str | None = None
    network: str = "devchain"
    window: int = 19
    confirmations: int = 20
    start_block: int = 0
    batch_blocks: int = 500
    poll_interval: float = 3.0
    source_concurrency: int = 1  # TRON HTTP API: transaction-info requests in flight
    source_max_rate: float | None = None  # requests per second to the node, at most
    plugins: tuple[str, ...] | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    ready_lag: int = 3
    log_format: str = "human"
    log_level: str = "info"
    profile: str = "tron"
    keystore: str | None = None
    contracts: dict[str, bytes] = field(default_factory=dict)
    config_file: str | None = None
    # Secrets: from the environment only, never printed.
    tron_api_key: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)

    def resolved_source(self) -> str:
        """The source to read: the explicit one, else the network's default."""
        if self.source:
            return self.source
        if self.network in NETWORK_SOURCES:
            return NETWORK_SOURCES[self.network]
        raise ConfigError(
            f"network {self.network!r} has no default source; set `source` in its "
            f"[networks.{self.network}] section, DCMX_SOURCE, or --source"
        )


# key -> (type, environment variable)
_KEYS: dict[str, tuple[type, str]] = {
    "database_url": (str, "DCMX_DATABASE_URL"),
    "source": (str, "DCMX_SOURCE"),
    "source_kind": (str, "DCMX_SOURCE_KIND"),
    "network": (str, "DCMX_NETWORK"),
    "window": (int, "DCMX_WINDOW"),
    "confirmations": (int, "DCMX_CONFIRMATIONS"),
    "start_block": (int, "DCMX_START_BLOCK"),
    "batch_blocks": (int, "DCMX_BATCH_BLOCKS"),
    "poll_interval": (float, "DCMX_POLL_INTERVAL"),
    "source_concurrency": (int, "DCMX_SOURCE_CONCURRENCY"),
    "source_max_rate": (float, "DCMX_SOURCE_MAX_RATE"),
    "plugins": (list, "DCMX_PLUGINS"),
    "metrics_port": (int, "DCMX_METRICS_PORT"),
    "metrics_host": (str, "DCMX_METRICS_HOST"),
    "ready_lag": (int, "DCMX_READY_LAG"),
    "log_format": (str, "DCMX_LOG_FORMAT"),
    "log_level": (str, "DCMX_LOG_LEVEL"),
    "keystore": (str, "DCMX_KEYSTORE"),
}
_NETWORK_KEYS = {
    "source",
    "source_kind",
    "source_concurrency",
    "source_max_rate",
    "profile",
    "start_block",
    "contracts",
    "confirmations",
}


def _coerce(key: str, value: Any, kind: type, where: str) -> Any:
    """``value`` (from TOML or an environment string) as ``kind``; a clear error otherwise."""
    if kind is list:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where}: {key} must be a list of names, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: {key} must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, got {value!r}")
    return value


def _refuse_secrets(table: Mapping[str, Any], path: str, where: str) -> None:
    for key, value in table.items():
        dotted = f"{path}{key}"
        if isinstance(value, Mapping):
            _refuse_secrets(value, dotted + ".", where)
            continue
        lowered = key.lower()
        if any(s in lowered for s in _SECRET_KEYS):
            raise ConfigError(
                f"{where}: {dotted} looks like a secret; secrets are not read from the config "
                "file: set it in the environment (DCMX_TRON_API_KEY, DCMX_PRIVATE_KEY, "
                "DCMX_KEYSTORE_PASSWORD) instead"
            )
        if isinstance(value, str) and "://" in value and has_secret(value):
            env = "DCMX_DATABASE_URL" if key == "database_url" else "DCMX_SOURCE"
            raise ConfigError(
                f"{where}: {dotted} may carry a secret (a password, or an API key in its "
                "query or path); secrets are not read from the config file: put the URL in the "
                f"environment ({env}) instead"
            )


def read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def find_config(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, else DCMX_CONFIG, else ./dcmx.toml if present."""
    chosen = explicit or env.get("DCMX_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        return path
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def load(
    config: str | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings: ``flags`` (only those given, None = not given) > ``env`` > file."""
    env = os.environ if env is None else env
    path = find_config(config, env)
    values: dict[str, Any] = {}
    file_data: dict[str, Any] = {}
    where = str(path) if path else "config"
    if path is not None:
        file_data = read_file(path)
        _refuse_secrets(file_data, "", where)
        for key, value in file_data.items():
            if key == "networks":
                if not isinstance(value, dict):
                    raise ConfigError(f"{where}: networks must be a table of [networks.<name>]")
                continue
            if key not in _KEYS:
                raise ConfigError(
                    f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(_KEYS))}, "
                    "networks"
                )
            values[key] = _coerce(key, value, _KEYS[key][0], where)
    for key, (kind, var) in _KEYS.items():
        if env.get(var, "") != "":
            values[key] = _coerce(key, env[var], kind, f"environment {var}")
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key not in _KEYS:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _coerce(key, value, _KEYS[key][0], f"option --{key.replace('_', '-')}")

    network = values.get("network", Settings.network)
    networks = file_data.get("networks", {})
    section = networks.get(network, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: networks.{network} must be a table")
    if network not in NETWORK_SOURCES and network not in networks:
        raise ConfigError(
            f"unknown network {network!r}: use one of {', '.join(NETWORK_SOURCES)} or add a "
            f"[networks.{network}] section to the config file"
        )
    nwhere = f"{where}: networks.{network}"
    for key in section:
        if key not in _NETWORK_KEYS:
            raise ConfigError(
                f"{nwhere}: unknown key {key!r}; known keys: {', '.join(sorted(_NETWORK_KEYS))}"
            )
    profile = section.get("profile", "tron")
    if profile not in PROFILES:
        raise ConfigError(f"{nwhere}.profile is {profile!r}; use one of {', '.join(PROFILES)}")
    # A network's own source / start block apply unless a flag or the environment set one.
    for key in _NETWORK_KEYS - {"profile", "contracts"}:
        if key in section and key not in _given(key, flags, env):
            values[key] = _coerce(key, section[key], _KEYS[key][0], nwhere)
    contracts = parse_contracts(section.get("contracts", {}), profile, f"{nwhere}.contracts")

    secrets = {
        "tron_api_key": env.get("DCMX_TRON_API_KEY") or None,
        "private_key": env.get("DCMX_PRIVATE_KEY") or None,
    }
    settings = Settings(
        **values,
        profile=profile,
        contracts=contracts,
        config_file=str(path) if path else None,
        **secrets,
    )
    validate(settings)
    return settings


def _given(key: str, flags: Mapping[str, Any] | None, env: Mapping[str, str]) -> set[str]:
    given = set()
    if flags and flags.get(key) is not None:
        given.add(key)
    if env.get(_KEYS[key][1], "") != "":
        given.add(key)
    return given


def parse_contracts(table: Any, profile: str, where: str) -> dict[str, bytes]:
    """``{contract name: address text}`` to ``{name: 20 bytes}``; errors name the key."""
    from dcmx_generated import CONTRACTS

    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of ContractName = \"address\"")
    out: dict[str, bytes] = {}
    for name, text in table.items():
        if name not in CONTRACTS:
            raise ConfigError(
                f"{where}.{name}: unknown contract; known: {', '.join(sorted(CONTRACTS))}"
            )
        if not isinstance(text, str):
            raise ConfigError(f"{where}.{name}: an address must be a string, got {text!r}")
        try:
            out[name] = parse(text, profile)  # type: ignore[arg-type]
        except AddressError as exc:
            raise AddressError(f"{where}.{name}: {exc}") from None
    return out


def validate(s: Settings) -> None:
    """Range and choice checks; each failure is one line naming the setting."""
    if s.window < 1:
        raise ConfigError(f"window must be at least 1 block, got {s.window}")
    if s.confirmations < 0:
        raise ConfigError(f"confirmations must be >= 0, got {s.confirmations}")
    if s.start_block < 0:
        raise ConfigError(f"start_block must be >= 0, got {s.start_block}")
    if s.batch_blocks < 1:
        raise ConfigError(f"batch_blocks must be >= 1, got {s.batch_blocks}")
    if s.source_concurrency < 1:
        raise ConfigError(f"source_concurrency must be >= 1, got {s.source_concurrency}")
    if s.source_max_rate is not None and s.source_max_rate <= 0:
        raise ConfigError(
            f"source_max_rate must be > 0 requests per second, got {s.source_max_rate}"
        )
    if s.poll_interval <= 0:
        raise ConfigError(f"poll_interval must be > 0 seconds, got {s.poll_interval}")
    if s.ready_lag < 0:
        raise ConfigError(f"ready_lag must be >= 0 blocks, got {s.ready_lag}")
    if s.metrics_port is not None and not 0 <= s.metrics_port <= 65535:
        raise ConfigError(f"metrics_port must be 0..65535, got {s.metrics_port}")
    if s.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format is {s.log_format!r}; use one of {', '.join(LOG_FORMATS)}")
    if s.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level is {s.log_level!r}; use one of {', '.join(LOG_LEVELS)}")
    if s.source_kind is not None and s.source_kind not in SOURCE_KINDS:
        raise ConfigError(
            f"source_kind is {s.source_kind!r}; use one of {', '.join(SOURCE_KINDS)}"
        )
    check_database_url(s.database_url)


def check_database_url(url: str) -> None:
    scheme = url.split(":", 1)[0].split("+", 1)[0] if ":" in url else ""
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(
            f"database URL {redact_url(url)!r} is not a SQLite or PostgreSQL URL; use e.g. "
            "sqlite:///dcmx.db or postgresql://user@host/db"
        )


def with_overrides(s: Settings, **changes: Any) -> Settings:
    return replace(s, **{k: v for k, v in changes.items() if v is not None})


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]
