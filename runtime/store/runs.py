"""The SQLite store's plans, runs and leases: creating and moving runs, claiming and renewing
leases (each passing to another owner bumps the run's fencing token), waking paused runs.

Fenced leases
    A run's lease has a fencing token (`lease_token`) that grows each time the lease passes to
    another owner. `with store.fenced(run_id, owner, token):` makes every transaction the
    calling thread opens check first, under the write lock, that `owner` still holds the
    lease with that token (`LeaseLost` if another process took it, `RunCancelled` if the run
    was cancelled: nothing of the transaction commits; runtime/store/connections.py).
    `heartbeat()` renews a held lease.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from .chain import AUDIT_GENESIS
from .connections import SQLiteBase
from .errors import NotFound, StatusConflict, StoreError
from .ids import new_run_id
from .records import CLAIMABLE_RUN_STATUSES, RUN_STATUSES, TERMINAL_RUN_STATUSES, RunRecord, _check
from .rows import _RUN_COLS, _run
from .schema import _in

__all__ = ["RunTables"]


# a lease changing hands (or taken again after it was given back) gets the next fencing token
# runs the embedded workers may take: not those another engine orchestrates (bind_engine)
_EMBEDDED = "id NOT IN (SELECT run_id FROM run_engines)"
_NEXT_TOKEN = "lease_token = lease_token + (CASE WHEN lease_owner = ? THEN 0 ELSE 1 END)"


class RunTables(SQLiteBase):
    """Plans, runs and their leases."""

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
                f"SELECT id FROM runs WHERE status IN ({claimable}) AND {free} AND {_EMBEDDED}"
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

    def bind_engine(self, run_id: str, engine: str, workflow_id: str, address: str,
                    namespace: str, task_queue: str) -> None:
        """Record that another engine (Temporal) orchestrates this run: the embedded workers
        neither claim, wake nor time out its tasks. Call it in the transaction that creates
        the run (the engine binds a bound run's sub-flow runs when it creates them)."""
        self._write(lambda conn: conn.execute(
            "INSERT INTO run_engines (run_id, engine, workflow_id, address, namespace,"
            " task_queue, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, engine, workflow_id, address, namespace, task_queue, self._now())))

    def run_engine(self, run_id: str) -> dict[str, str] | None:
        """The engine that orchestrates a run ({engine, workflow_id, address, namespace,
        task_queue}), or None for the embedded one."""
        row = self._read(lambda c: c.execute(
            "SELECT engine, workflow_id, address, namespace, task_queue FROM run_engines"
            " WHERE run_id = ?", (run_id,)).fetchone())
        if row is None:
            return None
        return dict(zip(("engine", "workflow_id", "address", "namespace", "task_queue"),
                        row, strict=True))

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
                "SELECT r.id FROM runs r WHERE r.status = 'paused' AND r.id NOT IN (SELECT"
                " run_id FROM run_engines) AND (EXISTS (SELECT 1 FROM"
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

    # -- flow calls

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
