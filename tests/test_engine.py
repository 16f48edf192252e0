"""The engine: plans executed against a real SQLite store, gates that pause and resume."""

from __future__ import annotations

import threading

import pytest
from flowc_testkit import ROOT, open_again, plan_of, raw_sql

from flowc.compiler.api import compile_source
from flowc.runtime.engine import DecisionRefused, Engine, RunRefused


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def engine(store, pool):
    return Engine(store, sandbox=pool, clock=Clock())


GATE = '''flow g version "1.0.0"
input amount: float
node review = await human(
  to: role("lead"),
  show: [amount],
  edit: { amount: float = amount },
  actions: [approve, edit, reject],
  timeout: 24h -> reject,
  when: amount > 100.0,
)
node pay: float = code python(x: review.amount) """
result = x * 2
"""
  effect external
match review { approved | edited -> pay  rejected -> stop }
output paid: float? = pay
output decision: str = review.outcome
'''


def test_gate_pauses_and_an_edit_resumes(engine, store):
    run = engine.start(plan_of(GATE), {"amount": 250.0})
    assert run.status == "paused"
    (task,) = store.list_tasks(run_id=run.id)
    assert task.show == [250.0] and task.form["values"] == {"amount": 250.0}
    run = engine.decide(task.id, action="edit", by="ana", roles=("lead",),
                        values={"amount": 120.0}, reason="cap")
    assert run.status == "succeeded"
    assert run.outputs == {"paid": 240.0, "decision": "edited"}
    assert store.verify_audit(run.id).ok
    events = [e for e in store.audit_events(run.id) if e.kind != "node.result"]
    assert [e.kind for e in events] == ["run.started", "gate.opened", "task.decided",
                                        "run.succeeded"]
    decided = events[2]
    assert decided.actor == "ana" and decided.payload["form_before"] == {"amount": 250.0}
    assert decided.payload["decision"]["values"] == {"amount": 120.0}
    assert decided.payload["plan_hash"] == store.get_run(run.id).plan_hash


def test_gate_passes_when_its_condition_is_false_and_that_is_recorded(engine, store):
    run = engine.start(plan_of(GATE), {"amount": 50.0})
    assert run.status == "succeeded" and run.outputs == {"paid": 100.0, "decision": "approved"}
    assert "gate.passed" in [e.kind for e in store.audit_events(run.id)]
    assert store.list_tasks(run_id=run.id) == []


def test_reject_stops_without_the_effect(engine, store):
    run = engine.start(plan_of(GATE), {"amount": 500.0})
    (task,) = store.list_tasks(run_id=run.id)
    run = engine.decide(task.id, action="reject", by="bo", roles=("lead",), reason="no")
    assert run.status == "succeeded" and run.outputs["paid"] is None
    statuses = {r.node_id: r.status for r in store.node_results(run.id)}
    assert statuses.get("pay") in (None, "skipped")


def test_refusals_change_nothing(engine, store):
    run = engine.start(plan_of(GATE), {"amount": 500.0})
    (task,) = store.list_tasks(run_id=run.id)
    with pytest.raises(DecisionRefused, match="may not decide"):
        engine.decide(task.id, action="approve", by="mallory", roles=("intern",))
    with pytest.raises(DecisionRefused, match="`amount` should be number"):
        engine.decide(task.id, action="edit", by="ana", roles=("lead",), values={"amount": "x"})
    with pytest.raises(DecisionRefused, match="no field `amont`"):
        engine.decide(task.id, action="edit", by="ana", roles=("lead",), values={"amont": 1.0})
    assert store.get_task(task.id).status == "pending"
    engine.decide(task.id, action="approve", by="ana", roles=("lead",))
    with pytest.raises(DecisionRefused, match="already decided"):
        engine.decide(task.id, action="reject", by="bo", roles=("lead",))
    assert store.get_run(run.id).outputs["decision"] == "approved"


def test_concurrent_decisions_exactly_one_wins(store, pool, tmp_path):
    engine = Engine(store, sandbox=pool)
    run = engine.start(plan_of(GATE), {"amount": 500.0})
    (task,) = store.list_tasks(run_id=run.id)
    wins, refusals = [], []

    def decide(action, who):
        try:
            Engine(open_again(store), sandbox=pool).decide(
                task.id, action=action, by=who, roles=("lead",))
            wins.append(who)
        except DecisionRefused:
            refusals.append(who)

    threads = [threading.Thread(target=decide, args=("approve" if i % 2 else "reject", f"u{i}"))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(refusals) == 5
    assert store.get_task(task.id).decided_by == wins[0]


def test_timeout_fires_the_declared_outcome(engine, store):
    run = engine.start(plan_of(GATE), {"amount": 500.0})
    assert engine.fire_timeouts() == []
    engine.clock.now += 24 * 3600 + 1
    (fired,) = engine.fire_timeouts()
    assert store.get_task(fired).status == "timed_out"
    run = store.get_run(run.id)
    assert run.status == "succeeded" and run.outputs["decision"] == "rejected"


ASK = '''flow a version "1.0.0"
enum Office { shanghai, london }
record Request { text: str, office: Office? }
input request: Request
node office: Office = ask human(
  to: user("requester"),
  question: "Which office are you in?",
  timeout: 24h -> london,
)
  when request.office == null
output where: Office = request.office ?? office
'''


def test_ask_human_fills_the_missing_field(engine, store):
    run = engine.start(plan_of(ASK), {"request": {"text": "refund?", "office": None}})
    (task,) = store.list_tasks(run_id=run.id)
    assert task.kind == "ask" and task.title == "Which office are you in?"
    with pytest.raises(DecisionRefused, match="one of shanghai, london"):
        engine.decide(task.id, action="answer", by="requester", answer="paris")
    run = engine.decide(task.id, action="answer", by="requester", answer="shanghai")
    assert run.status == "succeeded" and run.outputs == {"where": "shanghai"}
    run = engine.start(plan_of(ASK), {"request": {"text": "x", "office": "london"}})
    assert run.status == "succeeded" and run.outputs == {"where": "london"}
    run = engine.start(plan_of(ASK), {"request": {"text": "x", "office": None}})
    engine.clock.now += 2 * 24 * 3600
    engine.fire_timeouts()
    assert store.get_run(run.id).outputs == {"where": "london"}


LOOP = '''flow l version "1.0.0"
input clients: list<str>
node reviews: list<str> = for each c in clients concurrency 2 {
  await human(to: role("lead"), edit: { note: str = c }, actions: [approve, edit], timeout: 1h -> approve)
}
node notes: list<str> = code python(rs: reviews) """
result = [r["note"] for r in rs]
"""
output all: list<str> = notes
'''


def test_gates_inside_a_loop_each_pause_and_resume(engine, store):
    plan = plan_of(LOOP.replace("node reviews: list<str>", "node reviews"))
    run = engine.start(plan, {"clients": ["a", "b", "c"]})
    tasks = sorted(store.list_tasks(run_id=run.id), key=lambda t: t.item)
    assert run.status == "paused" and [t.item for t in tasks] == [0, 1, 2]
    engine.decide(tasks[1].id, action="edit", by="x", roles=("lead",), values={"note": "B!"})
    assert store.get_run(run.id).status == "paused"
    engine.decide(tasks[0].id, action="approve", by="x", roles=("lead",))
    run = engine.decide(tasks[2].id, action="approve", by="x", roles=("lead",))
    assert run.status == "succeeded" and run.outputs == {"all": ["a", "B!", "c"]}


def test_match_on_an_enum_routes_and_joins(engine):
    text = '''flow m version "1.0.0"
enum Kind { refund, other }
input kind: Kind
node refund: str = code python() """
result = "refund path"
"""
node general: str = code python() """
result = "general path"
"""
match kind { refund -> refund  else -> general }
output answer: str? = refund ?? general
'''
    assert engine.start(plan_of(text), {"kind": "refund"}).outputs == {"answer": "refund path"}
    assert engine.start(plan_of(text), {"kind": "other"}).outputs == {"answer": "general path"}


def test_a_value_that_does_not_fit_fails_the_node_naming_the_field(engine, store):
    text = '''flow v version "1.0.0"
record R { total: float, label: str }
node r: R = code python() """
result = {"total": "lots", "label": "x"}
"""
output o: R = r
'''
    run = engine.start(plan_of(text), {})
    assert run.status == "failed"
    assert "`r.total` should be number" in run.error


def test_unknown_models_and_bad_inputs_are_refused_before_the_run(engine, store, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # no flowc.toml here or above: no model is configured
    text = 'flow u version "1.0.0"\ninput t: str\nnode a = llm { prompt "{t}" }\noutput o: str = a.text\n'
    with pytest.raises(RunRefused, match=r"node `a` \(line 3\): unknown model `default`"):
        engine.start(plan_of(text), {"t": "x"})
    with pytest.raises(RunRefused, match="input `amount` is required"):
        engine.start(plan_of(GATE), {})
    with pytest.raises(RunRefused, match="`amount` should be number"):
        engine.start(plan_of(GATE), {"amount": "ten"})
    assert store.list_runs() == []


def test_a_fresh_engine_continues_a_paused_run(store, pool, tmp_path):
    run = Engine(store, sandbox=pool).start(plan_of(GATE), {"amount": 500.0})
    (task,) = store.list_tasks(run_id=run.id)
    other = open_again(store)  # another process, days later
    run = Engine(other, sandbox=pool).decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "succeeded" and run.outputs["paid"] == 1000.0


def test_flow_calls_run_as_child_runs(engine, store, tmp_path):
    (tmp_path / "child.flow").write_text('''flow child version "1.0.0"
input x: int
node review = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
node double: int = code python(v: x) """
result = v * 2
"""
  after review.approved
output y: int? = double
''')
    parent = '''flow parent version "1.0.0"
use flow "child.flow" as child
node c = flow child(x: 21)
output y: int? = c.y
'''
    result = compile_source(parent, str(tmp_path / "parent.flow"), base_dir=tmp_path)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    run = engine.start(result.plan, {})
    assert run.status == "paused"
    (task,) = store.list_tasks()
    assert task.run_id != run.id  # the gate belongs to the child run
    engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert store.get_run(run.id).outputs == {"y": 42}


def test_an_effect_is_not_repeated_after_a_crash(store, pool, tmp_path):
    import http.server

    hits: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            key = self.headers.get("Idempotency-Key", "")
            hits[key] = hits.get(key, 0) + 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{srv.server_address[1]}"
    text = f'''flow e version "1.0.0"
policy approval: off
node send: int = code python() """
import flowc_http
r = await flowc_http.post("http://{host}/send", body="hi", headers={{"Idempotency-Key": idempotency_key}})
result = r["status"]
"""
  effect external
  hosts ["{host}"]
output status: int = send
'''
    engine = Engine(store, sandbox=pool)
    run = engine.start(plan_of(text), {})
    assert run.status == "succeeded" and run.outputs == {"status": 200}
    assert list(hits.values()) == [1]
    # a crash after the effect but before its node result was committed
    raw_sql(store, "DELETE FROM node_executions WHERE run_id = ?", (run.id,))
    raw_sql(store, "UPDATE runs SET status = 'running', outputs_json = NULL WHERE id = ?",
            (run.id,))
    run = Engine(open_again(store), sandbox=pool).advance(run.id)
    assert run.status == "succeeded" and run.outputs == {"status": 200}
    assert list(hits.values()) == [1]  # the receiver saw the key once
    srv.shutdown()


def _overlapping(spans: list[dict]) -> int:
    """The most intervals [start, end] (taken inside the sandboxes) open at one moment."""
    events = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans],
                    key=lambda e: (e[0], e[1]))
    most = open_ = 0
    for _, step in events:
        open_ += step
        most = max(most, open_)
    return most


# each execution records when it ran, by the clock inside its sandbox; run one after the
# other, the intervals could never overlap
_TIMED = '''code python(v: {arg}) """
import time
start = time.time()
time.sleep(0.4)
result = {{"v": v * v, "start": start, "end": time.time()}}
"""'''


def test_for_each_items_run_concurrently_and_retries_retry(engine, store):
    text = f'''flow c version "1.0.0"
record Timed {{ v: int, start: float, end: float }}
input xs: list<int>
node ys: list<Timed> = for each x in xs concurrency 3 {{
  {_TIMED.format(arg="x")}
}}
output out: list<Timed> = ys
'''
    run = engine.start(plan_of(text), {"xs": [1, 2, 3]})
    assert run.status == "succeeded", run.error
    spans = run.outputs["out"]
    assert [s["v"] for s in spans] == [1, 4, 9]
    # concurrency shown by overlap, not by a wall-clock bound (the machine may be busy)
    assert _overlapping(spans) >= 2, spans
    flaky = '''flow f version "1.0.0"
node n: int = code python() """
raise RuntimeError("always")
"""
  retry 2
output o: int = n
'''
    run = engine.start(plan_of(flaky), {})
    assert run.status == "failed" and "after 3 attempts" in run.error


def test_a_for_each_of_concurrency_1_runs_its_items_one_by_one(engine):
    # the same measure shows no overlap when the items must not run together
    text = f'''flow c1 version "1.0.0"
record Timed {{ v: int, start: float, end: float }}
input xs: list<int>
node ys: list<Timed> = for each x in xs concurrency 1 {{
  {_TIMED.format(arg="x")}
}}
output out: list<Timed> = ys
'''
    run = engine.start(plan_of(text), {"xs": [1, 2]})
    assert run.status == "succeeded", run.error
    assert _overlapping(run.outputs["out"]) == 1


def test_independent_branches_run_side_by_side(engine):
    text = f'''flow b version "1.0.0"
record Timed {{ v: int, start: float, end: float }}
node a: Timed = {_TIMED.format(arg="1")}
node b: Timed = {_TIMED.format(arg="2")}
node c: Timed = {_TIMED.format(arg="3")}
output spans: list<Timed> = [a, b, c]
'''
    run = engine.start(plan_of(text), {})
    assert run.status == "succeeded", run.error
    spans = run.outputs["spans"]
    assert [s["v"] for s in spans] == [1, 4, 9]
    assert _overlapping(spans) >= 2, spans  # overlap, not elapsed time


def test_files_move_between_nodes_through_the_workspace(store, pool, tmp_path):
    engine = Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"))
    text = '''flow files version "1.0.0"
deliverable Table {
  files { table: file<csv> }
  fields { rows: int }
}
node make: Table = code python() """
open("table.csv", "w").write("a,b\\n1,2\\n3,4\\n")
result = {"rows": 2}
"""
node count: int = code python(t: make.table) """
result = sum(1 for _ in open(t["path"])) - 1
"""
output rows: int = count
output made: int = make.rows
'''
    run = engine.start(plan_of(text), {})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"rows": 2, "made": 2}
    table = store.node_results(run.id)
    made = next(r for r in table if r.node_id == "make").output["table"]
    assert made["path"].startswith("file://") and len(made["sha256"]) == 64
    assert (tmp_path / "ws" / run.id / "make" / "table.csv").read_text() == "a,b\n1,2\n3,4\n"


COMMANDS = '''flow c version "1.0.0"
policy approval: off
use skill csv_report @ 1.0.0
input name: str
input sheet: file<csv>
node hello = command `echo hello {name} | wc -w`
node bins = command `ls /bin`
node stats = command `report --input {sheet} --format json | jq -c ".[1]"`
node nested = command `echo "$(cat {sheet} | grep emea | wc -l) emea rows"`
node body = command `cat {sheet} | tail -n +2 | head -n 2`
output words: str = hello.stdout
output rows: str = body.stdout
output bins_out: str = bins.stdout
output second: str = stats.stdout
output emea: str = nested.stdout
'''


def test_command_nodes_run_a_posix_style_workspace(engine, tmp_path):
    sheet = tmp_path / "turnsheet.csv"
    sheet.write_text("region,revenue\nemea,10\napac,5\nemea,7\n")
    import hashlib

    value = {"path": sheet.as_uri(), "name": "turnsheet.csv",
             "sha256": hashlib.sha256(sheet.read_bytes()).hexdigest(), "size": 40}
    run = engine.start(plan_of(COMMANDS), {"name": "a; rm -rf / | x", "sheet": value})
    assert run.status == "succeeded", run.error
    out = run.outputs
    assert out["words"].strip() == "7"  # the value is one quoted word: no `;`, no pipe
    assert {"report", "cat", "grep", "jq", "wc"} <= set(out["bins_out"].split())
    assert '"column":"revenue"' in out["second"] and '"sum":22' in out["second"]
    assert out["emea"].strip() == "2 emea rows"
    assert out["rows"] == "emea,10\napac,5\n"  # `tail -n +2`: from the second line on


def test_failing_and_unknown_commands_fail_the_node(engine):
    text = 'flow f version "1.0.0"\nnode x = command `nosuch --flag`\noutput o: str = x.stdout\n'
    run = engine.start(plan_of(text), {})
    assert run.status == "failed"
    assert "exited with status 127" in run.error and "command not found" in run.error


def test_a_skill_whose_content_changed_is_refused(store, pool, tmp_path):
    import shutil

    skills = tmp_path / "skills"
    shutil.copytree(ROOT / "stdlib_skills" / "csv-report" / "1.0.0", skills / "csv-report")
    flow = tmp_path / "f.flow"
    flow.write_text('flow f version "1.0.0"\nuse skill csv_report @ 1.0.0\n'
                    'node x = command `ls /bin`\noutput o: str = x.stdout\n')
    from flowc.compiler.api import compile_file

    plan = compile_file(flow).plan
    assert plan.skills[0].location == "skills/csv-report"
    engine = Engine(store, sandbox=pool, base_dir=str(tmp_path))
    assert engine.start(plan, {}).status == "succeeded"
    (skills / "csv-report" / "SKILL.md").write_text("tampered")
    run = engine.start(plan, {})
    assert run.status == "failed" and "does not match the plan" in run.error


def test_the_seed_composition_of_two_skills(engine, tmp_path):
    sheet = tmp_path / "turnsheet.csv"
    sheet.write_text("region,revenue\nemea,10\napac,5\nemea,7\n")
    import hashlib

    value = {"path": sheet.as_uri(), "name": "turnsheet.csv",
             "sha256": hashlib.sha256(sheet.read_bytes()).hexdigest(), "size": 40}
    text = '''flow seed version "1.0.0"
use skill csv_report @ 1.0.0
use skill summary @ ^1.0
input sheet: file<csv>
node s = command `summary --query "$(report --input {sheet} --format markdown)" --sentences 2`
output out: str = s.stdout
'''
    run = engine.start(plan_of(text), {"sheet": value})
    assert run.status == "succeeded", run.error
    assert "revenue" in run.outputs["out"]


def test_skill_inputs_left_out_take_their_declared_defaults(engine, tmp_path):
    sheet = tmp_path / "t.csv"
    sheet.write_text("region,revenue\nemea,10\n")
    import hashlib

    value = {"path": sheet.as_uri(), "name": "t.csv",
             "sha256": hashlib.sha256(sheet.read_bytes()).hexdigest(), "size": 24}
    text = '''flow d version "1.0.0"
use skill csv_report @ 1.0.0
input sheet: file<csv>
node r = skill csv_report(input: sheet)
output out: str = r.report
'''
    plan = plan_of(text)
    assert any("default" in spec for spec in plan.skills[0].inputs.values())
    run = engine.start(plan, {"sheet": value})
    assert run.status == "succeeded", run.error


def test_project_skills_are_found_when_a_run_resumes_elsewhere(store, pool, tmp_path):
    import shutil

    from flowc.compiler.api import compile_file

    shutil.copytree(ROOT / "stdlib_skills" / "csv-report" / "1.0.0", tmp_path / "skills" / "csv-report")
    flow = tmp_path / "f.flow"
    flow.write_text('''flow f version "1.0.0"
use skill csv_report @ 1.0.0
node review = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
node x = command `ls /bin`
  after review.approved
output o: str? = x.stdout
''')
    plan = compile_file(flow).plan
    run = Engine(store, sandbox=pool, base_dir=str(tmp_path)).start(plan, {})
    (task,) = store.list_tasks(run_id=run.id)
    elsewhere = Engine(store, sandbox=pool, base_dir="/")
    run = elsewhere.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "succeeded", run.error
    assert "report" in run.outputs["o"]


def test_code_may_define_main_in_python_and_javascript(engine):
    text = (ROOT / "docs" / "examples" / "12_code.flow").read_text()
    run = engine.start(plan_of(text), {"amounts": [10.0, 20.0]})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"net": 30, "vat_amount": 6, "text": "Total: 36.00"}


def test_record_defaults_fill_inputs_and_results(engine):
    text = '''flow d version "1.0.0"
record Order { id: str, currency: str = "EUR", lines: list<Line> }
record Line { sku: str, qty: int = 1 }
input order: Order
node label: str = code python(o: order) """
result = f"{o['id']} {o['currency']} " + ",".join(f"{l['sku']}x{l['qty']}" for l in o["lines"])
"""
node back: Order = code python() """
result = {"id": "B", "lines": [{"sku": "z"}]}
"""
output text = label
output currency = back.currency
output qty = back.lines[0].qty
'''
    run = engine.start(plan_of(text), {"order": {"id": "A-1", "lines": [{"sku": "x"},
                                                                        {"sku": "y", "qty": 3}]}})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "A-1 EUR xx1,yx3", "currency": "EUR", "qty": 1}
