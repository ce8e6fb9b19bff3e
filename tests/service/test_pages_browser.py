"""The pages in a real browser: Debian's chromium, headless, driven by Playwright, against a
real ``dcmx serve`` over a simulated platform (the demo's chain, with a fork).

One served database and one browser for the module. Each page loads at desktop and phone
width without a console error, a failed request or a horizontal scroll, and is saved as a
screenshot (into ``$DCMX_SCREENSHOTS``, else a ``screenshots`` folder under pytest's
temporary directory); search narrows the marketplace as one types; pagination walks every
NFT and a wallet's whole history; charts' numbers equal the SQL; sign-in works with a
TronLink and an EVM wallet injected into the page, signing in Python with a known key the
way each does; keyboard focus is ordered and visible; the Overview refreshes itself while
the indexer commits. Chain text is markup on purpose in one NFT: it must show as text.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from tronpy.keys import PrivateKey
from web3 import Web3

from dcmx_core.addresses import to_tron
from dcmx_plugins.compliance import acceptances, deletion_requests
from dcmx_plugins.demo import run_demo
from dcmx_plugins.devchain import load_artifact
from dcmx_plugins.nft import nft_index
from dcmx_plugins.royalty import royalty_credits, royalty_sales
from dcmx_plugins.token import transaction_index

from .conftest import served

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE_TITLE = '<img src=x onerror="window.__xss=1">Night & "Day"</script>'
HOSTILE_ARTIST = "'><script>window.__xss=2</script>"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The demo's platform indexed into SQLite, plus one NFT whose title and artist are
    markup; the devchain, simulator and indexer stay alive for more activity."""
    path = tmp_path_factory.mktemp("pages") / "demo.db"
    result = run_demo(f"sqlite:///{path}", rounds=6, seed=3, window=128)
    chain = result["chain"]
    nft = chain.w3.eth.contract(
        address=Web3.to_checksum_address("0x" + result["addresses"]["MusicNFT"].hex()),
        abi=load_artifact("MusicNFT")["abi"])
    chain.transact(nft.functions.mint(chain.admin, HOSTILE_TITLE, HOSTILE_ARTIST, "jazz",
                                      keccak(b"hostile"), 1, 1, chain.admin, 500))
    result["indexer"].run()
    result["path"] = str(path)
    yield result
    result["engine"].dispose()


@pytest.fixture(scope="module")
def base(demo, redis_url, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("pages-log") / "serve.log"
    with served(demo["path"], "--redis", redis_url, log=log) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = shutil.which("chromium")
    if exe is None:
        _unavailable("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("DCMX_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def sql(demo: dict[str, Any], stmt: Any) -> list[Any]:
    with demo["engine"].connect() as conn:
        return conn.execute(stmt).all()


class Problems(list):
    """Console errors, uncaught exceptions, failed requests and error answers of a page."""

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
                and self.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.append(f"{r.status} {r.url}"))


@contextmanager
def opened(browser: Any, viewport: dict[str, int] = DESKTOP, init: str | None = None,
           expose: dict[str, Any] | None = None) -> Iterator[tuple[Any, Problems]]:
    context = browser.new_context(viewport=viewport)
    for name, fn in (expose or {}).items():
        context.expose_function(name, fn)
    if init:
        context.add_init_script(init)
    page = context.new_page()
    problems = Problems()
    problems.watch(page)
    try:
        yield page, problems
    finally:
        context.close()


def picks(demo: dict[str, Any]) -> dict[str, Any]:
    """A wallet with claims, acceptances and deletion requests (and its key), the NFT and the
    artist with the most sales."""
    a, d = acceptances.c, deletion_requests.c
    counts: dict[str, int] = {}
    for (w,) in sql(demo, sa.select(a.wallet)) + sql(demo, sa.select(d.wallet)):
        counts[w] = counts.get(w, 0) + 1
    keys = {to_tron(bytes.fromhex(acc.address[2:])): acc.key for acc in demo["sim"].accounts}
    wallet = max((w for w in counts if w in keys), key=lambda w: (counts[w], w))
    n = nft_index.c
    token, artist = sql(demo, sa.select(n.token_id, n.artist).order_by(
        n.sales.desc(), n.token_id).limit(1))[0]
    return {"wallet": wallet, "key": bytes(keys[wallet]), "token": token, "artist": artist}


# -- every page ------------------------------------------------------------------------------


def test_every_page_loads_clean_at_desktop_and_phone_width(demo, base, browser, shots):
    p = picks(demo)
    pages = {
        "overview": "/overview", "marketplace": "/market", "nft": f"/nft/{p['token']}",
        "artist": "/artist?" + httpx.QueryParams({"name": p["artist"]}).__str__(),
        "wallet": f"/wallet/{p['wallet']}", "trending": "/trending?window=all",
        "sign-in": "/sign-in",
    }
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        with opened(browser, viewport) as (page, problems):
            for name, path in pages.items():
                response = page.goto(base + path)
                assert response.status == 200, (path, response.status)
                headers = response.headers
                assert "script-src 'self'" in headers["content-security-policy"]
                assert "default-src 'none'" in headers["content-security-policy"]
                page.wait_for_load_state("load")
                assert page.locator("h1").count() == 1, path
                assert page.evaluate("document.querySelectorAll('script:not([src])').length") \
                    == 0, f"{path}: an inline script"
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{path} scrolls sideways at {size}: {width}"
                page.screenshot(path=str(shots / f"{name}-{size}.png"), full_page=True)
            assert not problems, problems
    assert len(list(shots.glob("*.png"))) >= 14


def test_chain_text_that_is_markup_shows_as_text(demo, base, browser):
    with opened(browser) as (page, problems):
        page.goto(base + "/market?" + str(httpx.QueryParams({"q": "night & \"day\""})))
        card = page.locator("li.card")
        assert card.count() == 1
        assert card.locator("h3").inner_text() == HOSTILE_TITLE
        assert card.locator("a").nth(1).inner_text() == HOSTILE_ARTIST
        assert page.locator("#results img, #results script").count() == 0
        card.locator("a").nth(1).click()  # the artist's page, named by markup
        page.wait_for_url(re.compile(r"/artist\?name="))
        assert page.locator("h1").inner_text() == HOSTILE_ARTIST
        page.goto(base + "/trending?window=all")
        assert page.evaluate("window.__xss") is None
        assert not problems, problems


# -- the marketplace -------------------------------------------------------------------------


def _ids(page: Any) -> list[int]:
    return [int(x) for x in page.locator("li.card").evaluate_all(
        "cards => cards.map(c => c.getAttribute('data-token-id'))")]


def _matching(demo: dict[str, Any], q: str, genre: str | None = None) -> list[int]:
    n = nft_index.c
    rows = sql(demo, sa.select(n.token_id, n.title, n.artist, n.genre).order_by(n.token_id))
    return [r[0] for r in rows if any(q.lower() in x.lower() for x in r[1:])
            and (genre is None or r[3] == genre)]


def test_search_narrows_the_marketplace_as_you_type(demo, base, browser):
    n = nft_index.c
    title = sql(demo, sa.select(n.title).where(n.artist != HOSTILE_ARTIST)
                .order_by(n.token_id).limit(1))[0][0]
    word = title.split()[-1][:4].lower()  # part of a word of a real title
    with opened(browser) as (page, problems):
        page.goto(base + "/market")
        everything = _ids(page)
        page.locator("#q").press_sequentially(word, delay=40)
        page.wait_for_url(re.compile(rf"q={word}"))
        expected = _matching(demo, word)[:24]
        page.wait_for_function("n => document.querySelectorAll('li.card').length === n",
                               arg=len(expected))
        assert _ids(page) == expected and len(expected) < len(everything)
        genre = sql(demo, sa.select(n.genre).where(n.token_id == expected[0]))[0][0]
        page.select_option("#genre", genre)
        page.wait_for_url(re.compile(r"genre="))
        narrower = _matching(demo, word, genre)[:24]
        page.wait_for_function("n => document.querySelectorAll('li.card').length === n",
                               arg=len(narrower))
        assert _ids(page) == narrower
        page.reload()  # the address bar followed: the same results come back
        assert _ids(page) == narrower and page.locator("#q").input_value() == word
        assert not problems, problems


def test_pagination_walks_every_nft_and_a_wallets_whole_history(demo, base, browser):
    n, t = nft_index.c, transaction_index.c
    with opened(browser) as (page, problems):
        page.goto(base + "/market?per=4")
        seen, pages = [], 0
        while True:
            seen += _ids(page)
            pages += 1
            following = page.locator("a[rel=next]")
            if following.count() == 0:
                break
            following.click()
            page.wait_for_load_state("load")
        assert seen == [r[0] for r in sql(demo, sa.select(n.token_id).order_by(n.token_id))]
        assert pages == -(-len(seen) // 4)

        busiest = sql(demo, sa.select(t.to_address, sa.func.count()).group_by(t.to_address)
                      .order_by(sa.func.count().desc()).limit(1))[0][0]
        page.goto(base + f"/wallet/{busiest}?per=3")
        history = []
        while True:
            history += page.locator("#txs-table tbody tr").evaluate_all(
                "rows => rows.map(r => [+r.dataset.block, +r.dataset.log])")
            older = page.locator("a[rel=next]")
            if older.count() == 0:
                break
            older.click()
            page.wait_for_load_state("load")
        rows = sql(demo, sa.select(t.block_number, t.log_index).where(
            sa.or_(t.from_address == busiest, t.to_address == busiest)))
        assert history == sorted(([b, i] for b, i in rows), reverse=True)
        assert len(history) > 3  # it took more than one page
        assert not problems, problems


# -- charts ----------------------------------------------------------------------------------


def _cells(page: Any, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("cs => cs.map(c => c.dataset.value)")


def test_chart_numbers_equal_the_sql(demo, base, browser):
    n, s, c = nft_index.c, royalty_sales.c, royalty_credits.c
    by_track: dict[bytes, list[int]] = {}
    for content, amount in sql(demo, sa.select(n.content_hash, s.amount)
                               .join(royalty_sales, s.nft_token_id == n.token_id)):
        entry = by_track.setdefault(bytes(content), [0, 0])
        entry[0] += 1
        entry[1] += int(amount)
    top = sorted(by_track.items(), key=lambda kv: (-kv[1][0], kv[0]))[:10]
    p = picks(demo)
    with opened(browser) as (page, problems):
        page.goto(base + "/trending?window=all")
        rows = page.locator("#trending-table tbody tr").evaluate_all(
            "rs => rs.map(r => [r.dataset.contentHash, ...Array.from("
            "r.querySelectorAll('td[data-value]'), td => td.dataset.value)])")
        assert rows == [["0x" + h.hex(), str(k), str(v)] for h, (k, v) in top]
        bars = _cells(page, "#trending-chart svg rect.bar")
        assert bars == [str(k) for _, (k, _v) in top]

        page.goto(base + "/artist?" + str(httpx.QueryParams({"name": p["artist"]})))
        sales = [int(x) for x, in sql(demo, sa.select(s.amount).join(
            nft_index, n.token_id == s.nft_token_id).where(n.artist == p["artist"]))]
        wallets = [w for w, in sql(demo, sa.select(n.royalty_receiver).distinct()
                                   .where(n.artist == p["artist"]))]
        credited = [int(x) for x, in sql(demo, sa.select(c.amount)
                                         .where(c.recipient.in_(wallets)))]
        table_sales = [int(v) for v in _cells(page, "#artist-table td:nth-of-type(1)")]
        table_credited = [int(v) for v in _cells(page, "#artist-table td:nth-of-type(2)")]
        assert sum(table_sales) == sum(sales) > 0 and sum(table_credited) == sum(credited)
        assert _cells(page, "#artist-chart rect[data-series='Sales volume']") == [
            str(v) for v in table_sales]

        page.goto(base + "/overview")
        since = int(time.time()) // 60 * 60 - 59 * 60
        recorded = sql(demo, sa.text(
            "SELECT minute, events, head_block - cursor_block FROM dcmx_throughput "
            "WHERE minute >= :since ORDER BY minute").bindparams(since=since))
        assert recorded, "the indexer recorded its steps"
        shown = page.locator("#events-table tbody tr").evaluate_all(
            "rs => rs.map(r => [+r.dataset.minute, +r.querySelector('td').dataset.value])")
        assert shown == [[m, e] for m, e, _ in recorded]
        assert [int(v) for v in _cells(page, "#lag-table td[data-value]")] == [
            lag for _, _, lag in recorded]
        assert not problems, problems


# -- signing in ------------------------------------------------------------------------------

TRONLINK = """
(() => {
  const tronWeb = {
    ready: true,
    defaultAddress: {base58: %(wallet)s},
    trx: {signMessageV2: (message) => window.dcmxSignTron(message)},
  };
  window.tronWeb = tronWeb;
  window.tronLink = {ready: true, tronWeb,
                     request: async ({method}) => method === "tron_requestAccounts"
                       ? {code: 200, message: "The site is already in the whitelist"}
                       : {code: 4001, message: "unsupported"}};
})();
"""

EVM_WALLET = """
window.ethereum = {
  request: async ({method, params}) => {
    if (method === "eth_requestAccounts") return [%(wallet)s];
    if (method === "personal_sign") return window.dcmxSignEvm(params[0], params[1]);
    throw new Error("unsupported: " + method);
  },
};
"""


def tron_signer(key: bytes, signed: list[str]):
    """What TronLink's ``signMessageV2`` does with the account's key: TRON's signed-message
    hash (tronpy's ``sign_msg``), the signature as 0x + r + s + v with v 27 or 28."""
    private = PrivateKey(key)

    def sign(message: str) -> str:
        signed.append(message)
        raw = bytearray.fromhex(private.sign_msg(message.encode()).hex())
        raw[64] += 27 if raw[64] < 27 else 0
        return "0x" + raw.hex()

    return sign


def _record(demo: dict[str, Any], wallet: str) -> tuple[int, int]:
    a, d = acceptances.c, deletion_requests.c
    return (len(sql(demo, sa.select(a.version).where(a.wallet == wallet))),
            len(sql(demo, sa.select(d.request_id).where(d.wallet == wallet))))


def test_sign_in_with_tronlink_shows_the_wallet_its_own_dashboard_first(demo, base, browser):
    p = picks(demo)
    wallet, signed = p["wallet"], []
    init = TRONLINK % {"wallet": repr(wallet)}
    with opened(browser, init=init,
                expose={"dcmxSignTron": tron_signer(p["key"], signed)}) as (page, problems):
        page.goto(base + f"/wallet/{wallet}")
        assert page.locator("#compliance .notice").count() == 1  # not signed in: hidden
        assert page.locator("#acceptances-table").count() == 0
        page.goto(base + "/sign-in")
        page.get_by_role("button", name="Sign in with TronLink").click()
        page.wait_for_url(base + f"/wallet/{wallet}")
        assert signed and signed[0].startswith(f"dcmx sign-in\nwallet: {wallet}\nnonce: ")
        assert page.locator("h1").inner_text() == "Your dashboard"
        accepted, deletions = _record(demo, wallet)
        assert accepted + deletions > 0
        assert page.locator("#acceptances-table tbody tr").count() == accepted
        assert page.locator("#deletions-table tbody tr").count() == deletions
        token = page.evaluate("sessionStorage.getItem('dcmx.token')")
        me = httpx.get(base + "/api/v1/auth/me", headers={"authorization": f"Bearer {token}"})
        assert me.json() == {"wallet": wallet}  # the API's own token
        cookie = {c["name"]: c for c in page.context.cookies()}["dcmx_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # not readable by script

        page.goto(base + "/")  # its own dashboard first
        assert page.url == base + f"/wallet/{wallet}"
        assert page.locator("nav[aria-label=Main] a").first.inner_text() == "My dashboard"
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(base + "/market")
        page.goto(base + f"/wallet/{wallet}")
        assert page.locator("#acceptances-table").count() == 0
        assert not problems, problems


def test_sign_in_refuses_a_signature_by_another_key(demo, base, browser):
    p = picks(demo)
    other = Account.create().key
    init = TRONLINK % {"wallet": repr(p["wallet"])}
    with opened(browser, init=init,
                expose={"dcmxSignTron": tron_signer(bytes(other), [])}) as (page, problems):
        page.goto(base + "/sign-in")
        page.get_by_role("button", name="Sign in with TronLink").click()
        status = page.locator("#sign-in-status")
        status.filter(has_text="Sign-in failed").wait_for()
        assert "not the wallet's" in status.inner_text()
        assert "dcmx_session" not in {c["name"] for c in page.context.cookies()}
        assert page.url == base + "/sign-in"
        # The refused login, and the console's note of it: nothing else went wrong.
        assert sorted(problems) == sorted([
            "console: Failed to load resource: the server responded with a status of 401 "
            "(Unauthorized)", f"401 {base}/api/v1/auth/login"])


def test_sign_in_with_an_evm_wallet(demo, base, browser):
    p = picks(demo)
    account = Account.from_key(p["key"])

    def sign(data: str, address: str) -> str:
        assert address == account.address
        return "0x" + account.sign_message(encode_defunct(hexstr=data)).signature.hex(
            ).removeprefix("0x")

    init = EVM_WALLET % {"wallet": repr(account.address)}
    with opened(browser, init=init, expose={"dcmxSignEvm": sign}) as (page, problems):
        page.goto(base + "/sign-in")
        page.get_by_role("button", name="Sign in with a browser wallet (EVM)").click()
        page.wait_for_url(base + f"/wallet/{p['wallet']}")  # shown as the TRON address
        assert page.locator("h1").inner_text() == "Your dashboard"
        assert not problems, problems


# -- keyboard --------------------------------------------------------------------------------


def test_keyboard_focus_order_labels_and_visible_focus(demo, base, browser):
    with opened(browser) as (page, problems):
        page.goto(base + "/market")
        focused = []
        for _ in range(10):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("""() => {
                const e = document.activeElement, s = getComputedStyle(e);
                return [e.tagName, e.id || e.getAttribute('href') || e.textContent.trim(),
                        s.outlineStyle, parseFloat(s.outlineWidth)]; }"""))
        order = [f[1] for f in focused]
        assert order == ["#main", "/", "/market", "/trending", "/overview", "/sign-in", "q",
                         "artist", "genre", "Search"], order
        assert all(style != "none" and width >= 2 for _, _, style, width in focused), focused
        page.reload()
        page.keyboard.press("Tab")
        skip = page.evaluate("""() => { const r = document.activeElement.getBoundingClientRect();
            return [document.activeElement.className, r.left >= 0 && r.top >= 0]; }""")
        assert skip == ["skip", True]  # first, and on screen once focused
        page.keyboard.press("Enter")  # the skip link takes focus to the content
        assert page.evaluate("document.activeElement.id") == "main"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "q"
        for path in ("/market", "/sign-in"):
            page.goto(base + path)
            unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
                'input:not([type=hidden]), select')).filter(e => !e.labels.length).length""")
            assert unlabelled == 0, path
        assert not problems, problems


# -- the Overview, live ----------------------------------------------------------------------


def test_overview_refreshes_while_the_indexer_commits(demo, base, browser):
    with opened(browser) as (page, problems):
        page.goto(base + "/overview?every=2")
        before = int(page.locator("#cursor").inner_text().replace(",", ""))
        rows_before = page.locator("#events-table tbody tr").count()
        assert before == demo["indexer"].cursor()
        demo["sim"].run(1)  # new activity on the devchain, indexed into the served database
        after = demo["indexer"].run()
        assert after > before
        page.wait_for_function(
            "n => +document.getElementById('cursor').textContent.replace(/,/g, '') === n",
            arg=after, timeout=15_000)
        recorded = sql(demo, sa.text("SELECT sum(events) FROM dcmx_throughput"))[0][0]
        shown = sum(int(v) for v in _cells(page, "#events-table td[data-value]"))
        assert shown == recorded and page.locator("#events-table tbody tr").count() >= rows_before
        assert not problems, problems


# -- the same cache and rate limits as the API -----------------------------------------------


def _cache_hits(base: str) -> float:
    text = httpx.get(base + "/metrics").text
    found = re.search(r'^dcmx_api_cache_total\{result="hit"\} ([0-9.e+]+)$', text, re.M)
    return float(found[1]) if found else 0.0


def test_pages_use_the_cache_headers_and_sessions_safely(demo, base):
    path = "/market?" + str(httpx.QueryParams({"q": "e", "per": "5"}))
    first = httpx.get(base + path)
    hits = _cache_hits(base)
    second = httpx.get(base + path)
    assert first.text == second.text and _cache_hits(base) > hits  # served from the cache
    assert second.headers["x-frame-options"] == "DENY"
    css = httpx.get(base + re.search(r'href="(/static/core/dcmx\.css\?v=\w+)"', first.text)[1])
    assert "immutable" in css.headers["cache-control"] and css.headers["content-type"].startswith(
        "text/css")
    again = httpx.get(base + "/static/core/dcmx.css",
                      headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(base + "/static/core/../../app.py").status_code == 404
    assert httpx.get(base + "/nft/999999").status_code == 404
    bad = httpx.get(base + "/wallet/TNotAnAddress")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
    refused = httpx.post(base + "/session", json={"token": "x"},
                         headers={"origin": "https://elsewhere.example"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert httpx.post(base + "/session", json={"token": "forged"}).status_code == 401


def test_pages_count_against_the_rate_limit(demo):
    with served(demo["path"], env={"DCMX_RATE_LIMIT_IP": "4"}) as url:
        answers = [httpx.get(url + "/market").status_code for _ in range(12)]
    assert 429 in answers and answers[0] == 200
