"""`SQLiteStore`, the embedded implementation of the `Store` contract (its tables composed on
one SQLite connection layer), and `open_store`, which opens the store a path or URL names.

Where the store lives
    `default_store_path()`: the environment variable `FLOWC_STORE` (a path or a `sqlite:///`
    URL) if it is set and not empty, else `.flowc/runs.db` under the current directory. The
    parent directory is created when the store is opened. `open_store(":memory:")` gives an
    in-memory store for benchmarks and tests (nothing survives the process).
"""

from __future__ import annotations

import os
from typing import Any

from .contract import Store
from .effects import EffectTables
from .errors import StoreError
from .files import FileTables
from .nodes import NodeTables
from .runs import RunTables
from .service import ServiceTables
from .tasks import TaskTables
from .versions import VersionTables

__all__ = ["SQLiteStore", "default_store_path", "open_store"]


class SQLiteStore(RunTables, NodeTables, TaskTables, EffectTables, FileTables, ServiceTables,
                  VersionTables):
    """The embedded store: one SQLite file in WAL mode (or `":memory:"`, one locked connection).

    `SQLiteStore(path, *, synchronous="NORMAL", busy_timeout=5.0, retry_for=60.0,
    clock=time.time, quick_check_max_bytes=QUICK_CHECK_MAX_BYTES)`: `busy_timeout` is how long
    one statement waits in SQLite for another process's lock; `retry_for` bounds the whole
    retry loop around a write; `clock` gives "now" (tests); `quick_check_max_bytes`: files up
    to this size get `PRAGMA quick_check` when opened (0: never), larger ones the header
    checks only.

    Its methods live with their tables: runs and leases (runs.py), node results and model
    calls (nodes.py), the audit trail (trail.py), human tasks (tasks.py), effects
    (effects.py), files (files.py), the service's people, tokens, ticks and chats
    (service.py), flow versions and their history (versions.py); connections, transactions and fences in connections.py."""


def default_store_path() -> str:
    """`$FLOWC_STORE` if set (a path or a `sqlite:///` URL), else `./.flowc/runs.db`."""
    env = os.environ.get("FLOWC_STORE", "").strip()
    if env:
        return env
    return os.path.join(os.getcwd(), ".flowc", "runs.db")


def open_store(path_or_url: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """Open (creating and migrating if needed) the store at a path or URL.

    None: `default_store_path()`. ":memory:", "memory:", "sqlite://", "sqlite:///:memory:": an
    in-memory store. "sqlite:///relative/path.db", "sqlite:////absolute/path.db" (SQLAlchemy's
    spelling) or a plain path: a SQLite file. "postgresql://..." (libpq's URL): a
    PostgreSQL database (`PostgresStore`, pgstore.py). `options` go to the store's class."""
    target = default_store_path() if path_or_url is None else os.fspath(path_or_url)
    if target in (":memory:", "memory:", "sqlite://", "sqlite:///:memory:"):
        return SQLiteStore(":memory:", **options)
    if target.startswith("sqlite:///"):
        target = target[len("sqlite:///"):]
    elif target.startswith(("postgresql://", "postgres://")):
        from .pgstore import PostgresStore

        return PostgresStore(target, **{k: v for k, v in options.items()
                                        if k in ("retry_for", "clock", "connect_timeout")})
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise StoreError(f"no store for {scheme}:// URLs: use a file path, sqlite:///path or "
                         "postgresql://...")
    if not target:
        raise StoreError("an empty store path")
    return SQLiteStore(target, **options)
