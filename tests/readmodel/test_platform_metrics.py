"""The figures the platform watches, scraped from Prometheus after a simulation on the
devchain, equal SQL over the indexed tables: from ``dcmx run``'s metrics port and from
``dcmx serve``'s /metrics (one worker and two), on SQLite and PostgreSQL. The database's own
figures (statement latency, pool, size) are there too."""

from __future__ import annotations

import urllib.request

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from service.conftest import served

from dcmx_core.dbstats import index_size
from dcmx_core.metrics import Metrics, serve
from dcmx_core.store.engine import POOLS
from dcmx_generated import dcmx_token, music_nft, reward_vault, royalty_distributor

from .conftest import make_indexer


def scrape(text: str) -> dict[str, float]:
    """Sample name (with labels, if any) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


def expected(engine: sa.Engine) -> dict[str, float]:
    """The platform's figures by SQL over the raw event tables (amounts summed in Python:
    exact on both databases)."""
    with engine.connect() as conn:
        def rows(cls, column=None):
            table = cls.TABLE
            if column is None:
                return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            return sum(conn.execute(sa.select(table.c[column])).scalars())

        newest = conn.execute(sa.text("SELECT max(day) FROM analytics")).scalar_one()
        active = conn.execute(sa.text(
            "SELECT count(*) FROM analytics_wallet_days WHERE day = :d"), {"d": newest}
        ).scalar_one()
        return {
            "dcmx_platform_nfts_minted": rows(music_nft.Minted),
            "dcmx_platform_rewards_distributed": rows(reward_vault.RewardsClaimed, "amount"),
            "dcmx_platform_transfers": rows(dcmx_token.Transfer),
            "dcmx_platform_transfer_volume": rows(dcmx_token.Transfer, "value"),
            "dcmx_platform_sales": rows(royalty_distributor.SaleRecorded),
            "dcmx_platform_sales_volume": rows(royalty_distributor.SaleRecorded, "amount"),
            "dcmx_platform_active_wallets": active,
        }


def assert_figures(scraped: dict[str, float], engine: sa.Engine) -> None:
    want = expected(engine)
    assert all(want[k] > 0 for k in want), want  # the simulation did each thing
    assert {k: scraped.get(k) for k in want} == {k: float(v) for k, v in want.items()}


def test_run_metrics_equal_sql_after_a_simulation(simulated, db_url):
    indexer = make_indexer(simulated, db_url)
    metrics = Metrics(poll_interval=0)
    metrics.attach(indexer)
    server = serve(metrics, 0)
    try:
        indexer.run()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as answer:
            scraped = scrape(answer.read().decode())
    finally:
        server.close()
        metrics.close()
    assert_figures(scraped, indexer.engine)
    assert scraped["dcmx_db_query_seconds_count"] > 0
    assert scraped["dcmx_db_pool_size"] == POOLS["run"].size
    assert scraped["dcmx_db_pool_checked_out"] == 0  # the indexer is done
    assert scraped["dcmx_db_size_bytes"] == index_size(indexer.engine) > 0
    indexer.engine.dispose()


def serve_and_compare(url: str, workers: str, tmp_path) -> None:
    with served(url, "--workers", workers, "--pool-size", "3",
                log=tmp_path / "serve.log") as base:
        httpx.get(base + "/metrics", timeout=10)  # its figures' reads are timed by the next
        text = httpx.get(base + "/metrics", timeout=10).text
    scraped = scrape(text)
    assert scraped["dcmx_db_query_seconds_count"] > 0
    engine = sa.create_engine(url)
    assert_figures(scraped, engine)
    assert scraped["dcmx_db_pool_size"] == 3
    assert scraped["dcmx_db_size_bytes"] == index_size(engine) > 0
    engine.dispose()


def test_serve_metrics_equal_sql(simulated, db_url, tmp_path):
    make_indexer(simulated, db_url).run()
    serve_and_compare(db_url, "1", tmp_path)


def test_serve_metrics_with_two_workers(simulated, sqlite_url, tmp_path):
    """Each worker's values live in prometheus_client's multiprocess files; the figures read
    at scrape time come from the worker that answers."""
    make_indexer(simulated, sqlite_url).run()
    serve_and_compare(sqlite_url, "2", tmp_path)


def test_a_plugin_without_its_tables_is_left_out_and_warned_about_once(sqlite_url, caplog):
    """A database without the platform's tables: the scrape still answers, without its
    figures, and says why once (then at debug: scrapes come every few seconds)."""
    from dcmx_core import PluginHost
    from dcmx_core.figures import FiguresCollector
    from dcmx_plugins import platform, token

    engine = sa.create_engine(sqlite_url)
    engine.connect().close()
    host = PluginHost([token, platform])

    def read(fn):
        with engine.connect() as conn, conn.begin():
            return fn(conn)

    collector = FiguresCollector(host, read)
    with caplog.at_level("DEBUG", logger="dcmx.plugins"):
        assert list(collector.collect()) == [] and list(collector.collect()) == []
    failed = [r for r in caplog.records if "failed to give its metrics" in r.getMessage()]
    assert [r.levelname for r in failed] == ["WARNING", "DEBUG"]
    assert "platform" in failed[0].getMessage() and "analytics" in failed[0].getMessage()
    engine.dispose()
