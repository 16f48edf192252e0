"""The smaller findings of issue 15 (item 8): each answer to a mistake names what was wrong,
where, and what to do, in every output format."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flowc.compiler.api import check_source


def flowc(*args, cwd):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env)


UNCLOSED = '''flow p version "1.0.0"
input x: int
node review = await human(
  to: role("legal"),
  actions: [approve, reject],
  timeout: 48h -> reject,

node after_it: int = code python(v: x) """
result = v
"""
output o: int = after_it
'''


def test_a_missing_paren_points_at_the_unclosed_paren():
    (d,) = check_source(UNCLOSED, "p.flow").diagnostics.items
    pos = d.source.position(d.span.start)
    assert (d.code, d.message, pos.line, pos.column) == ("F0001", "`(` is never closed", 3, 26)
    assert d.help == "close it with `)` before the next declaration (`node`)"
    (r,) = d.related
    assert d.source.position(r.span.start).line == 8


def test_a_file_that_ends_inside_a_bracket_points_at_the_bracket():
    text = 'flow p version "1.0.0"\ninput x: int\noutput o: list<int> = [x,\n  x\n'
    (d,) = check_source(text, "p.flow").diagnostics.items
    pos = d.source.position(d.span.start)
    assert (d.code, pos.line, pos.column) == ("F0003", 3, 23)
    assert "`[` is closed" in d.message and d.help == "close it with `]`"


def test_json_and_sarif_keep_the_related_locations(tmp_path):
    flow = tmp_path / "dup.flow"
    flow.write_text('flow d version "1.0.0"\ninput a: int\ninput a: int\noutput o: int = a\n')
    (d,) = json.loads(flowc("check", "--format", "json", flow, cwd=tmp_path).stdout)
    assert d["related"] == [{"path": str(flow), "line": 2, "column": 7, "end_line": 2,
                             "end_column": 8, "message": "first declared here"}]
    sarif = json.loads(flowc("check", "--format", "sarif", flow, cwd=tmp_path).stdout)
    (rel,) = sarif["runs"][0]["results"][0]["relatedLocations"]
    assert rel["message"]["text"] == "first declared here"
    assert rel["physicalLocation"]["region"]["startLine"] == 2


def test_a_python_syntax_error_points_at_its_line_in_the_file():
    text = ('flow p version "1.0.0"\ninput x: int\nnode c: int = code python(v: x) """\n'
            '    a = v\n    if a > 1\n        a = 2\n    result = a\n"""\noutput o: int = c\n')
    (d,) = check_source(text, "p.flow").diagnostics.items
    pos = d.source.position(d.span.start)
    assert d.code == "F0211" and "expected ':'" in d.message and "of the code" not in d.message
    assert (pos.line, pos.column) == (5, 12)


def test_a_node_named_like_a_skill_is_one_error_with_a_way_out():
    text = ('flow d version "1.0.0"\nuse skill csv_report @ 1.0.0\ninput sheet: file<csv>\n'
            "node csv_report = skill csv_report(input: sheet)\n"
            "output o: str = csv_report.report\n")
    (d,) = check_source(text, "d.flow").diagnostics.items
    assert d.code == "F0102" and "as csv_report_skill" in d.help


def test_control_characters_never_reach_the_terminal(tmp_path):
    flow = tmp_path / "nul.flow"
    flow.write_bytes(b'flow n version "1.0.0"\nnode \x00 = 1\x1b[2J\n')
    r = flowc("check", flow, cwd=tmp_path)
    assert r.returncode == 1
    assert "\x00" not in r.stdout and "\x1b" not in r.stdout
    assert "unexpected character U+0000 (NULL)" in r.stdout
    gate = tmp_path / "gate.flow"
    gate.write_text('flow g version "1.0.0"\ninput who: str\nnode r = await human(\n'
                    '  to: role("x"), title: "For {who}", message: "{who}",\n'
                    '  actions: [approve], timeout: 1h -> approve)\noutput o: str = r.outcome\n')
    r = flowc("run", gate, "--input", "who=a\x1b[2Jb", "--store", "runs.db", cwd=tmp_path)
    assert r.returncode == 0 and "\x1b" not in r.stdout and "a\u241b[2Jb" in r.stdout
    for command in (["inbox"], ["show", r.stdout.split("waiting for task ")[1].split()[0]]):
        out = flowc(*command, "--store", "runs.db", cwd=tmp_path).stdout
        assert "\x1b" not in out and "a\u241b[2Jb" in out


def test_whole_floats_read_like_whole_numbers_in_text(tmp_path):
    flow = tmp_path / "f.flow"
    flow.write_text('flow f version "1.0.0"\ninput a: float\ninput b: int\ninput c: float\n'
                    'output o: str = "{a} EUR, {b} EUR, {c} EUR"\n')
    r = flowc("run", flow, "--input", "a=1500", "--input", "b=320", "--input", "c=12.5",
              "--store", "runs.db", cwd=tmp_path)
    assert r.returncode == 0 and '"o": "1500 EUR, 320 EUR, 12.5 EUR"' in r.stdout, r.stderr


def test_report_takes_a_flow_file_and_the_summary_counts_in_english(tmp_path):
    (tmp_path / "style.md").write_text("# Style\nBe brief.\n")
    flow = tmp_path / "s.flow"
    flow.write_text('flow styled version "1.0.0"\nimport sop "style.md" as style\n'
                    'input x: int\noutput o: str = "{style}"\n')
    assert flowc("run", flow, "--input", "x=1", "--store", "runs.db", cwd=tmp_path).returncode == 0
    r = flowc("report", "s.flow", "--html", "r.html", "--store", "runs.db", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "r.html").exists(), r.stderr
    r = flowc("report", "nope.flow", "--html", "r.html", "--store", "runs.db", cwd=tmp_path)
    assert r.returncode == 2 and "`nope.flow` does not exist" in r.stderr
    r = flowc("compile", flow, "--summary", "-o", tmp_path / "plan.json", cwd=tmp_path)
    assert "(1 document)" in r.stdout


def test_skill_show_and_list_give_the_inputs(tmp_path):
    r = flowc("skill", "show", "csv-report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "    input: file<csv>\n" in r.stdout and '    format: str = "json"\n' in r.stdout
    assert "use skill csv_report @ 1.0.0" in r.stdout
    r = flowc("skill", "list", cwd=tmp_path)
    assert "(inputs: input, format)" in r.stdout
    r = flowc("skill", "show", "csv-reprt", cwd=tmp_path)
    assert r.returncode == 2 and "no skill `csv-reprt`" in r.stderr


# ---- the sweep: every CLI answer to a mistake says what, where and what to do -----------------

def test_cli_mistakes_name_what_where_and_what_to_do(tmp_path):
    root = tmp_path / "proj"
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "refund.flow").write_text(
        'flow refund version "1.0.0"\ninput n: int\n'
        'node review = await human(to: role("lead"), actions: [approve, reject],\n'
        '  timeout: 1h -> reject)\n'
        'node copies: int = ask human(to: role("lead"), question: "How many?",\n'
        '  timeout: 1h -> fail)\nmatch review {\n  approved -> copies\n  rejected -> stop\n}\n'
        'output o: int? = copies\n')
    (root / "store").mkdir()
    (root / "plan.json").write_text('{"x":')
    cases = [
        (["check", "flow/refund.flow"], 2, "(did you mean `flows/refund.flow`?)"),
        (["check", "flows/refnd.flow"], 2, "(did you mean `flows/refund.flow`?)"),
        (["run", "flows/refunds.flow"], 2, "(did you mean `flows/refund.flow`?)"),
        (["explain", "F0230"], 2, "(did you mean `F0203`?"),
        (["runs", "--store", "store"], 2, "--store names `store`, a folder; give a file path"),
        (["compile", "flows/refund.flow", "-o", "out/plan.json"], 2,
         "the folder `out` does not exist (create it"),
        (["skill", "show", "csv-reprt"], 2, "(did you mean `csv_report`?"),
        (["run", "plan.json"], 2, "`plan.json` is neither a .flow file nor a plan (not JSON"),
        (["runs", "--limit", "0"], 2, "argument --limit: must be above 0, not 0"),
    ]
    for args, code, text in cases:
        r = flowc(*args, cwd=root)
        assert r.returncode == code and text in _line(r), (args, r.stderr)
    out = flowc("run", "flows/refund.flow", "--input", "n=1", "--store", "runs.db", cwd=root)
    gate = out.stdout.split("waiting for task ")[1].split()[0]
    for args, code, text in [
        (["--approve", "--reject", "--as", "a"], 2,
         f"task `{gate}` is a gate: say exactly one of --approve, --edit FIELD=VALUE..., "
         "--reject (given: --approve, --reject; its actions: approve, reject)"),
        (["--answer", "3", "--as", "a"], 2, "is a gate: decide it with --approve"),
        (["--approve", "--as", "a"], 1, "(roles are recorded with `flowc people a ROLE...`"),
    ]:
        r = flowc("resume", gate, *args, "--store", "runs.db", cwd=root)
        assert r.returncode == code and text in _line(r), (args, r.stderr)
    flowc("people", "a", "lead", "--store", "runs.db", cwd=root)
    out = flowc("resume", gate, "--approve", "--as", "a", "--store", "runs.db", cwd=root)
    ask = out.stdout.split("waiting for task ")[1].split()[0]
    r = flowc("resume", ask, "--approve", "--as", "a", "--store", "runs.db", cwd=root)
    assert r.returncode == 2 and (f"task `{ask}` asks for a value (whole number): answer it "
                                  "with --answer VALUE, for example --answer 42") in _line(r)


def _line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]
