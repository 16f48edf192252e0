"""The workflow that orchestrates one run: deterministic, no I/O, clock or randomness.

Its loop: an `advance` activity runs what is ready (on a worker, with the engine's node
executors, committing to the store) and returns the run's state: its status, the pending
tasks' forms and the time the next timeout or escalation step falls due. While the run waits
for people, the workflow waits for a `decide` update, a `wake` signal (the run was cancelled,
or changed from outside) or a durable timer for the next due time (then a `fire_due` activity
times out or escalates what is due). A run is pinned to its plan by hash in the store; the
workflow never reads the plan, so a new flowc version cannot change a run's path in replay.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from flowc.runtime.decisions import DecisionRefused, ask_decision, gate_decision

__all__ = ["FlowcRun"]

_FINAL = ("succeeded", "failed", "cancelled")
_MAX_NAME = 200
_MAX_ROLES = 64
_KEYS = {"task", "action", "by", "roles", "values", "reason", "answer"}


@workflow.defn(name="flowc.run")
class FlowcRun:
    def __init__(self) -> None:
        self.state: dict = {}
        self.tasks: dict[str, dict] = {}
        self.decisions = 0      # decisions committed through updates
        self.wakes = 0          # `wake` signals
        self.started = 0        # advance activities started
        self.done = 0           # the number of the last advance activity that completed
        self.heartbeat = timedelta(seconds=30)  # a worker that died is noticed within this
        self.children: dict = {}  # sub-flow run -> its child workflow's handle
        self.ended = 0            # child workflows that ended
        self.watchers: list = []
        self.ended_run = False    # the run reached its end

    # ---- the run -----------------------------------------------------------------------------
    @workflow.run
    async def run(self, arg: dict) -> dict:
        run_id = arg["run_id"]
        self.heartbeat = timedelta(seconds=float(arg.get("heartbeat_seconds", 30)))
        options = dict(start_to_close_timeout=timedelta(hours=24),
                       heartbeat_timeout=self.heartbeat,
                       retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1),
                                                backoff_coefficient=2.0,
                                                maximum_interval=timedelta(seconds=10),
                                                non_retryable_error_types=["RunMissing"]))
        while True:
            seen = (self.decisions, self.wakes)
            self.started += 1
            number = self.started
            self.state = await workflow.execute_activity("flowc.advance", {"run_id": run_id},
                                                         **options)
            self.done = number
            self.tasks = {t["id"]: t for t in self.state.get("tasks", [])}
            if self.state.get("status") in _FINAL:
                self.ended_run = True
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.state
            for child in self.state.get("children", []):  # flow calls: child workflows
                if child["run"] not in self.children:
                    await self._start_child(child, arg)
            due = self.state.get("next_due")
            timeout = None
            if due is not None:
                timeout = max(0.0, float(due) - workflow.now().timestamp())
            ended = self.ended
            try:
                await workflow.wait_condition(
                    lambda seen=seen, ended=ended: (self.decisions, self.wakes) != seen
                    or self.ended != ended,
                    timeout=None if timeout is None else timedelta(seconds=timeout))
            except TimeoutError:  # the durable timer fired first
                await workflow.execute_activity(
                    "flowc.fire_due", {"run_id": run_id, "at": workflow.now().timestamp()},
                    **options)

    async def _start_child(self, child: dict, arg: dict) -> None:
        """The workflow of a sub-flow run (created and bound by the engine in this run's
        advance): a child of this one, ended with it; its end wakes this loop (the store
        has already woken this run)."""
        handle = await workflow.start_child_workflow(
            "flowc.run", {"run_id": child["run"],
                          "heartbeat_seconds": arg.get("heartbeat_seconds", 30)},
            id=child["workflow_id"])
        self.children[child["run"]] = handle

        async def watch():
            try:
                await handle
            except Exception:  # its run's state is in the store either way
                pass
            self.ended += 1
        self.watchers.append(asyncio.create_task(watch()))  # the workflow's own event loop

    # ---- people ------------------------------------------------------------------------------
    @workflow.update(name="decide")
    async def decide(self, arg: dict) -> dict:
        """A person's decision: committed by an activity (which also checks who may decide,
        with the store's compare-and-set), then answered once the run went on from it."""
        try:
            done = await workflow.execute_activity(
                "flowc.decide", {**arg, "workflow_id": workflow.info().workflow_id},
                start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=self.heartbeat,
                retry_policy=RetryPolicy(maximum_attempts=5))
        except ActivityError as e:  # the store could not be reached five times over
            cause = e.cause
            message = getattr(cause, "message", None) or str(cause or e)
            raise ApplicationError(f"the decision was not recorded: {message}",
                                   type="DecisionFailed", non_retryable=True) from None
        if done.get("refused"):  # who may decide, a task decided first: the store's word
            raise ApplicationError(done["refused"], type="DecisionRefused", non_retryable=True)
        self.decisions += 1
        after = self.started
        # answered once an advance that started after this decision has reported, or the
        # run has ended (an advance already under way may have ended it: a cancel)
        await workflow.wait_condition(lambda: self.done > after or self.ended_run)
        return {"status": self.state.get("status"), "error": self.state.get("error")}

    @decide.validator
    def check_decision(self, arg: dict) -> None:
        """Refused here, a decision never enters the history: a task this run does not wait
        on now (as far as the workflow knows: a client whose store shows the task pending
        asks again shortly, see client.decide), an action its form does not offer, a value
        that does not fit its field, a person the task is not for, any other key or an
        oversized name."""
        if not isinstance(arg, dict):
            raise DecisionRefused("a decision is a map")
        unknown = sorted(str(k)[:40] for k in arg if k not in _KEYS)
        if unknown:
            raise DecisionRefused(f"a decision has no `{unknown[0]}`")
        task = self.tasks.get(arg.get("task")) if isinstance(arg.get("task"), str) else None
        if task is None:
            raise DecisionRefused(f"this run does not wait on task `{str(arg.get('task'))[:80]}`"
                                  " now")
        by = arg.get("by")
        if not isinstance(by, str) or not by.strip() or len(by) > _MAX_NAME:
            raise DecisionRefused("who decides must be named (`--as USER`)")
        roles = arg.get("roles", [])
        if not isinstance(roles, list) or len(roles) > _MAX_ROLES or not all(
                isinstance(r, str) and 0 < len(r) <= _MAX_NAME for r in roles):
            raise DecisionRefused(f"roles must be a list of at most {_MAX_ROLES} names")
        allowed = [a for a in task.get("assignees", []) if isinstance(a, dict)]
        if allowed and not any((a.get("kind") == "user" and a.get("name") == by) or
                               (a.get("kind") == "role" and a.get("name") in roles)
                               for a in allowed):
            raise DecisionRefused(f"{by} may not decide task `{task['id']}`")
        limit = self.state.get("max_field_bytes")
        if task["kind"] == "ask":
            if arg.get("values") or arg.get("reason") or arg.get("action") not in (None,
                                                                                  "answer"):
                raise DecisionRefused("a question takes an answer, not an action or values")
            ask_decision(task["form"], arg.get("answer"), limit)
        else:
            if arg.get("answer") is not None:
                raise DecisionRefused("a gate takes an action (and values), not an answer")
            gate_decision(task["form"], arg.get("action"), arg.get("values") or {},
                          arg.get("reason") or "", limit)

    @workflow.signal(name="wake")
    def wake(self) -> None:
        """The run changed outside the workflow (cancelled, say): advance it again."""
        self.wakes += 1

    @workflow.query(name="state")
    def current(self) -> dict:
        return self.state
