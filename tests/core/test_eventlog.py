"""dcmx_core.eventlog: lines only after their transaction commits, each once, none after a
rollback, nothing at all while off."""

from __future__ import annotations

import io
import json

import sqlalchemy as sa

from dcmx_core import eventlog
from dcmx_core.logs import setup_logging


def test_lines_follow_commits_only(db_url):
    out = io.StringIO()
    setup_logging("human", "error", stream=out, events=True)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.begin()
            eventlog.record(conn, "kept", n=1)
            assert out.getvalue() == ""  # not before the commit
            conn.commit()
            conn.begin()
            eventlog.record(conn, "dropped", n=2)
            conn.rollback()
            conn.begin()
            eventlog.record(conn, "kept", n=3)
            conn.commit()
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [(o["event"], o["n"]) for o in lines] == [("kept", 1), ("kept", 3)]
        assert all(o["logger"] == "dcmx.events" and o["level"] == "info" for o in lines)

        setup_logging("human", "debug", stream=out)  # off (the default)
        before = out.getvalue()
        with engine.begin() as conn:
            eventlog.record(conn, "kept", n=4)
        assert out.getvalue() == before and not eventlog.enabled()
    finally:
        engine.dispose()
        setup_logging("human", "info")
