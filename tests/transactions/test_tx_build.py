"""Building and signing TRON transactions offline, and loading keys from the environment."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import traceback

import pytest
from tx_tron_node import TOKEN, parse_trigger, recover_signer

from dcmx_core.addresses import to_tron
from dcmx_core.errors import ConfigError
from dcmx_core.keys import SigningKey, load_signing_key
from dcmx_core.transports import TronpyTransport, encode_raw_data

REF_BLOCK = ("0000000003fe1ca05cf7aa1e2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e", 1_777_437_762_000)


# A node that cannot exist (.invalid never resolves): offline work must not need it, and the
# transport's request counter proves that nothing was even tried.
OFFLINE = "http://offline.invalid/"


def test_block_fixture_reencodes_byte_for_byte(reference):
    """The protobuf encoder against a real signed mainnet transaction (TransferAssetContract)."""
    path = reference / "tron" / "mainnet_getblockbylimitnext_30864542.json"
    block = json.loads(path.read_text())
    (tx,) = block["block"][0]["transactions"]
    raw = encode_raw_data(tx["raw_data"])
    assert raw.hex() == tx["raw_data_hex"]
    assert hashlib.sha256(raw).hexdigest() == tx["txID"]
    # the fake node's signature check, on a real signature: it recovers to the real owner
    owner = tx["raw_data"]["contract"][0]["parameter"]["value"]["owner_address"]
    (signature,) = tx["signature"]
    assert "41" + recover_signer(tx["txID"], signature).hex() == owner


def test_build_and_sign_offline(key_hex):
    key = SigningKey.from_hex(key_hex)
    transport = TronpyTransport(OFFLINE, key_hex, fee_limit=42_000_000)
    assert transport.owner == key.address == to_tron(key.address_bytes)
    to, data = bytes.fromhex("22" * 20), bytes.fromhex("a9059cbb") + bytes(64)
    tx = transport.build(to, data, value=7, ref_block=REF_BLOCK, now_ms=1_777_437_760_000)

    assert tx.txid == hashlib.sha256(bytes.fromhex(tx.raw_data_hex)).hexdigest()
    assert recover_signer(tx.txid, tx.signature) == key.address_bytes
    raw = tx.raw_data
    assert raw["fee_limit"] == 42_000_000
    assert raw["ref_block_bytes"] == REF_BLOCK[0][12:16]
    assert raw["ref_block_hash"] == REF_BLOCK[0][16:32]
    assert raw["expiration"] == REF_BLOCK[1] + 60_000
    (contract,) = raw["contract"]
    assert contract["type"] == "TriggerSmartContract"
    value = contract["parameter"]["value"]
    assert value == {
        "owner_address": "41" + key.address_bytes.hex(),
        "contract_address": "41" + "22" * 20,
        "data": data.hex(),
        "call_value": 7,
    }
    # what is signed (the protobuf bytes) holds the same, read back independently
    fields = parse_trigger(tx.raw_data_hex)
    assert fields["type"] == 31
    assert fields["type_url"] == "type.googleapis.com/protocol.TriggerSmartContract"
    assert (fields["fee_limit"], fields["call_value"]) == (42_000_000, 7)
    assert fields["data"] == data.hex()
    assert fields["contract_address"] == "41" + "22" * 20
    assert fields["owner_address"] == "41" + key.address_bytes.hex()
    body = tx.to_json()
    assert body["txID"] == tx.txid and body["signature"] == [tx.signature]
    assert key_hex not in json.dumps(body) and key_hex not in repr(tx)
    assert transport.stats.requests == 0


def test_zero_value_is_left_out_as_protobuf_does(key_hex):
    transport = TronpyTransport(OFFLINE, key_hex)
    tx = transport.build(bytes(19) + b"\x01", b"\x12\x34\x56\x78", ref_block=REF_BLOCK)
    assert "call_value" not in tx.raw_data["contract"][0]["parameter"]["value"]
    assert parse_trigger(tx.raw_data_hex)["call_value"] == 0
    assert tx.raw_data["fee_limit"] == 100_000_000  # the default: 100 TRX


def test_build_without_key_says_what_to_set():
    with pytest.raises(ConfigError, match="DCMX_PRIVATE_KEY"):
        TronpyTransport(OFFLINE).build(bytes(20), b"", ref_block=REF_BLOCK)


@pytest.mark.parametrize("fee_limit", [0, -1, 1.5, "100"])
def test_bad_fee_limit(fee_limit):
    with pytest.raises(ConfigError, match="fee_limit"):
        TronpyTransport(OFFLINE, fee_limit=fee_limit)


# -- keys --------------------------------------------------------------------------------------


def test_missing_key_names_the_variables(monkeypatch):
    monkeypatch.delenv("DCMX_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("DCMX_KEYSTORE", raising=False)
    with pytest.raises(ConfigError) as info:
        TronpyTransport.from_env("http://127.0.0.1:1/")
    message = str(info.value)
    assert "DCMX_PRIVATE_KEY" in message and "DCMX_KEYSTORE" in message


@pytest.mark.parametrize(
    "bad",
    [
        "zz-secret-value-zz",
        "ab" * 31,  # too short
        "ab" * 33,  # too long
        "00" * 32,  # zero: outside secp256k1
        "ff" * 32,  # >= n
        "0x" + "g1" * 32,
    ],
)
def test_invalid_key_is_rejected_without_echo(monkeypatch, bad):
    monkeypatch.setenv("DCMX_PRIVATE_KEY", bad)
    with pytest.raises(ConfigError) as info:
        TronpyTransport.from_env("http://127.0.0.1:1/")
    message = str(info.value)
    assert "DCMX_PRIVATE_KEY" in message
    assert bad not in message and bad[2:] not in message and bad[:16] not in message
    exc = info.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    assert bad not in "".join(traceback.format_exception(exc))


def test_from_env_sends_the_api_key_and_signs_with_the_env_key(node, key_env, monkeypatch):
    monkeypatch.setenv("DCMX_TRON_API_KEY", "api-key-value")
    transport = TronpyTransport.from_env(node.url, fee_limit=5_000_000, poll_interval=0.02)
    assert transport.owner == SigningKey.from_hex(key_env).address
    assert transport.fee_limit == 5_000_000
    assert transport.transact(TOKEN, b"\x00\x00\x00\x01").succeeded
    assert len(node.headers) >= 3  # reference block, broadcast, receipt
    assert all(h["tron-pro-api-key"] == "api-key-value" for h in node.headers)
    assert "api-key-value" not in repr(transport)
    assert node.broadcasts[-1]["fields"]["fee_limit"] == 5_000_000


def test_no_api_key_sends_none(node, key_env):
    """Not even tronpy's shared TronGrid keys: the user's key or nothing."""
    TronpyTransport.from_env(node.url).reference_block()
    assert node.headers and all("tron-pro-api-key" not in h for h in node.headers)


def test_a_tronpy_client_is_taken_over(node, key_hex):
    """Code written for earlier versions passes a tronpy.Tron: its endpoint, time-out and API
    key serve the shared client; tronpy itself sends nothing."""
    from tronpy import Tron
    from tronpy.providers import HTTPProvider

    provider = HTTPProvider(node.url, timeout=3.5, api_key="tronpy-given-key")
    provider.sess.headers["TRON-PRO-API-KEY"] = "tronpy-given-key"
    provider.sess.post = None  # a request through tronpy would fail the test
    transport = TronpyTransport(Tron(provider=provider), key_hex, poll_interval=0.02)
    assert transport.transact(TOKEN, b"\x00\x00\x00\x01").succeeded
    assert all(h["tron-pro-api-key"] == "tronpy-given-key" for h in node.headers)
    assert transport._http.timeout == 3.5

    with pytest.raises(ConfigError, match="URL, an HttpClient or a tronpy.Tron"):
        TronpyTransport(object(), key_hex)


def test_node_options_go_with_a_url_not_a_ready_client(key_hex):
    from dcmx_core.http import HttpClient

    client = HttpClient("http://127.0.0.1:9", timeout=1, max_retries=0, backoff=0)
    with pytest.raises(ConfigError, match="api_key, max_rate cannot be applied"):
        TronpyTransport(client, key_hex, api_key="k" * 12, max_rate=5)
    with TronpyTransport(client, key_hex) as transport:
        assert transport.stats is client.stats
    assert not client._client.is_closed  # the transport closes only a client it made
    with pytest.raises(ConfigError, match="not an http"):
        TronpyTransport("ftp://node.example/", key_hex)


def test_signing_key_never_shows_itself(key_hex):
    key = SigningKey.from_hex("0x" + key_hex.upper())
    for text in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert key_hex not in text.lower() and key.address in text
    for copier in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            copier(key)
    assert not hasattr(key, "__dict__")
    transport = TronpyTransport(OFFLINE, key)
    with pytest.raises(TypeError):
        pickle.dumps(transport)


def test_tronpy_private_key_is_accepted_and_not_kept(key_hex):
    from tronpy.keys import PrivateKey

    transport = TronpyTransport(OFFLINE, PrivateKey(bytes.fromhex(key_hex)))
    assert transport.owner == SigningKey.from_hex(key_hex).address
    assert not any(isinstance(v, PrivateKey) for v in vars(transport).values())


def test_keystore_with_password_from_env(tmp_path, key_hex, monkeypatch):
    from eth_account import Account

    keyfile = Account.encrypt(key_hex, "correct horse", kdf="pbkdf2", iterations=2)
    path = tmp_path / "sender.json"
    path.write_text(json.dumps(keyfile))
    env = {"DCMX_KEYSTORE": str(path), "DCMX_KEYSTORE_PASSWORD": "correct horse"}
    key = load_signing_key(environ=env)
    assert key.address_bytes == SigningKey.from_hex(key_hex).address_bytes

    with pytest.raises(ConfigError, match="wrong password in DCMX_KEYSTORE_PASSWORD") as info:
        load_signing_key(environ=dict(env, DCMX_KEYSTORE_PASSWORD="wrong"))
    assert "wrong" not in str(info.value).replace("wrong password", "")
    with pytest.raises(ConfigError, match="set DCMX_KEYSTORE_PASSWORD"):
        load_signing_key(environ={"DCMX_KEYSTORE": str(path)})
    with pytest.raises(ConfigError, match="cannot be read"):
        load_signing_key(environ=dict(env, DCMX_KEYSTORE=str(tmp_path / "missing.json")))

    monkeypatch.delenv("DCMX_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("DCMX_KEYSTORE", str(path))
    monkeypatch.setenv("DCMX_KEYSTORE_PASSWORD", "correct horse")
    transport = TronpyTransport.from_env("http://127.0.0.1:9/")
    assert transport.owner == key.address
