"""CI integration: the GitHub workflow example and the pre-commit hooks, run for real."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FLOWC = [sys.executable, "-m", "flowc"]
WORKFLOW = ROOT / "examples" / "ci" / "github-workflow.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def _run(command: str, cwd: Path, env_flows: str) -> subprocess.CompletedProcess:
    """Run a `flowc ...` shell line as the workflow would, with this checkout's flowc."""
    line = command.replace("$FLOWS", env_flows)
    out_file = None
    if ">" in line:
        line, _, rest = line.partition(">")
        out_file = rest.split("||")[0].strip()
    argv = shlex.split(line)
    assert argv[0] == "flowc"
    r = subprocess.run([*FLOWC, *argv[1:]], capture_output=True, text=True, cwd=cwd,
                       timeout=300, env={**os.environ, "NO_COLOR": "1"})
    if out_file:
        (cwd / out_file).write_text(r.stdout, encoding="utf-8")
    return r


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the client report flows (and their SOPs and lock) under flows/."""
    shutil.copytree(ROOT / "examples" / "client_report", tmp_path / "flows")
    return tmp_path


def _steps():
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert wf["permissions"]["security-events"] == "write"
    steps = wf["jobs"]["check"]["steps"]
    return wf, steps


def test_workflow_is_valid_and_uses_github_format_and_sarif_upload():
    wf, steps = _steps()
    assert wf["env"]["FLOWS"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any("--format github" in r for r in runs)
    assert any("--format sarif" in r for r in runs)
    upload = next(s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "flowc.sarif"
    assert upload["if"] == "always()"


def test_workflow_steps_pass_on_clean_flows(project):
    _, steps = _steps()
    for step in steps:
        cmd = step.get("run", "")
        if not cmd.startswith("flowc"):
            continue
        r = _run(cmd, project, "flows/")
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    sarif = json.loads((project / "flowc.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []


def test_workflow_steps_fail_with_annotations_on_broken_flows(project):
    flow = project / "flows" / "client_report.flow"
    flow.write_text(flow.read_text(encoding="utf-8").replace(
        "stats.total_return}", "stats.total_retrun}"), encoding="utf-8")
    _, steps = _steps()
    check = next(s["run"] for s in steps if "--format github" in s.get("run", ""))
    r = _run(check, project, "flows/")
    assert r.returncode == 1
    assert "::error file=" in r.stdout and "title=F0203" in r.stdout
    assert "did you mean `total_return`" in r.stdout
    sarif_step = next(s["run"] for s in steps if "--format sarif" in s.get("run", ""))
    _run(sarif_step, project, "flows/")
    sarif = json.loads((project / "flowc.sarif").read_text(encoding="utf-8"))
    rules = [res["ruleId"] for res in sarif["runs"][0]["results"]]
    # client_report.flow itself, and all_clients.flow, which imports it (F0109)
    assert "F0203" in rules and set(rules) <= {"F0203", "F0109"}


def _hooks():
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    return {h["id"]: h for h in hooks}


def test_pre_commit_hooks_are_well_formed():
    hooks = _hooks()
    assert {"flowc-fmt", "flowc-check"} <= set(hooks)
    for h in hooks.values():
        assert {"id", "name", "entry", "language", "files"} <= set(h)
        assert h["entry"].startswith("flowc ")
        assert h["language"] == "python"
        assert h["pass_filenames"] is True
        import re

        assert re.search(h["files"], "a/b.flow") and not re.search(h["files"], "a/b.py")
        # the hooks take what `flowc check DIR` takes: never JavaScript Flow's files
        from flowc.compiler.discovery import is_flow_file

        for name in ("a/b.flow", "a/b.js.flow", "b.mjs.flow", "c.jsx.flow", "d.cjs.flow"):
            taken = bool(re.search(h["files"], name)) and not re.search(h["exclude"], name)
            assert taken == is_flow_file(name), (h["id"], name)


def _hook(hook: dict, files: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(hook["entry"])
    return subprocess.run([*FLOWC, *argv[1:], *map(str, files)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_pre_commit_hooks_pass_and_fail_as_they_should(project):
    hooks = _hooks()
    flow = project / "flows" / "client_report.flow"
    assert _hook(hooks["flowc-fmt"], [flow], project).returncode == 0
    assert _hook(hooks["flowc-check"], [flow], project).returncode == 0
    # badly formatted: fmt --check fails and changes nothing; the fix hook formats it
    messy = flow.read_text(encoding="utf-8").replace("node stats = skill", "node  stats=skill")
    flow.write_text(messy, encoding="utf-8")
    r = _hook(hooks["flowc-fmt"], [flow], project)
    assert r.returncode == 1 and flow.read_text(encoding="utf-8") == messy
    assert _hook(hooks["flowc-fmt-fix"], [flow], project).returncode == 0
    assert _hook(hooks["flowc-fmt"], [flow], project).returncode == 0
    # an error: the check hook fails and names the code
    flow.write_text(flow.read_text(encoding="utf-8").replace("draft.report", "draft.reprot"),
                    encoding="utf-8")
    r = _hook(hooks["flowc-check"], [flow], project)
    assert r.returncode == 1 and "F0203" in r.stdout
