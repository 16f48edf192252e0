"""The workflow's activities, run on a worker: each a short piece of the embedded engine's
work on one run, committed to the store (the store's leases, fences and compare-and-sets make
a retried activity safe: a node whose result was committed is not run again, an effect whose
result was recorded is not acted on again, a decision is recorded once)."""

from __future__ import annotations

import threading
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from ..decisions import DecisionRefused

__all__ = ["Activities"]

_FINAL = ("succeeded", "failed", "cancelled")
_BEAT = 1.0  # seconds between heartbeats while the engine works
# failures that are retried on purpose: logged at DEBUG by the SDK, not as warnings with a trace
_EXPECTED = ApplicationErrorCategory.BENIGN
_MISSING_ATTEMPTS = 30
_STOP_WAIT = 30.0  # seconds a cancelled activity waits for the engine to stop its work  # about 5 minutes of retries (the workflow's backoff, 10 s at most)


class Activities:
    """Activities over one engine (one per worker process; its sandbox pool lives here)."""

    def __init__(self, engine):
        self.engine = engine
        self.store = engine.store

    def _state(self, run_id: str) -> dict:
        run = self.store.get_run(run_id)
        tasks, due = [], None
        children = []
        for child in self.store.sub_runs(run_id):
            bound = self.store.run_engine(child.id)
            if bound is not None and child.status not in _FINAL:
                children.append({"run": child.id, "workflow_id": bound["workflow_id"]})
        for t in self.store.list_tasks(status="pending", run_id=run_id, limit=None):
            form = t.form if isinstance(t.form, dict) else {}
            tasks.append({"id": t.id, "run": t.run_id, "kind": t.kind,
                          "assignees": [dict(a) for a in t.assignees], "form": {
                              "actions": form.get("actions", []),
                              "fields": [{"name": f["name"], "schema": f["schema"]}
                                         for f in form.get("fields", [])],
                              "schema": form.get("schema", {}),
                              "choices": form.get("choices")}})
            due = min((at for at in (due, t.deadline, t.next_escalation) if at is not None),
                      default=None)
        return {"run_id": run_id, "status": run.status, "error": run.error, "tasks": tasks,
                "next_due": due, "max_field_bytes": self.engine.max_field_bytes,
                "children": children}

    def _beating(self, work, run_id: str | None = None) -> Any:
        """`work()` in a thread while this activity heartbeats (a worker killed mid-way is
        noticed within the heartbeat timeout, and the activity runs again elsewhere)."""
        box: dict = {}

        def target():
            try:
                box["value"] = work()
            except BaseException as e:  # handed to the activity's thread
                box["error"] = e

        thread = threading.Thread(target=target, daemon=True, name="flowc-activity")
        thread.start()
        try:
            while thread.is_alive():
                activity.heartbeat()
                thread.join(_BEAT)
        except BaseException:
            # cancelled (the worker shuts down past its grace period, the workflow ended):
            # the run's work stops as on Ctrl-C, its sandboxes killed, nothing more committed
            # and no failure recorded; the activity runs again elsewhere from the last commit
            if run_id is not None:
                self.engine._beat.stop(run_id, "interrupted")
            thread.join(_STOP_WAIT)
            raise
        if "error" in box:
            raise box["error"]
        return box.get("value")

    @activity.defn(name="flowc.advance")
    def advance(self, arg: dict) -> dict:
        run_id = arg["run_id"]
        if self.store.get_run(run_id) is None:
            # the transaction that creates it may not have committed yet (a scheduled start
            # commits with its tick's claim): tried again for a while, then given up
            if activity.info().attempt < _MISSING_ATTEMPTS:
                raise ApplicationError(f"run {run_id} is not in the store (yet)",
                                       type="RunNotYet", category=_EXPECTED)
            raise ApplicationError(f"no run {run_id} in the store", type="RunMissing",
                                   non_retryable=True)

        self._beating(lambda: self.engine.advance(run_id), run_id)
        state = self._state(run_id)
        if state["status"] in ("queued", "running"):
            # another process holds its lease (a worker that died holds it until it lapses)
            raise ApplicationError(f"run {run_id} is being advanced by another process; "
                                   "tried again", type="RunBusy", category=_EXPECTED)
        return state

    @activity.defn(name="flowc.decide")
    def decide(self, arg: dict) -> dict:
        task = self.store.get_task(str(arg.get("task")))
        bound = self.store.run_engine(task.run_id) if task is not None else None
        if task is None or bound is None or bound["workflow_id"] != arg.get("workflow_id"):
            return {"refused": f"task `{str(arg.get('task'))[:80]}` is not a task of this run"}
        if task.status != "pending" and activity.info().attempt > 1 and \
                task.decided_by == arg.get("by") and self._same(task, arg):
            # a retry: this worker's predecessor recorded this very decision and died before
            # it answered (the update's own first attempt is refused as usual, and so is
            # another decision of the same person)
            return {"run": task.run_id, "status": self.store.get_run(task.run_id).status}
        try:
            run = self._beating(lambda: self.engine.decide(
                task.id, action=arg.get("action") or "answer", by=arg.get("by"),
                roles=tuple(arg.get("roles") or ()), values=arg.get("values") or {},
                reason=arg.get("reason") or "", answer=arg.get("answer"), advance=False))
        except DecisionRefused as e:  # an answer, not a failure: the update says it
            return {"refused": str(e)}
        return {"run": run.id, "status": run.status}

    def _same(self, task, arg: dict) -> bool:
        """Whether `arg` is the decision recorded on `task`."""
        from ..decisions import ask_decision, gate_decision

        try:
            if task.kind == "ask":
                wanted = ask_decision(task.form, arg.get("answer"), None)
            else:
                wanted = gate_decision(task.form, arg.get("action"), arg.get("values") or {},
                                       arg.get("reason") or "", None)
        except DecisionRefused:
            return False
        recorded = task.decision if isinstance(task.decision, dict) else {}
        return all(recorded.get(k) == v for k, v in wanted.items())

    @activity.defn(name="flowc.fire_due")
    def fire_due(self, arg: dict) -> dict:
        """Time out, or escalate, what is due in this run's tree, earliest first: at the
        workflow's timer time, or this worker's clock if it reads later."""
        return self._beating(lambda: self._fire_due(arg))

    def _fire_due(self, arg: dict) -> dict:
        from ..engine import Fired

        at = max(float(arg["at"]), time.time())
        due = []
        for t in self.store.list_tasks(status="pending", run_id=arg["run_id"], limit=None):
            if t.deadline is not None and t.deadline <= at:
                due.append((t.deadline, 0, t))
            elif t.next_escalation is not None and t.next_escalation <= at:
                due.append((t.next_escalation, 1, t))
        timed_out, escalated = [], 0
        fired = Fired()
        for _, kind, task in sorted(due, key=lambda d: (d[0], d[1], d[2].id)):
            if kind == 0:
                if self.engine._time_out(task, at):
                    timed_out.append(task.id)
                continue
            done = self.engine._escalate(task, task.escalated + 1, at, fired)
            while done is not None:
                escalated += 1
                if done.next_escalation is None or done.next_escalation > at:
                    break
                done = self.engine._escalate(done, done.escalated + 1, at, fired)
        return {"timed_out": timed_out, "escalated": escalated}

    def all(self) -> list:
        return [self.advance, self.decide, self.fire_due]
