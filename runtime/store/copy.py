"""Move a run store from SQLite to PostgreSQL (`flowc store copy`): every table's rows as
stored, in one transaction on the destination, which must be empty. Nothing is re-derived:
the audit chains, their heads, node results, tasks, effect records, blobs (large values
stored once) and version histories arrive byte for byte, so every run verifies there as it
did here, and a paused run resumes there."""

from __future__ import annotations

import sqlite3
import urllib.parse
from typing import Any

from .errors import StoreError

__all__ = ["copy_store"]


def _tables(src: sqlite3.Connection) -> list[str]:
    """The store's tables in the order they were created (a referenced table before the
    tables that reference it)."""
    return [r[0] for r in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'schema_migrations' ORDER BY rowid")]


def copy_store(source_path: str, dest: Any, *, batch: int = 500) -> dict[str, int]:
    """Copy the SQLite store at `source_path` into `dest` (an open, migrated, empty
    PostgresStore); {table: rows copied}. StoreError: the two schemas differ, or the
    destination already holds runs or versions."""
    from .sqlitestore import SQLiteStore

    check = SQLiteStore(source_path)  # migrated to this flowc's schema first, checked
    try:
        if check.schema_version() != dest.schema_version():
            raise StoreError(f"{source_path} is at schema version {check.schema_version()}, "
                             f"{dest.path} at {dest.schema_version()}")
    finally:
        check.close()
    uri = "file:" + urllib.parse.quote(source_path) + "?mode=ro"
    src = sqlite3.connect(uri, uri=True)  # rows as stored: large values stay references
    try:
        src.execute("BEGIN")  # one snapshot of the source
        tables = _tables(src)
        counts: dict[str, int] = {}

        def put(conn) -> None:
            for table in ("runs", "flow_versions", "version_events"):
                if table in tables and conn.execute(
                        f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                    raise StoreError(f"{dest.path} already holds {table}: copy into an empty "
                                     "database")
            for table in tables:
                cur = src.execute(f"SELECT * FROM {table}")
                cols = [d[0] for d in cur.description]
                sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                       f"({', '.join('?' for _ in cols)})")
                n = 0
                while rows := cur.fetchmany(batch):
                    conn.executemany(sql, rows)
                    n += len(rows)
                counts[table] = n

        dest._write(put)
        src.execute("COMMIT")
        return counts
    finally:
        src.close()
