"""A loopback HTTP server that answers like a TRON full node, for the write path.

It serves the endpoints :class:`~dcmx_core.transports.TronpyTransport` uses, with bodies shaped
after the recorded responses in ``tests/data/reference/tron`` (``getnowblock`` after the block
fixture, ``gettransactioninfobyid`` after the ledger fixture, including its real OUT_OF_ENERGY
entry). Broadcast transactions are checked the way java-tron checks them: the txID must be
``sha256(raw_data_hex)``, ``raw_data_hex`` must hold what the JSON ``raw_data`` says (decoded
here with an independent protobuf reader), the reference block must be known, and the
signature must recover (eth_keys) to the owner address; otherwise SIGERROR / TAPOS_ERROR.

Behind it runs a tiny TRC-20: ``transfer`` moves balances and logs ``Transfer``, or reverts
with DCMXToken's custom ``InsufficientBalance``; ``balanceOf`` answers constant calls.
``next_outcome`` forces the next broadcast's fate: "revert", "out_of_energy", "never_confirm",
or "broadcast:<CODE>" (a refusal with a hex message, as java-tron sends it). A transaction the
node already took is refused as java-tron does, with ``DUP_TRANSACTION_ERROR``.

Faults of the write path: ``lose_answers`` broadcasts are taken and then the connection is
closed without an answer (the client cannot tell whether the node got them); ``echo`` makes the
next broadcast's refusal quote the request it refuses: "http" (HTTP 413 with the body echoed),
"refusal" (a java-tron refusal whose hex message is the request) or "error" (an ``Error``).
``headers`` holds the headers of every request (names in lower case), ``arrivals`` their times.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys as eth_keys

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "tron"
TRANSFER_TOPIC = keccak(b"Transfer(address,address,uint256)")
SEL_TRANSFER = keccak(b"transfer(address,uint256)")[:4]
SEL_BALANCE_OF = keccak(b"balanceOf(address)")[:4]
SEL_INSUFFICIENT = keccak(b"InsufficientBalance(address,uint256,uint256)")[:4]
REVERT_MESSAGE = b"REVERT opcode executed".hex()
TOKEN = bytes.fromhex("7d" * 20)  # where the fake node's TRC-20 lives
ALICE = bytes.fromhex("a1" * 20)


def _hexmsg(text: str) -> str:
    return text.encode().hex()


# -- an independent protobuf reader (not the encoder under test) --------------------------------


def _fields(buf: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 2:
            size, i = _read_varint(buf, i)
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def parse_trigger(raw_hex: str) -> dict[str, Any]:
    """The TriggerSmartContract fields and raw-level fields in protobuf ``raw_data`` bytes."""
    raw = _fields(bytes.fromhex(raw_hex))
    (contract,) = raw[11]
    contract_f = _fields(contract)
    any_f = _fields(contract_f[2][0])
    trig = _fields(any_f[2][0])
    return {
        "ref_block_bytes": raw[1][0].hex(),
        "ref_block_hash": raw[4][0].hex(),
        "expiration": raw[8][0],
        "timestamp": raw[14][0],
        "fee_limit": raw.get(18, [0])[0],
        "type": contract_f[1][0],
        "type_url": any_f[1][0].decode(),
        "owner_address": trig[1][0].hex(),
        "contract_address": trig[2][0].hex(),
        "call_value": trig.get(3, [0])[0],
        "data": trig.get(4, [b""])[0].hex(),
    }


def recover_signer(txid_hex: str, signature_hex: str) -> bytes:
    """The 20-byte address that signed ``txid`` (65-byte r||s||v signature, v 0/1 or 27/28)."""
    sig = bytearray(bytes.fromhex(signature_hex))
    if sig[64] >= 27:
        sig[64] -= 27
    public = eth_keys.Signature(bytes(sig)).recover_public_key_from_msg_hash(
        bytes.fromhex(txid_hex)
    )
    return public.to_canonical_address()


class FakeTronNode:
    def __init__(self, token: bytes, balances: dict[bytes, int] | None = None) -> None:
        self.token = token
        self.balances: dict[bytes, int] = dict(balances or {})
        self.head = 66_000_000
        self.head_ms = 1_777_000_000_000
        self.blocks: dict[int, str] = {}
        self._new_block()
        self.next_outcome: str | None = None
        self.constant_revert: bytes | None = None  # revert data for the next constant call
        self.confirm_after = 1  # polls answered {} before the receipt appears
        self.solidify_after = 3  # polls of the solidity endpoint answered {} before it knows
        self.pending: dict[str, dict[str, Any]] = {}
        self.polls: dict[str, int] = {}
        self.broadcasts: list[dict[str, Any]] = []
        self.taken: set[str] = set()  # txids accepted, executed or not
        self.lose_answers = 0
        self.echo: str | None = None
        self.seen: list[tuple[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []  # monotonic time of each request, over HTTP
        self.lock = threading.Lock()
        ledger = json.loads((REFERENCE / "mainnet_gettransactioninfobyid_ledger.json").read_text())
        self.success_shape = ledger[
            "4b845fb536e8022e804506855eaeb8cd7cbb698bf1bfb9e7bbac361bf5541ab9"
        ]
        self.out_of_energy_shape = ledger[
            "13df06d50a1ff1f4a164e25afc946dd7b05df044894b1073b1e92eef41d8a98a"
        ]
        self._server = self._start()

    # -- chain ---------------------------------------------------------------------------------

    def _new_block(self) -> None:
        self.head += 1
        self.head_ms += 3000
        digest = hashlib.sha256(self.head.to_bytes(8, "big") + b"fake").hexdigest()
        self.blocks[self.head] = self.head.to_bytes(8, "big").hex() + digest[16:]

    def now_block(self) -> dict[str, Any]:
        block_id = self.blocks[self.head]
        return {  # the block fixture's shape, an empty block (no "transactions" key)
            "blockID": block_id,
            "block_header": {
                "raw_data": {
                    "number": self.head,
                    "parentHash": self.blocks.get(self.head - 1, "00" * 32),
                    "timestamp": self.head_ms,
                    "txTrieRoot": "00" * 32,
                    "version": 31,
                    "witness_address": "41f29f57614a6b201729473c837e1d2879e9f90b8e",
                },
                "witness_signature": "00" * 65,
            },
        }

    # -- endpoints -----------------------------------------------------------------------------

    def handle(self, path: str, body: Any) -> tuple[int, Any]:
        """``(HTTP status, answer)``; status 0: close the connection without an answer."""
        with self.lock:
            self.seen.append((path, body))
            if path == "/wallet/getnowblock":
                return 200, self.now_block()
            if path == "/wallet/triggerconstantcontract":
                return 200, self.constant(body)
            if path == "/wallet/broadcasttransaction":
                if self.echo is not None:
                    return self._echo(body)
                answer = self.broadcast(body)
                if self.lose_answers and answer.get("result") is True:
                    self.lose_answers -= 1
                    return 0, None
                return 200, answer
            if path == "/wallet/gettransactioninfobyid":
                return 200, self.info(body["value"])
            if path == "/walletsolidity/gettransactioninfobyid":
                return 200, self.solid_info(body["value"])
            return 404, {"Error": f"no such endpoint {path}"}

    def constant(self, body: dict[str, Any]) -> dict[str, Any]:
        data = bytes.fromhex(body["data"])
        if self.constant_revert is not None:
            revert, self.constant_revert = self.constant_revert, None
            return {
                "result": {"code": "CONTRACT_EXE_ERROR", "message": REVERT_MESSAGE},
                "energy_used": 820,
                "constant_result": [revert.hex()],
                "transaction": {"ret": [{"ret": "FAILED"}], "visible": True, "raw_data": {}},
            }
        out = bytes(32)
        if data[:4] == SEL_BALANCE_OF:
            (account,) = abi_decode(["address"], data[4:])
            out = abi_encode(["uint256"], [self.balances.get(bytes.fromhex(account[2:]), 0)])
        return {
            "result": {"result": True},
            "energy_used": 540,
            "constant_result": [out.hex()],
            "transaction": {"ret": [{}], "visible": True, "txID": "00" * 32, "raw_data": {}},
        }

    def _echo(self, body: Any) -> tuple[int, Any]:
        kind, self.echo = self.echo, None
        text = json.dumps({"signature": body.get("signature"), **body})  # within any quote
        if kind == "http":
            return 413, f"request refused: {text}".encode()
        if kind == "error":
            return 200, {"Error": f"class java.lang.IllegalStateException : {text}"}
        return 200, {"code": "OTHER_ERROR", "txid": body.get("txID"), "message": _hexmsg(text)}

    def broadcast(self, tx: dict[str, Any]) -> dict[str, Any]:
        txid = tx["txID"]
        refuse = self._validate(tx)
        if refuse is not None:
            code, message = refuse
            return {"code": code, "txid": txid, "message": _hexmsg(message)}
        if txid in self.taken:  # java-tron's validateDup: in the pending pool or in a block
            return {"code": "DUP_TRANSACTION_ERROR", "txid": txid,
                    "message": _hexmsg("Dup transaction.")}
        outcome, self.next_outcome = self.next_outcome, None
        if outcome and outcome.startswith("broadcast:"):
            code = outcome.split(":", 1)[1]
            message = {
                "BANDWITH_ERROR": "Account resource insufficient error.",
                "CONTRACT_VALIDATE_ERROR": "Contract validate error : No contract or not a "
                "valid smart contract",
                "SERVER_BUSY": "Server busy.",
            }.get(code, "error")
            return {"code": code, "txid": txid, "message": _hexmsg(message)}
        fields = parse_trigger(tx["raw_data_hex"])
        self.broadcasts.append({"tx": tx, "fields": fields, "outcome": outcome})
        self.taken.add(txid)
        if outcome != "never_confirm":
            self.pending[txid] = self._execute(txid, fields, outcome)
        return {"result": True, "txid": txid}

    def _validate(self, tx: dict[str, Any]) -> tuple[str, str] | None:
        raw_hex = tx.get("raw_data_hex", "")
        if hashlib.sha256(bytes.fromhex(raw_hex)).hexdigest() != tx["txID"]:
            return "SIGERROR", "Validate signature error: txID is not sha256(raw_data)"
        fields = parse_trigger(raw_hex)
        value = tx["raw_data"]["contract"][0]["parameter"]["value"]
        expect = {
            "owner_address": value["owner_address"],
            "contract_address": value["contract_address"],
            "data": value.get("data", ""),
            "call_value": value.get("call_value", 0),
            "fee_limit": tx["raw_data"].get("fee_limit", 0),
            "ref_block_bytes": tx["raw_data"]["ref_block_bytes"],
            "expiration": tx["raw_data"]["expiration"],
        }
        if any(fields[k] != v for k, v in expect.items()) or fields["type"] != 31:
            return "OTHER_ERROR", "raw_data does not match raw_data_hex"
        known = {bid[12:16]: bid[16:32] for bid in self.blocks.values()}
        if known.get(fields["ref_block_bytes"]) != fields["ref_block_hash"]:
            return "TAPOS_ERROR", "Tapos check error"
        if fields["expiration"] <= self.head_ms:
            return "TRANSACTION_EXPIRATION_ERROR", "Transaction expired"
        (signature,) = tx["signature"]
        try:
            signer = recover_signer(tx["txID"], signature)
        except Exception:  # noqa: BLE001
            return "SIGERROR", "Validate signature error: bad signature"
        if "41" + signer.hex() != fields["owner_address"]:
            return "SIGERROR", (
                f"Validate signature error: {signer.hex()} is signed by 41{signer.hex()} but it "
                f"is not contained of permission."
            )
        return None

    def _execute(self, txid: str, f: dict[str, Any], outcome: str | None) -> dict[str, Any]:
        self._new_block()
        base = {"id": txid, "blockNumber": self.head, "blockTimeStamp": self.head_ms}
        contract = f["contract_address"]
        data = bytes.fromhex(f["data"])
        sender = bytes.fromhex(f["owner_address"])[1:]
        if outcome == "out_of_energy":
            info = dict(self.out_of_energy_shape, **base)
            return dict(info, contract_address=contract)
        revert = None
        if outcome == "revert":
            revert = SEL_INSUFFICIENT + abi_encode(
                ["address", "uint256", "uint256"], [sender, 0, 1]
            )
        logs: list[dict[str, Any]] = []
        if revert is None and bytes.fromhex(contract[2:]) == self.token:
            if data[:4] == SEL_TRANSFER:
                to, amount = abi_decode(["address", "uint256"], data[4:])
                to = bytes.fromhex(to[2:])
                have = self.balances.get(sender, 0)
                if have < amount:
                    revert = SEL_INSUFFICIENT + abi_encode(
                        ["address", "uint256", "uint256"], [sender, have, amount]
                    )
                else:
                    self.balances[sender] = have - amount
                    self.balances[to] = self.balances.get(to, 0) + amount
                    logs.append(
                        {
                            "address": contract[2:],
                            "topics": [
                                TRANSFER_TOPIC.hex(),
                                bytes(12).hex() + sender.hex(),
                                bytes(12).hex() + to.hex(),
                            ],
                            "data": amount.to_bytes(32, "big").hex(),
                        }
                    )
        if revert is not None:
            return {
                **base,
                "fee": 1_234_560,
                "contractResult": [revert.hex()],
                "contract_address": contract,
                "receipt": {
                    "energy_fee": 1_234_560,
                    "energy_usage_total": 2_940,
                    "net_usage": 345,
                    "result": "REVERT",
                },
                "result": "FAILED",
                "resMessage": REVERT_MESSAGE,
            }
        info = json.loads(json.dumps(self.success_shape))
        info.update(base, contract_address=contract)
        info["contractResult"] = [abi_encode(["bool"], [True]).hex()]
        if logs:
            info["log"] = logs
        else:
            info.pop("log", None)
        return info

    def solid_info(self, txid: str) -> dict[str, Any]:
        """The solidity node's answer: a transaction known a few polls after its block
        (``solidify_after`` polls of the solidity endpoint), as java-tron's lags the head."""
        key = "solid:" + txid
        self.polls[key] = self.polls.get(key, 0) + 1
        if txid in self.pending and self.polls[key] > self.solidify_after:
            return self.pending[txid]
        return {}

    def info(self, txid: str) -> dict[str, Any]:
        self.polls[txid] = self.polls.get(txid, 0) + 1
        if txid in self.pending and self.polls[txid] > self.confirm_after:
            return self.pending[txid]
        return {}  # java-tron's answer for an unknown (not yet included) transaction

    # -- server --------------------------------------------------------------------------------

    def _start(self) -> ThreadingHTTPServer:
        node = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                with node.lock:
                    node.headers.append({k.lower(): v for k, v in self.headers.items()})
                    node.arrivals.append(time.monotonic())
                status, reply = node.handle(self.path, body)
                if status == 0:  # taken, but the answer is lost on the way
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def upstream(self, path: str, body: bytes) -> tuple[int, bytes]:
        """This node as a fault proxy's upstream (``tests/faults/proxy.py``)."""
        status, reply = self.handle(path, json.loads(body) if body else {})
        return status, reply if isinstance(reply, bytes) else json.dumps(reply).encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
