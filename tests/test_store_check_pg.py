"""`flowc store check` on a PostgreSQL store (a real server, tests/pgkit.py): every run's trail
verified in a read-only session that never migrates or writes; a tampered event, a schema
from a newer flowc and an unreachable server each said in its own way (exit 1, 4, 4)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLOW = 'flow tiny version "1.0.0"\ninput n: int\noutput m: int = n\n'


def _flowc(cwd: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWC_STORE": url}
    for name in ("FLOWC_FAULT", "FLOWC_FAULT_LOG", "FLOWC_ENGINE"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "flowc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture()
def database(pg_cluster, tmp_path):
    url = pg_cluster.fresh_database()
    (tmp_path / "tiny.flow").write_text(FLOW)
    for n in (1, 2):
        got = _flowc(tmp_path, url, "run", "tiny.flow", "--input", f"n={n}")
        assert got.returncode == 0, got.stderr
    yield url
    pg_cluster.drop(url)


def _sql(url: str, sql: str, *args) -> list:
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        cur = c.execute(sql, args)
        return cur.fetchall() if cur.description else []


def test_a_sound_postgresql_store_checks_clean(database, tmp_path):
    got = _flowc(tmp_path, database, "store", "check")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "integrity: kept by the server" in got.stdout
    assert "up to date" in got.stdout
    assert "audit: 2 run(s)" in got.stdout and "every trail intact" in got.stdout


def test_a_tampered_event_is_named(database, tmp_path):
    [(rid,)] = _sql(database, "SELECT id FROM runs ORDER BY created_at LIMIT 1")
    _sql(database, "UPDATE audit_events SET payload_json = replace(payload_json, '1', '7')"
                   " WHERE run_id = %s AND kind = 'run.started'", rid)
    got = _flowc(tmp_path, database, "store", "check")
    assert got.returncode == 1, got.stdout + got.stderr
    assert f"run {rid}:" in got.stdout


def test_the_check_never_migrates_or_writes(database, tmp_path):
    """An older schema (its last step not recorded) is reported, not migrated: the session
    is read-only."""
    [(last,)] = _sql(database, "SELECT max(version) FROM schema_migrations")
    _sql(database, "DELETE FROM schema_migrations WHERE version = %s", last)
    got = _flowc(tmp_path, database, "store", "check")
    assert "not yet migrated" in got.stdout, got.stdout + got.stderr
    assert _sql(database, "SELECT count(*) FROM schema_migrations WHERE version = %s",
                last) == [(0,)]


def test_a_schema_from_a_newer_flowc_and_an_unreachable_server_exit_4(database, tmp_path,
                                                                        pg_cluster):
    _sql(database, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
    got = _flowc(tmp_path, database, "store", "check")
    assert got.returncode == 4 and "newer flowc" in got.stderr, got.stdout + got.stderr
    gone = database.replace(f"port={pg_cluster.port}", "port=1")
    got = _flowc(tmp_path, gone, "store", "check")
    assert got.returncode == 4, got.stdout + got.stderr
    assert "cannot be opened" in got.stderr and "Traceback" not in got.stderr
    assert len(got.stderr.strip().splitlines()) == 1
