"""Helpers for the top-level tests (named uniquely: pytest imports test-folder modules by their
base name, so a second `helpers.py` anywhere under tests/ would clash). Fixtures: conftest.py."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flowc.compiler.api import compile_source

__all__ = ["ROOT", "JsonHandler", "loopback_server", "one_sandbox_for_every_engine", "plan_of",
           "wait_for"]

ROOT = Path(__file__).resolve().parent.parent


def plan_of(text: str, base: Path = ROOT):
    """The plan of a flow given as text (compiled as `t.flow` in `base`); fails the test on
    errors, naming them."""
    result = compile_source(text, "t.flow", base_dir=base)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    return result.plan


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A quiet request handler whose `do_GET` answers with `send_json`."""

    def send_json(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) in a background thread: its `host:port`."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@contextmanager
def one_sandbox_for_every_engine() -> Iterator[object]:
    """One sandbox pool for every engine made while it is open (the CLI makes one per command:
    a Pyodide start each would double a module's time). Yields the pool."""
    import pytest

    from flowc.runtime import engine as engine_module
    from flowc.runtime.sandbox import SandboxPool

    with SandboxPool(size=1) as pool:
        base = engine_module.Engine

        class SharedEngine(base):
            def __init__(self, store, **kw):
                kw.setdefault("sandbox", pool)
                super().__init__(store, **kw)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(engine_module, "Engine", SharedEngine)
            yield pool


def open_again(store):
    """Another store object on the same database as `store` (another process, days later):
    a SQLite file, or the same PostgreSQL database."""
    from flowc.runtime.store import SQLiteStore
    from flowc.runtime.store.pgstore import PostgresStore

    if isinstance(store, PostgresStore):
        return PostgresStore(store.url)
    return SQLiteStore(store.path)


def raw_sql(store, sql: str, args=()) -> list:
    """Run one statement on the store's database behind flowc's back (a crash's leftovers,
    a tampered row), committed; its rows, if any. `?` placeholders on either database."""
    from flowc.runtime.store.pgstore import PostgresStore

    if isinstance(store, PostgresStore):
        import psycopg

        from flowc.runtime.store.pgbase import _pg_sql

        with psycopg.connect(store.url, autocommit=True) as c:
            cur = c.execute(_pg_sql(sql), tuple(args))
            return cur.fetchall() if cur.description else []
    import sqlite3

    db = sqlite3.connect(store.path)
    try:
        rows = db.execute(sql, tuple(args)).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def wait_for(fn, what: str, timeout: float = 300.0, step: float = 0.05):
    """Poll `fn` until it returns something truthy: its value. `timeout` is a bound against a
    hang, not a speed claim (a busy machine only makes it take longer); past it, an
    AssertionError names what never happened."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what} never happened (a hang bound of {timeout:.0f} s)")
        time.sleep(step)
