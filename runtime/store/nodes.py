"""The SQLite store's node results and model exchanges: a node's attempt and result (with its
`node.result` audit event in the same commit), trace records written in batches, and every
model call of a node."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .chain import NODE_RESULT_EVENT, _node_result_payload, _normalised
from .codec import _dump
from .records import NO_ITEM, NODE_STATUSES, ModelCallRecord, NodeRecord, _check
from .rows import (
    _MODEL_CALL_COLS,
    _NODE_BACK,
    _NODE_COLS,
    _NODE_INSERT_COLS,
    _RETURNING,
    _model_call,
    _model_call_row,
    _node,
    _row,
)
from .trail import AuditTrail

__all__ = ["NodeTables"]


# A re-run attempt replaces the exchange with the same key (SQL both SQLite and PostgreSQL
# accept: an upsert on the primary key).
_MODEL_CALL_KEY = ("run_id", "node_id", "item", "attempt", "seq")
_UPSERT_MODEL_CALL = (
    f"INSERT INTO model_calls ({_MODEL_CALL_COLS}) VALUES ("
    + ", ".join("?" for _ in _MODEL_CALL_COLS.split(","))
    + f") ON CONFLICT ({', '.join(_MODEL_CALL_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (x.strip() for x in _MODEL_CALL_COLS.split(","))
                if c not in _MODEL_CALL_KEY))


class NodeTables(AuditTrail):
    """Node executions and model calls (a node result chains its own audit event)."""


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
                    _UPSERT_MODEL_CALL,
                    [_row(c) for c in calls])
            if started is None:
                cur = conn.execute(
                    f"INSERT INTO node_executions ({_NODE_COLS})"
                    " VALUES (?, ?, ?, ?, 0, NULL, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (run_id, node_id, item) DO UPDATE SET status = excluded.status,"
                    " output_json = excluded.output_json, outcome = excluded.outcome,"
                    " error = excluded.error, finished_at = excluded.finished_at,"
                    " metrics_json = COALESCE(excluded.metrics_json, node_executions.metrics_json)" + _NODE_BACK,
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
                    " metrics_json = COALESCE(excluded.metrics_json, node_executions.metrics_json)" + _NODE_BACK,
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
                    _UPSERT_MODEL_CALL, calls)

        if items:
            self._write(write)

    # -- model exchanges

    def record_model_call(self, call: ModelCallRecord) -> None:
        """Keep one model exchange (replacing a row with the same key: a re-run attempt)."""
        self._write(lambda conn: conn.execute(
            _UPSERT_MODEL_CALL, _model_call_row(call)))

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
