"""Gate escalation end to end: `escalate: DURATION -> TARGET` (or a list of steps) is checked,
planned, recorded on the task, fired by the worker's timer once per step, audited, and shown
by `flowc inbox` and `flowc show`.

The engine takes a clock: the tests move it instead of sleeping. The stores are real SQLite
files (the `store` fixture, or files in the test's folder)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from flowc_testkit import open_again, plan_of

from flowc.compiler.api import compile_source
from flowc.compiler.formatter import format_source
from flowc.runtime import store as store_mod
from flowc.runtime.engine import DecisionRefused, Engine
from flowc.runtime.store import MIGRATIONS, NotFound, SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
H = 3600.0


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def gate_flow(escalate: str = '[8h -> role("lead"), 24h -> user("cfo@example.com")]',
              timeout: str = "48h -> reject", extra: str = "") -> str:
    return f'''flow esc version "1.0.0"
input amount: float
input boss: str = "cfo@example.com"
node review = await human(
  to:       role("finance"),
  show:     [amount],
  timeout:  {timeout},
  escalate: {escalate},{extra}
)
match review {{
  approved -> stop
  rejected -> stop
}}
output decision: str = review.outcome
output by: str = review.reviewer
'''


FLOW = gate_flow()


def diags(text: str) -> list[tuple[str, int, int]]:
    result = compile_source(text, "t.flow", base_dir=ROOT)
    out = []
    for d in result.diagnostics.sorted():
        where = d.to_dict()
        out.append((d.code, where["line"], where["column"]))
    return out


def messages(text: str) -> list[str]:
    return [d.message for d in compile_source(text, "t.flow", base_dir=ROOT).diagnostics.sorted()]


# ---------------------------------------------------------------------------------- checker

ESCALATE_LINE = 8  # the line of `escalate:` in gate_flow
COL = len("  escalate: ") + 1  # the column where its value starts


@pytest.mark.parametrize(("escalate", "timeout", "code", "column", "message"), [
    # the value is not an arrow, nor a list of them
    ('role("lead")', "48h -> reject", "F0204", COL, "`escalate:` takes `DURATION -> TARGET`"),
    ('"8h"', "48h -> reject", "F0204", COL, "`escalate:` takes `DURATION -> TARGET`"),
    # a step that does not start with a duration
    ('"soon" -> role("lead")', "48h -> reject", "F0204", COL,
     "an escalation step starts with a duration"),
    ('[8h -> role("lead"), 3 -> user("x")]', "48h -> reject", "F0204", COL + 21,
     "an escalation step starts with a duration"),
    # a target that is not role()/user()
    ('8h -> "lead"', "48h -> reject", "F0204", COL + 6, "`escalate:` names people, not `str`"),
    ("8h -> amount", "48h -> reject", "F0204", COL + 6, "`escalate:` names people, not `float`"),
    ('8h -> [role("lead"), 12h]', "48h -> reject", "F0204", COL + 21,
     "`escalate:` names people, not `duration`"),
    ("8h -> []", "48h -> reject", "F0204", COL + 6, "an escalation step names nobody"),
    # steps not strictly increasing in time
    ('[24h -> role("lead"), 8h -> user("cfo@example.com")]', "48h -> reject", "F0211", COL + 22,
     "escalation steps must come later and later: 8h is not after 24h"),
    ('[8h -> role("lead"), 8h -> user("cfo@example.com")]', "48h -> reject", "F0102", COL + 21,
     "two escalation steps at 8h"),
    ('0s -> role("lead")', "48h -> reject", "F0211", COL, "an escalation after no time at all"),
    # at or after the timeout: it could never happen
    ('48h -> role("lead")', "48h -> reject", "F0211", COL,
     "this escalation at 48h could never happen: the gate times out at 48h"),
    ('[8h -> role("lead"), 3d -> user("cfo@example.com")]', "2d -> approve", "F0211", COL + 21,
     "this escalation at 3d could never happen: the gate times out at 2d"),
    # a person who may decide already
    ('8h -> role("finance")', "48h -> reject", "F0102", COL + 6,
     '`role("finance")` is named twice: it may decide already (in `to:`)'),
    ('[8h -> role("lead"), 24h -> [user("cfo@example.com"), role("lead")]]', "48h -> reject",
     "F0102", COL + 54, '`role("lead")` is named twice: it may decide already (in the step at 8h)'),
])
def test_a_bad_escalation_is_reported_where_it_is(escalate, timeout, code, column, message):
    text = gate_flow(escalate, timeout)
    assert diags(text) == [(code, ESCALATE_LINE, column)], messages(text)
    assert messages(text)[0].startswith(message)


def test_escalate_given_twice_is_f0102():
    text = gate_flow(extra='\n  escalate: 9h -> role("ops"),')
    assert diags(text) == [("F0102", ESCALATE_LINE + 1, 3)]
    assert messages(text) == ["`escalate` is given twice"]


def test_escalate_on_ask_human_is_an_unknown_argument():
    text = '''flow a version "1.0.0"
node office: str = ask human(
  to:       user("wei"),
  question: "Which office?",
  timeout:  24h -> fail,
  escalate: 8h -> role("lead"),
)
output o: str = office
'''
    result = compile_source(text, "t.flow", base_dir=ROOT)
    (d,) = result.diagnostics.sorted()
    assert (d.code, d.to_dict()["line"], d.to_dict()["column"]) == ("F0201", 6, 3)
    assert "only a gate (`await human`) escalates" in d.help


def test_a_list_mixing_steps_and_values_is_a_syntax_error():
    text = gate_flow('[8h -> role("lead"), user("cfo@example.com")]')
    (d,) = compile_source(text, "t.flow", base_dir=ROOT).diagnostics.sorted()
    assert d.code == "F0001" and "expected `->`" in d.help


def test_a_gate_without_a_timeout_may_escalate():
    text = gate_flow(timeout="48h -> reject").replace("  timeout:  48h -> reject,\n", "")
    assert [c for c, _, _ in diags(text)] == ["F0304"]  # the usual warning, nothing else


def test_to_must_name_people_too():
    text = gate_flow().replace('to:       role("finance")', 'to:       8h -> role("finance")')
    assert diags(text) == [("F0204", 5, 13)]


# ------------------------------------------------------------------------------ formatting


def test_the_formatter_writes_steps_canonically_and_keeps_their_meaning():
    messy = gate_flow('[ 8h->role("lead") ,24h ->[user(boss),role("board")], ]')
    out = format_source(messy, "t.flow")
    assert out is not None
    assert '  escalate: [8h -> role("lead"), 24h -> [user(boss), role("board")]],\n' in out
    assert format_source(out, "t.flow") == out
    before = plan_of(messy).nodes[0].config["escalate"]
    assert plan_of(out).nodes[0].config["escalate"] == before


def test_the_language_server_completes_people_after_an_arrow():
    from flowc.lsp.completion import complete
    from flowc.lsp.positions import PositionCodec

    head = 'flow a version "1.0.0"\nnode g = await human(\n  to: role("x"),\n  '
    for tail, expected in [("", "escalate"), ("escalate: 8h -> ", 'role("...")'),
                           ('escalate: [8h -> role("a"), 24h -> ', 'user("...")')]:
        text = head + tail
        labels = [i.label for i in complete(None, text, len(text), PositionCodec(text))]
        assert expected in labels, (tail, labels)


# ----------------------------------------------------------------------------------- plan


def test_the_plan_carries_the_steps_in_seconds_with_their_targets():
    plan = plan_of(gate_flow('[8h -> role("lead"), 1d12h -> [user(boss), role("board")]]'))
    config = plan.nodes[0].config
    assert config["escalate"] == [
        {"seconds": 8 * H, "to": [{"call": "role", "args": [{"lit": "lead"}]}]},
        {"seconds": 36 * H, "to": [{"call": "user", "args": [{"input": "boss", "path": []}]},
                                   {"call": "role", "args": [{"lit": "board"}]}]},
    ]
    assert config["timeout"] == {"seconds": 48 * H, "then": "reject"}
    # one step without brackets is a list of one; a gate without escalation has no key
    assert plan_of(gate_flow('8h -> role("lead")')).nodes[0].config["escalate"] == [
        {"seconds": 8 * H, "to": [{"call": "role", "args": [{"lit": "lead"}]}]}]
    plain = FLOW.replace('  escalate: [8h -> role("lead"), 24h -> user("cfo@example.com")],\n', "")
    assert "escalate" not in plan_of(plain).nodes[0].config


def test_the_published_plan_schema_describes_escalation():
    schema = json.loads((ROOT / "docs" / "plan.schema.json").read_text())
    assert "`escalate`" in schema["$defs"]["PlanNode"]["properties"]["config"]["description"]


# -------------------------------------------------------------------------------- runtime


@pytest.fixture
def engine(store):
    e = Engine(store, clock=Clock())
    yield e
    e.close()


def start(engine, text: str = FLOW, **inputs):
    run = engine.start(plan_of(text), {"amount": 500.0, **inputs})
    assert run.status == "paused", run.error
    (task,) = engine.store.list_tasks(run_id=run.id)
    return run, task


def events(store, run_id) -> list:
    """The run's events but the store's own `node.result` ones (tests/test_audit_data.py)."""
    return [e for e in store.audit_events(run_id) if e.kind != "node.result"]


def kinds(store, run_id) -> list[str]:
    return [e.kind for e in events(store, run_id)]


def test_the_task_records_its_steps_when_the_gate_opens(engine, store):
    opened = engine.clock.now
    run, task = start(engine)
    assert task.assignees == ({"kind": "role", "name": "finance"},)
    assert task.escalated == 0 and task.next_escalation == opened + 8 * H
    assert [(s["after"], s["at"], s["to"], s["fired_at"]) for s in task.escalations] == [
        (8 * H, opened + 8 * H, [{"kind": "role", "name": "lead"}], None),
        (24 * H, opened + 24 * H, [{"kind": "user", "name": "cfo@example.com"}], None)]
    assert task.deadline == opened + 48 * H
    gate = events(store, run.id)[1]
    assert gate.kind == "gate.opened" and [s["after"] for s in gate.payload["escalations"]] == [
        8 * H, 24 * H]


def test_an_escalation_fires_once_at_its_time(engine, store, tmp_path):
    run, task = start(engine)
    opened = engine.clock.now
    assert engine.fire_due(opened + 8 * H - 1).escalated == []
    fired = engine.fire_due(opened + 8 * H)
    assert fired.timed_out == []
    (e,) = fired.escalated
    assert (e.task, e.run, e.node, e.item, e.step) == (task.id, run.id, "review", -1, 1)
    assert e.to == [{"kind": "role", "name": "lead"}] and e.at == opened + 8 * H
    after = store.get_task(task.id)
    assert after.status == "pending" and after.escalated == 1
    assert after.assignees == ({"kind": "role", "name": "finance"},
                               {"kind": "role", "name": "lead"})
    assert after.escalations[0]["fired_at"] == opened + 8 * H
    assert after.next_escalation == opened + 24 * H
    # a second pass of this worker, and a pass of another worker on its own connection
    assert engine.fire_due(opened + 8 * H + 60).escalated == []
    other = Engine(open_again(store), clock=Clock(opened + 9 * H))
    assert other.fire_due().escalated == []
    other.store.close()
    assert kinds(store, run.id) == ["run.started", "gate.opened", "task.escalated"]
    event = events(store, run.id)[2]
    assert event.actor == "flowc"
    assert {k: event.payload[k] for k in ("task", "node", "item", "step", "to")} == {
        "task": task.id, "node": "review", "item": -1, "step": 1,
        "to": [{"kind": "role", "name": "lead"}]}
    assert event.payload["assignees"] == [{"kind": "role", "name": "finance"},
                                          {"kind": "role", "name": "lead"}]
    assert store.get_run(run.id).status == "paused"
    assert store.verify_audit(run.id).ok
    # fire_timeouts (what older callers use) fires escalations as well
    assert engine.fire_timeouts(opened + 24 * H) == []
    assert store.get_task(task.id).escalated == 2
    assert store.verify_audit(run.id).ok


def test_concurrent_workers_fire_each_step_exactly_once(engine, store, tmp_path):
    runs = [start(engine) for _ in range(5)]
    due = engine.clock.now + 30 * H  # both steps of every task are due
    results, barrier = [], threading.Barrier(6)

    def work():
        s = open_again(store)
        try:
            e = Engine(s, clock=Clock(due))
            barrier.wait()
            results.extend(e.fire_escalations())
        finally:
            s.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted((e.task, e.step) for e in results) == sorted(
        (task.id, step) for _, task in runs for step in (1, 2))
    for run, task in runs:
        assert kinds(store, run.id).count("task.escalated") == 2
        assert store.get_task(task.id).escalated == 2
        assert store.verify_audit(run.id).ok


def test_steps_due_together_fire_in_order_in_one_pass(engine, store):
    run, task = start(engine)
    fired = engine.fire_due(engine.clock.now + 30 * H)
    assert [(e.task, e.step) for e in fired.escalated] == [(task.id, 1), (task.id, 2)]
    steps = [e.payload["step"] for e in store.audit_events(run.id) if e.kind == "task.escalated"]
    assert steps == [1, 2]
    assert store.get_task(task.id).next_escalation is None
    assert engine.fire_due(engine.clock.now + 40 * H).escalated == []


def test_the_escalated_user_may_decide_only_after_the_step_fired(engine, store):
    run, task = start(engine)
    opened = engine.clock.now
    with pytest.raises(DecisionRefused, match=r"cfo@example.com may not decide task `\w+` yet; "
                       r"it is for role finance until it escalates to user cfo@example.com at"):
        engine.decide(task.id, action="approve", by="cfo@example.com")
    with pytest.raises(DecisionRefused, match="yet; it is for role finance until it escalates "
                       "to role lead"):
        engine.decide(task.id, action="approve", by="li", roles=("lead",))
    engine.fire_due(opened + 8 * H)  # the lead's step, not yet the CFO's
    with pytest.raises(DecisionRefused, match=r"may not decide task .* yet"):
        engine.decide(task.id, action="approve", by="cfo@example.com")
    with pytest.raises(DecisionRefused, match="may not decide"):
        engine.decide(task.id, action="approve", by="mallory", roles=("intern",))
    assert store.get_task(task.id).status == "pending"
    engine.fire_due(opened + 24 * H)
    run = engine.decide(task.id, action="approve", by="cfo@example.com")
    assert run.status == "succeeded"
    assert run.outputs == {"decision": "approved", "by": "cfo@example.com"}
    assert kinds(store, run.id) == ["run.started", "gate.opened", "task.escalated",
                                    "task.escalated", "task.decided", "run.succeeded"]
    assert store.verify_audit(run.id).ok


def test_the_original_assignees_keep_the_right_to_decide(engine, store):
    run, task = start(engine)
    engine.fire_due(engine.clock.now + 25 * H)
    run = engine.decide(task.id, action="reject", by="fatima", roles=("finance",), reason="no")
    assert run.outputs == {"decision": "rejected", "by": "fatima"}


def test_an_escalated_role_may_decide(engine, store):
    run, task = start(engine)
    engine.fire_due(engine.clock.now + 8 * H)
    run = engine.decide(task.id, action="approve", by="li", roles=("lead",))
    assert run.status == "succeeded" and run.outputs["by"] == "li"
    # the inbox of a lead now holds the task (it stays there until decided)
    _, task2 = start(engine)
    assert [t.id for t in store.list_tasks(for_user="li", roles=("lead",))] == []
    engine.fire_due(engine.clock.now + 8 * H)
    assert [t.id for t in store.list_tasks(for_user="li", roles=("lead",))] == [task2.id]


def test_a_decided_task_never_escalates(engine, store):
    run, task = start(engine)
    engine.clock.now += 2 * H
    engine.decide(task.id, action="approve", by="fatima", roles=("finance",))
    fired = engine.fire_due(engine.clock.now + 100 * H)
    assert fired.escalated == [] and fired.timed_out == []
    assert store.get_task(task.id).escalated == 0
    assert "task.escalated" not in kinds(store, run.id)
    assert store.verify_audit(run.id).ok


def test_a_task_past_its_deadline_times_out_without_escalating(engine, store):
    run, task = start(engine)
    fired = engine.fire_due(engine.clock.now + 49 * H)  # the worker was down all along
    assert fired.timed_out == [task.id] and fired.escalated == []
    assert store.get_task(task.id).escalated == 0
    assert store.get_run(run.id).outputs == {"decision": "rejected", "by": ""}
    assert "task.escalated" not in kinds(store, run.id)


def test_the_timeout_still_ends_an_escalated_gate_with_its_outcome(engine, store):
    run, task = start(engine, gate_flow(timeout="48h -> approve"))
    opened = engine.clock.now
    assert len(engine.fire_due(opened + 24 * H).escalated) == 2
    fired = engine.fire_due(opened + 48 * H)
    assert fired.timed_out == [task.id] and fired.escalated == []
    run = store.get_run(run.id)
    assert run.status == "succeeded" and run.outputs["decision"] == "approved"
    assert kinds(store, run.id) == ["run.started", "gate.opened", "task.escalated",
                                    "task.escalated", "task.timed_out", "run.succeeded"]
    assert store.verify_audit(run.id).ok
    with pytest.raises(DecisionRefused, match="already timed_out"):
        engine.decide(task.id, action="approve", by="cfo@example.com")


def test_a_cancelled_task_never_escalates(engine, store):
    _, task = start(engine)
    store.cancel_task(task.id)
    assert engine.fire_due(engine.clock.now + 30 * H).escalated == []


def test_targets_are_evaluated_when_the_gate_opens(engine, store):
    text = gate_flow('[8h -> user(boss), 24h -> [role("board"), user("{boss}-deputy")]]')
    _, task = start(engine, text, boss="ceo@example.com")
    assert [s["to"] for s in task.escalations] == [
        [{"kind": "user", "name": "ceo@example.com"}],
        [{"kind": "role", "name": "board"}, {"kind": "user", "name": "ceo@example.com-deputy"}]]


def test_a_target_that_is_no_name_fails_the_gate_with_a_message(engine, store):
    run = engine.start(plan_of(gate_flow("8h -> user(boss)")), {"amount": 1.0, "boss": ""})
    assert run.status == "failed"
    assert 'escalation step 1 names "", not a role or user name' in run.error
    assert store.list_tasks(run_id=run.id, status=None) == []


def test_gates_in_a_loop_escalate_each_item(engine, store):
    text = '''flow l version "1.0.0"
input clients: list<str>
node reviews = for each c in clients {
  await human(to: role("lead"), show: [c], timeout: 4h -> approve, escalate: 1h -> role("ops"))
}
output n: int = len(reviews)
'''
    run = engine.start(plan_of(text), {"clients": ["a", "b"]})
    tasks = sorted(store.list_tasks(run_id=run.id), key=lambda t: t.item)
    fired = engine.fire_due(engine.clock.now + H)
    assert sorted((e.task, e.item) for e in fired.escalated) == sorted((t.id, t.item) for t in tasks)
    engine.decide(tasks[0].id, action="approve", by="o", roles=("ops",))
    run = engine.decide(tasks[1].id, action="approve", by="o", roles=("ops",))
    assert run.status == "succeeded" and run.outputs == {"n": 2}
    assert store.verify_audit(run.id).ok


# ---------------------------------------------------------------------------------- store


def test_the_store_refuses_steps_out_of_order_and_checks_its_arguments(store):
    store.put_plan("p" * 64, "{}")
    run = store.create_run("f", "p" * 64)
    lead = [{"kind": "role", "name": "lead"}]
    with pytest.raises(ValueError, match="one after the other"):
        store.create_task(run.id, "g", escalations=[{"at": 20.0, "to": lead},
                                                    {"at": 10.0, "to": lead}])
    with pytest.raises(ValueError, match="must add someone"):
        store.create_task(run.id, "g", escalations=[{"at": 20.0, "to": []}])
    with pytest.raises(ValueError, match="assignee"):
        store.create_task(run.id, "g", escalations=[{"at": 20.0, "to": ["lead"]}])
    task = store.create_task(run.id, "g", assignees=lead, escalations=[
        {"at": 10.0, "after": 5.0, "to": [{"kind": "user", "name": "a"}]},
        {"at": 20.0, "after": 15.0, "to": [{"kind": "user", "name": "b"}]}])
    assert store.due_escalations(9.0) == []
    assert [t.id for t in store.due_escalations(10.0)] == [task.id]
    with pytest.raises(ValueError, match="not a step 3"):
        store.escalate_task(task.id, 3)
    with pytest.raises(NotFound):
        store.escalate_task("nope", 1)
    assert store.escalate_task(task.id, 2) is None  # step 1 has not fired
    done = store.escalate_task(task.id, 1, at=11.0)
    assert done.escalated == 1 and done.next_escalation == 20.0
    assert done.fired_escalations == ({"after": 5.0, "at": 10.0, "fired_at": 11.0,
                                       "to": [{"kind": "user", "name": "a"}]},)
    assert store.escalate_task(task.id, 1) is None  # once
    assert store.decide_task(task.id, {"outcome": "approved"}, "a")
    assert store.escalate_task(task.id, 2) is None  # decided: never again
    assert store.due_escalations(100.0) == []


# -------------------------------------------------------------------------- old store files


def test_a_store_file_from_before_escalation_opens_and_migrates(tmp_path, monkeypatch):
    path = str(tmp_path / "old.db")
    # a store written by the flowc before this step: its schema, a paused run, a pending task
    monkeypatch.setattr(store_mod.schema, "MIGRATIONS", MIGRATIONS[:3])
    old = SQLiteStore(path)
    assert old.schema_version() == 3
    old.close()
    monkeypatch.undo()
    db = sqlite3.connect(path, isolation_level=None)
    cols = [r[1] for r in db.execute("PRAGMA table_info(tasks)")]
    assert "escalations_json" not in cols
    db.execute("INSERT INTO plans VALUES (?, '{}', 0)", ("p" * 64,))
    db.execute("INSERT INTO runs (id, flow_name, plan_hash, status, created_at, updated_at)"
               " VALUES ('r1', 'f', ?, 'paused', 0, 0)", ("p" * 64,))
    db.execute("INSERT INTO tasks (id, run_id, node_id, item, kind, status, assignees_json,"
               " title, deadline, timeout_outcome, created_at) VALUES ('t1', 'r1', 'g', -1,"
               " 'gate', 'pending', '[{\"kind\": \"role\", \"name\": \"lead\"}]', 'Review', 50,"
               " 'reject', 0)")
    db.execute("INSERT INTO task_assignees VALUES ('t1', 'role', 'lead')")
    db.close()

    s = SQLiteStore(path)
    try:
        assert s.schema_version() == len(MIGRATIONS)
        task = s.get_task("t1")
        assert task.escalations == () and task.escalated == 0 and task.next_escalation is None
        assert task.assignees == ({"kind": "role", "name": "lead"},)
        assert s.due_escalations(1e12) == []
        assert [t.id for t in s.due_tasks(60)] == ["t1"]
        assert [t.id for t in s.list_tasks(for_user="x", roles=["lead"])] == ["t1"]
        # new tasks in the migrated file escalate
        new = s.create_task("r1", "h", escalations=[
            {"at": 10.0, "to": [{"kind": "role", "name": "ops"}]}])
        assert [t.id for t in s.due_escalations(10.0)] == [new.id]
        assert s.escalate_task(new.id, 1).escalated == 1
        assert s.decide_task("t1", {"outcome": "approved"}, "x")
    finally:
        s.close()
    with SQLiteStore(path) as again:  # opening again applies nothing
        assert again.schema_version() == len(MIGRATIONS)


# ------------------------------------------------------------------------------------ CLI


def flowc(*args, input=None):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    env.pop("FLOWC_STORE", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=env, input=input, timeout=120)


def test_worker_inbox_show_and_resume_through_the_cli(tmp_path):
    db = tmp_path / "runs.db"
    # the gate opened 9 hours ago (the engine's clock says so): its 8h step is due, its 24h
    # step is not; the worker runs on the real clock
    opened = time.time() - 9 * H
    store = SQLiteStore(str(db))
    engine = Engine(store, clock=Clock(opened), workspace=str(tmp_path / "ws"))
    run = engine.start(plan_of(FLOW), {"amount": 500.0})
    (task,) = store.list_tasks(run_id=run.id)
    engine.close()
    store.close()

    r = flowc("resume", task.id, "--approve", "--as", "li", "--store", db)
    assert r.returncode == 1 and "may not decide" in r.stderr
    r = flowc("show", task.id, "--store", db)
    assert r.returncode == 0, r.stderr
    assert "  for: role finance\n" in r.stdout
    assert "  escalates to role lead at " in r.stdout and "(step 1, 8h after it opened)" in r.stdout
    assert "  escalates to user cfo@example.com at " in r.stdout

    r = flowc("worker", "--once", "--store", db)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"escalated: task {task.id} (step 1) to role lead"]
    assert flowc("worker", "--once", "--store", db).stdout == ""  # once

    r = flowc("inbox", "--store", db)
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{task.id}  gate  for role finance, role lead")
    fired_at = time.strftime("%Y-%m-%d", time.gmtime(time.time()))
    assert lines[1].strip().startswith(f"escalated to role lead at {fired_at}")
    assert lines[1].endswith("(step 1, 8h after it opened)")
    (entry,) = json.loads(flowc("inbox", "--json", "--store", db).stdout)
    assert entry["escalated"] is True
    assert entry["for"] == [{"kind": "role", "name": "finance"}, {"kind": "role", "name": "lead"}]
    assert entry["next_escalation"] == pytest.approx(opened + 24 * H)
    assert [(e["step"], e["to"], e["fired_at"] is not None) for e in entry["escalations"]] == [
        (1, [{"kind": "role", "name": "lead"}], True),
        (2, [{"kind": "user", "name": "cfo@example.com"}], False)]

    r = flowc("show", task.id, "--store", db)
    assert "  for: role finance, role lead\n" in r.stdout
    assert f"  escalated to role lead at {fired_at}" in r.stdout
    assert "  escalates to user cfo@example.com at " in r.stdout

    r = flowc("resume", task.id, "--approve", "--as", "cfo@example.com", "--store", db)
    assert r.returncode == 1 and "yet" in r.stderr and "escalates to user cfo@example.com" in \
        r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert flowc("people", "li", "lead", "--store", db).returncode == 0
    r = flowc("resume", task.id, "--approve", "--as", "li", "--store", db)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr
    r = flowc("show", task.id, "--store", db)  # a decided task still says it was escalated
    assert f"  escalated to role lead at {fired_at}" in r.stdout
    assert "escalates to" not in r.stdout and "decided by li" in r.stdout

    r = flowc("audit", run.id, "--verify", "--store", db)
    assert r.returncode == 0 and "intact" in r.stdout
    events = json.loads(flowc("audit", run.id, "--format", "json", "--store", db).stdout)
    assert [e["kind"] for e in events if e["kind"] != "node.result"] == [
        "run.started", "gate.opened", "task.escalated", "task.decided", "run.succeeded"]
