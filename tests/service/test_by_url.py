"""Cached answers found by URL before routing: the same answers the routes give, as the
database changes under them (an NFT rolled away answers 404, not a cached ``null``), and
never for a request carrying a token."""

from __future__ import annotations

import shutil

import sqlalchemy as sa
from fastapi.testclient import TestClient

from dcmx_core.service.app import create_app
from dcmx_core.settings import Settings
from dcmx_core.store import versions

from .test_serve_reads import demo_db  # noqa: F401 - the module's demo database


def test_a_remembered_url_follows_the_database(demo_db, tmp_path):  # noqa: F811
    path = tmp_path / "copy.db"
    shutil.copy(demo_db, path)
    url = f"sqlite:///{path}"
    app = create_app(Settings(database_url=url), secret=b"s" * 32)
    with TestClient(app) as client:
        first = client.get("/api/v1/nfts/1")
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        again = client.get("/api/v1/nfts/1")
        assert again.content == first.content and again.headers["x-cache"] == "hit"
        assert app.state.service.by_url.get(b"/api/v1/nfts/1?") is not None

        # the indexer rolls NFT 1 away: its row goes, its table's version moves
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM nft_index WHERE token_id = "
                                 "(SELECT token_id FROM nft_index ORDER BY token_id LIMIT 1)"))
            versions.bump(conn, ["nft_index"])
        engine.dispose()
        for _ in range(3):  # the route's answer, then the same from the remembered URL
            gone = client.get("/api/v1/nfts/1")
            assert gone.status_code == 404, gone.text
            assert gone.json()["error"] == "not_found" and gone.json()["field"] == "token_id"

        # a request with a token goes through the route (and its dependencies) every time
        with_token = client.get("/api/v1/nfts/2", headers={"authorization": "Bearer x"})
        assert with_token.status_code == 200
        assert app.state.service.by_url.get(b"/api/v1/nfts/2?") is None
