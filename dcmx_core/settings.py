"""Settings of the ``dcmx`` command: each declared once, with its key, variable, flag and doc.

Precedence, highest first::

    command-line flags  >  environment variables (DCMX_*)  >  the config file  >  defaults

The config file is ``--config PATH`` (or ``DCMX_CONFIG``), else ``./dcmx.toml`` when it exists.
Every field of :class:`Settings` is one setting: its TOML key is the field name, its
environment variable ``DCMX_<NAME>``, its flag ``--<name>`` unless declared otherwise, and
its help text the ``doc`` of its declaration. ``dcmx run --help`` lists them all, and a test
holds ``dcmx.example.toml`` to the same list.

Per network, ``[networks.<name>]`` may set the settings marked ``network`` (the source, its
pace, the chain profile, the start block...), and ``[networks.<name>.contracts]`` the contracts
to index (:mod:`dcmx_core.contracts`).

Secrets never live in the file: a URL that may carry a password or an API key, or a key named
like a secret, is refused there. Give them through the environment (``DCMX_DATABASE_URL``,
``DCMX_SOURCE``, ``DCMX_TRON_API_KEY``, ``DCMX_PRIVATE_KEY``) or, for a signing key, a
keystore file (``keystore = "path"`` with its password in ``DCMX_KEYSTORE_PASSWORD``).
"""

from __future__ import annotations

import math
import os
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .addresses import PROFILES
from .chain import MAX_BLOCK
from .contracts import ContractSpec, parse_contract_flag, parse_contract_table
from .errors import ConfigError
from .redaction import has_secret, redact_url
from .store.engine import POOLS, Pool

__all__ = [
    "DEFAULT_CONFIG",
    "NETWORK_SOURCES",
    "Setting",
    "Settings",
    "declared",
    "env_var",
    "flag_of",
    "load",
    "settings_table",
    "value_type",
]

DEFAULT_CONFIG = "dcmx.toml"

#: Known public networks and the source each uses unless told otherwise.
NETWORK_SOURCES: dict[str, str] = {
    "mainnet": "tron+https://api.trongrid.io",
    "shasta": "tron+https://api.shasta.trongrid.io",
    "nile": "tron+https://nile.trongrid.io",
}

SOURCE_KINDS = ("tron", "jsonrpc", "file")
LOG_FORMATS = ("human", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Names that hold secrets: refused anywhere in the file.
_SECRET_KEYS = ("password", "passwd", "private_key", "privatekey", "secret", "api_key", "apikey",
                "mnemonic", "token_key")


@dataclass(frozen=True, slots=True)
class Setting:
    """What a :class:`Settings` field declares about itself (its ``metadata``)."""

    doc: str
    flag: str | None = None  # default: --<name with dashes>; "" for no flag
    network: bool = False  # may be set per network, in [networks.<name>]
    secret: bool = False  # from the environment only, never shown
    repeatable: bool = False  # its flag may be given several times
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None  # an error message, or None when fine
    command: str = "run"  # the command whose flag it is (`dcmx <command> --help` shows it)


def setting(default: Any, doc: str, **declared: Any) -> Any:
    return field(default=default, metadata={"dcmx": Setting(doc, **declared)})


def _at_least(n: int, unit: str = "") -> Callable[[Any], str | None]:
    return lambda v: None if v >= n else f"must be >= {n}{unit}, got {v}"


def _block(v: int) -> str | None:
    if 0 <= v <= MAX_BLOCK:
        return None
    return f"must be a block number, 0..{MAX_BLOCK:,}, got {v}"


def _poll(v: float) -> str | None:
    # Below a tenth of a second a follower polls the node in a busy loop (rate limits follow);
    # above a day, it never looks.
    if math.isfinite(v) and 0.1 <= v <= 86_400:
        return None
    return f"must be 0.1..86400 seconds, got {v}"


def _window(v: int) -> str | None:
    return None if v >= 1 else f"must be at least 1 block, got {v}"


def _positive(unit: str) -> Callable[[float], str | None]:
    """A finite number above 0 (NaN, infinity and 0 would make a busy loop or no pace)."""
    return lambda v: None if math.isfinite(v) and v > 0 else f"must be > 0 {unit}, got {v}"


def _port(v: int | None) -> str | None:
    return None if v is None or 0 <= v <= 65535 else f"must be 0..65535, got {v}"


def _recycle(v: int) -> str | None:
    return None if v == -1 or v >= 1 else f"must be -1 (never) or >= 1 seconds, got {v}"


def _pool_doc(what: str, field: str) -> str:
    run, serve = getattr(POOLS["run"], field), getattr(POOLS["serve"], field)
    return f"{what} (default: {run} for run, {serve} per serve worker)"


def _database_url(url: str) -> str | None:
    scheme = url.split(":", 1)[0].split("+", 1)[0] if ":" in url else ""
    if scheme not in ("sqlite", "postgresql", "postgres"):
        return (
            f"{redact_url(url)!r} is not a SQLite or PostgreSQL URL; use e.g. "
            "sqlite:///dcmx.db or postgresql://user@host/db"
        )
    return None


@dataclass(frozen=True)
class Settings:
    """The resolved configuration; see each field's declaration."""

    database_url: str = setting(
        "sqlite:///dcmx.db", "SQLAlchemy URL (sqlite:///dcmx.db, postgresql://user@host/db) or "
        "a SQLite file path", flag="--db", check=_database_url,
    )
    pool_size: int | None = setting(
        None, _pool_doc("database connections kept open", "size"), check=_at_least(1),
    )
    max_overflow: int | None = setting(
        None, _pool_doc("connections opened beyond pool_size under load", "max_overflow"),
        check=_at_least(0),
    )
    pool_timeout: float | None = setting(
        None, _pool_doc("seconds to wait for a free connection", "timeout"),
        check=_positive("seconds"),
    )
    pool_recycle: int | None = setting(
        None, _pool_doc("seconds after which a connection is replaced, -1 never", "recycle"),
        check=_recycle,
    )
    source: tuple[str, ...] = setting(
        (), "the node: tron+https://host (TRON HTTP API), http(s)://host (JSON-RPC), or "
        "file:PATH (a saved chain); several (a list, or --source again) fail over in order",
        network=True, repeatable=True,
    )
    source_kind: str | None = setting(
        None, "tron | jsonrpc | file, when the URL alone does not say", network=True,
        choices=SOURCE_KINDS,
    )
    solidity_url: str | None = setting(
        None, "TRON: the solidity node's HTTP API, asked for the finalized height (default: "
        "the source's own /walletsolidity)", network=True,
    )
    network: str | None = setting(
        None, "mainnet | shasta | nile | any name with a [networks.<name>] section",
    )
    profile: str = setting(
        "tron", "tron | evm: how addresses are written (T... or 0x...)", network=True,
        choices=PROFILES,
    )
    window: int = setting(19, "unfinalized blocks kept to survive forks", check=_window)
    confirmations: int = setting(
        20, "JSON-RPC: blocks below the head counted final", network=True, check=_at_least(0)
    )
    start_block: int | None = setting(
        None, "first block for an empty database (default: the contracts' earliest start "
        "block, else 0); later runs resume at the cursor", flag="--from-block", network=True,
        check=_block,
    )
    batch_blocks: int = setting(
        50, "first range size below the finalized height", check=_at_least(1)
    )
    poll_interval: float = setting(
        3.0, "seconds between head polls when following (0.1..86400)", check=_poll
    )
    source_concurrency: int = setting(
        1, "TRON HTTP API: transaction-info requests in flight", network=True,
        check=_at_least(1),
    )
    source_max_rate: float | None = setting(
        None, "requests per second to the node, at most", network=True,
        check=_positive("requests per second"),
    )
    plugins: tuple[str, ...] | None = setting(
        None, "only these plugins (comma-separated; '' for none: raw event tables only)"
    )
    contracts: tuple[ContractSpec, ...] = setting(
        (), "contracts to index: NAME=[MODULE@]ADDRESS[@START_BLOCK], repeatable; in the file "
        "[networks.<name>.contracts]", flag="--contract", network=True, repeatable=True,
    )
    metrics_port: int | None = setting(
        None, "serve /metrics, /health and /ready on this port", check=_port
    )
    metrics_host: str = setting("127.0.0.1", "address the metrics port is bound to")
    ready_lag: int = setting(
        3, "/ready is 200 within this many blocks of the head", check=_at_least(0, " blocks")
    )
    redis_url: str | None = setting(
        None, "dcmx serve: Redis shared by the workers for the cache, rate limits and sign-in "
        "nonces (redis://host:6379/0); without it each worker keeps its own",
        flag="--redis", command="serve",
    )
    api_host: str = setting("127.0.0.1", "dcmx serve: address to listen on", flag="--host",
                            command="serve")
    api_port: int = setting(8000, "dcmx serve: port to listen on", flag="--port",
                            command="serve", check=_port)
    api_workers: int = setting(1, "dcmx serve: worker processes", flag="--workers",
                               command="serve", check=_at_least(1))
    rate_limit_ip: int = setting(
        100, "dcmx serve: requests per second one client address may make (0: no limit)",
        command="serve", check=_at_least(0),
    )
    rate_limit_wallet: int = setting(
        20, "dcmx serve: requests per second one signed-in wallet may make (0: no limit)",
        command="serve", check=_at_least(0),
    )
    token_ttl: int = setting(
        900, "dcmx serve: seconds a sign-in token is good for", command="serve",
        check=_at_least(30, " seconds"),
    )
    api_secret: str | None = setting(
        None, "dcmx serve: key that signs sign-in nonces and tokens (default: a new random one "
        "per start, shared by its workers)", flag="", secret=True,
    )
    log_format: str = setting("human", "human | json (one object a line)", choices=LOG_FORMATS)
    log_level: str = setting("info", "debug | info | warning | error", choices=LOG_LEVELS)
    event_log: str = setting(
        "off", "on: one JSON line per minted NFT, reward claim, sale and acceptance indexed "
        "(logger dcmx.events), whatever the log format", choices=("off", "on"),
    )
    keystore: str | None = setting(
        None, "signing key: an encrypted keystore file (password in DCMX_KEYSTORE_PASSWORD)",
        flag="",
    )
    tron_api_key: str | None = setting(
        None, "TronGrid API key, sent as TRON-PRO-API-KEY", flag="", secret=True
    )
    private_key: str | None = setting(
        None, "signing key, 64 hex digits", flag="", secret=True
    )

    def __repr__(self) -> str:  # secrets never shown
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
            if not declared(f.name).secret
        )
        return f"Settings({shown})"

    def sources(self) -> tuple[str, ...]:
        """The node(s) to read: the explicit ones, else the network's default."""
        if self.source:
            return self.source
        if self.network in NETWORK_SOURCES:
            return (NETWORK_SOURCES[self.network],)
        if self.network is None:
            raise ConfigError(
                "no source: give --source URL (or DCMX_SOURCE, or `source` in dcmx.toml), or "
                f"--network {' | '.join(NETWORK_SOURCES)}"
            )
        raise ConfigError(
            f"network {self.network!r} has no default source; set `source` in its "
            f"[networks.{self.network}] section, DCMX_SOURCE, or --source"
        )

    def pool(self, command: str) -> Pool:
        """The connection pool of ``command`` (run or serve): the settings given, else the
        command's own (:data:`dcmx_core.store.engine.POOLS`)."""
        base = POOLS[command]
        return Pool(
            size=base.size if self.pool_size is None else self.pool_size,
            max_overflow=base.max_overflow if self.max_overflow is None else self.max_overflow,
            timeout=base.timeout if self.pool_timeout is None else self.pool_timeout,
            recycle=base.recycle if self.pool_recycle is None else self.pool_recycle,
        )

    def replace(self, **changes: Any) -> Settings:
        """These settings with ``changes`` (those not None) applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_FIELDS = {f.name: f for f in fields(Settings)}
_HINTS = typing.get_type_hints(Settings)


def declared(name: str) -> Setting:
    """What setting ``name`` declares (doc, flag, ...)."""
    setting: Setting = _FIELDS[name].metadata["dcmx"]
    return setting


def env_var(name: str) -> str:
    return f"DCMX_{name.upper()}"


def flag_of(name: str) -> str | None:
    """The command-line flag of a setting, None when it has none."""
    flag = declared(name).flag
    if flag == "":
        return None
    return flag or f"--{name.replace('_', '-')}"


def settings_table() -> list[tuple[str, str, str | None, str]]:
    """(key, environment variable, flag, doc) of every setting, for help texts and docs."""
    return [(n, env_var(n), flag_of(n), declared(n).doc) for n in _FIELDS]


def value_type(name: str) -> type:
    """The type a setting's value is coerced to: int, float, str or tuple."""
    hint = _HINTS[name]
    if typing.get_origin(hint) is not None and typing.get_origin(hint) is not tuple:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))  # X | None: X
    return tuple if typing.get_origin(hint) is tuple else hint


def coerce(name: str, value: Any, where: str, profile: str = "tron") -> Any:
    """``value`` (from TOML, an environment string or a flag) as setting ``name`` takes it."""
    kind = value_type(name)
    if name == "contracts":
        if isinstance(value, str):
            value = [p for p in value.split(",") if p.strip()]
        if isinstance(value, list | tuple):
            return tuple(parse_contract_flag(v, profile, where) for v in value)
        return parse_contract_table(value, profile, where)
    if kind is tuple:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where}: {name} must be a list of strings, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: {name} must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {name} must be a string, got {value!r}")
    if name == "database_url" and "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"  # a path: a SQLite file
    return value


def _refuse_secrets(table: Mapping[str, Any], path: str, where: str) -> None:
    for key, value in table.items():
        dotted = f"{path}{key}"
        if isinstance(value, Mapping):
            _refuse_secrets(value, dotted + ".", where)
            continue
        lowered = key.lower()
        if any(s in lowered for s in _SECRET_KEYS) or (
            key in _FIELDS and declared(key).secret
        ):
            raise ConfigError(
                f"{where}: {dotted} looks like a secret; secrets are not read from the config "
                "file: set it in the environment (DCMX_TRON_API_KEY, DCMX_PRIVATE_KEY, "
                "DCMX_KEYSTORE_PASSWORD) instead"
            )
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and "://" in text and has_secret(text):
                env = env_var(key) if key in _FIELDS else "DCMX_SOURCE"
                raise ConfigError(
                    f"{where}: {dotted} may carry a secret (a password, or an API key in its "
                    "query or path); secrets are not read from the config file: put the URL in "
                    f"the environment ({env}) instead"
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
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    for key in flags:
        if key not in _FIELDS or declared(key).secret:
            raise ConfigError(f"unknown setting {key!r}")
    path = find_config(config, env)
    where = str(path) if path else "config"
    data = read_file(path) if path is not None else {}
    _refuse_secrets(data, "", where)
    networks = data.get("networks", {})
    if not isinstance(networks, dict):
        raise ConfigError(f"{where}: networks must be a table of [networks.<name>]")
    for key in data:
        if key != "networks" and key not in _FIELDS:
            raise ConfigError(
                f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(_FIELDS))}, "
                "networks"
            )
    # Layers, lowest first: the file's top level, its network section, environment, flags.
    layers: list[tuple[str, Mapping[str, Any], Callable[[str], str]]] = [
        (where, data, lambda _k: where),
    ]
    network = flags.get("network") or env.get(env_var("network")) or data.get("network")
    if network is not None:
        section = networks.get(network)
        if section is None and network not in NETWORK_SOURCES:
            raise ConfigError(
                f"unknown network {network!r}: use one of {', '.join(NETWORK_SOURCES)} or add "
                f"a [networks.{network}] section to the config file"
            )
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{where}: networks.{network} must be a table")
        nwhere = f"{where}: networks.{network}"
        for key in section or {}:
            if key not in _FIELDS or not declared(key).network:
                known = sorted(n for n in _FIELDS if declared(n).network)
                raise ConfigError(f"{nwhere}: unknown key {key!r}; known keys: {', '.join(known)}")
        layers.append((nwhere, section or {}, lambda k: f"{nwhere}.{k}"))
    environment = {n: env[env_var(n)] for n in _FIELDS if env.get(env_var(n), "") != ""}
    layers.append(("environment", environment, lambda k: f"environment {env_var(k)}"))
    layers.append(("flags", flags, lambda k: f"option {flag_of(k) or k}"))

    raw: dict[str, tuple[Any, str]] = {}
    for _, values, place in layers:
        for key, value in values.items():
            if key != "networks":
                raw[key] = (value, place(key))
    places = {k: p for k, (_, p) in raw.items()}
    # The profile first: addresses of the contracts are read in its forms.
    profile = coerce("profile", *raw.get("profile", ("tron", "default")))
    if profile not in PROFILES:
        raise ConfigError(f"{places['profile']}: profile is {profile!r}; use one of "
                          f"{', '.join(PROFILES)}")
    values = {key: coerce(key, value, place, profile) for key, (value, place) in raw.items()}
    settings = Settings(**values)
    validate(settings, places)
    return settings


def validate(s: Settings, where: Mapping[str, str] | None = None) -> None:
    """Range and choice checks; each failure is one line naming the setting and its place."""
    where = where or {}
    for name in _FIELDS:
        d, value = declared(name), getattr(s, name)
        problem = None
        if d.choices and value is not None and value not in d.choices:
            problem = f"is {value!r}; use one of {', '.join(d.choices)}"
        elif d.check is not None and value is not None:
            problem = d.check(value)
        if problem:
            place = where.get(name)
            raise ConfigError(f"{place}: {name} {problem}" if place else f"{name} {problem}")
