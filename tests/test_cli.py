"""The `flowc` command line, driven as a real subprocess: exit codes, formats, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
CLEAN = CASES / "clean_everything.flow"


def flowc(*args, cwd=None, input=None):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, input=input, timeout=120)


def test_check_clean_exits_0():
    r = flowc("check", CLEAN)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no problems" in r.stdout


def test_check_errors_exit_1_with_location_and_code():
    r = flowc("check", CASES / "types.flow")
    assert r.returncode == 1
    assert "error[F0203]: `client` has no field `nam`" in r.stdout
    assert "--> " in r.stdout and "types.flow:18:" in r.stdout
    assert "^^^" in r.stdout
    assert "help: did you mean `name`?" in r.stdout


def test_check_json_contract():
    r = flowc("check", "--format", "json", CASES / "graph.flow")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert isinstance(data, list) and data
    keys = {"path", "line", "column", "end_line", "end_column", "severity", "code", "message"}
    for d in data:
        assert keys <= set(d)
        assert d["severity"] in ("error", "warning", "info")
        assert d["line"] >= 1 and d["column"] >= 1
    assert {"F0301", "F0302", "F0311"} <= {d["code"] for d in data}


def test_check_sarif():
    r = flowc("check", "--format", "sarif", CASES / "imports.flow")
    doc = json.loads(r.stdout)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    results = run["results"]
    assert results and {res["ruleId"] for res in results} <= rule_ids
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 1 and region["startColumn"] >= 1


def test_check_github_annotations():
    r = flowc("check", "--format", "github", CASES / "policy_warning.flow")
    assert r.returncode == 0  # a warning only
    line = r.stdout.strip().splitlines()[0]
    assert line.startswith("::warning file=")
    assert ",title=F0307::" in line


def test_werror_turns_warnings_into_errors():
    assert flowc("check", "--werror", CASES / "policy_warning.flow").returncode == 1


def test_check_folder_recurses():
    r = flowc("check", "--format", "json", CASES)
    paths = {Path(d["path"]).name for d in json.loads(r.stdout)}
    assert {"types.flow", "graph.flow", "imports.flow"} <= paths


@pytest.mark.parametrize("args", [
    ["check", "does/not/exist.flow"],
    ["check"],
    ["chek", "x"],
    ["check", "--format", "xml", "x.flow"],
    ["compile"],
    ["explain", "F4242"],
    ["graph", CLEAN, "--format", "png"],
])
def test_usage_errors_exit_2_with_one_line(args):
    r = flowc(*args)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("flowc: error:"), r.stderr
    assert "Traceback" not in r.stderr


def test_compile_writes_plan(tmp_path):
    out = tmp_path / "plan.json"
    r = flowc("compile", CLEAN, "-o", out, "--summary")
    assert r.returncode == 0, r.stderr
    plan = json.loads(out.read_text())
    assert plan["format"] == "flowc.plan/1"
    assert [n["id"] for n in plan["nodes"]] == ["office", "facts", "params", "greet", "review",
                                                 "pay"]
    assert "plan clean_everything 2.0.0" in r.stdout
    assert plan["hash"] in r.stdout


def test_compile_refuses_a_flow_with_errors(tmp_path):
    out = tmp_path / "plan.json"
    r = flowc("compile", CASES / "graph.flow", "-o", out)
    assert r.returncode == 1
    assert not out.exists()
    assert "not compiled" in r.stderr


def test_compile_to_a_missing_folder_is_a_usage_error(tmp_path):
    r = flowc("compile", CLEAN, "-o", tmp_path / "nope" / "plan.json")
    assert r.returncode == 2


def test_graph_mermaid_and_dot():
    r = flowc("graph", CLEAN)
    assert r.returncode == 0 and r.stdout.startswith("flowchart TD")
    assert "n_review -.->|approved| n_pay" in r.stdout
    r = flowc("graph", CLEAN, "--format", "dot")
    assert r.returncode == 0 and r.stdout.startswith('digraph "clean_everything"')
    assert '"n_review" -> "n_pay" [label="approved", style=dashed];' in r.stdout


def test_explain():
    r = flowc("explain", "f0307")
    assert r.returncode == 0 and "dominance" in r.stdout


def test_schema_is_published_and_current():
    r = flowc("schema")
    assert r.returncode == 0
    published = json.loads((ROOT / "docs" / "plan.schema.json").read_text())
    assert json.loads(r.stdout) == published, "run `flowc schema > docs/plan.schema.json`"


def test_internal_error_has_its_own_exit_code(tmp_path):
    # a flow file that is not UTF-8 is a user problem (exit 2), not a crash
    bad = tmp_path / "bad.flow"
    bad.write_bytes(b"flow x\n\xff\xfe")
    r = flowc("check", bad)
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr
    # a bug is reported as one: force one through the API's monkeypatch hook
    code = ("import flowc.cli as c, flowc.compiler.api as a\n"
            "a.Compiler.check_path = lambda *x, **k: 1/0\n"
            f"raise SystemExit(c.main(['check', {str(CLEAN)!r}]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 3
    assert "internal error" in r.stderr and "Traceback" not in r.stderr


def test_fmt_check_rewrite_and_broken(tmp_path):
    messy = tmp_path / "messy.flow"
    messy.write_text('flow messy version "1.0.0"\ninput   topic :str\n'
                     'node a=llm{prompt "x {topic}"} // keep me\noutput o:str=a.text\n')
    r = flowc("fmt", "--check", messy)
    assert r.returncode == 1 and "would reformat" in r.stdout
    assert flowc("fmt", messy).returncode == 0
    text = messy.read_text()
    assert "// keep me" in text and "node a = llm {" in text
    assert flowc("fmt", "--check", messy).returncode == 0
    broken = tmp_path / "broken.flow"
    broken.write_text("flow b\nnode a = llm {\n")
    r = flowc("fmt", broken)
    assert r.returncode == 1 and "syntax errors" in r.stderr
    assert broken.read_text() == "flow b\nnode a = llm {\n"


def test_examples_are_formatted():
    r = flowc("fmt", "--check", "examples/client_report", "examples/support_router",
              "examples/ecommerce", "examples/data_pipeline", "examples/refund_approval",
              "docs/examples")
    assert r.returncode == 0, r.stdout + r.stderr


def test_sandbox_doctor_self_tests():
    r = flowc("sandbox", "doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pyodide   0.28.3" in r.stdout and r.stdout.count(" ok") >= 4


def test_sandbox_run(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("print('hello')\nopen('o.txt', 'w').write('x')\nresult = 6 * 7\n")
    r = flowc("sandbox", "run", script, "--output-dir", tmp_path / "out", "--timeout", "10")
    assert r.returncode == 0, r.stderr
    assert "hello" in r.stdout and "result: 42" in r.stdout
    assert (tmp_path / "out" / "o.txt").read_text() == "x"
    loop = tmp_path / "loop.py"
    loop.write_text("while True: pass\n")
    r = flowc("sandbox", "run", loop, "--timeout", "1")
    assert r.returncode == 1 and "timeout" in r.stderr
    js = tmp_path / "x.js"
    js.write_text("console.log('from js'); return 1 + 1")
    r = flowc("sandbox", "run", js, "--json")
    assert r.returncode == 0 and '"value": 2' in r.stdout
    r = flowc("sandbox", "run", tmp_path / "missing.py")
    assert r.returncode == 2 and r.stderr.startswith("flowc: error:")
    r = flowc("sandbox", "run", script, "--input", "no-equals-sign")
    assert r.returncode == 2


def test_run_pause_show_resume_audit_end_to_end(tmp_path):
    store = tmp_path / "runs.db"
    flow = ROOT / "examples" / "refund_approval" / "refund_approval.flow"
    order = 'order={"id": "A-1", "amount": 40.0, "reason": "late"}'
    r = flowc("run", flow, "--input", order, "--store", store)
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    inbox = json.loads(flowc("inbox", "--json", "--store", store).stdout)
    task = inbox[0]["id"]
    assert inbox[0]["for"] == [{"kind": "role", "name": "support_lead"}]
    r = flowc("show", task, "--store", store)
    assert "field refund: number = 20" in r.stdout
    # refusals: one line, non-zero, nothing changes
    for args, code, text in [
        (["resume", task, "--approve", "--as", "eve"], 1, "may not decide"),
        (["resume", task, "--edit", "refund=lots", "--as", "eve"], 2, "field `refund`"),
        (["resume", task, "--edit", "amount=1", "--as", "eve"], 2, "no field `amount`"),
        (["resume", task, "--as", "eve"], 2, "exactly one of"),
        (["resume", "nope", "--approve", "--as", "eve"], 2, "no task `nope`"),
        (["show", "nope"], 2, "no task"),
        (["audit", "nope"], 2, "no run"),
        (["cancel", "nope"], 2, "no run"),
        (["run", flow, "--input", "order=notjson"], 2, "input `order`"),
        (["run", flow, "--input", "nope=1"], 2, "no input `nope`"),
        (["run", flow], 2, "missing --input order="),
    ]:
        r = flowc(*args, "--store", store)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == code and len(lines) == 1 and text in lines[0], (args, r.stderr)
    assert flowc("people", "ana", "support_lead", "--store", store).returncode == 0
    r = flowc("resume", task, "--approve", "--as", "ana", "--store", store)
    assert r.returncode == 0 and "succeeded" in r.stdout and '"paid": 20' in r.stdout
    r = flowc("resume", task, "--reject", "--as", "ana", "--store", store)
    assert r.returncode == 1 and "already decided" in r.stderr
    runs = json.loads(flowc("runs", "--json", "--store", store).stdout)
    assert runs[0]["status"] == "succeeded"
    r = flowc("audit", runs[0]["id"], "--verify", "--store", store)
    assert r.returncode == 0 and "intact" in r.stdout
    events = json.loads(flowc("audit", runs[0]["id"], "--format", "json", "--store", store).stdout)
    assert [e["kind"] for e in events if e["kind"] != "node.result"] == [
        "run.started", "gate.opened", "task.decided", "run.succeeded"]
    import sqlite3

    db = sqlite3.connect(store)
    db.execute("UPDATE audit_events SET actor = 'bob' WHERE actor = 'ana'")
    db.commit()
    db.close()
    r = flowc("audit", runs[0]["id"], "--verify", "--store", store)
    assert r.returncode == 1 and "broken" in r.stdout


def test_run_refuses_a_model_flow_without_its_key_naming_node_and_variable(tmp_path,
                                                                          monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = flowc("run", ROOT / "examples" / "support_router" / "support_router.flow",
              "--input", 'request={"employee": "wei", "message": "taxi", "office": null}',
              "--store", tmp_path / "runs.db")
    assert r.returncode == 1 and "not run: node `" in r.stderr
    assert "set the environment variable OPENAI_API_KEY" in r.stderr
    assert "Traceback" not in r.stderr


def test_skill_new_and_list(tmp_path):
    (tmp_path / ".git").mkdir()
    r = flowc("skill", "new", "word-count", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "skills" / "word-count" / "SKILL.md").exists()
    r = flowc("skill", "list", cwd=tmp_path)
    assert r.returncode == 0 and "word-count               0.1.0" in r.stdout
    assert "portfolio-stats" in r.stdout and "classify-ticket          1.2.0" in r.stdout
    flow = tmp_path / "w.flow"
    flow.write_text('flow w version "1.0.0"\nuse skill word_count @ ^0.1\n'
                    'node c = skill word_count(text: "a b")\noutput n: int = c.words\n')
    assert flowc("check", flow, cwd=tmp_path).returncode == 0
    r = flowc("skill", "new", "word-count", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr
    r = flowc("skill", "new", "Bad Name!", cwd=tmp_path)
    assert r.returncode == 2 and "not a skill name" in r.stderr


def test_skill_test_and_publish(tmp_path):
    (tmp_path / ".git").mkdir()
    assert flowc("skill", "new", "word-count", cwd=tmp_path).returncode == 0
    r = flowc("skill", "test", "word-count", cwd=tmp_path)
    assert r.returncode == 0 and "ok   word-count 0.1.0 basic.json" in r.stdout
    fx = tmp_path / "skills" / "word-count" / "fixtures" / "wrong.json"
    fx.write_text('{"inputs": {"text": "a b"}, "expect": {"fields": {"words": 5}}}')
    r = flowc("skill", "test", "word-count", cwd=tmp_path)
    assert r.returncode == 1 and "field `words` is 2, expected 5" in r.stdout
    fx.unlink()
    reg = tmp_path / "registry"
    r = flowc("skill", "publish", "skills/word-count", "--to", reg, cwd=tmp_path)
    assert r.returncode == 0 and (reg / "word-count" / "0.1.0" / "SKILL.md").exists()
    assert flowc("skill", "publish", "skills/word-count", "--to", reg, cwd=tmp_path).returncode == 0
    md = tmp_path / "skills" / "word-count" / "SKILL.md"
    md.write_text(md.read_text() + "\nchanged\n")
    r = flowc("skill", "publish", "skills/word-count", "--to", reg, cwd=tmp_path)
    assert r.returncode == 2 and "immutable" in r.stderr
    assert flowc("skill", "test", "nope", cwd=tmp_path).returncode == 2
    assert flowc("skill", "test", "word-count@^9", cwd=tmp_path).returncode == 2


def test_check_concise_is_one_line_per_diagnostic():
    r = flowc("check", "--format", "concise", CASES / "types.flow", CASES / "graph.flow")
    assert r.returncode == 1
    js = json.loads(flowc("check", "--format", "json", CASES / "types.flow",
                          CASES / "graph.flow").stdout)
    lines = r.stdout.splitlines()
    assert len(lines) == len(js)
    for line, d in zip(lines, js, strict=True):
        sev = {"info": "note"}.get(d["severity"], d["severity"])
        assert line == (f"{d['path']}:{d['line']}:{d['column']}: {sev}: "
                        f"{d['message']} [{d['code']}]")
    assert "types.flow:18:" in r.stdout and "error: `client` has no field `nam` [F0203]" \
        in r.stdout
    assert "checked 2 files" in r.stderr  # the summary stays out of the way of grep


def test_lock_is_checked_by_default_where_a_flow_lock_records_the_flow(tmp_path):
    # the editor's default and the CLI's are one: compare a flow its flow.lock records
    import shutil

    broken = ROOT / "examples" / "broken"
    for name in ("stale_lock.flow", "flow.lock"):
        shutil.copy(broken / name, tmp_path / name)
    shutil.copytree(broken / "sops", tmp_path / "sops")
    unlocked = tmp_path / "unlocked.flow"
    unlocked.write_text((broken / "stale_lock.flow").read_text(encoding="utf-8").replace(
        "flow stale_lock", "flow unlocked"), encoding="utf-8")
    r = flowc("check", tmp_path / "stale_lock.flow")
    assert r.returncode == 1 and "F0111" in r.stdout, r.stdout
    assert flowc("check", "--no-locked", tmp_path / "stale_lock.flow").returncode == 0
    # a flow the lock does not record: compared only with --locked
    assert flowc("check", unlocked).returncode == 0
    r = flowc("check", "--locked", unlocked)
    assert r.returncode == 1 and "has no entry in flow.lock" in r.stdout
    r = flowc("check", "--locked", "--no-locked", unlocked)
    assert r.returncode == 2 and "not allowed with" in r.stderr


def test_a_clean_check_imports_nothing_for_plans_or_colour():
    # `flowc check` of locked flows (their lock compared by default) stays light: no
    # pydantic (plans), no rich (colour); start-up time is measured in bench/compile.py.
    # (A flow that imports another with `use flow` builds that one's plan: pydantic then.)
    code = ("import sys; from flowc.cli import main; "
            "rc = main(['check', 'examples/client_report/client_report.flow', "
            "'examples/data_pipeline', 'examples/refund_approval']); "
            "print(rc, sorted(m for m in ('pydantic', 'rich') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "0 []", r.stdout + r.stderr


def test_skill_test_runs_the_fixtures_in_one_warm_interpreter_or_strict(tmp_path):
    # the interpreter is shared (what makes the fixtures after the first cheap: no start,
    # no imports; bench/skilltest.py times it): a module-level counter shows it, and
    # --strict gives each fixture a fresh one, as a strict node runs
    (tmp_path / ".git").mkdir()
    assert flowc("skill", "new", "counter", cwd=tmp_path).returncode == 0
    skill = tmp_path / "skills" / "counter"
    (skill / "scripts" / "counter.py").write_text(
        "import builtins, json\n"
        "builtins.flowc_seen = getattr(builtins, 'flowc_seen', 0) + 1\n"
        "print(json.dumps({'words': builtins.flowc_seen}))\n")
    (skill / "fixtures" / "basic.json").unlink()
    for i in (1, 2, 3):
        (skill / "fixtures" / f"f{i}.json").write_text(
            json.dumps({"inputs": {"text": "x"}, "expect": {"fields": {"words": i}}}))
    r = flowc("skill", "test", "counter", cwd=tmp_path)
    assert r.returncode == 0 and "3 passed, 0 failed" in r.stdout, r.stdout + r.stderr
    r = flowc("skill", "test", "counter", "--strict", cwd=tmp_path)
    assert r.returncode == 1 and "1 passed, 2 failed" in r.stdout  # each saw 1
