"""Values people give (issue 13, finding 6): a number that is not finite is refused before
anything commits, through the CLI and the Python API; each input, form field and answer has a
size limit (flowc.toml `[values] max_field_kb`, 1 MiB by default) with a clear message;
`NAME=@FILE` reads any field from a file; and a large value is stored once, however many
records refer to it.

Real CLI processes on real SQLite files; the store's file is read back with plain sqlite3 to
count the copies of a value."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from flowc_testkit import plan_of

from flowc.runtime.engine import DecisionRefused, Engine, RunRefused
from flowc.runtime.store import SQLiteStore, StoreError

GATE = '''flow v version "1.0.0"
record Line { code: str, qty: int }
input amount: float
input notes: str = ""
input line: Line? = null
node review = await human(
  to:      role("lead"),
  show:    [amount, notes],
  edit:    { amount: float = amount, notes: str = notes, line: Line? = line },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
match review {
  approved | edited -> stop
  rejected -> stop
}
output paid: float = review.amount
output said: str = review.notes
'''

ASK = '''flow q version "1.0.0"
node n: float = ask human(to: user("ana"), question: "How much?", timeout: 24h -> fail)
output got: float = n
'''

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e999"]


def flowc(*args, cwd):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    env.pop("FLOWC_STORE", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, errors="backslashreplace", cwd=cwd, env=env, timeout=300)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "v.flow").write_text(GATE)
    (tmp_path / "q.flow").write_text(ASK)
    (tmp_path / "people.json").write_text(json.dumps({"li": ["lead"]}))
    return tmp_path


def one_line_refusal(r, *needles):
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr


def paused_task(project, *inputs):
    r = flowc("run", "v.flow", "--input", "amount=40", *inputs, "--store", "runs.db",
              cwd=project)
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    with SQLiteStore(str(project / "runs.db")) as s:
        (task,) = s.list_tasks()
    return task


def snapshot(db: Path) -> dict:
    """Everything in the store, to show that a refusal changed nothing."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables
                if t != "schema_migrations"}
    finally:
        con.close()


def copies(db: Path, marker: str) -> dict[str, int]:
    """How many times `marker` occurs in each table.column of the store's file."""
    con = sqlite3.connect(db)
    out = {}
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for col in [r[1] for r in con.execute(f"PRAGMA table_info({table})")]:
                n = con.execute(
                    f"SELECT COALESCE(SUM((length(CAST({col} AS TEXT)) - length(replace("
                    f"CAST({col} AS TEXT), ?, ''))) / length(?)), 0) FROM {table}",
                    (marker, marker)).fetchone()[0]
                if n:
                    out[f"{table}.{col}"] = n
    finally:
        con.close()
    return out


# ------------------------------------------------------------------- numbers that are not finite


@pytest.mark.parametrize("text", NOT_FINITE)
def test_run_refuses_an_input_that_is_not_finite_and_starts_nothing(project, text):
    r = flowc("run", "v.flow", "--input", f"amount={text}", "--store", "runs.db", cwd=project)
    one_line_refusal(r, "input `amount`", "not a finite number")
    r = flowc("run", "v.flow", "--input", "amount=1", "--input",
              f'line={{"code": "a", "qty": 1, "extra": {text}}}', "--store", "runs.db",
              cwd=project)
    # JSON spells them NaN, Infinity, -Infinity (1e999 overflows); `nan` is no JSON at all
    json_spelling = text in ("NaN", "Infinity", "1e999", "-1e999")
    one_line_refusal(r, "input `line`", "not a finite number" if json_spelling else "JSON")
    assert flowc("runs", "--store", "runs.db", cwd=project).stdout == "no runs\n"


@pytest.mark.parametrize("text", NOT_FINITE)
def test_an_edit_that_is_not_finite_is_refused_and_nothing_commits(project, text):
    task = paused_task(project)
    before = snapshot(project / "runs.db")
    r = flowc("resume", task.id, "--edit", f"amount={text}", "--as", "li", "--store", "runs.db",
              cwd=project)
    one_line_refusal(r, "field `amount`", "not a finite number")
    r = flowc("resume", task.id, "--edit", f'line={{"code": "a", "qty": {text}}}', "--as", "li",
              "--store", "runs.db", cwd=project)
    one_line_refusal(r, "field `line`")
    assert snapshot(project / "runs.db") == before
    # the task is still open, and a good decision still goes through
    r = flowc("resume", task.id, "--edit", "amount=12.5", "--as", "li", "--store", "runs.db",
              cwd=project)
    assert r.returncode == 0 and '"paid": 12.5' in r.stdout, r.stdout + r.stderr
    assert "intact" in flowc("audit", r.stdout.split()[1].rstrip(":"), "--verify", "--store",
                             "runs.db", cwd=project).stdout


def test_an_answer_that_is_not_finite_is_refused(project):
    r = flowc("run", "q.flow", "--store", "runs.db", cwd=project)
    task_id = r.stdout.split("waiting for task ")[1].split()[0]
    before = snapshot(project / "runs.db")
    for text in NOT_FINITE:
        r = flowc("resume", task_id, f"--answer={text}", "--as", "ana", "--store", "runs.db",
                  cwd=project)
        one_line_refusal(r, "answer", "not a finite number")
    assert snapshot(project / "runs.db") == before


def test_the_python_api_refuses_values_that_are_not_finite(tmp_path):
    store = SQLiteStore(str(tmp_path / "runs.db"))
    engine = Engine(store, workspace=str(tmp_path / "ws"))
    try:
        plan = plan_of(GATE)
        for bad in (float("nan"), float("inf"), -float("inf")):
            with pytest.raises(RunRefused, match=r"input `amount`.*not a finite number"):
                engine.start(plan, {"amount": bad})
        assert store.list_runs() == []
        run = engine.start(plan, {"amount": 1.0})
        (task,) = store.list_tasks(run_id=run.id)
        events = len(store.audit_events(run.id))
        for values in ({"amount": float("nan")}, {"line": {"code": "a", "qty": float("inf")}}):
            with pytest.raises(DecisionRefused, match="not a finite number"):
                engine.decide(task.id, action="edit", by="li", roles=("lead",), values=values)
        assert store.get_task(task.id).status == "pending"
        assert len(store.audit_events(run.id)) == events
        assert store.get_run(run.id).status == "paused"
    finally:
        engine.close()
        store.close()


# ----------------------------------------------------------------------------------- size limits


def test_a_field_over_the_limit_is_refused_with_the_setting_to_change(project):
    (project / "flowc.toml").write_text("[values]\nmax_field_kb = 4\n")
    r = flowc("run", "v.flow", "--input", "amount=1", "--input", f"notes={'n' * 5000}",
              "--store", "runs.db", cwd=project)
    one_line_refusal(r, "input `notes`", "4 KiB", "[values] max_field_kb")
    assert r.returncode == 2
    task = paused_task(project, "--input", f"notes={'n' * 3000}")
    before = snapshot(project / "runs.db")
    r = flowc("resume", task.id, "--edit", f"notes={'e' * 5000}", "--as", "li", "--store",
              "runs.db", cwd=project)
    one_line_refusal(r, "field `notes`", "4 KiB", "[values] max_field_kb")
    rows = json.dumps([{"code": "x" * 50, "qty": i} for i in range(100)])
    r = flowc("resume", task.id, "--edit", f"line={rows}", "--as", "li", "--store", "runs.db",
              cwd=project)
    one_line_refusal(r, "field `line`")
    assert snapshot(project / "runs.db") == before
    r = flowc("resume", task.id, "--edit", f"notes={'e' * 4000}", "--as", "li", "--store",
              "runs.db", cwd=project)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stderr
    # a setting that is not a size is a clear error too
    (project / "flowc.toml").write_text('[values]\nmax_field_kb = "big"\n')
    r = flowc("run", "v.flow", "--input", "amount=1", "--store", "runs.db", cwd=project)
    one_line_refusal(r, "max_field_kb")


def test_the_api_takes_no_ten_megabyte_edit_by_default(tmp_path):
    store = SQLiteStore(str(tmp_path / "runs.db"))
    engine = Engine(store, workspace=str(tmp_path / "ws"), base_dir=str(tmp_path))
    try:
        run = engine.start(plan_of(GATE), {"amount": 1.0})
        (task,) = store.list_tasks(run_id=run.id)
        with pytest.raises(DecisionRefused, match=r"field `notes` is 10\.0 MiB; a field may "
                           r"hold at most 1024 KiB"):
            engine.decide(task.id, action="edit", by="li", roles=("lead",),
                          values={"notes": "x" * 10 * 2**20})
        with pytest.raises(RunRefused, match=r"input `notes` is 2\.0 MiB"):
            engine.start(plan_of(GATE), {"amount": 1.0, "notes": "y" * 2 * 2**20})
        assert store.get_task(task.id).status == "pending"
        assert os.path.getsize(tmp_path / "runs.db") < 2**20
    finally:
        engine.close()
        store.close()
    engine = Engine(SQLiteStore(str(tmp_path / "runs.db")), max_field_bytes=16 * 2**20)
    try:  # the limit is the engine's to set
        run = engine.decide(task.id, action="edit", by="li", roles=("lead",),
                            values={"notes": "x" * 10 * 2**20})
        assert run.status == "succeeded" and len(run.outputs["said"]) == 10 * 2**20
    finally:
        engine.close()
        engine.store.close()


# ----------------------------------------------------------------------------------- @file


def test_any_field_can_be_read_from_a_file(project):
    (project / "notes.txt").write_text("first line\nsecond, with a trailing newline\n")
    (project / "amount.json").write_text(" 12.5\n")
    (project / "line.json").write_text('{"code": "z-1", "qty": 3}\n')
    task = paused_task(project, "--input", "notes=@notes.txt")
    with SQLiteStore(str(project / "runs.db")) as s:
        assert s.get_run(task.run_id).inputs["notes"] == \
            "first line\nsecond, with a trailing newline\n"
    r = flowc("resume", task.id, "--edit", "amount=@amount.json", "--edit", "line=@line.json",
              "--edit", "notes=@@not a file", "--as", "li", "--store", "runs.db", cwd=project)
    assert r.returncode == 0, r.stderr
    outputs = json.loads(r.stdout.split("\n", 1)[1])
    assert outputs == {"paid": 12.5, "said": "@not a file"}
    with SQLiteStore(str(project / "runs.db")) as s:
        decided = s.get_task(task.id).decision["values"]
    assert decided == {"amount": 12.5, "line": {"code": "z-1", "qty": 3},
                       "notes": "@not a file"}


def test_an_answer_can_be_read_from_a_file(project):
    (project / "answer.txt").write_text("42\n")
    r = flowc("run", "q.flow", "--store", "runs.db", cwd=project)
    task_id = r.stdout.split("waiting for task ")[1].split()[0]
    r = flowc("resume", task_id, "--answer", "@answer.txt", "--as", "ana", "--store", "runs.db",
              cwd=project)
    assert r.returncode == 0 and '"got": 42.0' in r.stdout, r.stdout + r.stderr


def test_a_bad_file_is_one_line_and_starts_nothing(project):
    (project / "nan.json").write_text('{"code": "a", "qty": NaN}')
    (project / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (project / "big.txt").write_text("b" * (2**20 + 1))
    os.mkfifo(project / "fifo")
    cases = [
        ("notes=@missing.txt", ["input `notes`", "no file `missing.txt`", "@@"]),
        ("notes=@latin1.txt", ["input `notes`", "latin1.txt", "UTF-8"]),
        ("notes=@big.txt", ["input `notes`", "big.txt", "1024 KiB"]),
        ("notes=@fifo", ["input `notes`", "not a regular file"]),
        ("notes=@.", ["input `notes`", "not a regular file"]),
        ("line=@nan.json", ["input `line`", "not a finite number"]),
        ("amount=@latin1.txt", ["input `amount`", "UTF-8"]),
    ]
    for pair, needles in cases:
        args = ["--input", "amount=1"] if not pair.startswith("amount") else []
        r = flowc("run", "v.flow", *args, "--input", pair, "--store", "runs.db", cwd=project)
        one_line_refusal(r, *needles)
        assert r.returncode == 2
    assert flowc("runs", "--store", "runs.db", cwd=project).stdout == "no runs\n"


# --------------------------------------------------------------------------- stored once


def test_an_edited_value_is_stored_once(project):
    marker = "edit-7f3a9c"
    (project / "big.txt").write_text((marker + "-" + "e" * 90 + "\n") * 3000)  # ~300 KB
    task = paused_task(project)
    r = flowc("resume", task.id, "--edit", "notes=@big.txt", "--as", "li", "--store", "runs.db",
              cwd=project)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stderr
    db = project / "runs.db"
    found = copies(db, marker)
    assert sum(found.values()) == 3000, found   # once: its 3000 lines, in one place
    # every reader still sees the value where it belongs
    text = (project / "big.txt").read_text()
    with SQLiteStore(str(db)) as s:
        assert s.get_task(task.id).decision["values"]["notes"] == text
        assert s.get_run(task.run_id).outputs["said"] == text
        (gate,) = [n for n in s.node_results(task.run_id) if n.node_id == "review"]
        assert gate.output["notes"] == text
        decided = next(e for e in s.audit_events(task.run_id) if e.kind == "task.decided")
        assert decided.payload["decision"]["values"]["notes"] == text
    r = flowc("audit", task.run_id, "--verify", "--store", "runs.db", cwd=project)
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout
    r = flowc("show", task.id, "--store", "runs.db", cwd=project)
    assert r.returncode == 0 and r.stdout.count(marker) == 3000


def test_a_large_input_is_stored_once(project):
    marker = "input-51be0d"
    (project / "big.txt").write_text((marker + "-" + "i" * 90 + "\n") * 2000)  # ~200 KB
    task = paused_task(project, "--input", "notes=@big.txt")
    r = flowc("resume", task.id, "--approve", "--as", "li", "--store", "runs.db", cwd=project)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stderr
    # inputs, the run's start event, what the gate showed and prefilled, its event, the
    # gate's result, the run's outputs and its end event: one copy in all
    found = copies(project / "runs.db", marker)
    assert sum(found.values()) == 2000, found
    with SQLiteStore(str(project / "runs.db")) as s:
        run = s.get_run(task.run_id)
        assert run.inputs["notes"] == run.outputs["said"] == (project / "big.txt").read_text()
        assert s.verify_audit(run.id).ok


def test_a_changed_stored_value_is_detected(project):
    marker = "tamper-0c4e"
    (project / "big.txt").write_text((marker + "-" + "t" * 90 + "\n") * 1000)
    task = paused_task(project, "--input", "notes=@big.txt")
    con = sqlite3.connect(project / "runs.db")
    ((table, col),) = [k.split(".") for k in copies(project / "runs.db", marker)]
    with con:
        con.execute(f"UPDATE {table} SET {col} = replace({col}, ?, ?)", (marker, "tamper-XXXX"))
    con.close()
    with SQLiteStore(str(project / "runs.db")) as s, \
            pytest.raises(StoreError, match=r"stored value .* was changed"):
        s.get_task(task.id)


# ------------------------------------------------------------------------ names of people


def test_a_name_that_is_not_utf8_is_one_line_and_changes_nothing(project):
    """`--as` and `flowc people` take names people type; bytes that are not UTF-8 (which
    Python hands over as lone surrogates) are refused, never an internal error."""
    task = paused_task(project)
    before = snapshot(project / "runs.db")
    bad = os.fsdecode(b"\xff")
    r = flowc("people", bad, "lead", "--store", "runs.db", cwd=project)
    one_line_refusal(r, "USER", "UTF-8")
    r = flowc("people", "li", os.fsdecode(b"lead\xfe"), "--store", "runs.db", cwd=project)
    one_line_refusal(r, "ROLE", "UTF-8")
    assert json.loads((project / "people.json").read_text()) == {"li": ["lead"]}
    r = flowc("resume", task.id, "--approve", "--as", bad, "--store", "runs.db", cwd=project)
    one_line_refusal(r, "--as", "UTF-8")
    r = flowc("cancel", task.run_id, "--as", bad, "--store", "runs.db", cwd=project)
    one_line_refusal(r, "--as", "UTF-8")
    assert snapshot(project / "runs.db") == before
    store = SQLiteStore(str(project / "runs.db"))
    engine = Engine(store, workspace=str(project / "ws"))
    try:
        for who in (bad, "", "   "):
            with pytest.raises(DecisionRefused, match="who decides"):
                engine.decide(task.id, action="approve", by=who, roles=("lead",))
        assert store.get_task(task.id).status == "pending"
    finally:
        engine.close()
        store.close()


# ------------------------------------------------------------------ the store's large values


BIG = "x" * 20_000   # over blobs.BLOB_BYTES


@pytest.mark.parametrize("value", [
    {"notes": BIG, "n": 1},
    [BIG, BIG, {"deep": [BIG + "y"]}],
    {"rows": [{"code": f"c{i}", "qty": i, "w": 1.5e16} for i in range(2000)]},  # many small
    {"big": 2**70, "f": 1e16, "t": BIG},              # an int the fast encoder refuses
    {1: BIG, "k\u00e9y \"q\"": [BIG, None, True]},    # keys as JSON writes them
    BIG,
])
def test_a_stored_value_reads_back_as_written(tmp_path, value):
    from flowc.runtime import store as store_mod

    with SQLiteStore(str(tmp_path / "runs.db")) as s:
        s.put_plan("p" * 64, "{}")
        run = s.create_run("f", "p" * 64, inputs=value)
        s.finish_node(run.id, "n", -1, "succeeded", output=value)
        text = s._read(lambda c: c.execute("SELECT inputs_json FROM runs WHERE id = ?",
                                           (run.id,)).fetchone()[0])
        assert text == store_mod._dump(value)   # what every reader gets: the text as written
        assert s.get_run(run.id).inputs == json.loads(store_mod._dump(value))
        (node,) = s.node_results(run.id)
        assert node.output == s.get_run(run.id).inputs
    con = sqlite3.connect(tmp_path / "runs.db")
    stored = con.execute("SELECT inputs_json FROM runs").fetchone()[0]
    blobs = con.execute("SELECT COUNT(*), COALESCE(SUM(length(json)), 0) FROM blobs").fetchone()
    con.close()
    assert len(stored) < 400   # the run keeps references, the blobs the text, once
    assert blobs[1] < 2 * len(store_mod._dump(value))
