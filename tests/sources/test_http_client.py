"""The shared HTTP client: what its messages may quote, its retry hook, what it refuses to do."""

from __future__ import annotations

import pickle

import pytest
from httpstub import Reply, Seen

from dcmx_core.errors import SourceError
from dcmx_core.http import HttpClient

SIGNATURE = "5e" * 65  # what a TRON broadcast carries that no message should show


def _client(url: str, **options) -> HttpClient:
    return HttpClient(url, timeout=2.0, max_retries=2, backoff=0.001, **options)


def _echo(status: int):
    def handler(seen: Seen) -> Reply:
        return Reply(status=status, body=b"refused: " + seen.body)

    return handler


def test_a_refusal_quotes_the_node_but_never_what_the_caller_conceals(stub_server):
    server = stub_server(_echo(413))
    client = _client(server.url)
    with pytest.raises(SourceError) as info:
        client.post(
            "/wallet/broadcasttransaction",
            {"signature": [SIGNATURE], "txID": "ab" * 32},
            dict,
            what="/wallet/broadcasttransaction",
            conceal=[SIGNATURE],
        )
    message = str(info.value)
    assert "HTTP 413" in message and "refused:" in message  # the node's words are quoted
    assert SIGNATURE[:20] not in message and "***" in message
    assert len(server.seen) == 1  # a 4xx other than 400 is a refusal: not sent again


def test_a_long_echo_is_masked_before_it_is_cut(stub_server):
    """The quote is cut at 200 characters; a concealed value across the cut leaves no part."""
    server = stub_server(_echo(413))
    client = _client(server.url)
    pad = "x" * 150  # puts the signature across the 200th character of the quote
    with pytest.raises(SourceError) as info:
        client.post("/p", {"a": pad, "s": SIGNATURE}, dict, what="/p", conceal=[SIGNATURE])
    assert "5e5e5e" not in str(info.value)


def test_messages_go_through_the_redactor(stub_server):
    server = stub_server(
        lambda seen: Reply(status=401, body=b"bad key https://u:hunter22@node.example/x")
    )
    client = _client(server.url + "/?apikey=not-for-logs")
    with pytest.raises(SourceError) as info:
        client.post("/p", {}, dict, what="/p")
    message = str(info.value)
    assert "hunter22" not in message and "not-for-logs" not in message
    assert "check the API key" in message


def test_on_retry_hears_each_retry_and_its_cause(stub_server):
    replies = [Reply(status=502), Reply(status=503), Reply(body={"ok": True})]
    server = stub_server(lambda seen: replies.pop(0))
    client = _client(server.url)
    heard: list[str] = []
    assert client.post("/p", {}, dict, what="/p", on_retry=heard.append) == {"ok": True}
    assert heard == ["HTTP 502", "HTTP 503"]
    assert (client.stats.requests, client.stats.retries) == (3, 2)


def test_repr_is_redacted_and_pickling_refused():
    client = _client("https://node.example/?apikey=not-for-logs", headers={"X-Key": "k" * 20})
    assert "not-for-logs" not in repr(client) and "node.example" in repr(client)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)
    client.close()


def test_a_failure_s_traceback_locals_hold_neither_request_nor_url_key():
    """What pytest --showlocals or an error tracker prints: every local of every frame."""
    import traceback

    client = HttpClient(
        "http://127.0.0.1:9/?apikey=not-for-logs", timeout=1, max_retries=1, backoff=0.001
    )
    with pytest.raises(SourceError) as info:
        client.post("/p", {"signature": [SIGNATURE]}, dict, what="/p", conceal=[SIGNATURE])
    shown = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert "connection failed" in shown and "HttpClient(" in shown  # the frames are there
    assert SIGNATURE[:20] not in shown and "not-for-logs" not in shown


def test_quote_masks_before_it_cuts():
    from dcmx_core.http import quote

    text = "x" * 190 + SIGNATURE + " password=hunter22"
    assert quote(text, [SIGNATURE]) == "x" * 190 + "*** passwo"  # masked, then cut at 200
    assert quote("password=hunter22  and\nmore", size=80) == "password=*** and more"
