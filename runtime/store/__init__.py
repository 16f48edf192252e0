"""The durable run store: plans, runs, node results, human tasks, effects, files and the audit
trail, behind one contract.

    from flowc.runtime.store import open_store
    store = open_store(None)                 # $FLOWC_STORE, else ./.flowc/runs.db
    store.put_plan(plan_hash, plan_json)
    run = store.create_run("triage", plan_hash, {"ticket": 42})
    with store.transaction():                # one commit: node result + next state
        store.finish_node(run.id, "classify", -1, "succeeded", output={"label": "bug"})
        store.set_run_status(run.id, "paused")
        store.create_task(run.id, "approve", assignees=[{"kind": "role", "name": "lead"}])

`Store` (contract.py) is the interface the runtime programs against, documented method by
method with what every implementation guarantees; tests/test_store_contract.py checks an
implementation against it. `SQLiteStore` (sqlitestore.py) is the embedded implementation (the
default on one machine; `":memory:"` for tests and benchmarks). A server-backed store
implements the same protocol: the SQL here keeps to what PostgreSQL also accepts
(`INSERT ... ON CONFLICT`, `SAVEPOINT`, `DOUBLE PRECISION`, `LIMIT ?`), PRAGMAs aside.

The package, lower layers first:
    errors.py       the exceptions a caller may catch
    records.py      the records the store returns, and the statuses they hold
    codec.py        values as stored JSON text;  ids.py: the ids the store mints
    chain.py        the audit chain's hashing (canonical JSON, event hashes, result payloads)
    contract.py     `Store`: the contract
    schema.py       the numbered migrations;  rows.py: columns and row-to-record readers
    filefaults.py   a store file that cannot serve, said in one line (`StoreFault`)
    connections.py  SQLite connections, transactions, retries, migrations, lease fences
    runs.py, nodes.py, trail.py, tasks.py, effects.py, files.py: the tables
    sqlitestore.py  `SQLiteStore` (the tables together), `open_store`, `default_store_path`

Times
    Every time (created_at, updated_at, lease_until, deadline, next_escalation, started_at,
    finished_at, decided_at, audit ts) is a float: seconds since the Unix epoch, UTC (`time.time()`).

Faults
    A file that cannot serve (damaged, truncated, not SQLite, read-only, full, not openable)
    raises `StoreFault`: one line naming the file, what is wrong and what to do. Opening a
    file store checks its header and, up to QUICK_CHECK_MAX_BYTES, runs `PRAGMA quick_check`,
    so a damaged store is refused before anything commits into it.
"""

from __future__ import annotations

from .chain import AUDIT_GENESIS, canonical_json
from .contract import Store
from .errors import (
    LeaseLost,
    NotFound,
    RunCancelled,
    SchemaVersionError,
    StatusConflict,
    StoreBusy,
    StoredValueChanged,
    StoreError,
    StoreFault,
)
from .ids import new_file_id
from .records import (
    NODE_STATUSES,
    RUN_STATUSES,
    TASK_KINDS,
    TASK_STATUSES,
    AuditRecord,
    AuditVerification,
    EffectRecord,
    FileRecord,
    ModelCallRecord,
    NodeRecord,
    RunRecord,
    TaskRecord,
)
from .rows import model_call_row
from .schema import MIGRATIONS
from .sqlitestore import SQLiteStore, default_store_path, open_store

# Also importable from here, as before the store became a package (the engine, the CLI,
# runtime/audit.py, runtime/storecheck.py and tests import them)
from .chain import LEGACY_AUDIT_GENESIS as LEGACY_AUDIT_GENESIS  # isort: skip
from .chain import NODE_RESULT_EVENT as NODE_RESULT_EVENT  # isort: skip
from .chain import _audit_hash as _audit_hash  # isort: skip
from .chain import _normalised as _normalised  # isort: skip
from .chain import node_result_payload as node_result_payload  # isort: skip
from .chain import text_sha256 as text_sha256  # isort: skip
from .codec import _dump as _dump  # isort: skip
from .codec import _load as _load  # isort: skip
from .connections import _Connection as _Connection  # isort: skip
from .filefaults import QUICK_CHECK_MAX_BYTES as QUICK_CHECK_MAX_BYTES  # isort: skip
from .filefaults import _size as _size  # isort: skip
from .filefaults import file_fault as file_fault  # isort: skip
from .filefaults import store_fault as store_fault  # isort: skip
from .ids import new_run_id as new_run_id  # isort: skip
from .ids import new_task_id as new_task_id  # isort: skip
from .records import ASSIGNEE_KINDS as ASSIGNEE_KINDS  # isort: skip
from .records import CLAIMABLE_RUN_STATUSES as CLAIMABLE_RUN_STATUSES  # isort: skip
from .records import EFFECT_STATUSES as EFFECT_STATUSES  # isort: skip
from .records import NO_ITEM as NO_ITEM  # isort: skip
from .records import TERMINAL_RUN_STATUSES as TERMINAL_RUN_STATUSES  # isort: skip
from .rows import read_evidence as read_evidence  # isort: skip

__all__ = [
    "AUDIT_GENESIS", "MIGRATIONS", "NODE_STATUSES", "RUN_STATUSES", "TASK_KINDS",
    "TASK_STATUSES", "AuditRecord", "AuditVerification", "EffectRecord", "FileRecord",
    "LeaseLost", "ModelCallRecord", "NodeRecord",
    "NotFound", "RunCancelled", "RunRecord", "SQLiteStore", "SchemaVersionError",
    "StatusConflict", "Store", "StoreBusy", "StoreError", "StoreFault", "StoredValueChanged",
    "TaskRecord", "canonical_json", "default_store_path",
    "model_call_row", "new_file_id", "open_store",
]
