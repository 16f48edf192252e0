"""`PostgresStore`: the `Store` contract on PostgreSQL, for runs that outgrow one machine
(every worker, `flowc serve` and the CLI on one database). The same table classes as
`SQLiteStore` on the PostgreSQL connection layer (pgbase.py): the same schema and
migrations, compare-and-set decisions, audit chain, effect records and lease fences.

    open_store("postgresql://flowc@db.internal/flowc")   # or FLOWC_STORE=postgresql://...
"""

from __future__ import annotations

from typing import Any

from .effects import EffectTables
from .files import FileTables
from .nodes import NodeTables
from .pgbase import PostgresBase
from .rows import read_evidence
from .runs import RunTables
from .service import ServiceTables
from .tasks import TaskTables
from .versions import VersionTables

__all__ = ["PostgresStore", "is_postgres_url"]


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


class PostgresStore(PostgresBase, RunTables, NodeTables, TaskTables, EffectTables, FileTables,
                    ServiceTables, VersionTables):
    """`PostgresStore(url, *, retry_for=60.0, clock=time.time, connect_timeout=10.0)`."""

    def audit_evidence(self, run_id: str) -> dict[str, Any]:
        """Everything the run's trail commits to, in one REPEATABLE READ snapshot."""
        def snapshot(c) -> dict[str, Any]:
            if getattr(self._local, "depth", 0):
                return read_evidence(c, run_id)
            c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return read_evidence(c, run_id)
            finally:
                c.execute("COMMIT")

        return self._read(snapshot)
