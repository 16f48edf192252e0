"""Rows and records: the columns each table is read with, a row made into its record, and
`read_evidence` (everything a run's audit trail commits to, as stored)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from .codec import _dump, _load
from .records import (
    AuditRecord,
    EffectRecord,
    FileRecord,
    ModelCallRecord,
    NodeRecord,
    RunRecord,
    TaskRecord,
)

__all__ = ["model_call_row", "read_evidence"]

# a row written comes back from the same statement (SQLite 3.35+: one SELECT less)
_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


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

