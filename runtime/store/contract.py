"""The `Store` contract: what the runtime needs from a durable store, method by method, and
what every implementation guarantees (the SQLite store now, a server database later).

Every implementation passes tests/test_store_contract.py. The guarantees, in short:

- Atomicity. `transaction()` groups the calls the same thread makes inside it into one
  commit: all of it or nothing. Every write method on its own is one atomic commit.
- Compare-and-set decisions. `decide_task`, `expire_task`, `cancel_task`, `escalate_task`,
  `claim_runs`, `lease_run`, `release_run`, `wake_run`, `set_run_status(expect=...)` and
  `effect_done` state the row's expected state and change it only if it still holds, decided
  in one step: of several callers at once (threads or processes) exactly one wins, the others
  see that they lost (False, None, `StatusConflict`, or the record already there).
- Fenced leases. A run's lease carries a token that grows whenever the lease passes to
  another owner. Inside `fenced(run, owner, token)` every transaction first checks, under the
  write lock, that the lease is still `owner`'s with `token`; if not, nothing of it commits
  (`LeaseLost`, or `RunCancelled` for a cancelled run).
- The audit chain. Each run's events are numbered from 1 and hash-chained
  (runtime/store/chain.py); the run keeps the chain's head; a node result commits its own
  `node.result` event in the same transaction, so a result and its event exist together or
  not at all, and a rolled-back transaction leaves the chain and its head as they were.
- Effect records. One record per key: its intent, how often it started, and its first
  result; a done effect is never overwritten, so a retried node finds the result instead of
  performing the effect again.

Unknown keys raise `NotFound` where a method needs the row (getters return None instead).
Times are floats, seconds since the Unix epoch (UTC). Values are JSON (no NaN or infinity);
what comes back is what JSON gives back (tuples as lists, keys as strings).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .records import (
    NO_ITEM,
    AuditRecord,
    AuditVerification,
    EffectRecord,
    FileRecord,
    ModelCallRecord,
    NodeRecord,
    RunRecord,
    TaskRecord,
)

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """What the runtime needs from a durable store. Methods raise `NotFound` for unknown keys."""

    # -- transactions

    def transaction(self) -> contextlib.AbstractContextManager[Store]:
        """One write transaction for the calling thread: every store call the thread makes
        inside the block joins it (nested blocks are savepoints: an inner block that raises
        rolls back only itself). Commits when the outermost block ends, rolls everything back
        when it raises; while it is open, other writers wait."""
        ...

    def close(self) -> None:
        """Release what the store holds (connections); later calls raise `StoreError`."""
        ...

    def in_transaction(self) -> bool:
        """Whether the calling thread has a `transaction()` open."""
        ...

    # -- plans

    def put_plan(self, plan_hash: str, json_text: str) -> None:
        """Keep a plan under its content hash. Idempotent: the same plan again is a no-op;
        other content under a hash already stored raises `StoreError`."""
        ...

    def get_plan(self, plan_hash: str) -> str:
        """The plan's JSON text as stored; `NotFound` for an unknown hash."""
        ...

    # -- runs

    def create_run(self, flow_name: str, plan_hash: str, inputs: Any = None, *,
                   status: str = "queued", parent_run_id: str | None = None,
                   parent_node_id: str | None = None, workspace_url: str | None = None,
                   run_id: str | None = None, base_dir: str | None = None) -> RunRecord:
        """A new run of a stored plan (`NotFound` if the plan or the parent run is not there),
        with an empty audit chain (head AUDIT_GENESIS) and lease token 0. A run id is minted
        (sorting by creation time) unless given."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run as committed (or as this thread's open transaction has it), else None."""
        ...

    def list_runs(self, status: str | None = None, limit: int = 100) -> list[RunRecord]:
        """Runs, newest first, optionally only those in one status."""
        ...

    def set_run_status(self, run_id: str, status: str, *, outputs: Any = None,
                       error: str | None = None,
                       expect: Iterable[str] | None = None) -> RunRecord:
        """Move a run to `status`, replacing outputs/error when given. A terminal status drops
        the lease. With `expect`: compare-and-set, the change happens only if the run is in
        one of those statuses, else `StatusConflict` and nothing changes."""
        ...

    def sub_runs(self, run_id: str) -> list[RunRecord]:
        """The runs `run_id` started for its flow calls, oldest first."""
        ...

    def child_run(self, parent_run_id: str, parent_node_id: str) -> RunRecord | None:
        """The run a node of `parent_run_id` started for a flow call, if any."""
        ...

    # -- leases

    def claim_runs(self, owner: str, lease_seconds: float, limit: int = 10) -> list[RunRecord]:
        """Lease up to `limit` queued or running runs that nobody holds or whose lease
        expired, oldest first. Each claim is a compare-and-set: a run is claimed by exactly
        one of several concurrent claimers. A run passing to another owner gets the next
        lease token. Runs `owner` already holds are not returned."""
        ...

    def lease_run(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        """Take (or extend) the lease on one run: True when it was free, expired or already
        `owner`'s, False when someone else holds it. The token grows only when the lease
        passes to another owner (or is taken again after it was given back)."""
        ...

    def renew_lease(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend a lease `owner` still holds; False when it lapsed or was lost."""
        ...

    def release_run(self, run_id: str, owner: str) -> bool:
        """Give up `owner`'s lease (compare-and-set on the owner): False if `owner` did not
        hold it, and another owner's lease is never touched."""
        ...

    def bind_engine(self, run_id: str, engine: str, workflow_id: str, address: str,
                    namespace: str, task_queue: str) -> None:
        """Record that another engine (Temporal) orchestrates the run. `claim_runs`,
        `wake_runs`, `due_tasks` and `due_escalations` (the embedded worker's) then leave it
        alone. One binding per run (a second is an integrity error)."""
        ...

    def run_engine(self, run_id: str) -> dict[str, str] | None:
        """{engine, workflow_id, address, namespace, task_queue} of a bound run, else None."""
        ...

    def wake_run(self, run_id: str) -> bool:
        """Queue a paused run (compare-and-set on `paused`): True for the one caller that did."""
        ...

    def wake_runs(self, limit: int = 100) -> list[str]:
        """Queue every paused run whose committed state lets it go on (a node waits on a task
        that is no longer pending, or on a sub-flow run that ended); their ids."""
        ...

    def lease_token(self, run_id: str) -> int:
        """The run's fencing token (`NotFound` for an unknown run). It never decreases."""
        ...

    def heartbeat(self, run_id: str, owner: str, token: int, lease_seconds: float, *,
                  renew: bool = True) -> str:
        """A lease holder's heartbeat: "held" (renewed when `renew`), "cancelled", "ended"
        (the holder ended the run), "lost" (the token moved on: another owner took it) or
        "unknown" (the run is not committed yet). Never renews a lease whose token moved on."""
        ...

    def fenced(self, run_id: str, owner: str,
               token: int) -> contextlib.AbstractContextManager[None]:
        """Fence the calling thread's writes: every transaction it opens inside the block
        first checks, under the write lock, that `owner` still holds the run's lease with
        `token`. If the lease passed on, `LeaseLost`; if the run was cancelled,
        `RunCancelled`; either way nothing of that transaction commits. Blocks nest."""
        ...

    def current_fence(self) -> tuple[str, str, int] | None:
        """The calling thread's innermost fence (run, owner, token), or None."""
        ...

    # -- node results and model exchanges

    def start_node(self, run_id: str, node_id: str, item: int = NO_ITEM, attempt: int = 1,
                   inputs: Any = None, started_at: float | None = None) -> NodeRecord:
        """Record that a node (item -1 unless one item of a for-each) starts an attempt; the
        previous attempt's result is replaced."""
        ...

    def finish_node(self, run_id: str, node_id: str, item: int, status: str, output: Any = None,
                    outcome: str | None = None, error: str | None = None, *,
                    audit: Iterable[tuple[str, str | None, Mapping[str, Any]]] = (),
                    metrics: Mapping[str, Any] | None = None,
                    started: Mapping[str, Any] | None = None,
                    model_calls: Iterable[ModelCallRecord] = ()) -> NodeRecord:
        """Record a node's result in one commit with: its `node.result` audit event (the
        sha256 of the stored output, error and inputs), the `audit` events given, the
        attempt's start (`started`) and its `model_calls`. All of it or none of it."""
        ...

    def node_results(self, run_id: str) -> list[NodeRecord]:
        """The run's node rows, in the order they started."""
        ...

    def record_model_call(self, call: ModelCallRecord) -> None:
        """Keep one model exchange (a row with the same key is replaced: a re-run attempt)."""
        ...

    def record_traces(self, items: Iterable[tuple[str, str, int, Mapping[str, Any] | None,
                                                   Sequence[ModelCallRecord]]]) -> None:
        """Attempts' starts and model exchanges for node rows already written, one commit."""
        ...

    def model_calls(self, run_id: str | None = None, *, since: float | None = None,
                    until: float | None = None) -> list[ModelCallRecord]:
        """Model exchanges (of one run, or all), in the order they were made; `since` and
        `until` bound their start time."""
        ...

    # -- human tasks

    def create_task(self, run_id: str, node_id: str, *, item: int = NO_ITEM, kind: str = "gate",
                    assignees: Iterable[Mapping[str, str]] = (), title: str = "",
                    show: Any = None, form: Any = None, deadline: float | None = None,
                    timeout_outcome: str | None = None,
                    task_id: str | None = None,
                    escalations: Iterable[Mapping[str, Any]] = ()) -> TaskRecord:
        """A pending gate or question for people (`ValueError` for malformed assignees or
        escalation steps; `StoreError` for a `task_id` already taken)."""
        ...

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The task, or None."""
        ...

    def list_tasks(self, status: str | None = "pending", limit: int | None = 100,
                   for_user: str | None = None, roles: Iterable[str] = (),
                   run_id: str | None = None, *, flow: str | None = None,
                   assigned_role: str | None = None, offset: int = 0) -> list[TaskRecord]:
        """Tasks oldest first, filtered; `for_user`/`roles` also match tasks assigned to
        nobody."""
        ...

    def count_tasks(self, status: str | None = "pending", for_user: str | None = None,
                    roles: Iterable[str] = (), run_id: str | None = None, *,
                    flow: str | None = None, assigned_role: str | None = None) -> int:
        """How many tasks `list_tasks` with the same filters lists in all."""
        ...

    def task_for(self, run_id: str, node_id: str, item: int = NO_ITEM) -> TaskRecord | None:
        """The task a node opened, if any."""
        ...

    def decide_task(self, task_id: str, decision: Mapping[str, Any], by: str) -> bool:
        """Record a decision if the task is still pending. Compare-and-set: of several
        concurrent decisions exactly one returns True and is kept; the others (and any after
        a timeout or cancel) return False and change nothing."""
        ...

    def due_tasks(self, now: float | None = None, limit: int = 1000) -> list[TaskRecord]:
        """Pending tasks whose deadline has come, earliest first."""
        ...

    def expire_task(self, task_id: str, outcome: str | None = None, *,
                    at: float | None = None) -> bool:
        """Time a pending task out; compare-and-set like `decide_task`."""
        ...

    def cancel_task(self, task_id: str) -> bool:
        """Withdraw a pending task; compare-and-set like `decide_task`."""
        ...

    def due_escalations(self, now: float | None = None,
                        limit: int = 1000) -> list[TaskRecord]:
        """Pending tasks whose next escalation step is due, earliest first."""
        ...

    def escalate_task(self, task_id: str, step: int,
                      at: float | None = None) -> TaskRecord | None:
        """Fire escalation step `step` (from 1): compare-and-set on the status and the steps
        fired, so each step fires once; None for the losers, a settled task or a step already
        fired; `ValueError` for a step the task does not have."""
        ...

    # -- effects

    def effect_intent(self, key: str, run_id: str, node_id: str,
                      item: int = NO_ITEM) -> EffectRecord:
        """Record the intent to perform effect `key`, or return the record already there."""
        ...

    def effect_start(self, key: str, run_id: str, node_id: str, item: int = NO_ITEM,
                     kind: str | None = None) -> EffectRecord:
        """Record a start of effect `key` (its intent the first time; one more start of an
        intent after that). A done record comes back unchanged: do not perform it again."""
        ...

    def effect_done(self, key: str, result: Any) -> EffectRecord:
        """Record the effect's result: the first result stays (compare-and-set on `intent`),
        a later `done` changes nothing. `NotFound` without an intent."""
        ...

    def get_effect(self, key: str) -> EffectRecord | None:
        """The effect's record, or None."""
        ...

    # -- files

    def record_files(self, files: Iterable[FileRecord]) -> None:
        """Record files a node produced or a person supplied, in one commit."""
        ...

    def find_file(self, file_id: str, run_id: str) -> FileRecord | None:
        """The file with that handle if it belongs to `run_id`'s family (the runs sharing its
        root run), else None: a handle is never found from another family."""
        ...

    def run_files(self, run_id: str) -> list[FileRecord]:
        """The files recorded for one run, oldest first."""
        ...

    def copy_files(self, from_run_id: str, to_run_id: str) -> int:
        """Record the files of `from_run_id`'s family for `to_run_id` too; how many."""
        ...

    # -- the audit trail

    def append_audit(self, run_id: str, kind: str, actor: str | None,
                     payload: Mapping[str, Any]) -> AuditRecord:
        """Chain one event onto the run's trail (next seq, the hash over the previous one),
        moving the run's head in the same commit. `node.result` events are refused (the
        store writes those with each node result)."""
        ...

    def audit_events(self, run_id: str) -> list[AuditRecord]:
        """The run's events in order."""
        ...

    def verify_audit(self, run_id: str) -> AuditVerification:
        """Recompute the chain and check the stored data against it (runtime/audit.py)."""
        ...

    def audit_evidence(self, run_id: str) -> dict[str, Any]:
        """Everything the run's trail commits to, as stored, from one consistent snapshot."""
        ...

    def audit_heads(self, run_ids: Iterable[str] | None = None) -> dict[str, tuple[int, str]]:
        """{run id: (last seq, chain head)} of the given runs (default: every run)."""
        ...

    def touched_runs(self) -> set[str]:
        """The runs whose trail this store object extended since the last call (emptied)."""
        ...
