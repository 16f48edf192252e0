"""Fixtures shared by the tests (a module may define its own of the same name, which wins).
Helpers to import: flowc_testkit.py. The runtime is imported inside the fixtures, so test
folders that do not use them (lsp, models) do not load it."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path, request):
    """A fresh SQLite store in the test's folder, closed after the test. With
    FLOWC_TEST_STORE=postgresql, a fresh database on the test server instead (tests/pgkit.py):
    the tests that take this fixture then run on PostgreSQL."""
    import os

    if os.environ.get("FLOWC_TEST_STORE") == "postgresql":
        from flowc.runtime.store.pgstore import PostgresStore

        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.fresh_database()
        s = PostgresStore(url)
        yield s
        s.close()
        cluster.drop(url)
        return
    from flowc.runtime.store import SQLiteStore

    s = SQLiteStore(str(tmp_path / "runs.db"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def pool():
    """The module's sandbox pool, one sandbox kept warm."""
    from flowc.runtime.sandbox import SandboxPool

    with SandboxPool(size=1) as p:
        yield p


@pytest.fixture(scope="module")
def cold_pool():
    """A sandbox pool that keeps none warm: each run starts its sandbox."""
    from flowc.runtime.sandbox import SandboxPool

    with SandboxPool(size=0) as p:
        yield p


@pytest.fixture(scope="session")
def pg_cluster():
    """A real PostgreSQL server for this test process (tests/pgkit.py)."""
    from pgkit import Cluster

    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def temporal_server():
    """A real Temporal dev server for this test process (tests/temporalkit.py)."""
    from temporalkit import DevServer

    server = DevServer().start()
    yield server
    server.stop()


def pytest_collection_modifyitems(config, items):
    """With FLOWC_TEST_STORE=postgresql (test.sh's second pass), only the tests that take the
    `store` fixture run: the others ran in the first pass, on SQLite, and do not touch it."""
    import os

    if os.environ.get("FLOWC_TEST_STORE") != "postgresql":
        return
    keep = [i for i in items if "store" in getattr(i, "fixturenames", ())]
    gone = [i for i in items if "store" not in getattr(i, "fixturenames", ())]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = keep
