"""Configuration: precedence, bad values, secrets refused; each error one line, exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dcmx_core import settings as config
from dcmx_core.cli import cli
from dcmx_core.contracts import resolve
from dcmx_core.errors import AddressError, ConfigError
from dcmx_core.redaction import redact_url

TRON_USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "dcmx.toml"
    p.write_text(text)
    return str(p)


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path):
    path = write(tmp_path, 'window = 30\nbatch_blocks = 50\nlog_format = "json"\n')
    s = config.load(path, env={})
    assert (s.window, s.batch_blocks, s.log_format, s.poll_interval) == (30, 50, "json", 3.0)
    s = config.load(path, env={"DCMX_WINDOW": "40", "DCMX_LOG_FORMAT": "human"})
    assert (s.window, s.batch_blocks, s.log_format) == (40, 50, "human")
    s = config.load(path, {"window": 50, "batch_blocks": None}, env={"DCMX_WINDOW": "40"})
    assert (s.window, s.batch_blocks) == (50, 50)


def test_default_file_is_read_from_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path, "window = 33\n")
    monkeypatch.chdir(tmp_path)
    assert config.load(env={}).window == 33
    assert config.load(env={"DCMX_CONFIG": str(tmp_path / "dcmx.toml")}).window == 33


def test_network_contracts_accept_tron_and_hex_addresses(tmp_path):
    raw = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
    path = write(
        tmp_path,
        f'network = "nile"\n[networks.nile.contracts]\nDCMXToken = "{TRON_USDT}"\n'
        f'MusicNFT = "0x{raw.hex()}"\n',
    )
    s = config.load(path, env={})
    assert {c.name: c.addresses for c in s.contracts} == {"DCMXToken": (raw,), "MusicNFT": (raw,)}
    assert s.sources() == ("tron+https://nile.trongrid.io",)
    # The network's own source applies unless the environment or a flag names one.
    assert config.load(path, env={"DCMX_SOURCE": "http://x:1"}).sources() == ("http://x:1",)


def test_source_pace_settings_reach_the_tron_source(tmp_path):
    from dcmx_core.sources.factory import make_source

    path = write(
        tmp_path,
        'network = "mainnet"\n[networks.mainnet]\nsource_concurrency = 4\nsource_max_rate = 15\n',
    )
    s = config.load(path, env={})
    assert (s.source_concurrency, s.source_max_rate) == (4, 15.0)
    with make_source(s) as source:  # TronGrid, the mainnet default; nothing is sent
        assert source._concurrency == 4
        assert source._wallet.pacer.gap == pytest.approx(1 / 15)
    s = config.load(path, env={"DCMX_SOURCE_MAX_RATE": "2.5", "DCMX_SOURCE": "http://x:1"})
    with make_source(s) as source:  # JSON-RPC takes the cap too
        assert source._transport.pacer.gap == pytest.approx(0.4)
    with make_source(config.load(write(tmp_path, ""), env={"DCMX_SOURCE": "http://x:1"})) as source:
        assert source._transport.pacer is None


@pytest.mark.parametrize(
    ("text", "env", "match"),
    [
        ('window = "wide"\n', {}, "window must be an integer"),
        ("source_concurrency = 0\n", {}, "source_concurrency must be >= 1"),
        ("", {"DCMX_SOURCE_MAX_RATE": "0"}, "source_max_rate must be > 0"),
        ("", {"DCMX_SOURCE_MAX_RATE": "fast"}, "source_max_rate must be a number"),
        ("window = 0\n", {}, "window must be at least 1"),
        ("windw = 3\n", {}, "unknown key 'windw'"),
        ('log_format = "xml"\n', {}, "log_format is 'xml'"),
        ("", {"DCMX_WINDOW": "many"}, "DCMX_WINDOW: window must be an integer"),
        ("", {"DCMX_METRICS_PORT": "70000"}, "metrics_port must be 0..65535"),
        ('network = "moon"\n', {}, "unknown network 'moon'"),
        ('database_url = "mysql://u@h/db"\n', {}, "not a SQLite or PostgreSQL URL"),
        ("window = [\n", {}, "not valid TOML"),
    ],
)
def test_bad_values_say_which(tmp_path, text, env, match):
    with pytest.raises(ConfigError, match=match):
        config.load(write(tmp_path, text), env=env)


def test_bad_address_names_the_key(tmp_path):
    bad = TRON_USDT[:-1] + "u"
    path = write(tmp_path, f'[networks.nile.contracts]\nDCMXToken = "{bad}"\n')
    with pytest.raises(AddressError, match=r"networks\.nile\.contracts\.DCMXToken: .*checksum"):
        config.load(path, {"network": "nile"}, env={})
    path = write(tmp_path, '[networks.nile.contracts]\nDCMXCoin = "0x' + "11" * 20 + '"\n')
    specs = config.load(path, {"network": "nile"}, env={}).contracts
    with pytest.raises(ConfigError, match=r"contracts\.DCMXCoin: unknown contract"):
        resolve(specs)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('database_url = "postgresql://dcmx:hunter22@db/dcmx"\n', "DCMX_DATABASE_URL"),
        ('[networks.nile]\nsource = "https://u:hunter22@node/jsonrpc"\n', "DCMX_SOURCE"),
        ('[networks.nile]\nprivate_key = "hunter22"\n', "environment"),
        ('api_key = "hunter22"\n', "environment"),
    ],
)
def test_secrets_in_the_file_are_refused(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as info:
        config.load(write(tmp_path, text), env={})
    assert "hunter22" not in str(info.value)


def test_a_password_from_the_environment_is_fine(tmp_path):
    s = config.load(write(tmp_path, ""), env={"DCMX_DATABASE_URL": "postgresql://a:pw@h/db"})
    assert s.database_url == "postgresql://a:pw@h/db"
    assert redact_url(s.database_url) == "postgresql://a:***@h/db"


@pytest.mark.parametrize(
    ("args", "code", "match"),
    [
        (["run", "--window", "0"], 2, "window must be at least 1"),
        (["run", "--source", "ftp://node", "--network", "nile"], 2, "not one dcmx reads"),
        (["run", "--source", "tron+https://", "--network", "nile"], 2, "not an http(s) URL"),
        (["run", "--db", "mysql://u@h/x"], 2, "not a SQLite or PostgreSQL URL"),
        (["run", "--network", "mainnet"], 2, "no contract addresses configured"),
        (["status"], 2, "no database at"),
        (["run", "--source", "http://127.0.0.1:1", "--contract", "DCMXToken=0x" + "11" * 20,
          "--plugins", "nope"], 2, "unknown plugin(s) nope"),
        (["--config", "missing.toml", "status"], 2, "config file missing.toml not found"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path, monkeypatch, args, code, match):
    monkeypatch.chdir(tmp_path)
    for var in ("DCMX_DATABASE_URL", "DCMX_SOURCE", "DCMX_NETWORK", "DCMX_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert match in lines[0]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be written on a configuration error"


def test_debug_adds_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--debug", "run", "--window", "0"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "window must be at least 1" in result.stderr


def test_bad_file_from_the_cli_names_the_key_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path, 'database_url = "sqlite:///x.db"\n[networks.nile.contracts]\nMusicNFT = "0x12"\n'
    )
    result = CliRunner().invoke(cli, ["run", "--network", "nile"])
    assert result.exit_code == 2
    assert "networks.nile.contracts.MusicNFT" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_run_help_documents_precedence():
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "flags > environment > config file > defaults" in result.output
    assert "DCMX_DATABASE_URL" in result.output
    for command in ("demo", "run", "status", "rollback", "rebuild", "plugins", "simulate"):
        assert CliRunner().invoke(cli, [command, "--help"]).exit_code == 0


def _spec(name: str, module: str):
    from dcmx_core.contracts import parse_contract_flag

    return parse_contract_flag(f"{name}={module}@0x{'11' * 20}", "evm", "--contract")


def test_a_generated_package_names_its_contract(monkeypatch, tmp_path):
    """MODULE may be the package dcmx-codegen wrote: the contract of that name, or its only
    one; with several and no match, the error lists the modules to choose from."""
    import dcmx_generated

    (one,) = resolve([_spec("DCMXToken", "dcmx_generated")])
    assert one.module is dcmx_generated.CONTRACTS["DCMXToken"]
    with pytest.raises(ConfigError, match=r"holds several contracts .*modules: .*dcmx_token"):
        resolve([_spec("Token", "dcmx_generated")])


def test_bindings_made_in_the_current_folder_are_found(monkeypatch, tmp_path):
    """`dcmx-codegen ABI -o mytoken` then `dcmx run --contract T=mytoken@...` from the same
    folder, as the README shows: the folder is looked in after everything installed."""
    import shutil
    import sys

    src = Path(__file__).resolve().parents[2] / "generated" / "dcmx_token.py"
    pkg = tmp_path / "fresh_bindings_pkg"
    pkg.mkdir()
    shutil.copy(src, pkg / "tok.py")
    (pkg / "__init__.py").write_text("from . import tok\nCONTRACTS = {'DCMXToken': tok}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    (one,) = resolve([_spec("Mine", "fresh_bindings_pkg")])
    assert one.module.__name__ == "fresh_bindings_pkg.tok"
    with pytest.raises(ConfigError, match="cannot import module 'no_such_bindings'"):
        resolve([_spec("Other", "no_such_bindings")])
