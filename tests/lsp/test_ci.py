"""CI integration: the pre-commit hooks' entries, run on the example flows (the GitHub Action
and the example workflow: tests/test_action.py; real pre-commit: tests/test_packaging.py)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FLOWC = [sys.executable, "-m", "flowc"]
HOOKS = ROOT / ".pre-commit-hooks.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the client report flows (and their SOPs and lock) under flows/."""
    shutil.copytree(ROOT / "examples" / "client_report", tmp_path / "flows")
    return tmp_path


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
