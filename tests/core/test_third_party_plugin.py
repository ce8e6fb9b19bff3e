"""A third-party package adds a plugin through the ``dcmx.plugins`` entry-point group."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from dcmx_core import Batch, PluginError, PluginHost
from dcmx_core.store import create_engine

PLUGIN_SOURCE = """
import sqlalchemy as sa
import dcmx_core

meta = sa.MetaData()
seen = sa.Table(
    "thirdparty_batches", meta,
    sa.Column("start", sa.BigInteger, primary_key=True),
    sa.Column("end_", sa.BigInteger, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
)

@dcmx_core.hookimpl
def dcmx_declare():
    return dcmx_core.Declaration(name="thirdparty", tables=[seen])

@dcmx_core.hookimpl
def dcmx_handle_batch(batch, conn):
    if batch.start < 0:
        raise RuntimeError("negative block")
    conn.execute(seen.insert().values(start=batch.start, end_=batch.end, events=len(batch.events)))
"""


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """Build and install a throwaway distribution with an entry point into a private folder."""
    root = tmp_path_factory.mktemp("thirdparty")
    pkg = root / "src"
    (pkg / "dcmx_thirdparty").mkdir(parents=True)
    (pkg / "dcmx_thirdparty" / "__init__.py").write_text(PLUGIN_SOURCE)
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "dcmx-thirdparty"
        version = "0.0.1"
        [project.entry-points."dcmx.plugins"]
        thirdparty = "dcmx_thirdparty"
        [tool.setuptools]
        packages = ["dcmx_thirdparty"]
    """)
    )
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(pkg),
        ],
        check=True,
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("dcmx_thirdparty", None)


def test_entry_point_plugin_is_loaded_and_run(installed_plugin: Path, sqlite_url: str):
    host = PluginHost(entry_points=True)
    loaded = {p.declaration.name: p for p in host.plugins}
    assert "thirdparty" in loaded
    assert "dcmx-thirdparty" in loaded["thirdparty"].origin
    (table,) = loaded["thirdparty"].declaration.tables
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        table.create(conn)
        host.handle(Batch(7, 9, [], True), conn)
    with engine.connect() as conn:
        assert conn.execute(sa.select(table)).all() == [(7, 9, 0)]


def test_plugin_failure_names_the_plugin(installed_plugin: Path, sqlite_url: str):
    host = PluginHost(entry_points=True, only=["thirdparty"])
    engine = create_engine(sqlite_url)
    with pytest.raises(PluginError, match="plugin 'thirdparty' failed on blocks -1..-1"):
        with engine.begin() as conn:
            host.handle(Batch(-1, -1, [], True), conn)


def test_unknown_plugin_name_is_a_clear_error(installed_plugin: Path):
    with pytest.raises(Exception, match="unknown plugin"):
        PluginHost(entry_points=True, only=["nope"])
