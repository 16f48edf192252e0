"""The SQLite store's human tasks: gates and questions, their assignees (the inbox's index),
deadlines and escalation steps, each decided, timed out, cancelled or escalated by
compare-and-set."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from .codec import _dump
from .connections import SQLiteBase
from .errors import NotFound, StoreError
from .ids import new_task_id
from .records import ASSIGNEE_KINDS, NO_ITEM, TASK_KINDS, TASK_STATUSES, TaskRecord, _check
from .rows import _TASK_COLS, _task

__all__ = ["TaskTables"]

# tasks the embedded timer fires: not those of runs another engine orchestrates (its timers do)
_EMBEDDED = "run_id NOT IN (SELECT run_id FROM run_engines)"


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


class TaskTables(SQLiteBase):
    """Human tasks: gates and questions for people."""


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
        # one run's tasks: that run's few rows by (run_id, status), not every pending task by
        # status in time order (SQLite's planner, without statistics, picks the latter)
        hint = " INDEXED BY tasks_run_status" if run_id is not None and \
            self.dialect == "sqlite" else ""
        sql = (f"SELECT {cols} FROM tasks t{hint}{where} ORDER BY t.created_at, t.id"
               " LIMIT ? OFFSET ?")
        args += [(-1 if self.dialect == "sqlite" else None) if limit is None else limit,
                 offset]  # no limit: SQLite's -1, PostgreSQL's NULL
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
            f" AND deadline <= ? AND {_EMBEDDED} ORDER BY deadline, id LIMIT ?",
            (at, limit)).fetchall())
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
            f" NULL AND next_escalation <= ? AND {_EMBEDDED} ORDER BY next_escalation, id"
            " LIMIT ?",
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
