"""The durable run store: plans, runs, node results, human tasks, effects and the audit trail.

    from flowc.runtime.store import open_store
    store = open_store(None)                 # $FLOWC_STORE, else ./.flowc/runs.db
    store.put_plan(plan_hash, plan_json)
    run = store.create_run("triage", plan_hash, {"ticket": 42})
    with store.transaction():                # one commit: node result + next state
        store.finish_node(run.id, "classify", -1, "succeeded", output={"label": "bug"})
        store.set_run_status(run.id, "paused")
        store.create_task(run.id, "approve", assignees=[{"kind": "role", "name": "lead"}])

`Store` is the interface the runtime programs against; `SQLiteStore` is the embedded
implementation (the default on one machine). A server-backed store only has to implement the
same protocol: the SQL below keeps to what PostgreSQL also accepts (`INSERT ... ON CONFLICT`,
`SAVEPOINT`, `DOUBLE PRECISION`, `LIMIT ?`), PRAGMAs aside.

Where the store lives
    `default_store_path()`: the environment variable `FLOWC_STORE` (a path or a `sqlite:///`
    URL) if it is set and not empty, else `.flowc/runs.db` under the current directory. The
    parent directory is created when the store is opened. `open_store(":memory:")` gives an
    in-memory store for benchmarks and tests (nothing survives the process).

Times
    Every time (created_at, updated_at, lease_until, deadline, next_escalation, started_at,
    finished_at, decided_at, audit ts) is a float: seconds since the Unix epoch, UTC (`time.time()`).

Durability
    The database runs in WAL mode with `synchronous=NORMAL`. Every committed transaction is
    atomic and survives a crash of the process (or of every process using the store); after a
    power loss or an operating-system crash the last transactions committed before it may be
    rolled back, never half-applied: the store goes back to a consistent earlier state, and
    the runtime resumes from the node results that are there (effects are keyed, so an effect
    whose `done` was lost is looked up, not blindly repeated). `SQLiteStore(path,
    synchronous="FULL")` fsyncs on every commit and closes that window at some cost in
    write throughput.

Concurrency
    Each thread gets its own connection (a `threading.local`; a forked child opens new ones and
    never touches the parent's). Start worker processes with `spawn` or `forkserver`: a child
    forked while another thread of the parent is inside SQLite can inherit SQLite's internal
    mutexes locked and hang (SQLite's rule, not this module's). Every write runs in `BEGIN IMMEDIATE`, so a transaction takes
    the write lock up front instead of failing half-way when it upgrades a read lock. Writers
    of one process queue on an in-process lock (per database file) before they ask SQLite, so
    threads hand the write lock to each other at once instead of sleeping in SQLite's busy
    handler; writers of different processes wait in SQLite's busy handler (`busy_timeout`),
    and a write that still meets "database is locked/busy" is rolled back and retried with
    jittered exponential backoff for up to `retry_for` seconds before `StoreBusy` is raised.
    Readers never block writers (WAL). Compare-and-set updates (`decide_task`,
    `expire_task`, `escalate_task`, `claim_runs`, `release_run`, `effect_done`) say in their
    WHERE clause which state they expect, so exactly one of several concurrent callers wins in
    any process.

Fenced leases
    A run's lease has a fencing token (`lease_token`) that grows each time the lease passes to
    another owner. `with store.fenced(run_id, owner, token):` makes every transaction the
    calling thread opens check first, under the write lock, that `owner` still holds the
    lease with that token (`LeaseLost` if another process took it, `RunCancelled` if the run
    was cancelled: nothing of the transaction commits). `heartbeat()` renews a held lease.

Transactions
    `with store.transaction():` opens one write transaction for the calling thread; every store
    method called inside it (on the same thread) joins it, each in its own SAVEPOINT, and
    everything commits together or not at all. Nested `transaction()` blocks are savepoints.
    `finish_node(..., audit=[...])` appends audit events in the node result's transaction.

Files
    `files` records every file a node produced or a person supplied: an unguessable id minted
    here (`new_file_id`), the run, node and item, its name, sha256 and size, and where it
    lives (`workspace`: the root folder or fsspec URL, `location`: the path inside it). A file
    value names its record by that id; `find_file` looks one up for a run, and only among the
    files of that run's family (the runs that share its root run: parent and child flow
    runs). The same id may be recorded for several runs (an error replay copies the files of
    the nodes it keeps): the key is (id, run_id).

Audit chain
    Events are numbered per run from 1; `hash = sha256(prev_hash + canonical JSON of {run_id,
    seq, ts, kind, actor, payload})`, the first `prev_hash` being AUDIT_GENESIS (64 zeros,
    LEGACY_AUDIT_GENESIS, for a run recorded before results were committed), canonical JSON
    being `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`. The run
    row keeps the chain's head (last seq and hash), so `verify_audit` also sees events removed
    from or appended to the end. `finish_node` appends a `node.result` event (the sha256 of the
    stored output, error and inputs) in the result's own transaction, and `verify_audit` checks
    the stored results, decisions, inputs, outputs, status and plan against the events
    (runtime/audit.py). The chain shows tampering by anyone who does not rewrite the whole
    chain, its data and the head; anchor the head outside the store against that
    (`audit.Anchor`).

Faults
    A file that cannot serve (damaged, truncated, not SQLite, read-only, full, not openable)
    raises `StoreFault`: one line naming the file, what is wrong and what to do. Opening a
    file store checks its header and, up to QUICK_CHECK_MAX_BYTES, runs `PRAGMA quick_check`,
    so a damaged store is refused before anything commits into it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from . import blobs as _blobs
from . import faults as _faults

__all__ = [
    "AUDIT_GENESIS", "MIGRATIONS", "NODE_STATUSES", "RUN_STATUSES", "TASK_KINDS",
    "TASK_STATUSES", "AuditRecord", "AuditVerification", "EffectRecord", "FileRecord",
    "LeaseLost", "ModelCallRecord", "NodeRecord",
    "NotFound", "RunCancelled", "RunRecord", "SQLiteStore", "SchemaVersionError",
    "StatusConflict", "Store", "StoreBusy", "StoreError", "StoreFault", "StoredValueChanged",
    "TaskRecord", "canonical_json", "default_store_path",
    "model_call_row", "new_file_id", "open_store",
]

RUN_STATUSES = ("queued", "running", "paused", "succeeded", "failed", "cancelled")
TERMINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
CLAIMABLE_RUN_STATUSES = ("queued", "running")
NODE_STATUSES = ("running", "succeeded", "failed", "skipped", "waiting")
TASK_KINDS = ("gate", "ask")
TASK_STATUSES = ("pending", "decided", "timed_out", "cancelled")
ASSIGNEE_KINDS = ("role", "user")
EFFECT_STATUSES = ("intent", "done")
# The first `prev_hash` of a run's chain. A run recorded since its trail commits to its data
# (node results, decisions, inputs, outputs, plan: see runtime/audit.py) starts from
# AUDIT_GENESIS; one recorded before, from LEGACY_AUDIT_GENESIS (64 zeros). The genesis is
# hashed into the first event, so a run cannot be passed off as the older kind without
# rewriting its whole chain (which an anchor shows).
LEGACY_AUDIT_GENESIS = "0" * 64
AUDIT_GENESIS = hashlib.sha256(b"flowc audit chain 2: events commit to their data").hexdigest()
NODE_RESULT_EVENT = "node.result"   # written by the store with every node result, by no one else
NO_ITEM = -1

T = TypeVar("T")


# ---------------------------------------------------------------------------------- errors


class StoreError(Exception):
    """A problem with the run store that is not a bug in the caller's data."""


class NotFound(StoreError, KeyError):
    """No plan, run, task or effect with that key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class StatusConflict(StoreError):
    """The row is not in the status the caller expected (someone else changed it first)."""


class SchemaVersionError(StoreError):
    """The database was written by a newer flowc (a schema version this code does not know)."""


class StoredValueChanged(StoreError):
    """A large value the store keeps once (runtime/blobs.py) was changed or removed."""


class StoreBusy(StoreError):
    """The database stayed locked by other writers for longer than the retry budget."""


class StoreFault(StoreError):
    """The database file itself cannot serve: damaged, not a SQLite database, truncated,
    read-only, full, or not openable. The message is one line: the file, what is wrong, what
    to do. `kind` is one of "damaged", "truncated", "not_sqlite", "read_only", "full",
    "cannot_open", "io", "missing"."""

    def __init__(self, message: str, kind: str, path: str = ""):
        super().__init__(message)
        self.kind = kind
        self.path = path


class LeaseLost(StoreError):
    """A fenced write of a process whose lease on the run another process took: refused,
    nothing of its transaction is committed. The process must stop working on the run."""


class RunCancelled(LeaseLost):
    """A fenced write for a run that was cancelled: refused, nothing of it is committed."""


# --------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RunRecord:
    id: str
    flow_name: str
    plan_hash: str
    status: str
    inputs: Any
    outputs: Any
    error: str | None
    parent_run_id: str | None
    parent_node_id: str | None
    workspace_url: str | None
    created_at: float
    updated_at: float
    lease_owner: str | None
    lease_until: float | None
    base_dir: str | None = None   # the flow's folder: where its project skills are

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


@dataclass(frozen=True)
class NodeRecord:
    run_id: str
    node_id: str
    item: int
    status: str
    attempt: int
    inputs: Any
    output: Any
    outcome: str | None
    error: str | None
    started_at: float
    finished_at: float | None
    metrics: Any = None   # per-node figures: model, tokens, cost, steps, fallback, ...


@dataclass(slots=True)  # not frozen: one is made per model call, on the run's path
class ModelCallRecord:
    """One model exchange of a node (an `llm` call, an agent step, an extraction, a re-ask)."""

    run_id: str
    node_id: str
    item: int
    seq: int              # the call's number within the node's attempt, from 1
    attempt: int
    purpose: str          # "llm", "reask", "agent_step", "extract", ...
    provider: str         # "openai", "anthropic", "replay", ...
    alias: str            # the model's name in flowc.toml ("default")
    model: str            # the provider's model name
    request: Any
    response: Any
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    started_at: float
    finished_at: float

    @property
    def latency(self) -> float:
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class TaskRecord:
    id: str
    run_id: str
    node_id: str
    item: int
    kind: str
    status: str
    assignees: tuple[dict[str, str], ...]
    title: str
    show: Any
    form: Any
    deadline: float | None
    timeout_outcome: str | None
    decision: Any
    decided_by: str | None
    decided_at: float | None
    created_at: float
    # a gate's escalation steps, in order: {"after": seconds after it opened, "at": when the
    # step is due, "to": [assignees it adds], "fired_at": when it fired, or None}
    escalations: tuple[dict[str, Any], ...] = ()
    escalated: int = 0                      # how many steps have fired
    next_escalation: float | None = None    # when the next step is due (None: no step left)

    @property
    def fired_escalations(self) -> tuple[dict[str, Any], ...]:
        """The steps that fired, in order (each with its `fired_at`)."""
        return self.escalations[:self.escalated]


@dataclass(frozen=True)
class EffectRecord:
    key: str
    run_id: str
    node_id: str
    item: int
    status: str
    result: Any
    created_at: float
    done_at: float | None
    kind: str | None = None   # the node kind that performs it: code, command, skill
    starts: int = 1           # how often it was started (a retry or a resume: same key)


@dataclass(frozen=True)
class FileRecord:
    """A file a node produced or a person supplied, as the runtime recorded it."""

    id: str              # the handle a file value carries (`file_id`), minted by the runtime
    run_id: str
    node_id: str         # the node that produced it; `input:NAME` for a run input
    item: int
    name: str            # its name as the node wrote it (`report.pdf`, `out/table.csv`)
    sha256: str
    size: int
    workspace: str       # the folder (path or fsspec URL) it lives under
    location: str        # its path inside `workspace`: `RUN/NODE[/ITEM]/NAME`
    created_at: float


@dataclass(frozen=True)
class AuditRecord:
    run_id: str
    seq: int
    ts: float
    kind: str
    actor: str | None
    payload: Any
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    problems: list[str] = field(default_factory=list)
    events: int = 0
    notes: list[str] = field(default_factory=list)   # what was not checked, and why


# ------------------------------------------------------------------------------- interface


@runtime_checkable
class Store(Protocol):
    """What the runtime needs from a durable store. Methods raise `NotFound` for unknown keys."""

    def transaction(self) -> contextlib.AbstractContextManager[Store]: ...
    def close(self) -> None: ...

    def put_plan(self, plan_hash: str, json_text: str) -> None: ...
    def get_plan(self, plan_hash: str) -> str: ...

    def create_run(self, flow_name: str, plan_hash: str, inputs: Any = None, *,
                   status: str = "queued", parent_run_id: str | None = None,
                   parent_node_id: str | None = None, workspace_url: str | None = None,
                   run_id: str | None = None) -> RunRecord: ...
    def get_run(self, run_id: str) -> RunRecord | None: ...
    def list_runs(self, status: str | None = None, limit: int = 100) -> list[RunRecord]: ...
    def set_run_status(self, run_id: str, status: str, *, outputs: Any = None,
                       error: str | None = None,
                       expect: Iterable[str] | None = None) -> RunRecord: ...
    def claim_runs(self, owner: str, lease_seconds: float, limit: int = 10) -> list[RunRecord]: ...
    def renew_lease(self, run_id: str, owner: str, lease_seconds: float) -> bool: ...
    def lease_run(self, run_id: str, owner: str, lease_seconds: float) -> bool: ...
    def release_run(self, run_id: str, owner: str) -> bool: ...
    def wake_run(self, run_id: str) -> bool: ...
    def lease_token(self, run_id: str) -> int: ...
    def heartbeat(self, run_id: str, owner: str, token: int, lease_seconds: float, *,
                  renew: bool = True) -> str: ...
    def fenced(self, run_id: str, owner: str,
               token: int) -> contextlib.AbstractContextManager[None]: ...
    def current_fence(self) -> tuple[str, str, int] | None: ...
    def in_transaction(self) -> bool: ...
    def wake_runs(self, limit: int = 100) -> list[str]: ...

    def start_node(self, run_id: str, node_id: str, item: int = NO_ITEM, attempt: int = 1,
                   inputs: Any = None, started_at: float | None = None) -> NodeRecord: ...
    def finish_node(self, run_id: str, node_id: str, item: int, status: str, output: Any = None,
                    outcome: str | None = None, error: str | None = None, *,
                    audit: Iterable[tuple[str, str | None, Mapping[str, Any]]] = (),
                    metrics: Mapping[str, Any] | None = None,
                    started: Mapping[str, Any] | None = None,
                    model_calls: Iterable[ModelCallRecord] = ()) -> NodeRecord: ...
    def node_results(self, run_id: str) -> list[NodeRecord]: ...
    def record_model_call(self, call: ModelCallRecord) -> None: ...
    def record_traces(self, items: Iterable[tuple[str, str, int, Mapping[str, Any] | None,
                                                   Sequence[ModelCallRecord]]]) -> None: ...
    def model_calls(self, run_id: str | None = None, *, since: float | None = None,
                    until: float | None = None) -> list[ModelCallRecord]: ...

    def create_task(self, run_id: str, node_id: str, *, item: int = NO_ITEM, kind: str = "gate",
                    assignees: Iterable[Mapping[str, str]] = (), title: str = "",
                    show: Any = None, form: Any = None, deadline: float | None = None,
                    timeout_outcome: str | None = None,
                    task_id: str | None = None,
                    escalations: Iterable[Mapping[str, Any]] = ()) -> TaskRecord: ...
    def get_task(self, task_id: str) -> TaskRecord | None: ...
    def list_tasks(self, status: str | None = "pending", limit: int | None = 100,
                   for_user: str | None = None, roles: Iterable[str] = (),
                   run_id: str | None = None, *, flow: str | None = None,
                   assigned_role: str | None = None, offset: int = 0) -> list[TaskRecord]: ...
    def count_tasks(self, status: str | None = "pending", for_user: str | None = None,
                    roles: Iterable[str] = (), run_id: str | None = None, *,
                    flow: str | None = None, assigned_role: str | None = None) -> int: ...
    def task_for(self, run_id: str, node_id: str, item: int = NO_ITEM) -> TaskRecord | None: ...
    def sub_runs(self, run_id: str) -> list[RunRecord]: ...
    def child_run(self, parent_run_id: str, parent_node_id: str) -> RunRecord | None: ...
    def decide_task(self, task_id: str, decision: Mapping[str, Any], by: str) -> bool: ...
    def due_tasks(self, now: float | None = None, limit: int = 1000) -> list[TaskRecord]: ...
    def expire_task(self, task_id: str, outcome: str | None = None, *,
                    at: float | None = None) -> bool: ...
    def cancel_task(self, task_id: str) -> bool: ...
    def due_escalations(self, now: float | None = None,
                        limit: int = 1000) -> list[TaskRecord]: ...
    def escalate_task(self, task_id: str, step: int,
                      at: float | None = None) -> TaskRecord | None: ...

    def effect_intent(self, key: str, run_id: str, node_id: str,
                      item: int = NO_ITEM) -> EffectRecord: ...
    def effect_start(self, key: str, run_id: str, node_id: str, item: int = NO_ITEM,
                     kind: str | None = None) -> EffectRecord: ...
    def effect_done(self, key: str, result: Any) -> EffectRecord: ...
    def get_effect(self, key: str) -> EffectRecord | None: ...

    def record_files(self, files: Iterable[FileRecord]) -> None: ...
    def find_file(self, file_id: str, run_id: str) -> FileRecord | None: ...
    def run_files(self, run_id: str) -> list[FileRecord]: ...
    def copy_files(self, from_run_id: str, to_run_id: str) -> int: ...

    def append_audit(self, run_id: str, kind: str, actor: str | None,
                     payload: Mapping[str, Any]) -> AuditRecord: ...
    def audit_events(self, run_id: str) -> list[AuditRecord]: ...
    def verify_audit(self, run_id: str) -> AuditVerification: ...
    def audit_evidence(self, run_id: str) -> dict[str, Any]: ...
    def audit_heads(self, run_ids: Iterable[str] | None = None) -> dict[str, tuple[int, str]]: ...
    def touched_runs(self) -> set[str]: ...


# ------------------------------------------------------------------------------ migrations


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# An ordered list of steps; step i (1-based) brings the schema to version i. Never edit a
# released step: append a new one. Each step runs, with its schema_migrations row, in the
# transaction that opens the store.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: the initial schema
        """CREATE TABLE plans (
            hash TEXT PRIMARY KEY,
            json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
        f"""CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            flow_name TEXT NOT NULL,
            plan_hash TEXT NOT NULL REFERENCES plans (hash),
            status TEXT NOT NULL CHECK (status IN {_in(RUN_STATUSES)}),
            inputs_json TEXT,
            outputs_json TEXT,
            error TEXT,
            parent_run_id TEXT REFERENCES runs (id),
            parent_node_id TEXT,
            workspace_url TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            audit_seq INTEGER NOT NULL DEFAULT 0,
            audit_head TEXT NOT NULL DEFAULT '{LEGACY_AUDIT_GENESIS}')""",
        "CREATE INDEX runs_status ON runs (status, created_at)",
        "CREATE INDEX runs_parent ON runs (parent_run_id)",
        f"""CREATE TABLE node_executions (
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            status TEXT NOT NULL CHECK (status IN {_in(NODE_STATUSES)}),
            attempt INTEGER NOT NULL DEFAULT 1,
            inputs_json TEXT,
            output_json TEXT,
            outcome TEXT,
            error TEXT,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            PRIMARY KEY (run_id, node_id, item))""",
        f"""CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            kind TEXT NOT NULL CHECK (kind IN {_in(TASK_KINDS)}),
            status TEXT NOT NULL CHECK (status IN {_in(TASK_STATUSES)}),
            assignees_json TEXT NOT NULL,
            title TEXT NOT NULL,
            show_json TEXT,
            form_json TEXT,
            deadline DOUBLE PRECISION,
            timeout_outcome TEXT,
            decision_json TEXT,
            decided_by TEXT,
            decided_at DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX tasks_status_deadline ON tasks (status, deadline)",
        "CREATE INDEX tasks_status_created ON tasks (status, created_at)",
        "CREATE INDEX tasks_run ON tasks (run_id)",
        # assignees_json is the record; this table is its index for inbox queries
        f"""CREATE TABLE task_assignees (
            task_id TEXT NOT NULL REFERENCES tasks (id),
            kind TEXT NOT NULL CHECK (kind IN {_in(ASSIGNEE_KINDS)}),
            name TEXT NOT NULL,
            PRIMARY KEY (task_id, kind, name))""",
        "CREATE INDEX task_assignees_name ON task_assignees (kind, name)",
        f"""CREATE TABLE effects (
            key TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            status TEXT NOT NULL CHECK (status IN {_in(EFFECT_STATUSES)}),
            result_json TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            done_at DOUBLE PRECISION)""",
        "CREATE INDEX effects_run ON effects (run_id)",
        """CREATE TABLE audit_events (
            run_id TEXT NOT NULL REFERENCES runs (id),
            seq INTEGER NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            payload_json TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (run_id, seq))""",
    ),
    (  # 2: where a run's flow lives, to find its project's skills when it resumes elsewhere
        "ALTER TABLE runs ADD COLUMN base_dir TEXT",
    ),
    (  # 3: every model exchange (for traces, cost and error replay) and per-node figures
        """CREATE TABLE model_calls (
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            seq INTEGER NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            purpose TEXT NOT NULL,
            provider TEXT NOT NULL,
            alias TEXT NOT NULL,
            model TEXT NOT NULL,
            request_json TEXT NOT NULL,
            response_json TEXT,
            error TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost DOUBLE PRECISION NOT NULL DEFAULT 0,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, node_id, item, attempt, seq))""",
        "CREATE INDEX model_calls_time ON model_calls (started_at)",
        "ALTER TABLE node_executions ADD COLUMN metrics_json TEXT",
    ),
    (  # 4: gate escalation: a task's steps, how many fired, when the next one is due
        "ALTER TABLE tasks ADD COLUMN escalations_json TEXT",
        "ALTER TABLE tasks ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN next_escalation DOUBLE PRECISION",
        "CREATE INDEX tasks_status_escalation ON tasks (status, next_escalation)",
    ),
    (  # 5: files are capabilities: every file a node produced or a person supplied
        """CREATE TABLE files (
            id TEXT NOT NULL,
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            workspace TEXT NOT NULL,
            location TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (id, run_id))""",
        "CREATE INDEX files_run ON files (run_id)",
    ),
    (  # 6: large values stored once (runtime/blobs.py): parts of stored JSON by their sha256
        """CREATE TABLE blobs (
            hash TEXT PRIMARY KEY,
            json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
    ),
    (  # 7: every external effect gets a key: which node kind performs it, how often it started
        "ALTER TABLE effects ADD COLUMN kind TEXT",
        "ALTER TABLE effects ADD COLUMN starts INTEGER NOT NULL DEFAULT 1",
    ),
    (  # 8: fenced leases: a token that grows each time another owner takes a run's lease
        "ALTER TABLE runs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0",
    ),
]

_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL)"""


# --------------------------------------------------------------------------------- helpers


def canonical_json(value: Any) -> str:
    """The canonical JSON text the audit chain hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


try:  # orjson is several times faster on the write path (results, inputs, exchanges)
    import orjson as _orjson

    _ORJSON_OPTS = _orjson.OPT_NON_STR_KEYS

    def _dump(value: Any) -> str | None:
        if value is None:
            return None
        try:
            return _orjson.dumps(value, option=_ORJSON_OPTS).decode("utf-8")
        except TypeError:  # what orjson refuses (e.g. ints over 64 bits), json writes
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
except ImportError:  # pragma: no cover - orjson is a dependency; plain json still works
    _orjson = None

    def _dump(value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"),
                                                      ensure_ascii=False)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _audit_hash(prev_hash: str, run_id: str, seq: int, ts: float, kind: str,
                actor: str | None, payload: Any) -> str:
    body = canonical_json({"run_id": run_id, "seq": seq, "ts": ts, "kind": kind,
                           "actor": actor, "payload": payload})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


_json_text = json.encoder.encode_basestring  # a str as json.dumps(..., ensure_ascii=False)


def _json_scalar(value: Any) -> str:
    """canonical_json of a scalar, without the encoder's set-up (the audit's hot path)."""
    if value is None:
        return "null"
    if type(value) is str:
        return _json_text(value)
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return canonical_json(value)


def _audit_hash_text(prev_hash: str, run_id: str, seq: int, ts: float, kind: str,
                     actor: str | None, payload_text: str) -> str:
    """`_audit_hash` with the payload's canonical JSON already made: the same bytes (the
    body's keys in sorted order: actor, kind, payload, run_id, seq, ts), one dump less."""
    body = (f'{{"actor":{_json_scalar(actor)},"kind":{_json_scalar(kind)},'
            f'"payload":{payload_text},"run_id":{_json_scalar(run_id)},'
            f'"seq":{_json_scalar(seq)},"ts":{_json_scalar(ts)}}}')
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _normalised(payload: Mapping[str, Any]) -> tuple[Any, str]:
    """(the payload as it reads back, or None: parse the text for it; its canonical JSON):
    normalised through JSON first, so the hash is over exactly what is read back (int keys
    become strings, tuples lists). Only keys that are not strings make the text of what is
    read back differ (they are written as strings and sorted again): a payload whose keys
    are all strings (orjson, without OPT_NON_STR_KEYS, refuses any other) already gives that
    text, and is not parsed and written again."""
    text = canonical_json(payload)
    if _str_keys_only(payload):
        return None, text
    norm = json.loads(text)
    return norm, canonical_json(norm)


def _str_keys_only(value: Any) -> bool:
    if _orjson is None:  # pragma: no cover
        return False
    try:
        _orjson.dumps(value)
    except TypeError:  # a key that is not a str, or anything else orjson refuses
        return False
    return True


def text_sha256(text: str | None) -> str | None:
    """sha256 (hex) of a stored text's UTF-8 bytes; None for no value (SQL NULL). (A value
    put in a row as a BLOB or a number is hashed as what it is: it never matches the text.)"""
    if text is None:
        return None
    if isinstance(text, bytes):
        return hashlib.sha256(b"blob:" + text).hexdigest()
    if not isinstance(text, str):
        text = f"{type(text).__name__}:{text!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def node_result_payload(node_id: str, item: int, status: str, outcome: str | None,
                        inputs_json: str | None, output_json: str | None,
                        error: str | None) -> dict[str, Any]:
    """What a `node.result` event commits to: the node and item, its status and outcome, and
    the sha256 of its output, error and (when one is stored) inputs, as stored text."""
    payload = {"node": node_id, "item": item, "status": status, "outcome": outcome,
               "output": text_sha256(output_json), "error": text_sha256(error)}
    if inputs_json is not None:
        payload["inputs"] = text_sha256(inputs_json)
    return payload


def _node_result_payload(row: Sequence[Any]) -> tuple[Any, str]:
    payload = node_result_payload(row[1], row[2], row[3], row[7], row[5], row[6], row[8])
    # canonical_json(payload), its keys in sorted order, built directly (once per node)
    text = ",".join(f"{_json_text(k)}:{_json_scalar(payload[k])}" for k in sorted(payload))
    return payload, "{" + text + "}"


_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 32)
        out.append(_CROCKFORD[r])
    return "".join(reversed(out))


def new_run_id(now: float | None = None) -> str:
    """26 characters that sort by creation time: 48 bits of milliseconds, 80 random bits."""
    ms = int((time.time() if now is None else now) * 1000) & (2**48 - 1)
    return _base32(ms, 10) + _base32(secrets.randbits(80), 16)


def new_file_id() -> str:
    """An unguessable file handle (128 random bits)."""
    return "f" + secrets.token_hex(16)


def new_task_id() -> str:
    """10 random Crockford base32 characters (50 bits): short enough to type from an inbox."""
    return _base32(secrets.randbits(50), 10)


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def _assignees(items: Iterable[Mapping[str, str]]) -> tuple[dict[str, str], ...]:
    out: list[dict[str, str]] = []
    for a in items:
        if not isinstance(a, Mapping) or set(a) != {"kind", "name"}:
            raise ValueError(f'an assignee is {{"kind": "role"|"user", "name": ...}}, not {a!r}')
        _check(a["kind"], ASSIGNEE_KINDS, "assignee kind")
        if not isinstance(a["name"], str) or not a["name"]:
            raise ValueError(f"an assignee's name must be a non-empty string, not {a['name']!r}")
        entry = {"kind": a["kind"], "name": a["name"]}
        if entry not in out:
            out.append(entry)
    return tuple(out)


def _escalations(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Escalation steps as stored: {"after", "at", "to", "fired_at": None}, due times rising."""
    out: list[dict[str, Any]] = []
    for step in items:
        if not isinstance(step, Mapping) or not {"at", "to"} <= set(step):
            raise ValueError(f'an escalation step is {{"at": EPOCH, "to": [ASSIGNEE, ...], '
                             f'"after": SECONDS}}, not {step!r}')
        at = step["at"]
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise ValueError(f"an escalation step's `at` must be a time, not {at!r}")
        if out and at <= out[-1]["at"]:
            raise ValueError("escalation steps must be due one after the other "
                             f"({at} is not after {out[-1]['at']})")
        people = _assignees(step["to"])
        if not people:
            raise ValueError("an escalation step must add someone")
        out.append({"after": float(step.get("after", 0.0)), "at": float(at),
                    "to": list(people), "fired_at": None})
    return out


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


# ------------------------------------------------------------------------------ store faults

# What the store checks when it opens a file: the header always, the b-trees (`PRAGMA
# quick_check`, about 4 ms per MB: 62 ms for 16 MB, 10,000 runs) when the file is at most this
# big, so opening stays well inside the inbox's 200 ms; `flowc store check` runs the full
# `integrity_check` on any size.
QUICK_CHECK_MAX_BYTES = 16 * 2**20

_RESTORE = "restore it from a backup, or move it away to start a new store"


def _check_hint(path: str) -> str:
    return f"`flowc store check --store {path}` reports what is wrong"


def _free_bytes(folder: str) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _folder_read_only(folder: str) -> bool:
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(folder, os.W_OK)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def store_fault(exc: BaseException, path: str) -> StoreFault | None:
    """The one-line StoreFault for a SQLite error that is about the database file (damaged,
    foreign, read-only, full, not openable, I/O), or None for any other error."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    text = str(exc)
    low = text.lower()
    folder = os.path.dirname(os.path.abspath(path)) if path else "."
    name = os.path.basename(path)
    if primary == sqlite3.SQLITE_CORRUPT or "malformed" in low:
        return StoreFault(f"{path}: the store is damaged ({text}): {_RESTORE}; "
                          f"{_check_hint(path)}", "damaged", path)
    if primary == sqlite3.SQLITE_NOTADB or "not a database" in low:
        return StoreFault(f"{path}: not a SQLite database, so not a flowc run store ({text}): "
                          "point --store or FLOWC_STORE at the run store, or move this file "
                          "away", "not_sqlite", path)
    if primary == sqlite3.SQLITE_READONLY or "readonly" in low:
        return StoreFault(f"{path}: the store is read-only ({text}): give this user write "
                          f"access to the file and its folder (SQLite also writes {name}-wal "
                          f"and {name}-shm beside it)", "read_only", path)
    free = _free_bytes(folder)
    if primary == sqlite3.SQLITE_FULL or "is full" in low or (
            primary == sqlite3.SQLITE_IOERR and free == 0):
        where = f"{_size(free)} free on its disk" if free is not None else "its disk"
        return StoreFault(f"{path}: the store is full ({text}; {where}): free disk space (or "
                          "lift the size limit), then run the command again; what was "
                          "committed is kept", "full", path)
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH) or \
            "unable to open" in low:
        if not os.path.isdir(folder):
            return StoreFault(f"{path}: the store cannot be opened: its folder {folder} does "
                              "not exist", "cannot_open", path)
        if _folder_read_only(folder):
            return StoreFault(f"{path}: the store cannot be opened: its folder {folder} is "
                              f"read-only (SQLite must create {name}-wal and {name}-shm there):"
                              " give this user write access to the folder, or use a store in "
                              "a writable one", "read_only", path)
        return StoreFault(f"{path}: the store cannot be opened ({text}): check that this user "
                          "may read and write the file and its folder", "cannot_open", path)
    if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOLFS):
        return StoreFault(f"{path}: a disk I/O error on the store ({text}): check the disk "
                          "(full, failing, or a network file system SQLite cannot lock), then "
                          f"{_check_hint(path)}", "io", path)
    return None


def file_fault(path: str) -> StoreFault | None:
    """What the first bytes and the size of a store file show is wrong with it, if anything:
    not a SQLite database, a damaged header, a file shorter than its header says (truncated).
    A file that does not exist or is empty is a new store: None."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return None
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # SQLite says what it is when it opens it
    magic = b"SQLite format 3\x00"
    if not head.startswith(magic[:len(head)]) or (len(head) >= len(magic) and
                                                   not head.startswith(magic)):
        return StoreFault(f"{path}: not a SQLite database, so not a flowc run store (its first "
                          "bytes are not SQLite's): point --store or FLOWC_STORE at the run "
                          "store, or move this file away", "not_sqlite", path)
    if len(head) < 100:
        return StoreFault(f"{path}: the store is truncated: the file holds {size} bytes, less "
                          f"than SQLite's 100-byte header: {_RESTORE}", "truncated", path)
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return StoreFault(f"{path}: the store is damaged: its header names a page size of "
                          f"{page} bytes: {_RESTORE}; {_check_hint(path)}", "damaged", path)
    pages = int.from_bytes(head[28:32], "big")
    if pages and head[24:28] == head[92:96] and size < pages * page:
        return StoreFault(f"{path}: the store is truncated: its header says {pages} pages of "
                          f"{page} bytes ({pages * page} bytes), the file holds {size}: "
                          f"{_RESTORE}", "truncated", path)
    if size % page:
        return StoreFault(f"{path}: the store is truncated: {size} bytes is not a whole number "
                          f"of its {page}-byte pages: {_RESTORE}", "truncated", path)
    return None


# a lease changing hands (or taken again after it was given back) gets the next fencing token
_NEXT_TOKEN = "lease_token = lease_token + (CASE WHEN lease_owner = ? THEN 0 ELSE 1 END)"
_RUN_COLS = ("id, flow_name, plan_hash, status, inputs_json, outputs_json, error, parent_run_id, "
             "parent_node_id, workspace_url, created_at, updated_at, lease_owner, lease_until, "
             "base_dir")
_NODE_INSERT_COLS = ("run_id, node_id, item, status, attempt, inputs_json, output_json, outcome, "
                     "error, started_at, finished_at")
_NODE_COLS = _NODE_INSERT_COLS + ", metrics_json"
# a node row written comes back from the same statement (one SELECT less per node result)
_NODE_BACK = f" RETURNING {_NODE_COLS}" if _RETURNING else ""
_MODEL_CALL_COLS = ("run_id, node_id, item, seq, attempt, purpose, provider, alias, model, "
                    "request_json, response_json, error, prompt_tokens, completion_tokens, cost, "
                    "started_at, finished_at")
_TASK_COLS = ("id, run_id, node_id, item, kind, status, assignees_json, title, show_json, "
              "form_json, deadline, timeout_outcome, decision_json, decided_by, decided_at, "
              "created_at, escalations_json, escalated, next_escalation")
_EFFECT_COLS = "key, run_id, node_id, item, status, result_json, created_at, done_at, kind, starts"
_AUDIT_COLS = "run_id, seq, ts, kind, actor, payload_json, prev_hash, hash"
_FILE_COLS = "id, run_id, node_id, item, name, sha256, size, workspace, location, created_at"


def _run(r: Sequence[Any]) -> RunRecord:
    return RunRecord(r[0], r[1], r[2], r[3], _load(r[4]), _load(r[5]), r[6], r[7], r[8], r[9],
                     r[10], r[11], r[12], r[13], r[14])


def _node(r: Sequence[Any]) -> NodeRecord:
    return NodeRecord(r[0], r[1], r[2], r[3], r[4], _load(r[5]), _load(r[6]), r[7], r[8], r[9],
                      r[10], _load(r[11]))


def _model_call_row(c: ModelCallRecord) -> tuple:
    return (c.run_id, c.node_id, c.item, c.seq, c.attempt, c.purpose, c.provider, c.alias,
            c.model, _dump(c.request), _dump(c.response), c.error, c.prompt_tokens,
            c.completion_tokens, c.cost, c.started_at, c.finished_at)


def model_call_row(run_id: str, call: Any, request: Any) -> tuple:
    """The model_calls row of a successful call (a router `ModelCall`), built straight from
    it: the engine keeps these for a traced node (no intermediate record)."""
    key, r = call.key, call.response
    usage = r.usage
    return (run_id, key.node_id, key.item, key.seq, key.attempt, key.purpose, call.provider,
            call.alias, call.model, _dump(request), _dump(r.to_json()), call.error,
            usage.prompt_tokens, usage.completion_tokens, call.cost, call.started_at,
            call.finished_at)


def _row(c: ModelCallRecord | tuple) -> tuple:
    return c if type(c) is tuple else _model_call_row(c)


def _model_call(r: Sequence[Any]) -> ModelCallRecord:
    return ModelCallRecord(*r[:9], _load(r[9]), _load(r[10]), *r[11:])


def _task(r: Sequence[Any]) -> TaskRecord:
    return TaskRecord(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7],
                      _load(r[8]), _load(r[9]), r[10], r[11], _load(r[12]), r[13], r[14], r[15],
                      tuple(_load(r[16]) or ()), r[17], r[18])


def _effect(r: Sequence[Any]) -> EffectRecord:
    return EffectRecord(r[0], r[1], r[2], r[3], r[4], _load(r[5]), r[6], r[7], r[8], r[9])


def _file(r: Sequence[Any]) -> FileRecord:
    return FileRecord(*r)


def _audit(r: Sequence[Any]) -> AuditRecord:
    return AuditRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])


# Columns the audit reads: those of the first schema, so a store not yet migrated is read too
_EVIDENCE_RUN_COLS = ("id, flow_name, plan_hash, status, inputs_json, outputs_json, error, "
                      "parent_run_id, parent_node_id, created_at, updated_at, audit_seq, "
                      "audit_head")
_EVIDENCE_TASK_COLS = ("id, run_id, node_id, item, kind, status, assignees_json, title, "
                       "show_json, form_json, deadline, timeout_outcome, decision_json, "
                       "decided_by, decided_at, created_at")


def read_evidence(conn: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """Everything a run's trail commits to, as stored (JSON as its stored text): {"run": row
    or None, "plan": text or None, "events", "nodes", "tasks"}, rows as dicts. Run it inside
    one read transaction for a consistent snapshot."""
    def rows(sql: str, *args: Any) -> list[dict[str, Any]]:
        cur = conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    run = rows(f"SELECT {_EVIDENCE_RUN_COLS} FROM runs WHERE id = ?", run_id)
    plan = None
    if run:
        found = conn.execute("SELECT json FROM plans WHERE hash = ?",
                             (run[0]["plan_hash"],)).fetchone()
        plan = None if found is None else found[0]
    return {
        "run": run[0] if run else None, "plan": plan,
        "events": rows(f"SELECT {_AUDIT_COLS} FROM audit_events WHERE run_id = ? ORDER BY seq",
                       run_id),
        "nodes": rows(f"SELECT {_NODE_INSERT_COLS} FROM node_executions WHERE run_id = ?"
                      " ORDER BY node_id, item", run_id),
        "tasks": rows(f"SELECT {_EVIDENCE_TASK_COLS} FROM tasks WHERE run_id = ?"
                      " ORDER BY created_at, id", run_id),
    }


# ---------------------------------------------------------------- process-wide writer locks

_REGISTRY_LOCK = threading.Lock()
_WRITE_LOCKS: dict[str, threading.RLock] = {}
# Connections inherited through fork(): a child must neither use nor close them (closing could
# checkpoint or delete the parent's WAL), so they are kept referenced until the child exits.
_FORK_ORPHANS: list[sqlite3.Connection] = []


_FORK_LOCK = threading.Lock()  # a child's threads forget the parent's connections once


def _reset_after_fork() -> None:
    global _REGISTRY_LOCK, _WRITE_LOCKS, _FORK_LOCK
    _REGISTRY_LOCK = threading.Lock()
    _WRITE_LOCKS = {}
    _FORK_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _write_lock_for(key: str) -> threading.RLock:
    with _REGISTRY_LOCK:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced (the base class cannot); it resolves the
    references to large values in the rows it reads (runtime/blobs.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blob_cache = _blobs.BlobCache()
        self.row_factory = _blobs.resolve_row


# ------------------------------------------------------------------------------ the store


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode (or `":memory:"`, one locked connection).

    `busy_timeout` is how long one statement waits in SQLite for another process's lock;
    `retry_for` bounds the whole retry loop around a write; `clock` gives "now" (tests);
    `quick_check_max_bytes`: files up to this size get `PRAGMA quick_check` when opened (0:
    never), larger ones the header checks only."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL",
                 busy_timeout: float = 5.0, retry_for: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 quick_check_max_bytes: int = QUICK_CHECK_MAX_BYTES):
        path = os.fspath(path)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        self.memory = path in (":memory:", "")
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.retry_for = retry_for
        self.clock = clock
        self.quick_check_max_bytes = quick_check_max_bytes
        self.journal_mode = "memory"
        self._closed = False
        self._touched: set[str] = set()  # runs whose trail grew (see touched_runs)
        self._heads: dict[str, tuple[int, str]] = {}  # run -> (seq, head) this store wrote
        self._commits = 0  # the memory store's commits (its fences' data_version)
        self._pid = os.getpid()
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], _Connection]] = []
        self._conns_lock = threading.Lock()
        if self.memory:
            self._key = f":memory:{id(self)}"
            self._lock = threading.RLock()
            self._mem_conn = self._connect(":memory:")
        else:
            parent = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as e:
                raise StoreFault(f"{path}: the store cannot be opened: its folder {parent} "
                                 f"cannot be made ({e.strerror or e})", "cannot_open",
                                 path) from e
            self._key = os.path.realpath(path)
            self._lock = _write_lock_for(self._key)
            fault = file_fault(path)  # not SQLite, a damaged header, truncated
            if fault is not None:
                raise fault
        try:
            if not self.memory:
                conn = self._conn()
                self.journal_mode = self._retrying(lambda: self._enable_wal(conn))
                self._quick_check(conn)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            self._fault(exc)
            raise
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _now(self) -> float:
        return float(self.clock())

    def _fault(self, exc: BaseException) -> None:
        """Raise the StoreFault a SQLite error about the file stands for (else return)."""
        fault = store_fault(exc, self.path)
        if fault is not None:
            raise fault from exc

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        """A damaged store is refused when it is opened, before anything commits into it:
        `PRAGMA quick_check` over files up to `quick_check_max_bytes`."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size == 0 or size > self.quick_check_max_bytes:
            return
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
        if rows != ["ok"]:
            what = " ".join("; ".join(rows).split())[:300]
            raise StoreFault(f"{self.path}: the store is damaged (quick_check: {what}): "
                             f"{_RESTORE}; {_check_hint(self.path)}", "damaged", self.path)

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections

    def _connect(self, target: str) -> _Connection:
        conn = sqlite3.connect(target, timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False, factory=_Connection)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> str:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        return str(mode).lower()

    def _conn(self) -> _Connection:
        """This thread's connection (the memory store's one connection: hold `_lock`)."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        if self.memory:
            return self._mem_conn
        if os.getpid() != self._pid:
            with _FORK_LOCK:
                if os.getpid() != self._pid:
                    self._forget_parent_connections()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(self.path)
            self._local.conn = conn
            with self._conns_lock:
                alive = []
                for thread, c in self._conns:
                    t = thread()
                    if t is not None and t.is_alive():
                        alive.append((thread, c))
                    else:
                        c.close()  # its thread is gone
                alive.append((weakref.ref(threading.current_thread()), conn))
                self._conns = alive
        return conn

    def _forget_parent_connections(self) -> None:
        _FORK_ORPHANS.extend(c for _, c in self._conns)
        own = getattr(self._local, "conn", None)
        if own is not None:
            _FORK_ORPHANS.append(own)
        self._conns = []
        self._conns_lock = threading.Lock()
        self._local = threading.local()
        self._lock = _write_lock_for(self._key)
        self._pid = os.getpid()

    def close(self) -> None:
        """Close every connection this store opened (in this process); call it when no other
        thread is using the store any more."""
        if self._closed:
            return
        self._closed = True
        if self.memory:
            with self._lock:
                self._mem_conn.close()
            return
        if os.getpid() != self._pid:
            with _FORK_LOCK:
                if os.getpid() != self._pid:
                    self._forget_parent_connections()
            return
        with self._conns_lock:
            for _, c in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._conns = []

    # -- transactions and retries

    def _retrying(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.002
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"{self.path}: still locked after {self.retry_for:g} s: "
                                    f"{exc}") from exc
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SQLiteStore]:
        """One write transaction for this thread; store calls inside it join it (savepoints).

        Commits when the block ends, rolls everything back when it raises."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            conn = self._conn()
            name = f"flowc_sp{depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            try:
                yield self
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the error raised is the one to see
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                self._local.depth = depth
            return
        conn = self._conn()  # first: after a fork it also replaces the inherited lock
        with self._lock:
            try:
                if conn.in_transaction:  # left open by a failed ROLLBACK: start clean
                    conn.execute("ROLLBACK")
                self._retrying(lambda: conn.execute("BEGIN IMMEDIATE"))
            except sqlite3.DatabaseError as exc:
                self._fault(exc)
                raise
            self._local.depth = 1
            point = _faults.point_name() if _faults.ACTIVE else None  # crash tests only
            try:
                self._check_fence(conn)  # under the write lock: no one changes the lease now
                yield self
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    if point is not None:
                        _faults.reached(point, "before")
                    self._retrying(lambda: conn.execute("COMMIT"))
                except BaseException as exc:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    self._fault(exc)
                    raise
                if self.memory:  # (what `PRAGMA data_version` is to a file: see _check_fence)
                    self._commits += 1
                    seen = getattr(self._local, "fence_seen", None)
                    if seen is not None and seen[1] == self._commits - 1:
                        self._local.fence_seen = (seen[0], self._commits)  # ours: it holds
                if point is not None:
                    _faults.reached(point, "after")
            finally:
                self._local.depth = 0
                if getattr(self._local, "lease_write", False):  # what a fence check found
                    self._local.lease_write = False           # may no longer hold
                    self._local.fence_seen = None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` atomically: in this thread's open transaction, else in its own (retried)."""
        def once() -> T:
            with self.transaction():
                return fn(self._conn())

        try:
            if getattr(self._local, "depth", 0):
                return once()
            return self._retrying(once)
        except sqlite3.IntegrityError as exc:  # e.g. a node or task of a run that does not exist
            raise StoreError(f"{self.path}: {exc}") from exc
        except _blobs.BlobChanged as exc:
            raise StoredValueChanged(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:  # the file: damaged, read-only, full, ...
            self._fault(exc)
            raise

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self.memory:
                with self._lock:
                    return fn(self._conn())
            if getattr(self._local, "depth", 0):
                return fn(self._conn())
            return self._retrying(lambda: fn(self._conn()))
        except _blobs.BlobChanged as exc:
            raise StoredValueChanged(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._fault(exc)
            raise

    def _json(self, conn: sqlite3.Connection, value: Any) -> str | None:
        """The JSON text to store for `value`, its large parts stored once (runtime/blobs.py)."""
        return _blobs.pack(conn, value, _dump, self._now)

    # -- migrations

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
        return int(row[0] or 0)

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise SchemaVersionError(
                f"{self.path}: the store's schema is version {version}, this flowc knows "
                f"versions up to {len(MIGRATIONS)}; open it with a newer flowc")

    def _migrate(self) -> None:
        version = self._read(self._version)
        self._refuse_newer(version)
        if version == len(MIGRATIONS):
            return

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(_MIGRATIONS_TABLE)
            current = self._version(conn)  # again, under the write lock
            self._refuse_newer(current)
            for number in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                             (number, self._now()))

        self._write(apply)

    def schema_version(self) -> int:
        return self._read(self._version)

    # -- plans

    def put_plan(self, plan_hash: str, json_text: str) -> None:
        """Store a plan under its content hash; storing it again is a no-op."""
        if not isinstance(json_text, str):
            json_text = json.dumps(json_text, separators=(",", ":"), ensure_ascii=False)

        def put(conn: sqlite3.Connection) -> None:
            cur = conn.execute("INSERT INTO plans (hash, json, created_at) VALUES (?, ?, ?) "
                               "ON CONFLICT (hash) DO NOTHING", (plan_hash, json_text, self._now()))
            if cur.rowcount == 0:
                (stored,) = conn.execute("SELECT json FROM plans WHERE hash = ?",
                                         (plan_hash,)).fetchone()
                if stored != json_text and json.loads(stored) != json.loads(json_text):
                    raise StoreError(f"plan {plan_hash} is already stored with other content")

        self._write(put)

    def get_plan(self, plan_hash: str) -> str:
        row = self._read(lambda c: c.execute("SELECT json FROM plans WHERE hash = ?",
                                             (plan_hash,)).fetchone())
        if row is None:
            raise NotFound(f"no plan {plan_hash}")
        return row[0]

    # -- runs

    def create_run(self, flow_name: str, plan_hash: str, inputs: Any = None, *,
                   status: str = "queued", parent_run_id: str | None = None,
                   parent_node_id: str | None = None, workspace_url: str | None = None,
                   run_id: str | None = None, base_dir: str | None = None) -> RunRecord:
        _check(status, RUN_STATUSES, "run status")
        now = self._now()
        rid = run_id or new_run_id(now)

        def create(conn: sqlite3.Connection) -> RunRecord:
            if conn.execute("SELECT 1 FROM plans WHERE hash = ?", (plan_hash,)).fetchone() is None:
                raise NotFound(f"no plan {plan_hash}: put_plan() it before creating a run")
            if parent_run_id is not None and conn.execute(
                    "SELECT 1 FROM runs WHERE id = ?", (parent_run_id,)).fetchone() is None:
                raise NotFound(f"no parent run {parent_run_id}")
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLS}, audit_head) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?,"
                " ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (rid, flow_name, plan_hash, status, self._json(conn, inputs), parent_run_id,
                 parent_node_id, workspace_url, now, now, base_dir, AUDIT_GENESIS))
            return self._get_run(conn, rid)

        return self._write(create)

    @staticmethod
    def _find_run(conn: sqlite3.Connection, run_id: str) -> RunRecord | None:
        row = conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _run(row)

    @classmethod
    def _get_run(cls, conn: sqlite3.Connection, run_id: str) -> RunRecord:
        run = cls._find_run(conn, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        return run

    def get_run(self, run_id: str) -> RunRecord | None:
        return self._read(lambda c: self._find_run(c, run_id))

    def list_runs(self, status: str | None = None, limit: int = 100) -> list[RunRecord]:
        """The newest runs first, optionally only those in one status."""
        if status is None:
            sql, args = f"SELECT {_RUN_COLS} FROM runs", ()
        else:
            _check(status, RUN_STATUSES, "run status")
            sql, args = f"SELECT {_RUN_COLS} FROM runs WHERE status = ?", (status,)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        return [_run(r) for r in self._read(lambda c: c.execute(sql, (*args, limit)).fetchall())]

    def set_run_status(self, run_id: str, status: str, *, outputs: Any = None,
                       error: str | None = None,
                       expect: Iterable[str] | None = None) -> RunRecord:
        """Move a run to `status`; `outputs`/`error` replace the stored ones when given.

        A terminal status (succeeded, failed, cancelled) also drops the run's lease. With
        `expect`, the change happens only if the run is in one of those statuses (else
        `StatusConflict`), decided in the same statement."""
        self._local.lease_write = True  # a lease may change: fences are read again
        _check(status, RUN_STATUSES, "run status")
        expected = None if expect is None else tuple(expect)
        for s in expected or ():
            _check(s, RUN_STATUSES, "expected run status")
        terminal = status in TERMINAL_RUN_STATUSES

        def update(conn: sqlite3.Connection) -> RunRecord:
            sql = ("UPDATE runs SET status = ?, updated_at = ?,"
                   " outputs_json = COALESCE(?, outputs_json), error = COALESCE(?, error)")
            if terminal:
                sql += ", lease_owner = NULL, lease_until = NULL"
            sql += " WHERE id = ?"
            args: tuple[Any, ...] = (status, self._now(), self._json(conn, outputs), error,
                                     run_id)
            if expected is not None:
                sql += " AND status IN (" + ", ".join("?" * len(expected)) + ")"
                args += expected
            if conn.execute(sql, args).rowcount == 0:
                current = self._get_run(conn, run_id)  # raises NotFound
                raise StatusConflict(f"run {run_id} is {current.status}, not "
                                     f"{' or '.join(expected or ())}")
            return self._get_run(conn, run_id)

        return self._write(update)

    def claim_runs(self, owner: str, lease_seconds: float, limit: int = 10) -> list[RunRecord]:
        """Lease up to `limit` queued or running runs nobody holds (or whose lease expired).

        For a worker picking up runs, including those a crashed worker left behind. A run this
        owner already holds is not returned again (use `renew_lease`)."""
        self._local.lease_write = True  # a lease may change: fences are read again
        if not owner:
            raise ValueError("a lease needs an owner")
        claimable = ", ".join("?" * len(CLAIMABLE_RUN_STATUSES))

        def claim(conn: sqlite3.Connection) -> list[RunRecord]:
            now = self._now()
            free = "(lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ?)"
            ids = [r[0] for r in conn.execute(
                f"SELECT id FROM runs WHERE status IN ({claimable}) AND {free}"
                " ORDER BY created_at, id LIMIT ?",
                (*CLAIMABLE_RUN_STATUSES, now, limit)).fetchall()]
            claimed = []
            for rid in ids:  # each a compare-and-set, so it is also safe where reads don't lock
                cur = conn.execute(
                    f"UPDATE runs SET {_NEXT_TOKEN}, lease_owner = ?, lease_until = ? WHERE"
                    f" id = ? AND status IN ({claimable}) AND {free}",
                    (owner, owner, now + lease_seconds, rid, *CLAIMABLE_RUN_STATUSES, now))
                if cur.rowcount:
                    claimed.append(self._get_run(conn, rid))
            return claimed

        return self._write(claim)

    def lease_run(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        """Take (or extend) the lease on one run: True when it was free, expired or already
        `owner`'s. Only the lease holder advances a run."""
        self._local.lease_write = True  # a lease may change: fences are read again
        def take(conn: sqlite3.Connection) -> bool:
            now = self._now()
            return conn.execute(
                f"UPDATE runs SET {_NEXT_TOKEN}, lease_owner = ?, lease_until = ? WHERE id = ?"
                " AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ? OR"
                " lease_owner = ?)", (owner, owner, now + lease_seconds, run_id, now, owner)
            ).rowcount == 1

        return self._write(take)

    def renew_lease(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend a lease `owner` still holds (a heartbeat); False if it was lost."""
        self._local.lease_write = True  # a lease may change: fences are read again
        def renew(conn: sqlite3.Connection) -> bool:
            now = self._now()
            return conn.execute(
                "UPDATE runs SET lease_until = ? WHERE id = ? AND lease_owner = ?"
                " AND lease_until > ?", (now + lease_seconds, run_id, owner, now)).rowcount == 1

        return self._write(renew)

    def release_run(self, run_id: str, owner: str) -> bool:
        """Give up `owner`'s lease on a run; False if `owner` did not hold it."""
        self._local.lease_write = True  # a lease may change: fences are read again
        return self._write(lambda conn: conn.execute(
            "UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
            (run_id, owner)).rowcount == 1)

    def wake_run(self, run_id: str) -> bool:
        """A paused run can go on (its task was decided or timed out, its sub-flow ended):
        queue it for a worker (compare-and-set on `paused`). Call it in the transaction of the
        change that lets it go on, so a crash right after that commit leaves a run a worker
        continues, never one paused for ever."""
        return self._write(lambda conn: conn.execute(
            "UPDATE runs SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'paused'",
            (self._now(), run_id)).rowcount == 1)

    def wake_runs(self, limit: int = 100) -> list[str]:
        """Queue every paused run whose committed state says it can go on: a node waits on a
        task that is no longer pending, or on a sub-flow run that ended. Returns their ids."""
        def wake(conn: sqlite3.Connection) -> list[str]:
            ids = [r[0] for r in conn.execute(
                "SELECT r.id FROM runs r WHERE r.status = 'paused' AND (EXISTS (SELECT 1 FROM"
                " tasks t JOIN node_executions n ON n.run_id = t.run_id AND n.node_id ="
                " t.node_id AND n.item = t.item WHERE t.run_id = r.id AND t.status <> 'pending'"
                " AND n.status = 'waiting') OR EXISTS (SELECT 1 FROM runs c JOIN"
                " node_executions n ON n.run_id = c.parent_run_id AND c.parent_node_id ="
                " n.node_id || '#' || n.item WHERE c.parent_run_id = r.id AND c.status IN"
                f" {_in(TERMINAL_RUN_STATUSES)} AND n.status = 'waiting'))"
                " ORDER BY r.created_at, r.id LIMIT ?", (limit,)).fetchall()]
            now = self._now()
            return [rid for rid in ids if conn.execute(
                "UPDATE runs SET status = 'queued', updated_at = ? WHERE id = ? AND"
                " status = 'paused'", (now, rid)).rowcount == 1]

        return self._write(wake)

    # -- fenced leases

    def lease_token(self, run_id: str) -> int:
        """The run's fencing token: it grows each time a lease passes to another owner (or
        is taken again after it was given back), never otherwise. Read it in the
        transaction that takes the lease (`lease_run`)."""
        row = self._read(lambda c: c.execute("SELECT lease_token FROM runs WHERE id = ?",
                                             (run_id,)).fetchone())
        if row is None:
            raise NotFound(f"no run {run_id}")
        return int(row[0])

    @staticmethod
    def _lease_state(row: Sequence[Any] | None, owner: str, token: int) -> str:
        if row is None:
            return "unknown"       # not committed yet (another connection's transaction)
        status, lease_owner, lease_token = row
        if status == "cancelled":
            return "cancelled"
        if lease_token != token:
            return "lost"          # another process took the lease since
        if status in TERMINAL_RUN_STATUSES:
            return "ended"         # ended by the holder itself (a terminal status frees it)
        return "held" if lease_owner == owner else "lost"

    def heartbeat(self, run_id: str, owner: str, token: int, lease_seconds: float, *,
                  renew: bool = True) -> str:
        """A lease holder's heartbeat: "held" (renewed for `lease_seconds` more when `renew`;
        a lapsed lease nobody took yet is renewed too: the token says nobody did),
        "cancelled" (the run was cancelled), "ended" (the holder ended it), "lost"
        (another process holds it now) or "unknown" (the run is not committed yet)."""
        self._local.lease_write = True  # a lease may change: fences are read again
        def beat(conn: sqlite3.Connection) -> str:
            if renew and conn.execute(
                    "UPDATE runs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND"
                    f" lease_token = ? AND status NOT IN {_in(TERMINAL_RUN_STATUSES)}",
                    (self._now() + lease_seconds, run_id, owner, token)).rowcount == 1:
                return "held"
            return self._lease_state(conn.execute(
                "SELECT status, lease_owner, lease_token FROM runs WHERE id = ?",
                (run_id,)).fetchone(), owner, token)

        return self._write(beat) if renew else self._read(beat)

    @contextlib.contextmanager
    def fenced(self, run_id: str, owner: str, token: int) -> Iterator[None]:
        """Fence this thread's writes: every transaction it opens inside the block (a store
        method on its own, or `transaction()`) first checks, under the write lock, that
        `owner` still holds the run's lease with `token`: if another process took it,
        `LeaseLost` is raised, if the run was cancelled `RunCancelled`, and nothing of that
        transaction commits. Blocks nest (a sub-flow's run inside its parent's pass)."""
        stack = self._local.__dict__.setdefault("fences", [])
        stack.append((run_id, owner, token))
        try:
            yield
        finally:
            stack.pop()

    def in_transaction(self) -> bool:
        """Whether the calling thread has a transaction open (`transaction()`)."""
        return bool(getattr(self._local, "depth", 0))

    def current_fence(self) -> tuple[str, str, int] | None:
        """This thread's innermost fence (to carry into a helper thread), or None."""
        stack = getattr(self._local, "fences", None)
        return stack[-1] if stack else None

    def _check_fence(self, conn: sqlite3.Connection) -> None:
        stack = getattr(self._local, "fences", None)
        if not stack:
            return
        fence = stack[-1]
        # nothing another connection committed since this one last found the fence held
        # (SQLite's data_version): it still holds, no need to read the run again
        # (the memory store's one connection counts every commit: none since this thread's
        # own last one says the same)
        version = self._commits if self.memory else \
            conn.execute("PRAGMA data_version").fetchone()[0]
        if getattr(self._local, "fence_seen", None) == (fence, version):
            return
        run_id, owner, token = fence
        state = self._lease_state(conn.execute(
            "SELECT status, lease_owner, lease_token FROM runs WHERE id = ?",
            (run_id,)).fetchone(), owner, token)
        if state == "cancelled":
            raise RunCancelled(f"run {run_id} was cancelled")
        if state == "lost":
            raise LeaseLost(f"the lease on run {run_id} was taken by another process")
        self._local.fence_seen = (fence, version)

    # -- node executions

    def _get_node(self, conn: sqlite3.Connection, run_id: str, node_id: str,
                  item: int) -> NodeRecord:
        return _node(conn.execute(
            f"SELECT {_NODE_COLS} FROM node_executions WHERE run_id = ? AND node_id = ?"
            " AND item = ?", (run_id, node_id, item)).fetchone())

    def start_node(self, run_id: str, node_id: str, item: int = NO_ITEM, attempt: int = 1,
                   inputs: Any = None, started_at: float | None = None) -> NodeRecord:
        """Record that a node (one item of a for-each, else item -1) starts an attempt.

        A new attempt replaces the previous attempt's result."""
        def start(conn: sqlite3.Connection) -> NodeRecord:
            conn.execute(
                f"INSERT INTO node_executions ({_NODE_INSERT_COLS})"
                " VALUES (?, ?, ?, 'running', ?, ?, NULL, NULL, NULL, ?, NULL)"
                " ON CONFLICT (run_id, node_id, item) DO UPDATE SET status = 'running',"
                " attempt = excluded.attempt, inputs_json = excluded.inputs_json,"
                " output_json = NULL, outcome = NULL, error = NULL, metrics_json = NULL,"
                " started_at = excluded.started_at, finished_at = NULL",
                (run_id, node_id, item, attempt, self._json(conn, inputs),
                 self._now() if started_at is None else started_at))
            return self._get_node(conn, run_id, node_id, item)

        return self._write(start)

    def finish_node(self, run_id: str, node_id: str, item: int, status: str, output: Any = None,
                    outcome: str | None = None, error: str | None = None, *,
                    audit: Iterable[tuple[str, str | None, Mapping[str, Any]]] = (),
                    metrics: Mapping[str, Any] | None = None,
                    started: Mapping[str, Any] | None = None,
                    model_calls: Iterable[ModelCallRecord] = ()) -> NodeRecord:
        """Record a node's result (or that it waits, e.g. on a human task), atomically with the
        audit events given as (kind, actor, payload). A node never started (a skipped one) gets
        its row here, with attempt 0. `started` (attempt, inputs, started_at: the attempt's start,
        kept in memory while it ran) goes into the same row, and `model_calls` into the same
        commit: cheaper than separate `start_node` and `record_model_call` writes. For more writes in the same commit, call
        this inside `transaction()`."""
        _check(status, NODE_STATUSES, "node status")
        events = list(audit)
        calls = list(model_calls)

        def finish(conn: sqlite3.Connection) -> NodeRecord:
            now = self._now()
            finished = None if status in ("running", "waiting") else now
            if calls:
                conn.executemany(
                    f"INSERT OR REPLACE INTO model_calls ({_MODEL_CALL_COLS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_row(c) for c in calls])
            if started is None:
                cur = conn.execute(
                    f"INSERT INTO node_executions ({_NODE_COLS})"
                    " VALUES (?, ?, ?, ?, 0, NULL, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, node_id, item) DO UPDATE SET status = excluded.status,"
                    " output_json = excluded.output_json, outcome = excluded.outcome,"
                    " error = excluded.error, finished_at = excluded.finished_at,"
                    " metrics_json = COALESCE(excluded.metrics_json, metrics_json)" + _NODE_BACK,
                    (run_id, node_id, item, status, self._json(conn, output), outcome, error, now,
                     finished, _dump(dict(metrics)) if metrics else None))
            else:  # the attempt's start comes with its result: one row written once
                cur = conn.execute(
                    f"INSERT INTO node_executions ({_NODE_COLS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, node_id, item) DO UPDATE SET status = excluded.status,"
                    " attempt = excluded.attempt, inputs_json = excluded.inputs_json,"
                    " output_json = excluded.output_json, outcome = excluded.outcome,"
                    " error = excluded.error, started_at = excluded.started_at,"
                    " finished_at = excluded.finished_at,"
                    " metrics_json = COALESCE(excluded.metrics_json, metrics_json)" + _NODE_BACK,
                    (run_id, node_id, item, status, started.get("attempt", 1),
                     self._json(conn, started.get("inputs")), self._json(conn, output), outcome,
                     error,
                     started.get("started_at", now), finished,
                     _dump(dict(metrics)) if metrics else None))
            row = cur.fetchone() if _RETURNING else conn.execute(
                f"SELECT {_NODE_COLS} FROM node_executions WHERE run_id = ? AND node_id = ?"
                " AND item = ?", (run_id, node_id, item)).fetchone()
            self._append_events(conn, run_id, [(NODE_RESULT_EVENT, "flowc",
                                                _node_result_payload(row))] + [
                (kind, actor, _normalised(payload)) for kind, actor, payload in events],
                records=False)
            return _node(row)

        return self._write(finish)

    def node_results(self, run_id: str) -> list[NodeRecord]:
        rows = self._read(lambda c: c.execute(
            f"SELECT {_NODE_COLS} FROM node_executions WHERE run_id = ?"
            " ORDER BY started_at, node_id, item", (run_id,)).fetchall())
        return [_node(r) for r in rows]

    # -- trace records written after the fact (in batches)

    def record_traces(self, items: Iterable[tuple[str, str, int, Mapping[str, Any] | None,
                                                   Sequence[ModelCallRecord]]]) -> None:
        """Attempts' start records (attempt, inputs, started_at) and model exchanges, for node
        rows already written, in one commit: `(run_id, node_id, item, started, calls)`."""
        items = list(items)

        def write(conn: sqlite3.Connection) -> None:
            starts = [(s.get("attempt", 1), self._json(conn, s.get("inputs")), s.get("started_at"),
                       run_id, node_id, item) for run_id, node_id, item, s, _ in items if s]
            if starts:
                conn.executemany(
                    "UPDATE node_executions SET attempt = ?, inputs_json = ?, started_at = ?"
                    " WHERE run_id = ? AND node_id = ? AND item = ?", starts)
            calls = [_row(c) for *_, cs in items for c in cs]
            if calls:
                conn.executemany(
                    f"INSERT OR REPLACE INTO model_calls ({_MODEL_CALL_COLS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", calls)

        if items:
            self._write(write)

    # -- model exchanges

    def record_model_call(self, call: ModelCallRecord) -> None:
        """Keep one model exchange (replacing a row with the same key: a re-run attempt)."""
        self._write(lambda conn: conn.execute(
            f"INSERT OR REPLACE INTO model_calls ({_MODEL_CALL_COLS}) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _model_call_row(call)))

    def model_calls(self, run_id: str | None = None, *, since: float | None = None,
                    until: float | None = None) -> list[ModelCallRecord]:
        """Model exchanges of one run (or of all runs), in the order they were made; `since`
        and `until` bound their start time."""
        where, args = [], []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        if until is not None:
            where.append("started_at < ?")
            args.append(until)
        sql = f"SELECT {_MODEL_CALL_COLS} FROM model_calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at, node_id, item, attempt, seq"
        rows = self._read(lambda c: c.execute(sql, args).fetchall())
        return [_model_call(r) for r in rows]

    # -- human tasks

    def create_task(self, run_id: str, node_id: str, *, item: int = NO_ITEM, kind: str = "gate",
                    assignees: Iterable[Mapping[str, str]] = (), title: str = "",
                    show: Any = None, form: Any = None, deadline: float | None = None,
                    timeout_outcome: str | None = None,
                    task_id: str | None = None,
                    escalations: Iterable[Mapping[str, Any]] = ()) -> TaskRecord:
        """A pending gate or question for people: `assignees` are {"kind": "role"|"user",
        "name": ...}; `deadline` (epoch seconds) is when `due_tasks` hands it to the timer.
        `escalations` are the steps that add people if nobody decides in time, due one after
        the other: {"at": EPOCH, "to": [assignees], "after": seconds after opening};
        `due_escalations` hands each to the timer at its `at`."""
        _check(kind, TASK_KINDS, "task kind")
        people = _assignees(assignees)
        steps = _escalations(escalations)

        def create(conn: sqlite3.Connection) -> TaskRecord:
            now = self._now()
            tid = task_id
            show_json, form_json = self._json(conn, show), self._json(conn, form)
            for _ in range(8):
                tid = task_id or new_task_id()
                cur = conn.execute(
                    f"INSERT INTO tasks ({_TASK_COLS}) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?,"
                    " ?, ?, ?, NULL, NULL, NULL, ?, ?, 0, ?) ON CONFLICT (id) DO NOTHING",
                    (tid, run_id, node_id, item, kind, json.dumps(list(people)), title,
                     show_json, form_json, deadline, timeout_outcome, now,
                     _dump(steps) if steps else None, steps[0]["at"] if steps else None))
                if cur.rowcount:
                    break
                if task_id:
                    raise StoreError(f"task {task_id} already exists")
            else:  # pragma: no cover - 50 random bits colliding 8 times
                raise StoreError("could not draw a free task id")
            conn.executemany(
                "INSERT INTO task_assignees (task_id, kind, name) VALUES (?, ?, ?)",
                [(tid, a["kind"], a["name"]) for a in people])
            return self._get_task(conn, tid)

        return self._write(create)

    @staticmethod
    def _find_task(conn: sqlite3.Connection, task_id: str | None) -> TaskRecord | None:
        row = conn.execute(f"SELECT {_TASK_COLS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else _task(row)

    @classmethod
    def _get_task(cls, conn: sqlite3.Connection, task_id: str | None) -> TaskRecord:
        task = cls._find_task(conn, task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        return task

    def get_task(self, task_id: str) -> TaskRecord | None:
        return self._read(lambda c: self._find_task(c, task_id))

    def list_tasks(self, status: str | None = "pending", limit: int | None = 100,
                   for_user: str | None = None, roles: Iterable[str] = (),
                   run_id: str | None = None, *, flow: str | None = None,
                   assigned_role: str | None = None, offset: int = 0) -> list[TaskRecord]:
        """Tasks oldest first, `limit` of them (None: all) after skipping `offset`. With
        `for_user` or `roles`: only tasks assigned to that user or to one of those roles, plus
        tasks assigned to nobody (anyone may take those). `flow`: only tasks of runs of that
        flow; `assigned_role`: only tasks assigned to that role."""
        where, args = self._task_filter(status, for_user, roles, run_id, flow, assigned_role)
        cols = ", ".join(f"t.{c.strip()}" for c in _TASK_COLS.split(","))
        sql = f"SELECT {cols} FROM tasks t{where} ORDER BY t.created_at, t.id LIMIT ? OFFSET ?"
        args += [-1 if limit is None else limit, offset]
        return [_task(r) for r in self._read(lambda c: c.execute(sql, args).fetchall())]

    def count_tasks(self, status: str | None = "pending", for_user: str | None = None,
                    roles: Iterable[str] = (), run_id: str | None = None, *,
                    flow: str | None = None, assigned_role: str | None = None) -> int:
        """How many tasks `list_tasks` with the same filters lists in all."""
        where, args = self._task_filter(status, for_user, roles, run_id, flow, assigned_role)
        sql = f"SELECT COUNT(*) FROM tasks t{where}"
        return int(self._read(lambda c: c.execute(sql, args).fetchone()[0]))

    @staticmethod
    def _task_filter(status: str | None, for_user: str | None, roles: Iterable[str],
                     run_id: str | None, flow: str | None,
                     assigned_role: str | None) -> tuple[str, list[Any]]:
        """The WHERE clause (and its arguments) of a task query over `tasks t`."""
        roles = tuple(roles)
        where: list[str] = []
        args: list[Any] = []
        if run_id is not None:
            where.append("t.run_id = ?")
            args.append(run_id)
        if status is not None:
            _check(status, TASK_STATUSES, "task status")
            where.append("t.status = ?")
            args.append(status)
        if flow is not None:
            where.append("t.run_id IN (SELECT id FROM runs WHERE flow_name = ?)")
            args.append(flow)
        if assigned_role is not None:
            where.append("EXISTS (SELECT 1 FROM task_assignees r WHERE r.task_id = t.id AND"
                         " r.kind = 'role' AND r.name = ?)")
            args.append(assigned_role)
        if for_user is not None or roles:
            match = []
            if for_user is not None:
                match.append("(a.kind = 'user' AND a.name = ?)")
                args.append(for_user)
            if roles:
                match.append("(a.kind = 'role' AND a.name IN (" + ", ".join("?" * len(roles))
                             + "))")
                args.extend(roles)
            where.append("(EXISTS (SELECT 1 FROM task_assignees a WHERE a.task_id = t.id AND ("
                         + " OR ".join(match) + ")) OR NOT EXISTS (SELECT 1 FROM task_assignees"
                         " n WHERE n.task_id = t.id))")
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def task_for(self, run_id: str, node_id: str, item: int = NO_ITEM) -> TaskRecord | None:
        """The task a node opened (one per run, node and item), if any."""
        row = self._read(lambda c: c.execute(
            f"SELECT {_TASK_COLS} FROM tasks WHERE run_id = ? AND node_id = ? AND item = ?"
            " ORDER BY created_at DESC LIMIT 1", (run_id, node_id, item)).fetchone())
        return None if row is None else _task(row)

    def sub_runs(self, run_id: str) -> list[RunRecord]:
        """The runs `run_id` started for its flow calls, oldest first."""
        rows = self._read(lambda c: c.execute(
            f"SELECT {_RUN_COLS} FROM runs WHERE parent_run_id = ? ORDER BY created_at, id",
            (run_id,)).fetchall())
        return [_run(r) for r in rows]

    def child_run(self, parent_run_id: str, parent_node_id: str) -> RunRecord | None:
        """The run a node of `parent_run_id` started for a flow call, if any."""
        row = self._read(lambda c: c.execute(
            f"SELECT {_RUN_COLS} FROM runs WHERE parent_run_id = ? AND parent_node_id = ?"
            " ORDER BY created_at LIMIT 1", (parent_run_id, parent_node_id)).fetchone())
        return None if row is None else _run(row)

    def decide_task(self, task_id: str, decision: Mapping[str, Any], by: str) -> bool:
        """Record a person's decision if the task is still pending. Compare-and-set: of several
        concurrent decisions exactly one returns True; the others (and late ones) get False."""
        def decide(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise NotFound(f"no task {task_id}")
            if row[0] != "pending":  # before its large values are stored: this one is not
                return False
            text = self._json(conn, dict(decision))
            cur = conn.execute(
                "UPDATE tasks SET status = 'decided', decision_json = ?, decided_by = ?,"
                " decided_at = ? WHERE id = ? AND status = 'pending'",
                (text, by, self._now(), task_id))
            if cur.rowcount == 0:
                self._get_task(conn, task_id)  # NotFound for an unknown id
                return False
            return True

        return self._write(decide)

    def due_tasks(self, now: float | None = None, limit: int = 1000) -> list[TaskRecord]:
        """Pending tasks whose deadline has come (deadline <= now), earliest first."""
        at = self._now() if now is None else float(now)
        rows = self._read(lambda c: c.execute(
            f"SELECT {_TASK_COLS} FROM tasks WHERE status = 'pending' AND deadline IS NOT NULL"
            " AND deadline <= ? ORDER BY deadline, id LIMIT ?", (at, limit)).fetchall())
        return [_task(r) for r in rows]

    def expire_task(self, task_id: str, outcome: str | None = None, *,
                    at: float | None = None) -> bool:
        """Time a pending task out (compare-and-set, like `decide_task`) at `at` (default now:
        its `decided_at`). `outcome` replaces the task's `timeout_outcome` when given."""
        def expire(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE tasks SET status = 'timed_out', timeout_outcome = COALESCE(?,"
                " timeout_outcome), decided_at = ? WHERE id = ? AND status = 'pending'",
                (outcome, self._now() if at is None else float(at), task_id))
            if cur.rowcount == 0:
                self._get_task(conn, task_id)
                return False
            return True

        return self._write(expire)

    def cancel_task(self, task_id: str) -> bool:
        """Withdraw a pending task (e.g. its run was cancelled); compare-and-set."""
        def cancel(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE tasks SET status = 'cancelled', decided_at = ? WHERE id = ?"
                " AND status = 'pending'", (self._now(), task_id))
            if cur.rowcount == 0:
                self._get_task(conn, task_id)
                return False
            return True

        return self._write(cancel)

    def due_escalations(self, now: float | None = None,
                        limit: int = 1000) -> list[TaskRecord]:
        """Pending tasks whose next escalation step is due (at <= now), earliest first."""
        at = self._now() if now is None else float(now)
        rows = self._read(lambda c: c.execute(
            f"SELECT {_TASK_COLS} FROM tasks WHERE status = 'pending' AND next_escalation IS NOT"
            " NULL AND next_escalation <= ? ORDER BY next_escalation, id LIMIT ?",
            (at, limit)).fetchall())
        return [_task(r) for r in rows]

    def escalate_task(self, task_id: str, step: int,
                      at: float | None = None) -> TaskRecord | None:
        """Fire escalation step `step` (from 1) of a pending task: its people join the task's
        assignees, the step records `fired_at` (`at`, default now) and the next step becomes
        due. Compare-and-set on the status and the number of steps fired: of concurrent
        callers exactly one gets the updated task, the others (and a decided, timed-out or
        cancelled task, or a step already fired) get None. NotFound for an unknown id,
        ValueError for a step the task does not have."""
        when = self._now() if at is None else float(at)

        def escalate(conn: sqlite3.Connection) -> TaskRecord | None:
            task = self._get_task(conn, task_id)
            if not 1 <= step <= len(task.escalations):
                raise ValueError(f"task {task_id} has {len(task.escalations)} escalation "
                                 f"step(s), not a step {step}")
            if task.status != "pending" or task.escalated != step - 1:
                return None
            steps = [dict(s) for s in task.escalations]
            steps[step - 1]["fired_at"] = when
            people = _assignees([*task.assignees, *steps[step - 1]["to"]])
            nxt = steps[step]["at"] if step < len(steps) else None
            cur = conn.execute(
                "UPDATE tasks SET assignees_json = ?, escalations_json = ?, escalated = ?,"
                " next_escalation = ? WHERE id = ? AND status = 'pending' AND escalated = ?",
                (json.dumps(list(people)), _dump(steps), step, nxt, task_id, step - 1))
            if cur.rowcount == 0:  # pragma: no cover - the write lock is held since the read
                return None
            conn.executemany(
                "INSERT INTO task_assignees (task_id, kind, name) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(task_id, a["kind"], a["name"]) for a in people if a not in task.assignees])
            return self._get_task(conn, task_id)

        return self._write(escalate)

    # -- effects (idempotency keys for side effects)

    @staticmethod
    def _get_effect(conn: sqlite3.Connection, key: str) -> EffectRecord | None:
        row = conn.execute(f"SELECT {_EFFECT_COLS} FROM effects WHERE key = ?", (key,)).fetchone()
        return None if row is None else _effect(row)

    def effect_intent(self, key: str, run_id: str, node_id: str,
                      item: int = NO_ITEM) -> EffectRecord:
        """Record the intent to perform the effect `key`, or return the record already there
        (status "done" with its result: do not perform it again; "intent": an earlier attempt
        may or may not have performed it)."""
        def intent(conn: sqlite3.Connection) -> EffectRecord:
            conn.execute(
                f"INSERT INTO effects ({_EFFECT_COLS}) VALUES "
                "(?, ?, ?, ?, 'intent', NULL, ?, NULL, NULL, 1)"
                " ON CONFLICT (key) DO NOTHING", (key, run_id, node_id, item, self._now()))
            rec = self._get_effect(conn, key)
            assert rec is not None
            return rec

        return self._write(intent)

    def effect_start(self, key: str, run_id: str, node_id: str, item: int = NO_ITEM,
                     kind: str | None = None) -> EffectRecord:
        """Record that the effect `key` starts: its intent the first time, one more start of
        it after that (a retry, or a resume after a crash: it runs again with the same key).
        A "done" record is returned unchanged: do not perform it again."""
        def start(conn: sqlite3.Connection) -> EffectRecord:
            conn.execute(
                f"INSERT INTO effects ({_EFFECT_COLS}) VALUES "
                "(?, ?, ?, ?, 'intent', NULL, ?, NULL, ?, 1)"
                " ON CONFLICT (key) DO UPDATE SET starts = effects.starts + 1"
                " WHERE effects.status = 'intent'",
                (key, run_id, node_id, item, self._now(), kind))
            rec = self._get_effect(conn, key)
            assert rec is not None
            return rec

        return self._write(start)

    def effect_done(self, key: str, result: Any) -> EffectRecord:
        """Record an effect's result. The first result stays: a second `done` changes nothing."""
        def done(conn: sqlite3.Connection) -> EffectRecord:
            conn.execute("UPDATE effects SET status = 'done', result_json = ?, done_at = ?"
                         " WHERE key = ? AND status = 'intent'",
                         (self._json(conn, result), self._now(), key))
            rec = self._get_effect(conn, key)
            if rec is None:
                raise NotFound(f"no effect {key}: record effect_intent() first")
            return rec

        return self._write(done)

    def get_effect(self, key: str) -> EffectRecord | None:
        return self._read(lambda c: self._get_effect(c, key))

    # -- audit trail

    def _append_events(self, conn: sqlite3.Connection, run_id: str,
                       events: Sequence[tuple[str, str | None, tuple[Any, str]]],
                       records: bool = True) -> list[AuditRecord]:
        """Chain events (kind, actor, (payload, its canonical JSON)) onto the run's trail:
        one numbering UPDATE (it takes the run's row: a row lock on a server database), one
        INSERT, one head UPDATE, whatever their number."""
        if not events:
            return []
        ts = self._now()
        known = self._heads.get(run_id)
        if known is not None:  # this store wrote the run's last events: chain on from there,
            # in one UPDATE that checks, under the write lock, that they are still the last
            seq, prev = known
            rows, out, head = self._chain(conn, run_id, seq, prev, ts, events, records)
            if conn.execute("UPDATE runs SET audit_seq = ?, audit_head = ? WHERE id = ? AND"
                            " audit_seq = ? AND audit_head = ?",
                            (seq + len(events), head, run_id, seq, prev)).rowcount == 1:
                conn.executemany(f"INSERT INTO audit_events ({_AUDIT_COLS}) VALUES"
                                 " (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._remember_head(run_id, seq + len(events), head)
                return out
        if _RETURNING:
            row = conn.execute("UPDATE runs SET audit_seq = audit_seq + ? WHERE id = ?"
                               " RETURNING audit_seq, audit_head", (len(events), run_id)).fetchone()
        else:  # pragma: no cover - SQLite before 3.35
            row = None
            if conn.execute("UPDATE runs SET audit_seq = audit_seq + ? WHERE id = ?",
                            (len(events), run_id)).rowcount:
                row = conn.execute("SELECT audit_seq, audit_head FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id}")
        rows, out, head = self._chain(conn, run_id, row[0] - len(events), row[1], ts, events,
                                      records)
        conn.executemany(f"INSERT INTO audit_events ({_AUDIT_COLS}) VALUES"
                         " (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("UPDATE runs SET audit_head = ? WHERE id = ?", (head, run_id))
        self._remember_head(run_id, row[0], head)
        return out

    def _chain(self, conn: sqlite3.Connection, run_id: str, seq: int, prev: str, ts: float,
               events: Sequence[tuple[str, str | None, tuple[Any, str]]], records: bool
               ) -> tuple[list[tuple], list[AuditRecord], str]:
        """The audit rows of `events` chained on after event `seq` whose hash is `prev`:
        (rows to insert, their records when `records`, the new head)."""
        rows, out = [], []
        for kind, actor, (norm, text) in events:
            seq += 1
            digest = _audit_hash_text(prev, run_id, seq, ts, kind, actor, text)
            if norm is None and (records or len(text) >= _blobs.BLOB_BYTES):
                norm = json.loads(text)
            stored = text if len(text) < _blobs.BLOB_BYTES else \
                _blobs.pack(conn, norm, canonical_json, self._now)  # (reads back as `text`)
            rows.append((run_id, seq, ts, kind, actor, stored, prev, digest))
            if records:
                out.append(AuditRecord(run_id, seq, ts, kind, actor, norm, prev, digest))
            prev = digest
        return rows, out, prev

    def _remember_head(self, run_id: str, seq: int, head: str) -> None:
        """The (seq, head) this store just wrote for the run (a guess for its next append:
        checked by that append's UPDATE, so a rolled-back or foreign write only costs the
        longer path)."""
        if len(self._heads) >= 4096 and run_id not in self._heads:
            self._heads.clear()
        self._heads[run_id] = (seq, head)
        self._touched.add(run_id)

    def _append_audit(self, conn: sqlite3.Connection, run_id: str, kind: str, actor: str | None,
                      payload: Mapping[str, Any]) -> AuditRecord:
        return self._append_events(conn, run_id, [(kind, actor, _normalised(payload))])[0]

    def append_audit(self, run_id: str, kind: str, actor: str | None,
                     payload: Mapping[str, Any]) -> AuditRecord:
        """Append an event to the run's hash chain (payload: JSON, no NaN or infinity).
        `node.result` events are the store's own (written with each node result)."""
        if kind == NODE_RESULT_EVENT:
            raise ValueError(f"`{NODE_RESULT_EVENT}` events are written by the store with each "
                             "node result, by no one else")
        return self._write(lambda conn: self._append_audit(conn, run_id, kind, actor, payload))

    def touched_runs(self) -> set[str]:
        """The runs whose trail this store object extended since the last call (to anchor
        their heads outside the store); the set is emptied."""
        out, self._touched = self._touched, set()
        return out

    def audit_heads(self, run_ids: Iterable[str] | None = None) -> dict[str, tuple[int, str]]:
        """{run id: (last event's seq, chain head)} of the given runs (default: every run)."""
        def read(c: sqlite3.Connection) -> dict[str, tuple[int, str]]:
            if run_ids is None:
                rows = c.execute("SELECT id, audit_seq, audit_head FROM runs").fetchall()
            else:
                rows = []
                for rid in run_ids:
                    rows += c.execute("SELECT id, audit_seq, audit_head FROM runs WHERE id = ?",
                                      (rid,)).fetchall()
            return {r[0]: (r[1], r[2]) for r in rows}

        return self._read(read)

    def audit_evidence(self, run_id: str) -> dict[str, Any]:
        """Everything the run's trail commits to, as stored, in one snapshot (`read_evidence`);
        runtime/audit.py verifies and exports it."""
        def snapshot(c: sqlite3.Connection) -> dict[str, Any]:
            if getattr(self._local, "depth", 0) or self.memory:
                return read_evidence(c, run_id)
            c.execute("BEGIN")  # one read transaction: a consistent snapshot (WAL)
            try:
                return read_evidence(c, run_id)
            finally:
                c.execute("COMMIT")

        return self._read(snapshot)

    def audit_events(self, run_id: str) -> list[AuditRecord]:
        rows = self._read(lambda c: c.execute(
            f"SELECT {_AUDIT_COLS} FROM audit_events WHERE run_id = ? ORDER BY seq",
            (run_id,)).fetchall())
        return [_audit(r) for r in rows]

    def verify_audit(self, run_id: str) -> AuditVerification:
        """Recompute the run's chain and check the stored data against what its events commit
        to (runtime/audit.py): a changed, deleted, inserted or reordered event, a chain that
        does not end at the run's recorded head, and an edited or deleted node result,
        decision, task, input, output, status or plan are each reported as a problem."""
        from .audit import verify_evidence

        return verify_evidence(self.audit_evidence(run_id), run_id)

    # -- files

    def record_files(self, files: Iterable[FileRecord]) -> None:
        """Record files a node produced or a person supplied (one commit, or the caller's
        transaction)."""
        rows = [(f.id, f.run_id, f.node_id, f.item, f.name, f.sha256, f.size, f.workspace,
                 f.location, f.created_at or self._now()) for f in files]
        if rows:
            self._write(lambda c: c.executemany(
                f"INSERT INTO files ({_FILE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows))

    @staticmethod
    def _root_run(conn: sqlite3.Connection, run_id: str) -> str | None:
        """The run at the top of `run_id`'s chain of parent runs (flow calls)."""
        seen = set()
        while run_id not in seen:
            seen.add(run_id)
            row = conn.execute("SELECT parent_run_id FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            if row is None:
                return None
            if row[0] is None:
                return run_id
            run_id = row[0]
        return None  # a cycle: no family at all

    def find_file(self, file_id: str, run_id: str) -> FileRecord | None:
        """The file with handle `file_id` if it belongs to `run_id`'s family (the runs that
        share its root run: parent and child flow runs), else None."""
        if not isinstance(file_id, str) or not file_id or len(file_id) > 200:
            return None

        def find(conn: sqlite3.Connection) -> FileRecord | None:
            rows = conn.execute(f"SELECT {_FILE_COLS} FROM files WHERE id = ?"
                                " ORDER BY run_id = ? DESC", (file_id, run_id)).fetchall()
            if not rows:
                return None
            if rows[0][1] == run_id:
                return _file(rows[0])
            root = self._root_run(conn, run_id)
            for r in rows:
                if root is not None and self._root_run(conn, r[1]) == root:
                    return _file(r)
            return None

        return self._read(find)

    def run_files(self, run_id: str) -> list[FileRecord]:
        """The files recorded for one run, oldest first."""
        rows = self._read(lambda c: c.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE run_id = ? ORDER BY created_at, node_id,"
            " item, name", (run_id,)).fetchall())
        return [_file(r) for r in rows]

    def copy_files(self, from_run_id: str, to_run_id: str) -> int:
        """Record the files of `from_run_id`'s family (it, its parent and child flow runs) for
        `to_run_id` too (same handles, same places): an error replay keeps nodes whose
        results name them. Returns how many."""
        def copy(conn: sqlite3.Connection) -> int:
            root = self._root_run(conn, from_run_id) or from_run_id
            family, todo = set(), [root]
            while todo:
                rid = todo.pop()
                if rid in family:
                    continue
                family.add(rid)
                todo.extend(r[0] for r in conn.execute(
                    "SELECT id FROM runs WHERE parent_run_id = ?", (rid,)).fetchall())
            count = 0
            for rid in sorted(family):
                count += conn.execute(
                    f"INSERT INTO files ({_FILE_COLS}) SELECT id, ?, node_id, item, name, sha256,"
                    " size, workspace, location, created_at FROM files WHERE run_id = ?"
                    " ON CONFLICT (id, run_id) DO NOTHING", (to_run_id, rid)).rowcount
            return count

        return self._write(copy)


# ----------------------------------------------------------------------------- opening one


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
    spelling) or a plain path: a SQLite file. `options` go to `SQLiteStore`."""
    target = default_store_path() if path_or_url is None else os.fspath(path_or_url)
    if target in (":memory:", "memory:", "sqlite://", "sqlite:///:memory:"):
        return SQLiteStore(":memory:", **options)
    if target.startswith("sqlite:///"):
        target = target[len("sqlite:///"):]
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise StoreError(f"no store for {scheme}:// URLs: use a file path or sqlite:///path "
                         "(another backend implements the Store protocol)")
    if not target:
        raise StoreError("an empty store path")
    return SQLiteStore(target, **options)
