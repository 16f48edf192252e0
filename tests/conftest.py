"""Fixtures shared by the tests (a module may define its own of the same name, which wins).
Helpers to import: flowc_testkit.py. The runtime is imported inside the fixtures, so test
folders that do not use them (lsp, models) do not load it."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite store in the test's folder, closed after the test."""
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
