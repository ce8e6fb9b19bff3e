"""The parts of the pages that need no browser: charts and formats, the reads a page adds to
the queries, row counts on PostgreSQL, and that ``dcmx run`` never loads any of it."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from dcmx_core import Contract, Indexer, Tuning
from dcmx_core.addresses import render
from dcmx_core.service.pages import charts, formats
from dcmx_core.service.pages import overview as overview_page
from dcmx_core.sources.memory import MemoryChain, transfer_log
from dcmx_generated import dcmx_token
from dcmx_plugins import token as token_plugin
from dcmx_plugins.pages import reads


def test_amounts_are_exact_and_readable():
    assert formats.amount(10**18) == "1.00"
    assert formats.amount(str(123_456_789 * 10**18 + 5 * 10**15)) == "123,456,789.00"
    assert formats.amount(42 * 10**13) == "0.00042"  # small amounts keep their digits
    assert formats.amount(2**200) == f"{(__import__('decimal').Decimal(2**200) / 10**18):,.2f}"
    assert formats.amount(0) == "0" and formats.amount(None) == "—"
    assert formats.bps(750) == "7.5%" and formats.bps(1000) == "10%"
    assert formats.short("TXRrLTdbm1EyKDcsvkktdfiQWZTdyfpjkn") == "TXRrLT…pjkn"


def test_charts_escape_text_and_scale_to_a_round_top():
    svg = charts.hbars('<b>"x"</b>', ["<script>a</script>"], [3.0], raw=[3])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg
    assert charts.nice_top(7.3) == 10 and charts.nice_top(120) == 200
    assert charts.nice_top(0) == 1 and charts.nice_top(2.5) == 2.5
    bars = charts.bars("t", ["a", "b", "c"], [1.0, None, 5.0], raw=["1", None, "5"])
    assert bars.count('<rect class="bar"') == 2  # None: no bar
    assert 'data-value="5"' in bars and 'height="206"' in bars  # the tallest reaches the top
    line = charts.line("t", ["a", "b", "c", "d"], [1.0, 2.0, None, 3.0], raw=[1, 2, None, 3])
    assert line.count("<polyline") == 1 and line.count("<circle") == 3  # a gap, a lone dot


def test_a_wallets_pages_never_skip_rows_of_a_block_cut_by_a_page(tmp_path):
    """A page of transactions may end inside a block: the next page starts before the last
    row's chain position (block, log index), so the rest of the block comes next."""
    token = bytes.fromhex("11" * 20)
    me, other = bytes([1]) * 20, bytes([2]) * 20
    chain = MemoryChain(finality_depth=2)
    chain.extend(1, [transfer_log(token, other, me, v) for v in (1, 2, 3)])  # 3 in one block
    chain.extend(1, [transfer_log(token, me, other, 4)])
    chain.extend(1, [transfer_log(token, other, me, v) for v in (5, 6, 7, 8, 9)])
    indexer = Indexer(chain, f"sqlite:///{tmp_path / 'i.db'}",
                      [Contract("DCMXToken", dcmx_token, (token,))], plugins=[token_plugin],
                      window=2, poll_interval=0, tuning=Tuning(batch_blocks=2))
    indexer.run()
    wallet = render(me, "tron")
    for per in (2, 3, 4):
        seen, before = [], None
        with indexer.engine.connect() as conn:
            while True:
                page = reads.wallet_transactions(conn, wallet, limit=per, before=before)
                assert len(page["items"]) == per or page["before"] is None
                seen += [(x.block_number, x.log_index) for x in page["items"]]
                before = page["before"]
                if before is None:
                    break
        assert seen == sorted(seen, reverse=True) and len(seen) == 9, per
    indexer.engine.dispose()


def test_row_counts_estimate_big_postgresql_tables(pg_url, monkeypatch):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE big (n int)"))
        conn.execute(sa.text("CREATE TABLE small (n int)"))
        conn.execute(sa.text("INSERT INTO big SELECT generate_series(1, 5000)"))
        conn.execute(sa.text("INSERT INTO small VALUES (1), (2)"))
        conn.execute(sa.text("ANALYZE big"))
        conn.execute(sa.text("ANALYZE small"))
    monkeypatch.setattr(overview_page, "ESTIMATE_ABOVE", 1000)
    with engine.connect() as conn:
        got = overview_page.row_counts(["big", "small"])(conn)
    assert got["small"] == [2, False]
    assert got["big"][1] is True and 4000 <= got["big"][0] <= 6000
    engine.dispose()


def test_row_counts_stop_early_on_big_sqlite_tables(monkeypatch):
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE big (n int)"))
        conn.execute(sa.text("CREATE TABLE small (n int)"))
        conn.execute(sa.text("INSERT INTO big VALUES " + ",".join(["(1)"] * 50)))
        conn.execute(sa.text("INSERT INTO small VALUES (1), (2)"))
    monkeypatch.setattr(overview_page, "COUNT_UP_TO", 10)
    with engine.connect() as conn:
        assert overview_page.row_counts(["big", "small"])(conn) == {
            "big": [50, True], "small": [2, False]}


def test_dcmx_run_loads_no_page_code():
    """Every plugin is loaded by ``dcmx run``: the pages' plugin must stay light there."""
    heavy = ["fastapi", "jinja2", "starlette", "markupsafe", "dcmx_core.service",
             "dcmx_core.service.pages", "dcmx_plugins.pages.routes", "dcmx_plugins.pages.reads"]
    code = ("import sys\nfrom dcmx_core.plugins import PluginHost\n"
            "host = PluginHost(entry_points=True)\n"
            "assert 'pages' in [p.declaration.name for p in host.plugins]\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_search_takes_like_wildcards_literally_and_filters_combine():
    from dcmx_plugins.nft import metadata, nft_index

    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    owner = render(bytes([1]) * 20, "tron")
    base = {"contract_address": owner, "owner": owner, "content_hash": b"\0" * 32,
            "edition": 1, "max_editions": 1, "royalty_receiver": owner, "royalty_bps": 500,
            "minted_to": owner, "minted_at": 0, "minted_block": 1, "transfers": 0, "sales": 0}
    with engine.begin() as conn:
        conn.execute(nft_index.insert(), [
            {**base, "token_id": 1, "title": "100% Love", "artist": "Ana", "genre": "jazz"},
            {**base, "token_id": 2, "title": "1000 Loves", "artist": "Ana", "genre": "pop"},
            {**base, "token_id": 3, "title": "a_b", "artist": "Bo", "genre": "jazz"}])

    def ids(**kw):
        args = {"q": "", "artist": None, "genre": None, "limit": 10, "offset": 0, **kw}
        with engine.connect() as conn:
            return [n.token_id for n in reads.search_nfts(conn, **args)["items"]]

    assert ids(q="100%") == [1] and ids(q="_") == [3] and ids(q="LOVE") == [1, 2]
    assert ids(q="love", genre="pop") == [2] and ids(artist="Ana") == [1, 2]
    assert ids(genre="jazz") == [1, 3] and ids(artist="Ana", genre="jazz") == [1]
    with engine.connect() as conn:
        page = reads.search_nfts(conn, q="", artist=None, genre=None, limit=2, offset=0)
    assert page["more"] is True and len(page["items"]) == 2


def test_every_template_and_static_file_ships_in_the_wheel():
    """The package data globs of pyproject.toml cover every file the pages read (a template
    or asset they miss would be absent from an installed dcmx: checked once with a built
    wheel, kept true here)."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in (("dcmx_core.service.pages", "dcmx_core/service/pages"),
                            ("dcmx_plugins.pages", "plugins/pages")):
        assert package in config["packages"]
        globs = config["package-data"][package]
        files = [p.relative_to(root / folder).as_posix()
                 for sub in ("templates", "static") for p in (root / folder / sub).iterdir()]
        assert len(files) >= 5
        missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
        assert missing == [], package
