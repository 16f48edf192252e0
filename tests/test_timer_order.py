"""Time is exact (issue 13, finding 5): the worker's timer fires timeouts and escalation steps
in the order they fell due, each records the time it actually fired, and no step fires once
its task's deadline has passed.

Time is simulated, never slept: the engine and its real SQLite store share a clock that moves
on by a fixed tick at every reading, so work done during a pass (committing a timeout,
advancing its run) takes time, as it does on a busy machine. The tests compare recorded
times with due times and with the order of the recorded events, never with the wall clock."""

from __future__ import annotations

import pytest
from flowc_testkit import plan_of

from flowc.runtime.engine import Engine
from flowc.runtime.store import SQLiteStore

M = 60.0
H = 3600.0
T0 = 1_000_000.0


class TickingClock:
    """Time that passes as work is done: each reading is `tick` seconds after the one before
    (`tick` is 0 while the test sets things up)."""

    def __init__(self, now: float = T0):
        self.now = now
        self.tick = 0.0

    def __call__(self) -> float:
        t = self.now
        self.now += self.tick
        return t


def gate(timeout: str, escalate: str = "") -> str:
    esc = f"\n  escalate: {escalate}," if escalate else ""
    return f'''flow g version "1.0.0"
input amount: float
node review = await human(
  to:      role("finance"),
  show:    [amount],
  timeout: {timeout},{esc}
)
match review {{
  approved -> stop
  rejected -> stop
}}
output decision: str = review.outcome
'''


@pytest.fixture
def clocked(tmp_path):
    clock = TickingClock()
    store = SQLiteStore(str(tmp_path / "runs.db"), clock=clock)
    engine = Engine(store, clock=clock)
    yield engine, store, clock
    engine.close()
    store.close()


def open_gate(engine, text: str, at: float):
    engine.clock.now = at
    run = engine.start(plan_of(text), {"amount": 10.0})
    assert run.status == "paused", run.error
    (task,) = engine.store.list_tasks(run_id=run.id)
    return run, task


def events(store, *runs) -> list[tuple[float, str, str]]:
    """(time, run, kind) of every audit event of these runs, in the order they were written
    (the ticking clock makes every store time distinct); not the store's own `node.result`
    events, which come with every node result."""
    out = sorted((e.ts, r.id, e.seq, e.kind) for r in runs for e in store.audit_events(r.id)
                 if e.kind != "node.result")
    return [(ts, run, kind) for ts, run, _, kind in out]


def test_due_events_fire_in_due_order_at_the_time_they_fire(clocked):
    engine, store, clock = clocked
    # B: its step is due at T0+30m, its deadline at T0+2h; A: its deadline at T0+1h
    b, b_task = open_gate(engine, gate("2h -> reject", '30m -> role("lead")'), T0)
    a, a_task = open_gate(engine, gate("1h -> approve"), T0)
    start = T0 + 2 * H - 10 * M   # the pass starts 10 minutes before B's deadline
    clock.now, clock.tick = start, 4 * M

    fired = engine.fire_due()

    # in due order: B's step (30m), A's timeout (1h), then B's timeout (2h), which fell due
    # while the pass was busy with A: it is not left for a later pass
    assert [e.task for e in fired.escalated] == [b_task.id]
    assert fired.timed_out == [a_task.id, b_task.id]
    order = [(run, kind) for _, run, kind in events(store, a, b)
             if kind in ("task.escalated", "task.timed_out")]
    assert order == [(b.id, "task.escalated"), (a.id, "task.timed_out"),
                     (b.id, "task.timed_out")]

    # each records when it fired: the step, between its due time and its task's deadline,
    # with nothing else happening between that moment and its event
    step = store.get_task(b_task.id).escalations[0]
    (e,) = fired.escalated
    assert e.at == step["fired_at"]
    assert step["at"] <= step["fired_at"] < b_task.deadline
    escalated = next(ts for ts, run, kind in events(store, b) if kind == "task.escalated")
    assert step["fired_at"] <= escalated
    between = [kind for ts, _, kind in events(store, a, b) if step["fired_at"] < ts < escalated]
    assert between == [], between
    # the timeouts, at or after their deadlines, in the order they fired
    a_done, b_done = store.get_task(a_task.id), store.get_task(b_task.id)
    assert a_task.deadline <= a_done.decided_at < b_done.decided_at
    assert b_task.deadline <= b_done.decided_at
    assert store.get_run(a.id).outputs == {"decision": "approved"}
    assert store.get_run(b.id).outputs == {"decision": "rejected"}
    assert store.verify_audit(a.id).ok and store.verify_audit(b.id).ok


def test_a_step_reached_after_its_tasks_deadline_does_not_fire(clocked):
    engine, store, clock = clocked
    # X's step is due first; C's step is due later but before C's deadline. By the time the
    # pass has fired X's step, C's deadline has passed: C times out, its step never fires.
    _, x_task = open_gate(engine, gate("4h -> reject", '30m -> role("lead")'), T0)
    c, c_task = open_gate(engine, gate("1h -> approve", '40m -> role("lead")'), T0 + 15 * M)
    assert c_task.escalations[0]["at"] < c_task.deadline == T0 + 75 * M
    clock.now, clock.tick = T0 + 70 * M, 5 * M   # C's deadline is 5 minutes away

    fired = engine.fire_due()

    assert [(e.task, e.step) for e in fired.escalated] == [(x_task.id, 1)]
    assert fired.timed_out == [c_task.id]
    done = store.get_task(c_task.id)
    assert done.status == "timed_out" and done.escalated == 0
    assert done.escalations[0].get("fired_at") is None
    assert done.decided_at >= c_task.deadline
    assert [k for _, _, k in events(store, c)] == [
        "run.started", "gate.opened", "task.timed_out", "run.succeeded"]
    # and every step that did fire fired before its task's deadline
    x_step = store.get_task(x_task.id).escalations[0]
    assert x_step["at"] <= x_step["fired_at"] < x_task.deadline


def test_a_step_due_at_or_after_its_tasks_deadline_never_fires(clocked):
    engine, store, clock = clocked
    # the compiler refuses such a step (F0211); a task written straight to the store can
    # still hold one
    run, _ = open_gate(engine, gate("4h -> reject"), T0)
    lead = [{"kind": "role", "name": "lead"}]
    task = store.create_task(run.id, "other", deadline=T0 + H, timeout_outcome="reject",
                             escalations=[{"at": T0 + H, "to": lead, "after": H},
                                          {"at": T0 + 2 * H, "to": lead, "after": 2 * H}])
    clock.now = T0 + 3 * H
    fired = engine.fire_due()
    assert fired.escalated == []
    assert fired.timed_out == [task.id]
    assert store.get_task(task.id).escalated == 0


def test_a_timeout_due_between_two_steps_fires_between_them(clocked):
    engine, store, clock = clocked
    # B's steps are due at 30m and 90m, A's timeout at 1h; the worker comes at 2h
    b, b_task = open_gate(engine, gate("3h -> reject", '[30m -> role("lead"), '
                                       '90m -> user("cfo@example.com")]'), T0)
    a, a_task = open_gate(engine, gate("1h -> approve"), T0)
    clock.now, clock.tick = T0 + 2 * H, 1.0
    fired = engine.fire_due()
    assert [(e.task, e.step) for e in fired.escalated] == [(b_task.id, 1), (b_task.id, 2)]
    assert fired.timed_out == [a_task.id]
    order = [(run, kind) for _, run, kind in events(store, a, b)
             if kind in ("task.escalated", "task.timed_out")]
    assert order == [(b.id, "task.escalated"), (a.id, "task.timed_out"),
                     (b.id, "task.escalated")]
    first, second = store.get_task(b_task.id).escalations
    assert T0 + 2 * H <= first["fired_at"] < store.get_task(a_task.id).decided_at \
        <= second["fired_at"]
