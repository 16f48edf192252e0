"""The engine: schedules a compiled plan's nodes against the durable store, one committed node
at a time.

A run is advanced by `Engine.advance(run_id)`: it loads the plan and every committed node
result, works out which nodes are ready, skipped or waiting, runs the ready ones, and commits
each result atomically before looking again. Nothing lives only in memory: a process may exit
at any moment (a gate waiting for days, a crash) and the next `advance` continues from the
last committed node. Human gates create tasks and return; `decide` records a decision
(compare-and-set: exactly one wins) and advances the run again.

What a node does is its kind's executor (runtime/nodes/, looked up in `KINDS`); the engine
schedules: readiness and skipping, the run's lease, retries, commits (with the tasks gates
open), decisions, timeouts and escalations.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowc.compiler.plan import Plan, PlanNode, load_data

from .decisions import DecisionRefused, already_decided, ask_decision, gate_decision
from .effects import env_code
from .expressions import MISSING, EvaluationError, Scope, evaluate
from .nodes import KINDS, executed_kind
from .nodes.base import NodeContext, NodeResult, Part, clean_text
from .store import LeaseLost, RunCancelled, StoreBusy, StoreFault
from .turn import TURN
from .validate import apply_defaults, field_problem, is_file_schema, schema_errors, value_problem

__all__ = ["Engine", "RunRefused", "DecisionRefused", "Escalation", "Fired", "SUPPORTED_KINDS",
           "cancel_run"]

SUPPORTED_KINDS = frozenset(KINDS)
MODEL_KINDS = frozenset(name for name, kind in KINDS.items() if kind.model)
# A run's lease is renewed before every node; a crashed holder's lease lapses after this long
# and a worker takes the run over. FLOWC_LEASE_SECONDS shortens it (tests, small deployments).
_LEASE_SECONDS = float(os.environ.get("FLOWC_LEASE_SECONDS", "300"))
_LEASE_WAIT = 30.0       # how long a decision waits for another process's pass to end
_BRANCHES = 4            # independent branches run side by side, at most this many
_FINAL = ("succeeded", "failed", "skipped")
_TIMER_BATCH = 1000      # due timeouts and steps read at once by the timer
_log = logging.getLogger("flowc.runtime")
# The store itself cannot serve (a damaged, read-only or full file; locked past the retry
# budget): that stops the engine with the store's error; it is never a node's or a run's
# failure (there is nowhere sound to record one).
_STORE_DOWN = (StoreFault, StoreBusy)


class RunRefused(ValueError):
    """The run cannot start: bad inputs, or a node kind this runtime does not run yet."""


def _describe(e: BaseException) -> str:
    """An unexpected exception as a node's error: one readable line."""
    if isinstance(e, RecursionError):
        return f"a value nested too deeply to handle (RecursionError: {e})"
    return f"{type(e).__name__}: {e}"


@dataclass(frozen=True)
class Escalation:
    """One escalation step that fired: `to` may now decide task `task` too."""

    task: str
    run: str
    node: str
    item: int
    step: int          # from 1
    to: list           # the assignees the step added ({"kind": ..., "name": ...})
    at: float          # when it fired


@dataclass(frozen=True)
class Fired:
    """What one pass of the timer did: tasks timed out, escalation steps fired."""

    timed_out: list[str] = field(default_factory=list)
    escalated: list[Escalation] = field(default_factory=list)


def describe_people(people) -> str:
    """`role lead, user ana@example.com`."""
    return ", ".join(f"{a.get('kind')} {a.get('name')}" for a in people
                     if isinstance(a, dict)) or "anyone"


# A model node's figures that its traced model calls give (trace.py sums them): not written
# again with the node. What the calls do not give (steps, tool calls, re-asks, fallback) is.
_DERIVED_METRICS = frozenset({"model", "calls", "prompt_tokens", "completion_tokens", "cost",
                              "provider", "provider_model"})


def _not_derived(metrics: dict | None) -> dict | None:
    if not metrics:
        return None
    return {k: v for k, v in metrics.items() if k not in _DERIVED_METRICS} or None


def _with_derived(metrics: dict | None, calls: list) -> dict | None:
    """A node's full figures from its stored metrics and its model calls."""
    if not calls:
        return metrics
    from .trace import call_figures

    figures = call_figures(calls)
    figures["cost"] = round(figures["cost"], 10)
    return {**figures, **(metrics or {})}


class _Outputs(Mapping):
    """Node outputs as a scope sees them: a view over the results, nothing copied."""

    __slots__ = ("results",)

    def __init__(self, results: dict):
        self.results = results

    def __getitem__(self, key):
        r = self.results[key]
        return r.output if r.status == "succeeded" else MISSING

    def get(self, key, default=None):
        r = self.results.get(key)
        if r is None:
            return default
        return r.output if r.status == "succeeded" else MISSING

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)


def _plan(data: dict | Plan) -> Plan:
    return data if isinstance(data, Plan) else Plan.model_validate(data)


def _until_settled(method):
    """`Engine.advance`: one more pass while another thread of the engine left a note that
    its pass must be followed by another (a decorator, so that the commit points inside keep
    the method's name: the crash trials select them by name)."""
    @functools.wraps(method)
    def until_settled(self, run_id: str):
        while True:
            run = method(self, run_id)
            with self._sessions_lock:  # (the note and the end of the pass: one lock)
                again = run_id in self._again and run_id not in self._advancer
                if again:
                    self._again.discard(run_id)
            if not again:
                return run

    return until_settled


def _in_turn(method):
    """The engine method runs holding this process's turn (runtime/turn.py). A decorator,
    so that the commit points inside keep the method's name."""
    @functools.wraps(method)
    def in_turn(self, *args, **kwargs):
        with self._turn():
            return method(self, *args, **kwargs)

    return in_turn


def run_threads_default() -> int:
    """Runs `flowc worker` and `flowc serve` advance at once in one process:
    FLOWC_RUN_THREADS, else 4 (docs/runtime.md, "Runs in one process")."""
    raw = os.environ.get("FLOWC_RUN_THREADS", "").strip()
    if not raw:
        return 4
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        from flowc.config import ConfigError

        raise ConfigError(f"FLOWC_RUN_THREADS={raw!r}: give a whole number from 1 to 256")
    return value


def refuse_unsupported(plan: Plan) -> None:
    for node in plan.nodes:
        kind = executed_kind(node)[0]
        if kind not in SUPPORTED_KINDS:
            raise RunRefused(
                f"node `{node.id}` (line {node.span.line}) is a `{kind}` node, which this "
                f"runtime does not run yet; it runs: {', '.join(sorted(SUPPORTED_KINDS))}")
    for sub in plan.flows:
        refuse_unsupported(sub.plan)


def cancel_run(store, run_id: str, by: str):
    """Cancel a run and the sub-flow runs it started, in one commit: each run's status
    (a compare-and-set: a run that ended meanwhile raises `StatusConflict`), its pending
    tasks and its `run.cancelled` event. A process advancing the run stops within a
    heartbeat: its sandboxes are killed and its commits are refused (fenced), so no effect
    starts after this commit and the run stays cancelled. Returns the run."""
    live = ("queued", "running", "paused")
    with store.transaction():
        todo, seen = [run_id], set()
        while todo:
            rid = todo.pop(0)
            if rid in seen:
                continue
            seen.add(rid)
            run = store.get_run(rid)
            if run is None:
                raise KeyError(rid)
            if rid != run_id and run.terminal:
                continue
            store.set_run_status(rid, "cancelled", error=f"cancelled by {by}", expect=live)
            tasks = [t.id for t in store.list_tasks(status="pending", run_id=rid,
                                                    limit=1_000_000)]
            for task_id in tasks:
                store.cancel_task(task_id)
            payload = {"tasks": tasks} if rid == run_id else {"tasks": tasks,
                                                             "parent_run": run_id}
            store.append_audit(rid, "run.cancelled", by, payload)
            todo.extend(r.id for r in store.sub_runs(rid))
    return store.get_run(run_id)


class Engine:
    def __init__(self, store, *, sandbox=None, workspace: str | None = None, clock=time.time,
                 base_dir: str | None = None, models=None, trace: bool = True,
                 file_protocols: tuple[str, ...] | None = None,
                 max_file_bytes: int | None = None, on_error=None,
                 max_field_bytes: int | None = None, run_threads: int = 1):
        self.store = store
        # how many claimed runs `resume_interrupted` (flowc worker, flowc serve) advances at
        # once (runtime/turn.py); `run_threads_default()` reads FLOWC_RUN_THREADS
        self.run_threads = run_threads
        # files people supply go through this fsspec protocol allowlist, and no file larger
        # than this is staged into a sandbox; None: flowc.toml's [files] (default: `file`,
        # 100 MiB)
        self._file_protocols = tuple(file_protocols) if file_protocols is not None else None
        self._max_file_bytes = max_file_bytes
        # the largest value (its JSON) a person may give for one input, form field or answer;
        # None: flowc.toml's [values] max_field_kb (default 1 MiB)
        self._max_field_bytes = max_field_bytes
        self._files_fallback: str | None = None  # where user files go without a workspace
        # called with (run id, one line) when a run stops on an unexpected error (it is
        # recorded on the run as failed); default: that line on the `flowc.runtime` logger
        self.on_error = on_error
        # isolation "run": one sandbox session per run, closed when the run pauses or ends
        self._sessions: dict[str, Any] = {}
        self._session_locks: dict[str, threading.Lock] = {}
        self._session_files: dict[str, dict[str, str]] = {}  # name -> sha256 in the session
        self._advancing: dict[str, int] = {}   # nested advance() calls per run
        self._advancer: dict[str, int] = {}    # the thread in a pass of the run
        self._again: set[str] = set()          # runs whose pass must be followed by another
        self._halted: set[str] = set()         # runs of an interrupted worker: no pass begins
        self._passes = threading.local()       # .runs: the passes this thread works for
        self._sessions_lock = threading.Lock()
        self._models = models
        # trace=False keeps only what a run needs to continue (results, tasks, effects, the
        # audit chain): no start records with inputs, no model exchanges, no node figures.
        # It exists to measure what tracing costs (bench/agents.py).
        self.trace = trace
        # trace records of nodes in progress, written with the node's result. Each key is
        # one node attempt, touched by the one thread that runs it; dict operations are
        # atomic, so no lock is needed
        self._pending: dict[tuple[str, str, int], dict] = {}
        from .tracewriter import TraceWriter

        self._tracer = TraceWriter(store)
        self._sandbox = sandbox
        self._owns_sandbox = False
        self.workspace = workspace
        self.base_dir = Path(base_dir) if base_dir else Path.cwd()  # where project skills are
        self.owner = f"engine-{uuid.uuid4().hex[:12]}"
        self._plans: dict[str, Plan] = {}       # parsed plans by hash
        self._dependents: dict[str, dict[str, list[str]]] = {}
        from .heartbeat import Heartbeat

        self._beat = Heartbeat(store, self.owner, _LEASE_SECONDS)
        self.clock = clock

    @property
    def models(self):
        """The model providers (`flowc.toml` next to the flow or above it), made on first use."""
        if self._models is None:
            from flowc.config import load_config

            from .models.router import Models

            self._models = Models(load_config(self.base_dir))
        return self._models

    # ---- files ------------------------------------------------------------------------------
    def _files_config(self):
        from flowc.config import ConfigError, load_config

        try:
            return load_config(self.base_dir)
        except ConfigError as e:
            raise RunRefused(str(e)) from None

    @property
    def file_protocols(self) -> tuple[str, ...]:
        """The fsspec protocols allowed for files people supply."""
        if self._file_protocols is None:
            self._file_protocols = self._files_config().file_protocols
        return self._file_protocols

    @property
    def max_file_bytes(self) -> int:
        """The largest file staged into a sandbox or taken from a person."""
        if self._max_file_bytes is None:
            self._max_file_bytes = self._files_config().max_file_bytes
        return self._max_file_bytes

    @property
    def max_field_bytes(self) -> int:
        """The largest value (its JSON) a person may give for one input, form field, answer."""
        if self._max_field_bytes is None:
            self._max_field_bytes = self._files_config().max_field_bytes
        return self._max_field_bytes

    def _files_root(self) -> str:
        """Where files people supply are copied: the workspace; without one, a `workspace`
        folder next to the store's file (an in-memory store: memory://, for this process)."""
        if self.workspace:
            return self.workspace
        if self._files_fallback is None:
            path = getattr(self.store, "path", None)
            if path and not getattr(self.store, "memory", False):
                self._files_fallback = os.path.join(
                    os.path.dirname(os.path.abspath(path)), "workspace")
            else:
                self._files_fallback = f"memory://flowc-files/{self.owner}"
        return self._files_fallback

    def _ingest(self, value: Any, schema: dict, *, run_id: str, node_id: str, item: int,
                folder: str, records: list, what: str) -> Any:
        """A value a person supplied, with each file at a file-typed place in it read
        (through the protocol allowlist, size-capped, regular files only), copied into the
        run's folder `folder` and recorded: the returned value carries the handles. Raises
        FileRefused naming the file."""
        from .sandbox.files import FileRefused, read_user_file, safe_name, write_outputs
        from .store import FileRecord, new_file_id

        if value is None or value is MISSING or not isinstance(schema, dict):
            return value
        if is_file_schema(schema) and isinstance(value, dict):
            data = read_user_file(value.get("path"), self.file_protocols, self.max_file_bytes)
            digest = hashlib.sha256(data).hexdigest()
            if isinstance(value.get("sha256"), str) and value["sha256"] != digest:
                raise FileRefused(f"{what} does not match its sha256 (the file changed since "
                                  "it was named)")
            name = str(value.get("name") or value["path"]).replace("\\", "/").rsplit("/", 1)[-1]
            try:
                name = safe_name(name)
            except ValueError:
                name = "file"
            rel = f"{folder}/{len(records)}"
            root = self._files_root()
            written, refused = write_outputs([(name, data)], f"{root.rstrip('/')}/{rel}")
            if refused:
                raise FileRefused(f"{what} cannot be kept: {refused[0]}")
            f = written[0]
            rec = FileRecord(new_file_id(), run_id, node_id, item, f.name, digest, len(data),
                             root, f"{rel}/{f.name}", 0.0)
            records.append(rec)
            return {"file_id": rec.id, "path": f.url, "name": f.name, "sha256": digest,
                    "size": len(data)}
        if "anyOf" in schema:
            for sub in schema["anyOf"]:
                if (sub.get("type") == "object" and isinstance(value, dict)) or \
                        (sub.get("type") == "array" and isinstance(value, list)):
                    return self._ingest(value, sub, run_id=run_id, node_id=node_id, item=item,
                                        folder=folder, records=records, what=what)
            return value
        if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            props = schema["properties"]
            return {k: self._ingest(v, props.get(k, {}), run_id=run_id, node_id=node_id,
                                    item=item, folder=folder, records=records,
                                    what=f"{what}.{k}") for k, v in value.items()}
        if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
            sub = schema["additionalProperties"]
            return {k: self._ingest(v, sub, run_id=run_id, node_id=node_id, item=item,
                                    folder=folder, records=records, what=f"{what}.{k}")
                    for k, v in value.items()}
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self._ingest(v, schema["items"], run_id=run_id, node_id=node_id, item=item,
                                 folder=folder, records=records, what=f"{what}[{i}]")
                    for i, v in enumerate(value)]
        return value

    def _drop_folder(self, rel: str) -> None:
        """Remove files copied for a run that was then refused (best effort)."""
        try:
            import fsspec

            fs, root = fsspec.core.url_to_fs(f"{self._files_root().rstrip('/')}/{rel}")
            if fs.exists(root):
                fs.rm(root, recursive=True)
        except Exception:  # only tidying up
            pass

    def _check_models(self, plan: Plan) -> None:
        """Every model alias the plan uses must be served (configured, or recorded)."""
        from flowc.config import ConfigError

        from .models.base import ModelError

        for node in plan.nodes:
            kind, config = executed_kind(node)
            if kind in MODEL_KINDS:
                alias = config.get("model") or "default"
                from .models.base import CallKey

                if self.models.replays(CallKey(node.id)):
                    continue  # served from a recording: no provider needed
                try:
                    self.models.preflight(alias)
                except (ConfigError, ModelError) as e:
                    raise RunRefused(f"node `{node.id}` (line {node.span.line}): {e}") from None
        for sub in plan.flows:
            self._check_models(sub.plan)

    # ---- starting ----------------------------------------------------------------------------
    @_in_turn
    def start(self, plan: Plan | dict, inputs: dict, *, parent: tuple[str, str] | None = None,
              advance: bool = True, by: str | None = None, base_dir: str | None = None,
              version: dict | None = None, bind=None):
        """Start a run of `plan`. `base_dir`: where its flow's files are (default: the
        engine's); `version`: the flow version it runs ({"number", "status"}), recorded in
        its `run.started` event; `bind`: the other engine that orchestrates it (the
        arguments of `store.bind_engine`, or a function of the run id giving them),
        recorded in the transaction that creates the run."""
        plan = _plan(plan)
        refuse_unsupported(plan)
        if parent is None:
            self._check_models(plan)
        values = {}
        for spec in plan.inputs:
            if spec.name in inputs:
                value = inputs[spec.name]
            elif spec.default is not None or not spec.required:
                value = evaluate(spec.default, Scope({}, {})) if spec.default is not None else None
            else:
                raise RunRefused(f"input `{spec.name}` is required")
            # what the caller gives has a size limit (a flow call's arguments come from nodes)
            limit = self.max_field_bytes if parent is None and spec.name in inputs else None
            problem = field_problem(value, limit)
            if problem:
                raise RunRefused(f"input `{spec.name}` {problem}")
            value = apply_defaults(value, spec.schema_)
            problems = schema_errors(value, spec.schema_, spec.name)
            if problems:
                raise RunRefused(problems[0])
            values[spec.name] = value
        unknown = sorted(set(inputs) - {s.name for s in plan.inputs})
        if unknown:
            raise RunRefused(f"the flow has no input `{unknown[0]}`")
        from .store import new_run_id

        run_id = new_run_id(self.clock())
        records: list = []
        if parent is None:
            # files the person starting the run names are copied into it now: later nodes
            # get handles, never the person's paths (a flow call's arguments already are)
            from .sandbox.files import FileRefused

            schemas = {s.name: s.schema_ for s in plan.inputs}
            try:
                with self._turn_given_up():  # files copied in: slow work
                    for name in list(values):
                        values[name] = self._ingest(
                            values[name], schemas[name], run_id=run_id,
                            node_id=f"input:{name}", item=-1, folder=f"{run_id}/.inputs/{name}",
                            records=records, what=f"input `{name}`")
            except FileRefused as e:
                self._drop_folder(run_id)
                raise RunRefused(str(e) if str(e).startswith("input `") else
                                 f"input `{name}`: {e}") from None
        if plan.hash not in self._plans or self.store.in_transaction():
            # inside a caller's transaction the plan is written again (idempotent): if that
            # transaction rolls back, a plan cached as stored would be missing from the store
            self.store.put_plan(plan.hash, plan.to_compact_json())
            if not self.store.in_transaction():
                self._plans[plan.hash] = plan
        with self.store.transaction():
            run = self.store.create_run(
                flow_name=plan.flow.name, plan_hash=plan.hash, inputs=values,
                parent_run_id=parent[0] if parent else None,
                parent_node_id=parent[1] if parent else None, workspace_url=self.workspace,
                base_dir=str(base_dir or self.base_dir), run_id=run_id)
            if bind is not None:
                self.store.bind_engine(run.id, **(bind(run.id) if callable(bind) else bind))
            self.store.record_files(records)
            started = {"plan_hash": plan.hash, "flow": plan.flow.name, "inputs": values}
            if version is not None:
                started["version"] = version
            self.store.append_audit(run.id, "run.started", by or "flowc", started)
        return self.advance(run.id) if advance else run

    # ---- advancing ---------------------------------------------------------------------------
    @_in_turn
    @_until_settled
    def advance(self, run_id: str):
        """Run what is ready, holding the run's lease so that no other process advances it
        too, and no other thread of this engine: a thread that finds another one in a pass
        of the run waits for that pass to end (at most `_LEASE_WAIT`); past that, it leaves
        a note, and the other thread makes one more pass once its own ends (a decision
        recorded meanwhile is acted on, never by two passes at once)."""
        run = self.store.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status in ("succeeded", "failed", "cancelled") or run_id in self._halted:
            return run
        me = threading.get_ident()
        give_up = time.monotonic() + _LEASE_WAIT
        while True:  # one thread of this engine in a pass of a run at a time (nested: the same)
            with self._sessions_lock:
                holder = self._advancer.get(run_id)
                if holder is None or holder == me:
                    self._advancer[run_id] = me
                    self._advancing[run_id] = self._advancing.get(run_id, 0) + 1
                    break
                if time.monotonic() >= give_up:
                    self._again.add(run_id)  # its pass ends with another one
                    return self.store.get_run(run_id)
            with self._turn_given_up():
                time.sleep(0.02)
        token = None
        outer = self._working_for()
        self._passes.runs = (*outer, run_id)
        try:
            while (token := self._take_lease(run_id)) is None:
                if time.monotonic() >= give_up:  # another process is advancing it right now
                    return self.store.get_run(run_id)
                with self._turn_given_up():
                    time.sleep(0.02)
            # the heartbeat keeps the lease while nodes run; every commit of this thread (and
            # of the threads running the run's nodes) is fenced by the lease's token
            with self._beat.hold(run_id, token), \
                    self.store.fenced(run_id, self.owner, token):
                if run_id in self._halted:  # (stopped before the heartbeat held it)
                    return self.store.get_run(run_id)
                try:
                    return self._advance(run_id)
                except LeaseLost as e:  # cancelled, or another process took the run over
                    return self._stopped(run_id, e)
                except _STORE_DOWN:
                    raise
                except Exception as e:  # a bug, or something no check foresaw: it fails
                    return self._fail_unexpected(run_id, e)
                except BaseException:  # interrupted (Ctrl-C, SIGTERM): its sandboxes go now
                    self._beat.stop(run_id, "interrupted")
                    raise
        finally:
            self._passes.runs = outer
            with self._sessions_lock:
                depth = self._advancing.get(run_id, 1) - 1
                if depth > 0:
                    self._advancing[run_id] = depth
            try:
                if token is not None:
                    if depth <= 0:  # the run paused, ended, or stopped: its session goes
                        self._close_session(run_id)
                    try:
                        self._tracer.flush()
                    except Exception as e:  # trace detail may be lost, never a result
                        _log.error("flowc: trace records of run %s were not written: %s",
                                   run_id, clean_text(_describe(e), 300))
                    if depth <= 0:  # a nested advance of the same run leaves the lease to
                        self.store.release_run(run_id, self.owner)  # the outer one
            finally:
                if depth <= 0:  # last: no other thread of ours takes the lease before
                    with self._sessions_lock:  # it was given back
                        self._advancing.pop(run_id, None)
                        self._advancer.pop(run_id, None)

    def _take_lease(self, run_id: str) -> int | None:
        """Take the run's lease: its fencing token, or None while another process holds it."""
        with self.store.transaction():
            if not self.store.lease_run(run_id, self.owner, _LEASE_SECONDS):
                return None
            return self.store.lease_token(run_id)

    def _stopped(self, run_id: str, e: LeaseLost):
        """The run's work here stopped, nothing more committed: it was cancelled (its status
        says so), or another process took its lease over (said in one line)."""
        self._beat.stop(run_id, "cancelled" if isinstance(e, RunCancelled) else "lost")
        for key in [k for k in self._pending if k[0] == run_id]:
            self._pending.pop(key, None)
        if not isinstance(e, RunCancelled):
            self._report_line(run_id, f"run {run_id} stopped here without committing: {e}")
        return self.store.get_run(run_id)

    def _fail_unexpected(self, run_id: str, e: Exception):
        """Record an unexpected error on the run (failed, with the error, and an audit event)
        instead of leaving it "running"; report it in one line. Re-raises `e` when even that
        cannot be written."""
        error = clean_text(f"the run stopped on an unexpected error: {_describe(e)}")
        for key in [k for k in self._pending if k[0] == run_id]:
            self._pending.pop(key, None)
        try:
            with self.store.transaction():
                current = self.store.get_run(run_id)
                if current is not None and current.status not in ("succeeded", "failed",
                                                                   "cancelled"):
                    self.store.set_run_status(run_id, "failed", error=error)
                    self.store.append_audit(run_id, "run.failed", "flowc", {"error": error})
        except LeaseLost as lost:  # not this process's run any more: it records nothing
            return self._stopped(run_id, lost)
        except Exception:  # the store itself fails: nothing to record it in
            raise e from None
        line = clean_text(f"run {run_id} failed on an unexpected error: {_describe(e)}", 500)
        line = " ".join(line.split())
        if self.on_error is not None:
            self.on_error(run_id, line)
        else:
            _log.error("flowc: %s", line)
        return self.store.get_run(run_id)

    def _advance(self, run_id: str):
        run = self.store.get_run(run_id)
        if run.status in ("succeeded", "failed", "cancelled"):
            return run
        plan = self._load_plan(run.plan_hash)
        self.store.set_run_status(run_id, "running")
        results = self._results(run_id)
        # Plan nodes come in a valid order (producers and outcome sources first), so one
        # forward pass settles every node that can be settled now; results are committed one
        # by one and kept in memory for the rest of the pass.
        # A worklist in plan order: the first pass looks at every unsettled node, later passes
        # only at the dependents of what just settled, so a run costs time linear in its size.
        graph = self._graph(plan)
        by_id = {n.id: n for n in plan.nodes}
        order = {n.id: k for k, n in enumerate(plan.nodes)}
        candidates = [n for n in plan.nodes
                      if getattr(results.get(n.id), "status", None) not in _FINAL]
        while candidates:
            end = self._run_end(plan, results, run.inputs)
            if end is not None:
                return self._finish_run(run, plan, results, end)
            ready: list[PlanNode] = []
            settled: list[str] = []
            for node in candidates:
                current = results.get(node.id)
                if current is not None and current.status in _FINAL:
                    continue
                verdict = self._readiness(node, results, run.inputs)
                if verdict == "wait":
                    continue
                if verdict == "ready":
                    ready.append(node)  # its inputs are all settled: independent of the rest
                    continue
                result = NodeResult("skipped") if verdict == "skip" else \
                    NodeResult("failed", error=verdict[1])
                self._commit(run_id, node.id, result)
                results[node.id] = result
                settled.append(node.id)
            if ready:
                self._keep_lease(run_id)
                batch = self._run_batch(run, plan, ready, results)
                for node, result in zip(ready, batch, strict=True):
                    current = results.get(node.id)
                    if current is not None and current.status == result.status == "waiting":
                        continue  # still waiting for a person: nothing new to commit
                    self._commit(run_id, node.id, result)
                    results[node.id] = result
                    if result.status != "waiting":
                        settled.append(node.id)
            woken = {d for s in settled for d in graph.get(s, ())}
            candidates = [by_id[i] for i in sorted(woken, key=order.__getitem__)]
            if not self.store.in_transaction():
                TURN.pass_on()  # the other runs of this process get their turn
        failed = next((n for n, r in results.items() if r.status == "failed"), None)
        if failed is not None:
            return self._finish_run(run, plan, results, ("fail", failed))
        if any(r.status == "waiting" for r in results.values()):
            with self.store.transaction():  # the last trace records ride along
                self._tracer.flush()
                self.store.set_run_status(run_id, "paused")
            return self.store.get_run(run_id)
        return self._finish_run(run, plan, results, ("done", None))

    def _turn(self):
        """This process's orchestration turn (runtime/turn.py), taken outside a transaction
        only (the turn always comes before the store's write lock)."""
        return contextlib.nullcontext() if self.store.in_transaction() else TURN.held_here()

    def _turn_given_up(self):
        """The turn given up for slow work, unless inside a transaction (taking it back there
        would wait for it while holding the write lock)."""
        return contextlib.nullcontext() if self.store.in_transaction() else TURN.given_up()

    def _keep_lease(self, run_id: str) -> None:
        """Go on only while the run is this process's to advance (the heartbeat keeps the
        lease and says when it was lost or the run cancelled)."""
        self._beat.keep(run_id)

    def _graph(self, plan: Plan) -> dict[str, list[str]]:
        """Which nodes may become ready when a node settles (data and control dependents)."""
        graph = self._dependents.get(plan.hash)
        if graph is None:
            graph = {}
            for node in plan.nodes:
                sources = {d.name for d in node.deps if d.kind == "node"}
                sources |= {c.node for c in node.control if c.node}
                for s in sources:
                    graph.setdefault(s, []).append(node.id)
            self._dependents[plan.hash] = graph
        return graph

    def _load_plan(self, plan_hash: str) -> Plan:
        plan = self._plans.get(plan_hash)
        if plan is None:
            plan = self._plans[plan_hash] = _plan(load_data(self.store.get_plan(plan_hash)))
        return plan

    def _run_batch(self, run, plan, ready: list[PlanNode], results) -> list[NodeResult]:
        """Ready nodes run side by side (independent branches); the rest inline. `results`
        is not changed while they run (the caller commits theirs after), so the inline ones
        read it as it is: copying it for every batch cost a long chain time quadratic in its
        length; helper threads get a copy of their own."""
        slow = [n for n in ready if (kind := KINDS.get(n.kind)) is not None and not kind.person]
        # inside a caller's transaction (which holds the store's write lock) helper threads
        # could not commit anything: the branches run one after another there
        if len(slow) < 2 or self.store.in_transaction():
            return [self._execute(run, plan, n, results) for n in ready]
        results = dict(results)
        with self._turn_given_up(), \
                ThreadPoolExecutor(max_workers=min(_BRANCHES, len(slow))) as pool:
            execute = self._in_fence(self._execute)
            futures = {n.id: pool.submit(execute, run, plan, n, results) for n in slow}
            with self._stopping(run.id):
                return [futures[n.id].result() if n.id in futures else
                        self._execute(run, plan, n, results) for n in ready]

    def _in_fence(self, fn):
        """`fn`, to run in a helper thread under this thread's fence (its commits are checked
        against the run's lease like this thread's)."""
        fence = self.store.current_fence()
        runs = self._working_for()  # and it works for the same passes

        def fenced(*args, **kwargs):
            self._passes.runs = runs
            try:
                if fence is None:
                    return fn(*args, **kwargs)
                with self.store.fenced(*fence):
                    return fn(*args, **kwargs)
            finally:
                self._passes.runs = ()

        return fenced

    def _working_for(self) -> tuple[str, ...]:
        """The runs whose pass this thread works for: its own passes, nested, and those of
        the thread whose helper it is."""
        return getattr(self._passes, "runs", ())

    def _note_if_in_another_pass(self, run_id: str) -> bool:
        """True, and a note left that its pass is followed by another, when another thread of
        this engine is in a pass of the run."""
        with self._sessions_lock:
            holder = self._advancer.get(run_id)
            if holder is not None and holder != threading.get_ident():
                self._again.add(run_id)
                return True
            return False

    @contextlib.contextmanager
    def _stopping(self, run_id: str):
        """While waiting for helper threads: if this thread is interrupted, or one of them
        finds the run stopped, the others' sandboxes are killed at once (so the pool's exit
        does not wait for them to run to their end)."""
        try:
            yield
        except BaseException as e:
            self._beat.stop(run_id, "cancelled" if isinstance(e, RunCancelled) else
                            "lost" if isinstance(e, LeaseLost) else "interrupted")
            raise

    def _results(self, run_id: str) -> dict[str, NodeResult]:
        out = {}
        for rec in self.store.node_results(run_id):
            if rec.item == -1:
                out[rec.node_id] = NodeResult(rec.status, rec.output, rec.outcome, rec.error)
        return out

    def _commit(self, run_id: str, node_id: str, r: NodeResult, item: int = -1) -> None:
        """The node's result and its audit events, in one transaction, with the attempt's
        trace records (its start and inputs, its model exchanges) when there are any."""
        pending = self._pending.pop((run_id, node_id, item), None) or {}
        metrics = r.metrics if self.trace else None
        if pending.get("calls"):  # model exchanges: written in batches (see tracewriter)
            self._tracer.put((run_id, node_id, item, None, pending["calls"]))
            metrics = _not_derived(metrics)
        if r.error is not None:
            r.error = clean_text(r.error)
        result = dict(output=r.output, outcome=r.outcome, error=r.error,
                      audit=[(kind, "flowc", payload) for kind, payload in r.audit],
                      metrics=metrics, started=pending.get("start"))
        try:
            if r.task is None:
                self.store.finish_node(run_id, node_id, item, r.status, **result,
                                       model_calls=self._tracer.take_batch())
            else:  # a gate's task, its waiting node and its `gate.opened`: one commit
                with self.store.transaction():
                    self.store.create_task(**r.task)
                    self.store.finish_node(run_id, node_id, item, r.status, **result,
                                           model_calls=self._tracer.take_batch())
        except (ValueError, TypeError, RecursionError, OverflowError) as e:
            # a value no check caught that the store cannot encode: the node fails with that
            # (its result, figures and events are not kept)
            r.status, r.output, r.outcome, r.audit, r.metrics = "failed", None, None, [], None
            r.task = None
            r.error = clean_text(f"its result could not be stored: {_describe(e)}")
            self.store.finish_node(run_id, node_id, item, "failed", error=r.error,
                                   started=pending.get("start"))

    def keep_model_call(self, record) -> None:
        """A model exchange of a node in progress (a `ModelCallRecord`, or its row from
        `store.model_call_row`): stored with the node's result."""
        if not self.trace:
            return
        key = record[:3] if type(record) is tuple else (record.run_id, record.node_id,
                                                        record.item)
        self._pending.setdefault(key, {}).setdefault("calls", []).append(record)

    def _scope(self, run, results: dict[str, NodeResult], **variables) -> Scope:
        return Scope(run.inputs, _Outputs(results), variables)

    # ---- readiness ---------------------------------------------------------------------------
    def _readiness(self, node: PlanNode, results: dict[str, NodeResult], inputs: dict):
        """'ready', 'wait', 'skip', or ('fail', why)."""
        for dep in node.deps:
            if dep.kind != "node":
                continue
            r = results.get(dep.name)
            if r is None or r.status not in _FINAL:
                return "wait"
            if r.status == "failed" and dep.required:
                return ("fail", f"`{dep.name}`, which it reads, failed")
            if r.status == "skipped" and dep.required:
                return "skip"
        groups: dict[str, bool] = {}
        for c in node.control:
            if c.node is None:  # a match on an enum value
                scope = Scope(inputs, {k: v.output if v.status == "succeeded" else MISSING
                                       for k, v in results.items()})
                try:
                    value = evaluate(c.subject, scope)
                except EvaluationError:
                    value = MISSING
                ok = value in c.values
            else:
                r = results.get(c.node)
                if r is None or r.status not in _FINAL:
                    return "wait"
                if c.outcomes:
                    ok = r.status == "succeeded" and r.outcome in c.outcomes
                else:
                    ok = r.status == "succeeded"
            key = c.group or f"_{id(c)}"
            groups[key] = groups.get(key, False) or ok
        if not all(groups.values()):
            return "skip"
        if node.when is not None:
            scope = Scope(inputs, {k: v.output if v.status == "succeeded" else MISSING
                                   for k, v in results.items()})
            try:
                if not evaluate(node.when, scope):
                    return "skip"
            except EvaluationError as e:
                return ("fail", f"its `when` condition could not be evaluated: {e}")
        return "ready"

    def _run_end(self, plan: Plan, results: dict[str, NodeResult], inputs: dict):
        for end in plan.ends:
            if end.node is not None:
                r = results.get(end.node)
                if r is not None and r.status == "succeeded" and r.outcome in end.outcomes:
                    return (end.action, end.node)
            else:
                scope = Scope(inputs, {k: v.output for k, v in results.items()
                                       if v.status == "succeeded"})
                try:
                    if evaluate(end.subject, scope) in end.values:
                        return (end.action, None)
                except EvaluationError:
                    continue
        return None

    def _finish_run(self, run, plan: Plan, results, end):
        action, node = end
        # the run's end, its audit event and the last trace records: one commit
        with self.store.transaction():
            self._tracer.flush()
            if action == "fail":
                r = results.get(node) if node else None
                error = (f"node `{node}` failed: {r.error}" if r is not None and r.status == "failed"
                         else f"the run was ended as failed by a `match` arm (`{node}`)")
                self.store.set_run_status(run.id, "failed", error=error)
                self.store.append_audit(run.id, "run.failed", "flowc", {"error": error})
            else:
                scope = self._scope(run, results)
                outputs, problems = {}, []
                for spec in plan.outputs:
                    try:
                        value = evaluate(spec.value, scope)
                    except EvaluationError as e:
                        problems.append(f"output `{spec.name}`: {e}")
                        continue
                    value = None if value is MISSING else value
                    problems += schema_errors(value, spec.schema_, spec.name)
                    outputs[spec.name] = value
                if problems and action != "stop":
                    self.store.set_run_status(run.id, "failed", error=problems[0])
                    self.store.append_audit(run.id, "run.failed", "flowc", {"error": problems[0]})
                else:
                    self.store.set_run_status(run.id, "succeeded", outputs=outputs)
                    self.store.append_audit(run.id, "run.succeeded", "flowc",
                                            {"outputs": outputs, "stopped_by": node})
            if run.parent_run_id:  # the calling run can go on: a worker continues it if
                self.store.wake_run(run.parent_run_id)  # this process dies first
        final = self.store.get_run(run.id)
        # a parent whose pass this thread works for (the sub-flow ran inside it) takes the
        # result there: advancing it again here would run its next nodes twice; a parent
        # another thread of this engine is in a pass of makes one more pass after it (a
        # note: waiting for it here could wait for a pass that waits for this one)
        parent = final.parent_run_id
        if parent and parent not in self._working_for() and \
                not self._note_if_in_another_pass(parent):
            self.advance(parent)
        return self.store.get_run(run.id)

    # ---- executing nodes ---------------------------------------------------------------------
    def _execute(self, run, plan: Plan, node: PlanNode, results) -> NodeResult:
        scope = self._scope(run, results)
        resumed = getattr(results.get(node.id), "status", None) == "waiting"
        kind = KINDS.get(node.kind)
        with contextlib.nullcontext() if kind is not None and kind.person else \
                self._turn_given_up():  # slow work overlaps the other runs' turns
            return self._execute_kind(run, plan, node, kind, scope, resumed)

    def _execute_kind(self, run, plan: Plan, node: PlanNode, kind, scope,
                      resumed: bool) -> NodeResult:
        try:
            if kind is not None and kind.body is not None:  # its items are attempted apart
                if not resumed:
                    self._started(run, node, -1, 1)
                return kind.execute(node, node.config, scope, NodeContext(self, run, plan))
            return self._with_retries(run, node, -1, resumed, lambda: self._execute_body(
                run, plan, node, node.kind, node.config, scope, -1))
        except EvaluationError as e:
            return NodeResult("failed", error=str(e))
        except (LeaseLost, *_STORE_DOWN):  # the run's work stops here: nothing is recorded
            raise
        except Exception as e:  # never an internal error: this node fails
            return NodeResult("failed", error=_describe(e))

    def _started(self, run, node: PlanNode, item: int, attempt: int) -> None:
        """Record that an attempt starts. What it reads is not copied: run inputs and other
        nodes' results never change once written and the plan names them (its deps), so the
        trace derives them (`trace.plan_inputs`)."""
        if not self.trace:
            return
        kind = KINDS.get(node.kind)
        if kind is not None and kind.container:  # visible while their parts run
            self.store.start_node(run.id, node.id, item, attempt)
            return
        start = {"attempt": attempt, "inputs": None, "started_at": self.clock()}
        self._pending[(run.id, node.id, item)] = {"start": start}

    def _with_retries(self, run, node: PlanNode, item: int, resumed: bool, attempt) -> NodeResult:
        """A node's declared `retry N`: failures of the kinds that retry (code, commands,
        skills, a `for each`'s items) are tried again with backoff. Each attempt is recorded
        as it starts (a resumed wait is not a new one)."""
        kind = KINDS.get(node.kind)
        tries = 1 + int(node.options.get("retry", 0)) if kind is not None and kind.retries \
            else 1
        if kind is not None and kind.person:  # no sandbox to kill: nothing to register
            return self._attempts(run, node, item, resumed, attempt, tries)
        with self._beat.working(run.id):  # a cancel kills this thread's sandboxes
            return self._attempts(run, node, item, resumed, attempt, tries)

    def _attempts(self, run, node: PlanNode, item: int, resumed: bool, attempt,
                  tries: int) -> NodeResult:
        for k in range(tries):
            self._beat.check(run.id)  # cancelled, or the lease lost: start nothing more
            if not (resumed and k == 0):
                self._started(run, node, item, k + 1)
            try:
                result = attempt()
            except (EvaluationError, LeaseLost, *_STORE_DOWN):
                raise
            except Exception as e:  # a hostile result, a sandbox that broke:
                result = NodeResult("failed", error=_describe(e))  # this attempt fails
            self._beat.check(run.id)  # a sandbox killed for a cancel is no result
            if result.status != "failed" or k == tries - 1:
                if k:
                    result.error = (f"{result.error} (after {k + 1} attempts)"
                                    if result.error else None)
                return result
            time.sleep(min(8.0, 0.25 * 2 ** k))
        return result  # pragma: no cover

    def _execute_body(self, run, plan, node, kind, config, scope, item) -> NodeResult:
        """One execution: the kind's executor (runtime/nodes/) with this run's context."""
        executor = KINDS.get(kind)
        if executor is None:
            return NodeResult("failed", error=f"`{kind}` nodes are not run by this runtime yet")
        return executor.execute(node, config, scope, NodeContext(self, run, plan, item))

    # what the engine lends executors (runtime/nodes/base.Host) ------------------------------
    def run_flow(self, plan: Plan, args: dict, parent: tuple[str, str]):
        """A sub-flow's run, started and advanced as far as it goes (a `flow` node). Its
        files are where its parent's are (not where this process happens to run: a worker
        continuing the parent elsewhere)."""
        above = self.store.get_run(parent[0])
        bound = self.store.run_engine(parent[0])
        bind = None
        if bound is not None:  # its own workflow, a child of its parent's (runtime/temporal)
            from .temporal import workflow_id

            def bind(run_id):
                return dict(bound, workflow_id=workflow_id(run_id))
        child = self.start(plan, args, parent=parent, advance=False, bind=bind,
                           base_dir=above.base_dir if above is not None else None)
        if bound is not None:
            return child  # queued: the parent's workflow starts the child's, which runs it
        return self.advance(child.id)

    def run_parts(self, run, plan: Plan, node: PlanNode, parts: list[Part],
                  width: int) -> list[NodeResult]:
        """Each part (a `for each` item) attempted with the node's retries and committed on
        its own, at most `width` side by side: their results, in order."""
        def one(part: Part) -> NodeResult:
            r = self._with_retries(run, node, part.item, part.previous == "waiting",
                                   lambda: self._execute_body(run, plan, node, part.kind,
                                                              part.config, part.scope,
                                                              part.item))
            if not (r.status == "waiting" and part.previous is not None):
                self._commit(run.id, node.id, r, item=part.item)
            return r

        if width > 1 and len(parts) > 1 and not self.store.in_transaction():  # (_run_batch)
            with ThreadPoolExecutor(max_workers=min(width, len(parts))) as pool, \
                    self._stopping(run.id):
                return list(pool.map(self._in_fence(one), parts))
        return [one(p) for p in parts]

    # sandboxes ---------------------------------------------------------------------------------
    @property
    def sandbox(self):
        if self._sandbox is None:
            from .sandbox import SandboxPool

            self._sandbox = SandboxPool(size=0)  # started on demand; see close()
            self._owns_sandbox = True
        return self._sandbox

    def close(self) -> None:
        """Write the last trace records; close the run sessions still open; stop the
        sandboxes this engine started (a pool passed in is the caller's)."""
        self._beat.close()
        self._tracer.close()
        with self._sessions_lock:
            open_runs = list(self._sessions)
        for run_id in open_runs:
            self._close_session(run_id)
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # isolation "run": one interpreter for the run's nodes that ask for it -------------------
    def _session(self, run_id: str, memory_mb: int | None):
        """The run's sandbox session (`isolation "run"`), started on first use."""
        with self._sessions_lock:
            session = self._sessions.get(run_id)
            if session is None:
                session = self.sandbox.session(memory_mb)
                self._sessions[run_id] = session
                self._session_locks[run_id] = threading.Lock()
            return session

    def _close_session(self, run_id: str) -> None:
        with self._sessions_lock:
            session = self._sessions.pop(run_id, None)
            lock = self._session_locks.pop(run_id, None)
            self._session_files.pop(run_id, None)
        if session is not None:
            with lock or threading.Lock():  # an execution still running ends first
                try:
                    session.close()
                except Exception as e:  # closing never fails a run
                    _log.error("flowc: the sandbox session of run %s did not close: %s",
                               run_id, clean_text(_describe(e), 300))

    def sandbox_run(self, run, node, code: str, *, python: bool = False, **kw):
        """One execution for a node: in a fresh sandbox (strict, the default), or in the run's
        session when the node says `isolation "run"` (executions of one run go one at a time
        there; a strict node never uses it)."""
        if kw.get("idempotency_key", 0) is None:  # (sandboxes that take no key need none)
            del kw["idempotency_key"]
        if node.options.get("isolation") != "run":
            return self.sandbox.run(code, **kw)
        limits = kw.get("limits")
        session = self._session(run.id, getattr(limits, "memory_mb", None))
        if python:  # the run's earlier `result` and `main` are not this node's
            # (and no earlier command's key: on the same line, so line numbers stay)
            code = 'globals().pop("result", None); globals().pop("main", None); ' + \
                env_code(None) + code
        with self._session_locks.get(run.id) or threading.Lock():
            # the session's working directory holds what earlier executions staged and
            # wrote: only what this one wrote or changed counts as its files
            seen = self._session_files.setdefault(run.id, {})
            for name, data in (kw.get("inputs") or {}).items():
                if isinstance(data, (bytes, bytearray)):
                    seen[name] = hashlib.sha256(data).hexdigest()
            r = session.run(code, **kw)
            files = list(getattr(r, "files", None) or ())
            if files:
                r.files = [f for f in files if seen.get(f.name) != f.sha256]
                seen.update((f.name, f.sha256) for f in files)
            return r

    # ---- decisions ---------------------------------------------------------------------------
    def decide(self, task_id: str, *, action: str, by: str, roles: tuple[str, ...] = (),
               values: dict | None = None, reason: str = "", answer: Any = None,
               advance: bool = True):
        """Record a person's decision on a task, then advance the run (with `advance=False`
        the run is left queued, committed with the decision, for a worker to continue)."""
        if not isinstance(by, str) or not by.strip() or value_problem(by):
            raise DecisionRefused("who decides must be named (`--as USER`), in UTF-8 text")
        task = self.store.get_task(task_id)
        if task is None:
            raise DecisionRefused(f"no task `{task_id}`")
        if task.status != "pending":
            # the first decision stands; if its run has not gone on yet (the process that
            # recorded it died first), it goes on now
            run = self.store.get_run(task.run_id)
            after = ""
            if advance and run is not None and run.status == "queued":
                after = f" (its run went on: {self.advance(run.id).status})"
            raise already_decided(task, after)
        allowed = [a for a in task.assignees if isinstance(a, dict)]

        def holds(people) -> bool:
            return any((a.get("kind") == "user" and a.get("name") == by) or
                       (a.get("kind") == "role" and a.get("name") in roles) for a in people)

        if allowed and not holds(allowed):
            later = next((s for s in task.escalations[task.escalated:] if holds(s["to"])), None)
            if later is not None:
                when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(later["at"]))
                raise DecisionRefused(
                    f"{by} may not decide task `{task_id}` yet; it is for "
                    f"{describe_people(allowed)} until it escalates to "
                    f"{describe_people(later['to'])} at {when} UTC")
            raise DecisionRefused(f"{by} may not decide task `{task_id}`; it is for "
                                  f"{describe_people(allowed)}")
        if task.kind == "ask":
            decision = self._ask_decision(task, answer)
        else:
            decision = self._gate_decision(task, action, values or {}, reason)
        records = self._decided_files(task, decision)
        # the decision, its files, its audit event and the run's next state (queued: a
        # worker continues it if this process dies before it does): one commit
        with self.store.transaction():
            won = self.store.decide_task(task_id, decision, by)
            if won:
                self.store.record_files(records)
                self.store.append_audit(task.run_id, "task.decided", by, {
                    "task": task_id, "node": task.node_id, "item": task.item,
                    "shown": task.show,
                    "form_before": task.form.get("values") if task.kind == "gate" else None,
                    "decision": decision,
                    "plan_hash": self.store.get_run(task.run_id).plan_hash})
                self.store.wake_run(task.run_id)
        if not won:
            later = self.store.get_task(task_id)
            raise DecisionRefused(f"task `{task_id}` was already decided by "
                                  f"{later.decided_by}; the first decision stands")
        if not advance:
            return self.store.get_run(task.run_id)
        return self.advance(task.run_id)

    def _decided_files(self, task, decision: dict) -> list:
        """Files a person put in a decision (an edited file field, a file answered) are
        copied into the run now, through the protocol allowlist: the decision keeps handles.
        DecisionRefused names a file that cannot be taken."""
        from .sandbox.files import FileRefused

        records: list = []
        folder = f"{task.run_id}/.decisions/{task.id}"
        common = {"run_id": task.run_id, "node_id": task.node_id, "item": task.item,
                  "records": records}
        try:
            if task.kind == "ask":
                decision["value"] = self._ingest(
                    decision.get("value"), task.form.get("schema", {}), folder=f"{folder}/answer",
                    what="the answer", **common)
            else:
                fields = {f["name"]: f["schema"] for f in task.form.get("fields", [])}
                decision["values"] = {
                    k: self._ingest(v, fields.get(k, {}), folder=f"{folder}/{k}",
                                    what=f"field `{k}`", **common)
                    for k, v in decision.get("values", {}).items()}
        except FileRefused as e:
            self._drop_folder(folder)
            raise DecisionRefused(str(e)) from None
        return records

    def _gate_decision(self, task, action: str, values: dict, reason: str) -> dict:
        return gate_decision(task.form, action, values, reason, self.max_field_bytes)

    def _ask_decision(self, task, answer: Any) -> dict:
        return ask_decision(task.form, answer, self.max_field_bytes)

    # ---- error replay ------------------------------------------------------------------------
    @staticmethod
    def replay_scope(store, run, from_node: str | None) -> tuple[str, set[str]]:
        """The node a replay starts from (default: the one that failed) and every node that
        runs again: it and whatever depends on it, by data or control."""
        plan = _plan(load_data(store.get_plan(run.plan_hash)))
        ids = [n.id for n in plan.nodes]
        if from_node is None:
            failed = {r.node_id for r in store.node_results(run.id) if r.status == "failed"}
            from_node = next((i for i in ids if i in failed), None)
            if from_node is None:
                raise RunRefused(f"run {run.id} has no failed node: say where to start with "
                                 f"--from NODE (nodes: {', '.join(ids)})")
        elif from_node not in ids:
            raise RunRefused(f"the flow `{plan.flow.name}` has no node `{from_node}` (nodes: "
                             f"{', '.join(ids)})")
        dependents: dict[str, set[str]] = {}
        for node in plan.nodes:
            for src in {d.name for d in node.deps if d.kind == "node"} | \
                    {c.node for c in node.control if c.node}:
                dependents.setdefault(src, set()).add(node.id)
        rerun, todo = set(), [from_node]
        while todo:
            n = todo.pop()
            if n not in rerun:
                rerun.add(n)
                todo.extend(dependents.get(n, ()))
        return from_node, rerun

    def replay(self, run_id: str, from_node: str | None = None, *, advance: bool = True,
               by: str | None = None):
        """A new run of the same plan and inputs: nodes before `from_node` keep their recorded
        results (a person's decisions included), `from_node` and what follows run again; with
        a replaying `Models`, their model calls get the recorded answers, so a failure
        reproduces without guessing. The original run is left as it was."""
        old = self.store.get_run(run_id)
        if old is None:
            raise RunRefused(f"no run `{run_id}`")
        start, rerun = self.replay_scope(self.store, old, from_node)
        self._load_plan(old.plan_hash)
        kept = [r for r in self.store.node_results(run_id)
                if r.node_id not in rerun and r.status in _FINAL]
        calls: dict = {}  # the kept nodes' calls are not copied: their figures go along
        for c in self.store.model_calls(run_id):
            calls.setdefault((c.node_id, c.item), []).append(c)
        with self.store.transaction() as tx:  # the run with its start and kept results
            new = tx.create_run(
                flow_name=old.flow_name, plan_hash=old.plan_hash, inputs=old.inputs,
                workspace_url=self.workspace, base_dir=old.base_dir or str(self.base_dir))
            tx.append_audit(new.id, "run.started", by or "flowc", {
                "plan_hash": old.plan_hash, "flow": old.flow_name, "inputs": old.inputs,
                "replay_of": run_id, "from": start, "kept": sorted({r.node_id for r in kept})})
            tx.copy_files(run_id, new.id)  # the kept results' handles stay valid
            for r in kept:
                tx.finish_node(new.id, r.node_id, r.item, r.status, output=r.output,
                               outcome=r.outcome, error=r.error,
                               metrics=_with_derived(r.metrics, calls.get((r.node_id, r.item))))
        return self.advance(new.id) if advance else self.store.get_run(new.id)

    # ---- workers -----------------------------------------------------------------------------
    def resume_interrupted(self, limit: int = 10, threads: int | None = None) -> list[str]:
        """Take over runs a crashed process left queued or running (their lease lapsed), and
        advance each from its last committed node: up to `threads` runs at once (default:
        the engine's `run_threads`), taking turns at the engine's own work (runtime/turn.py),
        so that one run's slow node (a model call, a sandbox) does not hold the others up.
        Returns the ids of the runs advanced, in the order they were claimed."""
        threads = self.run_threads if threads is None else threads
        limit = max(0, limit)  # (a negative LIMIT is no limit to SQLite)
        self.store.wake_runs(limit=limit)  # paused runs whose committed state lets them go on
        claimed = [run.id for run in self.store.claim_runs(self.owner, _LEASE_SECONDS,
                                                            limit=limit)]
        if threads > 1 and len(claimed) > 1:
            return self._resume_side_by_side(claimed, threads)
        done = []
        left = list(claimed)
        try:
            for run_id in claimed:
                left.remove(run_id)
                if self._resume_one(run_id):
                    done.append(run_id)
        finally:  # interrupted (SIGTERM): the runs not reached yet are given back at once
            self._give_back(left)
        return done

    def _resume_one(self, run_id: str) -> bool:
        """Advance one claimed run (its own failure is recorded on it), then give its claim
        back; False when even the failure could not be recorded (reported in one line)."""
        try:
            self.advance(run_id)  # a run's own failure is recorded on it there
            return True
        except _STORE_DOWN:
            raise
        except Exception as e:  # even that could not be written: the next goes on
            self._report(run_id, e)
            return False
        finally:
            try:
                self.store.release_run(run_id, self.owner)
            except Exception as e:
                self._report(run_id, e)

    def _resume_side_by_side(self, claimed: list[str], threads: int) -> list[str]:
        """`_resume_one` of each claimed run on a pool of threads. Interrupted (Ctrl-C,
        SIGTERM reach this thread only), or when the store fails under one of them: the runs
        not started are given back at once, and those in flight stop as a cancel stops them
        (their sandboxes killed, nothing more committed, their leases given back)."""
        with ThreadPoolExecutor(max_workers=min(threads, len(claimed)),
                                thread_name_prefix="flowc-run") as pool:
            futures: list = []
            try:  # (an interrupt while they are submitted is handled as one later)
                for run_id in claimed:
                    futures.append((run_id, pool.submit(self._resume_one, run_id)))
                return [run_id for run_id, f in futures if f.result()]
            except BaseException:
                submitted = {run_id for run_id, _ in futures}
                self._give_back([run_id for run_id, f in futures if f.cancel()] +
                                [run_id for run_id in claimed if run_id not in submitted])
                # the runs started: a pass not begun yet (waiting for the turn or the lease)
                # does not begin, one in flight stops as a cancel stops it
                halted = [run_id for run_id, f in futures if not f.done()]
                with self._sessions_lock:
                    self._halted.update(halted)
                try:
                    while running := [(run_id, f) for run_id, f in futures if not f.done()]:
                        for run_id, _ in running:  # (again: one may only now hold its lease)
                            self._beat.stop(run_id, "interrupted")
                        wait_futures([f for _, f in running], timeout=0.05)
                finally:
                    with self._sessions_lock:
                        self._halted.difference_update(halted)
                raise

    def _give_back(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            with contextlib.suppress(Exception):
                self.store.release_run(run_id, self.owner)

    def _report(self, run_id: str, e: BaseException) -> None:
        self._report_line(run_id, f"run {run_id}: {_describe(e)}")

    def _report_line(self, run_id: str, text: str) -> None:
        line = " ".join(clean_text(text, 500).split())
        if self.on_error is not None:
            self.on_error(run_id, line)
        else:
            _log.error("flowc: %s", line)

    # ---- timeouts and escalations -----------------------------------------------------------
    def fire_timeouts(self, now: float | None = None) -> list[str]:
        """Apply the declared outcome of every task past its deadline, then fire the due
        escalation steps of the tasks still pending (`fire_due`); returns the ids of the tasks
        that timed out."""
        return self.fire_due(now).timed_out

    def fire_due(self, now: float | None = None) -> Fired:
        """One pass of the timer (`flowc worker`): every due timeout and escalation step, in
        the order they fell due, each recording the time it fired (the clock read as it fires;
        `now`, when given, stands for the clock through the pass). A step fires only while its
        task's deadline has not come: a task past its deadline times out and does not escalate
        on the way. The runs of tasks that timed out advance once everything due has fired,
        and what falls due while one advances fires before the next one does."""
        fired = Fired()
        woken: list[str] = []
        self._fire_in_order(now, fired, woken)
        while woken:
            run_id = woken.pop(0)
            try:
                self.advance(run_id)  # its own failure is recorded on the run
            except _STORE_DOWN:
                raise
            except Exception as e:  # not even that: the other runs go on
                self._report(run_id, e)
            if now is None:
                self._fire_in_order(None, fired, woken)
        return fired

    def fire_escalations(self, now: float | None = None) -> list[Escalation]:
        """Fire every due escalation step of pending tasks, in the order they fell due: the
        step's people join the task's assignees and a `task.escalated` event joins the audit
        trail, in one transaction. Each step fires once whatever the number of workers (the
        store's compare-and-set); a decided, timed-out or cancelled task never escalates, nor
        does one whose deadline has come (`fire_due` times it out)."""
        fired = Fired()
        self._fire_in_order(now, fired, None)
        return fired.escalated

    def _fire_in_order(self, now: float | None, fired: Fired, woken: list[str] | None) -> None:
        """Fire what is due, earliest first (a timeout before a step due at the same time);
        with `woken` None, steps only. Each batch holds what was due when it was read; what
        falls due while it fires comes in the next batch, after it (it fell due later)."""
        seen: set[tuple[str, int]] = set()   # (task, step; 0: its timeout) tried in this pass
        while True:
            at = self.clock() if now is None else now
            batch = []
            tasks = self.store.due_tasks(at, _TIMER_BATCH) if woken is not None else []
            steps = self.store.due_escalations(at, _TIMER_BATCH)
            for task in tasks:
                batch.append((task.deadline, 0, task.id, task))
            for task in steps:
                batch.append((task.next_escalation, task.escalated + 1, task.id, task))
            # a read cut short by its limit is complete only up to its last row's due time
            cut = at
            if len(tasks) >= _TIMER_BATCH:
                cut = min(cut, tasks[-1].deadline)
            if len(steps) >= _TIMER_BATCH:
                cut = min(cut, steps[-1].next_escalation)
            batch = [b for b in batch if b[0] <= cut and (b[2], b[1]) not in seen]
            if not batch:
                return
            heapq.heapify(batch)
            while batch:
                _, step, task_id, task = heapq.heappop(batch)
                seen.add((task_id, step))
                if step == 0:
                    if self._time_out(task, self.clock() if now is None else now):
                        fired.timed_out.append(task.id)
                        if task.run_id not in woken:
                            woken.append(task.run_id)
                    continue
                done = self._escalate(task, step, now, fired)
                nxt = done.next_escalation if done is not None else None
                if nxt is not None and nxt <= cut:  # its next step is due too: in its turn
                    heapq.heappush(batch, (nxt, done.escalated + 1, done.id, done))

    def _time_out(self, task, at: float) -> bool:
        """Time a task out at `at`: the task, its `task.timed_out` event and its run queued (a
        worker continues it if this process dies before it does), in one commit. False:
        someone decided it (or another worker timed it out) first."""
        with self.store.transaction():
            if not self.store.expire_task(task.id, at=at):
                return False
            self.store.append_audit(task.run_id, "task.timed_out", "flowc",
                                    {"task": task.id, "node": task.node_id,
                                     "then": task.timeout_outcome})
            self.store.wake_run(task.run_id)
        return True

    def _escalate(self, task, step: int, now: float | None, fired: Fired):
        """Fire step `step` of `task` now, unless its deadline has come; the updated task, or
        None when it did not fire (the deadline came, another worker fired it, the task is no
        longer pending)."""
        at = self.clock() if now is None else now
        if task.deadline is not None and at >= task.deadline:
            return None  # the task times out instead: a step never fires after the deadline
        with self.store.transaction():
            done = self.store.escalate_task(task.id, step, at=at)
            if done is not None:
                spec = done.escalations[step - 1]
                self.store.append_audit(task.run_id, "task.escalated", "flowc", {
                    "task": task.id, "node": task.node_id, "item": task.item,
                    "step": step, "to": spec["to"], "after": spec["after"],
                    "due": spec["at"], "assignees": list(done.assignees)})
        if done is not None:
            fired.escalated.append(Escalation(task.id, task.run_id, task.node_id, task.item,
                                              step, spec["to"], at))
        return done
