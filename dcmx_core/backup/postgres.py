"""PostgreSQL backups: ``pg_dump`` in custom format of the index's schema, ``pg_restore`` back.

``pg_dump`` reads the whole schema in one repeatable-read snapshot and takes only ACCESS SHARE
locks, which the indexer's inserts, updates and deletes never wait for. The restore is one
transaction (``--single-transaction``): it lands whole or not at all. For point-in-time
recovery use the server's own base backup and WAL archiving (see the README).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

from ..errors import ConfigError, StoreError
from ..redaction import redact, redact_url
from .common import Snapshot, partial, publish

__all__ = ["backup", "describe", "restore"]

_TABLE_LINE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) dcmx_cursor ")
_SCHEMA_LINE = re.compile(r"^\d+; \d+ \d+ SCHEMA - ")


def _program(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian's server packages keep the clients beside the server, newest version first.
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
                      reverse=True)
    if versions:
        return versions[0]
    raise ConfigError(
        f"{name} not found: install the PostgreSQL client programs (e.g. postgresql-client) "
        "or put their directory on PATH"
    )


def _libpq_env(url: str) -> dict[str, str]:
    """The connection of ``url`` as libpq's environment variables: the password never
    appears on a command line."""
    u = sa.engine.make_url(url)
    env = dict(os.environ)
    for key, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                       ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value is not None:
            env[key] = str(value)
    for key, var in (("options", "PGOPTIONS"), ("sslmode", "PGSSLMODE"),
                     ("sslrootcert", "PGSSLROOTCERT"), ("application_name", "PGAPPNAME")):
        given = u.query.get(key)
        if given is not None:
            env[var] = given if isinstance(given, str) else given[-1]
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise StoreError(redact(f"{what} failed: {detail}"))
    return done.stdout


def _engine(url: str) -> sa.Engine:
    from ..store import create_engine

    return create_engine(url)


def backup(url: str, target: Path) -> Snapshot:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
            has_index = schema is not None and sa.inspect(conn).has_table("dcmx_cursor")
    finally:
        engine.dispose()
    if not has_index:
        raise StoreError(
            f"{redact_url(url)} holds no dcmx index (no dcmx_cursor table); check --db"
        )
    written = partial(target)
    try:
        # Without its locks in 10 s (the indexer is changing the schema: a long backfill's
        # start or end) pg_dump gives up instead of queueing every reader behind that change.
        _run([_program("pg_dump"), "--format=custom", f"--schema={schema}",
              "--lock-wait-timeout=10s", f"--file={written}"], _libpq_env(url), "pg_dump")
        snapshot = describe(written)
        publish(written, target)
    finally:
        written.unlink(missing_ok=True)
    return Snapshot(target, "pg_dump", snapshot.cursor, snapshot.schema)


def describe(path: Path) -> Snapshot:
    """The schema and cursor of a pg_dump archive; an error unless it holds a dcmx index."""
    env = dict(os.environ)
    listing = _run([_program("pg_restore"), "--list", str(path)], env, f"reading {path}")
    schema = next((m.group(1) for m in map(_TABLE_LINE.match, listing.splitlines()) if m), None)
    if schema is None:
        raise ConfigError(f"{path} is a pg_dump archive but not of a dcmx index (no dcmx_cursor)")
    data = _run([_program("pg_restore"), "--data-only", f"--schema={schema}",
                 "--table=dcmx_cursor", "--file=-", str(path)], env, f"reading {path}")
    rows = data.split(" FROM stdin;\n", 1)[1].split("\n\\.", 1)[0] if " FROM stdin;" in data else ""
    cursor = int(rows.split("\t")[1]) if rows.strip() else None
    return Snapshot(path, "pg_dump", cursor, schema)


def restore(snapshot: Snapshot, url: str, replace: bool) -> Snapshot:
    from ..store.lock import writer_lock

    schema = snapshot.schema
    assert schema is not None
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            current = conn.execute(sa.text("SELECT current_schema()")).scalar()
            path = [s.strip().strip('"') for s in
                    str(conn.execute(sa.text("SHOW search_path")).scalar()).split(",")]
            exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                                  {"s": schema}).first() is not None
            tables = conn.execute(sa.text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind IN ('r', 'v', 'm', 'p')"
            ), {"s": schema}).scalar_one()
            indexed = exists and sa.inspect(conn).has_table("dcmx_cursor", schema=schema)
        if current != schema and not (current is None and schema in path):
            raise ConfigError(
                f"{snapshot.path} holds schema {schema!r} but the database's search_path "
                f"starts at {current!r}; add ?options=-csearch_path%3D{schema} to --db"
            )
        if tables and not replace:
            what = "a dcmx index" if indexed else f"{tables} table(s) that are not a dcmx index"
            raise ConfigError(
                f"schema {schema!r} of {redact_url(url)} already holds {what}; restore into an "
                "empty schema or database, or give --replace to replace the index's tables"
            )
        listing = _run([_program("pg_restore"), "--list", str(snapshot.path)], os.environ.copy(),
                       f"reading {snapshot.path}")
        keep = [line for line in listing.splitlines()
                if not (exists and _SCHEMA_LINE.match(line))]
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as handle:
            handle.write("\n".join(keep) + "\n")
        listed = Path(handle.name)
        args = [_program("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                "--single-transaction", f"--use-list={listed}", f"--dbname={_dbname(url)}"]
        if tables:
            args += ["--clean", "--if-exists"]
        try:
            if exists:
                with writer_lock(engine):  # never beside a running indexer
                    _run([*args, str(snapshot.path)], _libpq_env(url), "pg_restore")
            else:
                _run([*args, str(snapshot.path)], _libpq_env(url), "pg_restore")
        finally:
            listed.unlink(missing_ok=True)
    finally:
        engine.dispose()
    return Snapshot(snapshot.path, "pg_dump", snapshot.cursor, schema)


def _dbname(url: str) -> str:
    """The database name alone (the rest travels in the environment)."""
    database = sa.engine.make_url(url).database
    if not database:
        raise ConfigError("the PostgreSQL URL names no database; give postgresql://host/DBNAME")
    return database
