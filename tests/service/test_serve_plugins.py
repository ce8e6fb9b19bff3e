"""Plugins' routes: a third-party plugin, found through its entry point, mounts its router
under /api/v1 beside the built-in ones; ``dcmx run`` loads that plugin and never imports
FastAPI or uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tronpy.keys import PrivateKey

from dcmx_core.addresses import to_tron
from dcmx_core.sources.memory import MemoryChain, transfer_log

from .conftest import ROOT, served
from .test_serve_reads import demo_db, sign_in  # noqa: F401 - the module's demo database

PLUGIN = '''
"""A plugin of someone else's: routes over the token's balances."""
import dcmx_core


@dcmx_core.hookimpl
def dcmx_declare():
    return dcmx_core.Declaration(name="holders")


@dcmx_core.hookimpl
def dcmx_api_router(service):
    import sqlalchemy as sa
    from fastapi import APIRouter, Query

    router = APIRouter(prefix="/api/v1/holders", tags=["holders"])

    @router.get("/top")
    async def top(limit: int = Query(5, ge=1, le=50)):
        def q(conn):
            rows = conn.execute(sa.text(
                "SELECT wallet FROM token_balances ORDER BY wallet LIMIT :n"), {"n": limit})
            return [r[0] for r in rows]

        return await service.cached(f"holders-top|{limit}", ["token_balances"], q,
                                    by_url=True)

    @router.get("/me")
    async def me(wallet: str = service.wallet):
        return {"wallet": wallet, "by": "holders"}

    return router
'''


@pytest.fixture(scope="module")
def third_party(tmp_path_factory) -> Path:
    """A folder holding the plugin's module and its distribution's metadata, with the entry
    point in ``dcmx.plugins``, as ``pip install`` would leave them in site-packages."""
    site = tmp_path_factory.mktemp("site")
    (site / "holders_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "holders_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: holders-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[dcmx.plugins]\nholders = holders_plugin\n")
    return site


def test_a_third_party_plugin_mounts_its_routes_under_api_v1(demo_db, third_party):  # noqa: F811
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(third_party),
                                                       os.environ.get("PYTHONPATH")]))}
    with served(demo_db, env=env) as base, httpx.Client(base_url=base, timeout=10) as api:
        engine = sa.create_engine(f"sqlite:///{demo_db}")
        with engine.connect() as conn:
            wallets = list(conn.execute(sa.text(
                "SELECT wallet FROM token_balances ORDER BY wallet LIMIT 3")).scalars())
        engine.dispose()
        first = api.get("/api/v1/holders/top", params={"limit": 3})
        assert first.status_code == 200 and first.json() == wallets
        again = api.get("/api/v1/holders/top", params={"limit": 3})
        assert again.json() == wallets and again.headers["x-cache"] == "hit"
        bad = api.get("/api/v1/holders/top", params={"limit": 500})
        assert bad.status_code == 422 and bad.json()["field"] == "query.limit"

        assert api.get("/api/v1/holders/me").status_code == 401
        token, wallet = sign_in(api, tron=PrivateKey.random())
        me = api.get("/api/v1/holders/me", headers={"authorization": f"Bearer {token}"})
        assert me.json() == {"wallet": wallet, "by": "holders"}

        paths = api.get("/openapi.json").json()["paths"]
        assert "/api/v1/holders/top" in paths and "/api/v1/nfts/{token_id}" in paths
        plugins = {p["name"] for p in api.get("/api/v1/status").json()["plugins"]}
        assert {"holders", "api", "token"} <= plugins


def test_dcmx_run_never_imports_fastapi_or_uvicorn(tmp_path, third_party):
    """``dcmx run`` loads every plugin, the built-in API ones and the third party's too."""
    token = bytes.fromhex("11" * 20)
    wallets = [bytes([i]) * 20 for i in range(1, 4)]
    chain = MemoryChain(finality_depth=5)
    for i in range(20):
        chain.append_block([transfer_log(token, wallets[i % 3], wallets[(i + 1) % 3], 10 + i)])
    chain.save(tmp_path / "chain.dcmxmem")
    config = tmp_path / "dcmx.toml"
    config.write_text('network = "memory"\nwindow = 8\n[networks.memory]\nsource_kind = "file"\n'
                      f'[networks.memory.contracts]\nDCMXToken = "{to_tron(token)}"\n')
    db = tmp_path / "run.db"
    loaded = tmp_path / "modules.txt"
    code = (
        "import atexit, runpy, sys\n"
        f"atexit.register(lambda: open({str(loaded)!r}, 'w').write('\\n'.join(sys.modules)))\n"
        "sys.argv = ['dcmx', *sys.argv[1:]]\n"
        "runpy.run_module('dcmx_core.cli', run_name='__main__')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(third_party)}
    env.pop("DCMX_DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), "run", "--source",
         f"file:{tmp_path / 'chain.dcmxmem'}", "--db", f"sqlite:///{db}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    modules = set(loaded.read_text().split("\n"))
    assert {"holders_plugin", "dcmx_plugins.routes", "dcmx_plugins.token"} <= modules
    heavy = {"fastapi", "uvicorn", "starlette", "redis", "dcmx_core.service.app",
             "dcmx_core.service.context"}
    assert not heavy & modules, heavy & modules
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:  # it did index: the run was a real one
        assert conn.execute(sa.text("SELECT count(*) FROM token_balances")).scalar() == 3
    engine.dispose()
