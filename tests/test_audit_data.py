"""An audit an auditor can take away (issue 13, finding 9): the trail commits to the data it
is about (every node result, every decision with its values, the run's inputs, outputs and
status, the plan), so `audit verify` finds any edit or deletion of them; `audit export` writes
one file that `audit verify FILE` checks without the store; an anchor outside the store (a
file appended to) shows a chain cut short or rolled back.

Every tamper is raw SQL on a real SQLite file written by the real engine."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from flowc_testkit import plan_of, raw_sql

ROOT = Path(__file__).resolve().parent.parent

FLOW = '''flow audited version "1.0.0"
input amount: float
node check = await human(
  to: role("lead"),
  show: [amount],
  edit: { amount: float = amount },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
  when: amount > 1000000.0,
)
node review = await human(
  to: role("lead"),
  show: [check.amount],
  edit: { amount: float = check.amount },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
node pay: float = code python(x: review.amount) """
result = x * 2
"""
match review { approved | edited -> pay  rejected -> stop }
output paid: float? = pay
output decision: str = review.outcome
'''


def flowc(*args, cwd=None):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    env.pop("FLOWC_STORE", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=300)


def backup(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (what a restore from backup puts back)."""
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    s.backup(d)
    s.close()
    d.close()


def tamper(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    for sql in statements:
        conn.execute(sql)
    conn.close()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, pool):
    """A run of FLOW: a gate that passed by itself, a gate a person edited, a code node,
    outputs; kept as a file to copy."""
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    folder = tmp_path_factory.mktemp("audited")
    db = folder / "runs.db"
    store = SQLiteStore(str(db))
    with Engine(store, sandbox=pool) as engine:
        run = engine.start(plan_of(FLOW), {"amount": 250.0})
        assert run.status == "paused"
        (task,) = store.list_tasks(run_id=run.id)
        backup(db, folder / "paused.db")
        run = engine.decide(task.id, action="edit", by="ana", roles=("lead",),
                            values={"amount": 120.0}, reason="cap")
    assert run.status == "succeeded" and run.outputs == {"paid": 240, "decision": "edited"}
    store.close()
    return {"db": db, "paused": folder / "paused.db", "run": run.id, "task": task.id,
            "plan": run.plan_hash}


@pytest.fixture
def copy(finished, tmp_path):
    db = tmp_path / "runs.db"
    backup(finished["db"], db)
    return db


def verify(db: Path, run_id: str):
    from flowc.runtime.store import SQLiteStore

    s = SQLiteStore(str(db))
    try:
        return s.verify_audit(run_id)
    finally:
        s.close()


def test_an_untouched_run_verifies(copy, finished):
    v = verify(copy, finished["run"])
    assert v.ok, v.problems


# (what, SQL, words the report must hold) -- the report names what was changed
TAMPERS = [
    ("a node's output",
     "UPDATE node_executions SET output_json = '480' WHERE node_id = 'pay'", ["pay", "output"]),
    ("a node's output put in as a blob",
     "UPDATE node_executions SET output_json = CAST('240' AS BLOB) WHERE node_id = 'pay'",
     ["pay", "output"]),
    ("a node's output, a gate's edited values",
     "UPDATE node_executions SET output_json = replace(output_json, '120.0', '999.0')"
     " WHERE node_id = 'review'", ["review", "output"]),
    ("a node's status", "UPDATE node_executions SET status = 'failed', error = 'x', "
     "output_json = NULL WHERE node_id = 'pay'", ["pay"]),
    ("a node's outcome", "UPDATE node_executions SET outcome = 'rejected' WHERE node_id = 'review'",
     ["review", "outcome"]),
    ("a deleted node result", "DELETE FROM node_executions WHERE node_id = 'check'",
     ["check", "deleted"]),
    ("a node result put in", "INSERT INTO node_executions (run_id, node_id, item, status, "
     "attempt, output_json, started_at, finished_at) SELECT id, 'ghost', -1, 'succeeded', 1, "
     "'1', 0, 0 FROM runs", ["ghost"]),
    ("a decision's values", "UPDATE tasks SET decision_json = replace(decision_json, '120.0', "
     "'999.0')", ["task", "decision"]),
    ("who decided", "UPDATE tasks SET decided_by = 'mallory'", ["task", "mallory"]),
    ("a decision removed", "UPDATE tasks SET status = 'pending', decision_json = NULL, "
     "decided_by = NULL, decided_at = NULL", ["task", "pending"]),
    ("a deleted task", "DELETE FROM task_assignees; DELETE FROM tasks", ["task", "deleted"]),
    ("the run's outputs", "UPDATE runs SET outputs_json = replace(outputs_json, '240', '999')",
     ["outputs"]),
    ("the run's inputs", "UPDATE runs SET inputs_json = '{\"amount\":1.0}'", ["inputs"]),
    ("the run's status", "UPDATE runs SET status = 'running'", ["status"]),
    ("the plan", "UPDATE plans SET json = replace(json, 'x * 2', 'x * 3')", ["plan"]),
    # NaN is not JSON: orjson, which writes canonical plans, would write it as null again
    ("the plan, a null made NaN", "UPDATE plans SET json = replace(json, '\"when\":null', "
     "'\"when\":NaN')", ["plan"]),
]


@pytest.mark.parametrize("what,sql,words", TAMPERS, ids=[t[0] for t in TAMPERS])
def test_verify_finds_an_edit_of_stored_data(copy, finished, what, sql, words):
    tamper(copy, *sql.split("; "))
    v = verify(copy, finished["run"])
    assert not v.ok, f"{what}: not detected"
    text = " ".join(v.problems).lower()
    for w in words:
        assert w in text, (what, w, v.problems)


def test_verify_finds_a_run_pointed_at_another_plan(copy, finished):
    other = finished["plan"][::-1]
    tamper(copy, f"INSERT INTO plans (hash, json, created_at) SELECT '{other}', json, 0 FROM"
                 f" plans WHERE hash = '{finished['plan']}'",
           f"UPDATE runs SET plan_hash = '{other}'")
    v = verify(copy, finished["run"])
    assert not v.ok and "plan" in " ".join(v.problems), v.problems


def test_every_node_result_is_in_the_trail_with_its_hash(copy, finished):
    from flowc.runtime.store import SQLiteStore

    s = SQLiteStore(str(copy))
    events = [e for e in s.audit_events(finished["run"]) if e.kind == "node.result"]
    nodes = {(n.node_id, n.item) for n in s.node_results(finished["run"])}
    s.close()
    assert {(e.payload["node"], e.payload["item"]) for e in events} == nodes
    pay = [e for e in events if e.payload["node"] == "pay"][-1]
    import hashlib

    assert pay.payload["output"] == hashlib.sha256(b"240").hexdigest()
    assert pay.payload["status"] == "succeeded"


def test_the_store_keeps_node_result_events_to_itself(store):
    store.put_plan("p" * 64, "{}")
    run = store.create_run("demo", "p" * 64)
    with pytest.raises(ValueError, match=r"node\.result"):
        store.append_audit(run.id, "node.result", "mallory", {"node": "x"})


def test_cli_verify_names_the_problem(copy, finished):
    r = flowc("audit", "verify", finished["run"], "--store", copy)
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout + r.stderr
    tamper(copy, "UPDATE node_executions SET output_json = '480' WHERE node_id = 'pay'")
    r = flowc("audit", "verify", finished["run"], "--store", copy)
    assert r.returncode == 1 and "pay" in r.stdout, r.stdout + r.stderr
    # the older spelling still works
    r = flowc("audit", finished["run"], "--verify", "--store", copy)
    assert r.returncode == 1 and "pay" in r.stdout


# ------------------------------------------------------------------------------ export


def test_export_then_verify_offline_then_tampered(copy, finished, tmp_path):
    out = tmp_path / "audit.json"
    r = flowc("audit", "export", finished["run"], "-o", out, "--store", copy)
    assert r.returncode == 0, r.stdout + r.stderr
    copy.unlink()  # no store at all from here on
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = flowc("audit", "verify", out, cwd=work)
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout + r.stderr
    assert not (work / ".flowc").exists()
    doc = json.loads(out.read_text())
    assert {"run", "plan", "events", "nodes", "tasks", "head"} <= set(doc)

    def tampered(change) -> subprocess.CompletedProcess:
        d = json.loads(out.read_text())
        change(d)
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(d))
        return flowc("audit", "verify", bad, cwd=work)

    def node(d, name):
        return next(n for n in d["nodes"] if n["node_id"] == name)

    cases = [
        (lambda d: node(d, "pay").update(output_json="480"), "pay"),
        (lambda d: d["nodes"].remove(node(d, "check")), "check"),
        (lambda d: d["tasks"][0].update(decided_by="mallory"), "mallory"),
        (lambda d: d["run"].update(outputs_json='{"paid":1,"decision":"edited"}'), "outputs"),
        (lambda d: d["events"].pop(), "event"),
        (lambda d: d["events"][1].update(actor="mallory"), "event 2"),
        (lambda d: d.update(plan=d["plan"].replace("x * 2", "x * 3")), "plan"),
    ]
    for change, word in cases:
        r = tampered(change)
        assert r.returncode == 1 and word in r.stdout, (word, r.stdout, r.stderr)


def test_verify_file_refuses_what_is_not_an_export(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    r = flowc("audit", "verify", bad)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    bad.write_text("not json")
    r = flowc("audit", "verify", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ anchors


def test_an_anchor_shows_a_truncated_chain(store, tmp_path):
    from flowc.runtime.audit import Anchor, verify_run

    store.put_plan("p" * 64, "{}")
    run = store.create_run("demo", "p" * 64)
    for i in range(5):
        store.append_audit(run.id, "note", "ann", {"i": i})
    anchor = Anchor(str(tmp_path / "anchor.jsonl"))
    anchor.record(store, [run.id])
    events = store.audit_events(run.id)
    # cut the last two events and put the head back: the chain is consistent again
    raw_sql(store, "DELETE FROM audit_events WHERE run_id = ? AND seq > 3", (run.id,))
    raw_sql(store, "UPDATE runs SET audit_seq = 3, audit_head = ? WHERE id = ?",
            (events[2].hash, run.id))
    assert store.verify_audit(run.id).ok  # without an anchor, nothing shows
    v = verify_run(store, run.id, anchor=anchor)
    assert not v.ok and any("anchor" in p and "5" in p for p in v.problems), v.problems


def test_an_anchor_on_an_fsspec_url(store):
    from flowc.runtime.audit import Anchor, verify_run

    store.put_plan("p" * 64, "{}")
    run = store.create_run("demo", "p" * 64)
    store.append_audit(run.id, "note", "ann", {})
    anchor = Anchor("memory://flowc-test-anchors/anchor.jsonl")
    anchor.record(store, [run.id])
    store.append_audit(run.id, "note", "ann", {"more": 1})
    anchor.record(store, [run.id])
    assert [h.seq for h in anchor.heads(run.id)] == [1, 2]
    assert verify_run(store, run.id, anchor=anchor).ok


def _flow_dir(tmp_path: Path) -> Path:
    d = tmp_path / "flowdir"
    d.mkdir()
    (d / "audited.flow").write_text(FLOW)
    return d


def test_a_rolled_back_store_is_found_by_its_anchor(tmp_path):
    """The CLI anchors each run's head as it changes (`--anchor`); a store put back from an
    earlier copy is consistent in itself, and only the anchor shows it."""
    d = _flow_dir(tmp_path)
    db, anchor = tmp_path / "runs.db", tmp_path / "anchor.jsonl"
    r = flowc("run", d / "audited.flow", "--input", "amount=250", "--store", db,
              "--anchor", anchor)
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    (task,) = json.loads(flowc("inbox", "--json", "--store", db).stdout)
    backup(db, tmp_path / "old.db")
    assert flowc("people", "ana", "lead", "--store", db).returncode == 0
    r = flowc("resume", task["id"], "--edit", "amount=120", "--as", "ana", "--store", db,
              "--anchor", anchor)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr
    lines = [json.loads(x) for x in anchor.read_text().splitlines()]
    assert {x["run"] for x in lines} == {task["run"]} and len(lines) >= 2
    # put the old store back: the decision and the payment are gone, the trail is consistent
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    backup(tmp_path / "old.db", db)
    r = flowc("audit", "verify", task["run"], "--store", db)
    assert r.returncode == 0, r.stdout  # the store alone cannot tell
    r = flowc("audit", "verify", task["run"], "--store", db, "--anchor", anchor)
    assert r.returncode == 1 and "anchor" in r.stdout and "rolled back" in r.stdout, r.stdout
    # the export of the rolled-back run fails against the anchor too
    out = tmp_path / "audit.json"
    assert flowc("audit", "export", task["run"], "-o", out, "--store", db).returncode == 0
    r = flowc("audit", "verify", out, "--anchor", anchor)
    assert r.returncode == 1 and "anchor" in r.stdout
    # store check with the anchor names the run
    r = flowc("store", "check", "--store", db, "--anchor", anchor)
    assert r.returncode == 1 and task["run"] in r.stdout


def test_the_anchor_can_be_set_in_flowc_toml(tmp_path):
    d = _flow_dir(tmp_path)
    (d / "flowc.toml").write_text('[audit]\nanchor = "heads.jsonl"\n')
    db = tmp_path / "runs.db"
    r = flowc("run", d / "audited.flow", "--input", "amount=250", "--store", db, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    heads = d / "heads.jsonl"  # relative to the flowc.toml that names it
    assert heads.is_file() and json.loads(heads.read_text().splitlines()[-1])["seq"] >= 1
    r = flowc("audit", "verify", json.loads(heads.read_text().splitlines()[-1])["run"],
              "--store", db, cwd=d)
    assert r.returncode == 0 and "anchor" in r.stdout, r.stdout + r.stderr


def test_an_anchor_that_cannot_be_written_is_one_warning(tmp_path):
    d = _flow_dir(tmp_path)
    db = tmp_path / "runs.db"
    r = flowc("run", d / "audited.flow", "--input", "amount=250", "--store", db,
              "--anchor", "nope://nowhere/heads.jsonl")
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "warning" in lines[0] and "nope://nowhere" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_runs_of_every_shape_verify_untouched(store, pool):
    """No false alarm: `for each` items committed side by side, retries, a failed run, and an
    error replay that copies the results it keeps."""
    from flowc.runtime.engine import Engine

    loop = '''flow c version "1.0.0"
input xs: list<int>
node ys: list<int> = for each x in xs concurrency 3 {
  code python(v: x) """
result = v * v
"""
}
node bad: int = code python(n: ys) """
raise RuntimeError("no")
"""
  retry 1
output out: int = bad
'''
    with Engine(store, sandbox=pool) as engine:
        run = engine.start(plan_of(loop), {"xs": [1, 2, 3, 4]})
        assert run.status == "failed"
        again = engine.replay(run.id, "bad")
        assert again.status == "failed"
    for rid in (run.id, again.id):
        v = store.verify_audit(rid)
        assert v.ok, v.problems
        kinds = [e.payload["node"] for e in store.audit_events(rid) if e.kind == "node.result"]
        assert kinds.count("ys") >= 1 and "bad" in kinds
    items = {(n.node_id, n.item) for n in store.node_results(again.id)}
    assert {("ys", i) for i in range(4)} <= items  # the replay kept them, with their events


def test_a_hostile_export_is_a_verdict_or_a_clear_refusal(copy, finished):
    """Every field of an export replaced by values of other kinds: verify answers with
    problems or an ExportError, never another exception."""
    from flowc.runtime.audit import ExportError, export_run, verify_export
    from flowc.runtime.store import SQLiteStore

    s = SQLiteStore(str(copy))
    doc = json.loads(json.dumps(export_run(s, finished["run"])))
    s.close()

    def places(node, path=()):
        yield path
        if isinstance(node, dict):
            for k, v in node.items():
                yield from places(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from places(v, (*path, i))

    def replaced(path, value):
        d = json.loads(json.dumps(doc))
        if not path:
            return value
        at = d
        for k in path[:-1]:
            at = at[k]
        at[path[-1]] = value
        return d

    seen = 0
    for path in list(places(doc)):
        for value in (None, 7, -1, 1.5, True, "x", [], {}, {"node": ["x"], "item": "y"}):
            try:
                v = verify_export(replaced(path, value))
            except ExportError:
                continue
            seen += 1
            assert isinstance(v.ok, bool)
    assert seen > 100
