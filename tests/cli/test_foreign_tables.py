"""A database another program already uses: `dcmx run` and `dcmx rebuild` never drop, replace,
journal or write into a table or view dcmx did not make, whatever its name. A name clash is
refused as the database's problem (exit 6), not the plugin's; the user's rows survive; the
user's other tables live beside dcmx's. Views of a database an older dcmx made, before views
were recorded, are still recognised and brought up to date. SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dcmx_core.cli import cli
from dcmx_core.store import create_engine


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in (result.stderr or ""), result.stderr
    return result


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("DCMX_SOURCE", "DCMX_NETWORK", "DCMX_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)


def _run(config, path, db, *more: str):
    return invoke("--config", str(config), "run", "--source", f"file:{path}", "--db", db, *more)


def _sql(db: str, *statements: str) -> None:
    engine = create_engine(db)
    with engine.begin() as conn:
        for s in statements:
            conn.exec_driver_sql(s)
    engine.dispose()


def _state(db: str) -> dict:
    """Every table's and view's rows, and the triggers, of the database."""
    engine = create_engine(db)
    inspector = sa.inspect(engine)
    out: dict = {"views": sorted(inspector.get_view_names())}
    with engine.connect() as conn:
        for name in sorted(inspector.get_table_names()) + out["views"]:
            rows = conn.execute(sa.select(sa.text("*")).select_from(sa.table(name))).all()
            out[name] = sorted(map(repr, rows))
        if engine.dialect.name == "sqlite":
            out["triggers"] = sorted(conn.exec_driver_sql(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
            ).all())
        else:
            out["triggers"] = sorted(conn.exec_driver_sql(
                "SELECT event_object_table, trigger_name FROM information_schema.triggers "
                "WHERE trigger_schema = current_schema()"
            ).all())
    engine.dispose()
    return out


def _refused(r, name: str, kind: str) -> None:
    assert r.exit_code == 6, r.output
    line = r.stderr.strip()
    assert f"the database already holds a {kind} {name!r} that dcmx did not make" in line
    assert "index into another database" in line
    assert "fix the plugin" not in line and "plugin 'token' raised" not in line


CLASHES = [
    # (what the user made, its name, what it is)
    ("CREATE TABLE transaction_index (id INTEGER PRIMARY KEY, memo TEXT)",
     "transaction_index", "table"),  # the token plugin's view
    ("CREATE TABLE token_balances (wallet VARCHAR(64) PRIMARY KEY, amount TEXT)",
     "token_balances", "table"),  # the token plugin's table
    ("CREATE TABLE dcmx_token__transfer (id INTEGER PRIMARY KEY, memo TEXT)",
     "dcmx_token__transfer", "table"),  # DCMXToken's raw Transfer table
    ("CREATE VIEW blockchain_events AS SELECT 1 AS one", "blockchain_events", "view"),
    ("CREATE TABLE _dcmx_undo_token_supply (id INTEGER PRIMARY KEY, memo TEXT)",
     "_dcmx_undo_token_supply", "table"),  # the name of token_supply's undo journal
]


@pytest.mark.parametrize("ddl,name,kind", CLASHES, ids=[c[1] for c in CLASHES])
def test_run_refuses_a_name_it_did_not_make(ddl, name, kind, db_url, chain_file, token_config):
    path, _ = chain_file
    statements = [ddl, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
                  "INSERT INTO customers VALUES (1, 'Ada')"]
    if kind == "table":
        statements.append(f"INSERT INTO {name} VALUES (7, 'mine')")
    _sql(db_url, *statements)
    before = _state(db_url)
    r = _run(token_config, path, db_url, "--plugins", "token", "--to-block", "30")
    _refused(r, name, kind)
    assert _state(db_url) == before  # untouched, no trigger, nothing of dcmx's added
    assert r.exit_code == _run(token_config, path, db_url, "--plugins", "token").exit_code


def test_other_tables_live_beside_dcmx(db_url, chain_file, token_config):
    path, transfers = chain_file
    _sql(db_url, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
         "INSERT INTO customers VALUES (1, 'Ada')",
         "CREATE VIEW customer_names AS SELECT name FROM customers")
    r = _run(token_config, path, db_url, "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    state = _state(db_url)
    assert state["customers"] == ["(1, 'Ada')"] and state["customer_names"] == ["('Ada',)"]
    assert not [t for t in state["triggers"] if t[0] == "customers"]
    assert len(state["transaction_index"]) == transfers
    r = invoke("status", "--db", db_url, "--json")  # counts dcmx's views, not the user's
    assert r.exit_code == 0, r.stderr
    assert sorted(json.loads(r.stdout)["views"]) == ["blockchain_events", "transaction_index"]


def test_rebuild_refuses_a_users_table_named_like_an_added_plugins(
    db_url, chain_file, token_config
):
    path, _ = chain_file
    assert _run(token_config, path, db_url, "--plugins", "").exit_code == 0
    _sql(db_url, "CREATE TABLE token_supply (id INTEGER PRIMARY KEY, memo TEXT)",
         "INSERT INTO token_supply VALUES (1, 'mine')")
    before = _state(db_url)
    r = invoke("--config", str(token_config), "rebuild", "--db", db_url, "--plugins", "token")
    _refused(r, "token_supply", "table")
    assert _state(db_url) == before
    # and run, adding the plugin, refuses it the same way
    _refused(_run(token_config, path, db_url, "--plugins", "token"), "token_supply", "table")
    assert _state(db_url) == before


def test_views_of_an_older_dcmx_are_still_its_own(db_url, chain_file, token_config):
    """A database made before dcmx recorded its views: no dcmx_views, views with older
    definitions. They are recognised, recorded, and made again."""
    path, transfers = chain_file
    assert _run(token_config, path, db_url, "--plugins", "token", "--to-block", "30").exit_code == 0
    _sql(db_url, "DROP TABLE dcmx_views", "DROP VIEW transaction_index",
         "CREATE VIEW transaction_index AS SELECT block_number FROM dcmx_token__transfer")
    r = _run(token_config, path, db_url, "--plugins", "token")
    assert r.exit_code == 0, r.stderr
    state = _state(db_url)
    assert len(state["transaction_index"]) == transfers
    assert state["transaction_index"] != state["dcmx_token__transfer"]  # the current view
    assert sorted(state["dcmx_views"]) == sorted(
        map(repr, [("blockchain_events", "dcmx"), ("transaction_index", "token")])
    )
