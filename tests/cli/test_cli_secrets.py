"""Every form of secret is refused from the config file and masked wherever dcmx writes.

Reported: a password in a database URL's query string was printed in the run's log line and in
``status --json``; under ``--debug`` an exception carrying a node's echo of its API key was
printed in clear; a private key pasted where an address belongs was echoed in the error.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.redaction import mask_keys, redact

PASSWORD = "hunter2-Sekr3t"
API_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PRIVATE_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


FILE_SECRETS = [
    ("database_url", f"postgresql://u@127.0.0.1/test?password={PASSWORD}", "DCMX_DATABASE_URL"),
    ("database_url", f"postgresql://u@127.0.0.1/test?sslpassword={PASSWORD}",
     "DCMX_DATABASE_URL"),
    ("database_url", f"postgresql://u:{PASSWORD}@127.0.0.1/test", "DCMX_DATABASE_URL"),
    ("source", f"https://node.example/jsonrpc?apikey={API_KEY}", "DCMX_SOURCE"),
    ("source", f"https://node.example/v3/{API_KEY}", "DCMX_SOURCE"),
    ("source", f"https://{API_KEY}@node.example/jsonrpc", "DCMX_SOURCE"),
    ("solidity_url", f"https://node.example/walletsolidity?key={API_KEY}", "DCMX_SOLIDITY_URL"),
]


@pytest.mark.parametrize(("key", "url", "variable"), FILE_SECRETS,
                         ids=[u.split("//")[1][:30] for _, u, _ in FILE_SECRETS])
@pytest.mark.parametrize("command", ["run", "status", "rebuild"])
def test_a_secret_in_the_config_file_is_refused_naming_its_variable(
    tmp_path, key, url, variable, command
):
    config = tmp_path / "dcmx.toml"
    config.write_text(f'{key} = "{url}"\n')
    r = invoke("--config", str(config), command)
    assert r.exit_code == 2, r.output
    assert variable in r.stderr
    assert PASSWORD not in r.output and API_KEY not in r.output


def test_a_password_in_the_query_is_masked_in_the_log_line_and_status(
    chain_file, token_config, pg_url
):
    url = f"{pg_url}&password={PASSWORD}"
    env = {"DCMX_DATABASE_URL": url}
    r = invoke("--config", str(token_config), "run", "--source", f"file:{chain_file[0]}",
               "--plugins", "", "--to-block", "10", env=env)
    assert r.exit_code == 0, r.stderr
    assert "indexing" in r.stderr and "password=***" in r.stderr
    assert PASSWORD not in r.output
    r = invoke("--config", str(token_config), "status", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["database"].endswith("password=***")
    assert PASSWORD not in r.output


class _EchoingNode(BaseHTTPRequestHandler):
    """A node that refuses every request, quoting the path it was asked (its API key)."""

    def do_POST(self) -> None:
        body = f"invalid API key {self.path.rsplit('/', 1)[-1]} for this project".encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_node():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
def test_a_node_echoing_its_key_is_masked_even_in_tracebacks(
    echoing_node, sqlite_url, debug
):
    env = {"DCMX_SOURCE": f"{echoing_node}/v3/{API_KEY}"}
    r = invoke(*debug, "run", "--source-kind", "jsonrpc", "--profile", "evm", "--db",
               sqlite_url, "--contract", "DCMXToken=0x" + "11" * 20, "--to-block", "5", env=env)
    assert r.exit_code == 3, r.output
    assert "invalid API key *** for this project" in r.stderr
    assert API_KEY not in r.output
    if debug:
        assert "Traceback" in r.stderr


@pytest.mark.parametrize("value", [
    PRIVATE_KEY, "0x" + PRIVATE_KEY, "T" + PRIVATE_KEY, "41" + PRIVATE_KEY,
    f"dcmx_generated.token@{PRIVATE_KEY}", f"{PRIVATE_KEY}@dcmx_generated.token",
    "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ",  # WIF
])
@pytest.mark.parametrize("form", ["flag", "file"])
def test_a_private_key_where_an_address_belongs_is_never_echoed(tmp_path, value, form):
    config = tmp_path / "dcmx.toml"
    if form == "flag":
        config.write_text("")
        args = ["--contract", f"DCMXToken={value}"]
    else:
        config.write_text(f'[contracts]\nDCMXToken = "{value}"\n')
        args = []
    r = invoke("--config", str(config), "run", "--source", "file:none", "--db",
               f"sqlite:///{tmp_path / 'x.db'}", *args)
    assert r.exit_code == 2, r.output
    secret = value.split("@")[0] if value.startswith(("4", "0", "T", "5")) else PRIVATE_KEY
    assert PRIVATE_KEY[8:40] not in r.output and secret[10:40] not in r.output, r.output
    assert not (tmp_path / "x.db").exists()


def test_mask_keys_leaves_addresses_and_words():
    text = "address 0x" + "ab" * 20 + " and TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert mask_keys(text) == text
    assert PRIVATE_KEY not in mask_keys(f"key={PRIVATE_KEY}")
    assert API_KEY not in redact(f"https://node.example/v3/{API_KEY}")


@pytest.mark.parametrize("args", [
    ["run", "--network", PRIVATE_KEY], ["run", "--profile", PRIVATE_KEY],
    ["run", "--window", PRIVATE_KEY], ["status", "--db", PRIVATE_KEY],
    ["run", "--plugins", PRIVATE_KEY, "--source", "file:none"],
], ids=["network", "profile", "window", "db", "plugins"])
def test_a_private_key_pasted_into_any_option_is_never_echoed(tmp_path, args):
    config = tmp_path / "dcmx.toml"
    config.write_text("")
    r = invoke("--config", str(config), *args)
    assert r.exit_code == 2, r.output
    assert PRIVATE_KEY[8:40] not in r.output, r.output
