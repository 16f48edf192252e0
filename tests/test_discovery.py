"""Which files `flowc check DIR` takes: .gitignore, virtualenvs, node_modules, hidden folders,
and JavaScript Flow's `*.js.flow` declaration files (never flows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flowc.compiler.discovery import find_flow_files, is_flow_file

ROOT = Path(__file__).resolve().parent.parent
GOOD = (ROOT / "examples" / "refund_approval" / "refund_approval.flow").read_text(encoding="utf-8")
# what JavaScript Flow's declaration files hold: F0001 if flowc parsed it
JS_FLOW = "// @flow\ndeclare export function f(x: number): string;\n"


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def _project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # the repository's root: its .gitignore applies below
    _tree(tmp_path, {
        ".gitignore": "build/\n*.gen.flow\n!keep.gen.flow\n",
        "flows/a.flow": GOOD,
        "flows/sub/b.flow": GOOD,
        "flows/types.js.flow": JS_FLOW,
        "flows/lib/index.mjs.flow": JS_FLOW,
        "flows/x.gen.flow": "broken {",
        "flows/keep.gen.flow": GOOD,
        "flows/sub/.gitignore": "local/\n",
        "flows/sub/local/c.flow": "broken {",
        "build/out.flow": "broken {",
        ".venv/lib/site-packages/pkg/d.flow": "broken {",
        "myenv/pyvenv.cfg": "home = /usr\n",
        "myenv/lib/e.flow": "broken {",
        "node_modules/pkg/f.flow": "broken {",
        "flows/.hidden/g.flow": "broken {",
    })
    return tmp_path


def test_is_flow_file():
    assert is_flow_file("a.flow") and is_flow_file("dir/A.FLOW")
    for name in ("a.js.flow", "a.mjs.flow", "a.cjs.flow", "a.jsx.flow", "a.flows", "flow"):
        assert not is_flow_file(name), name


def test_walk_honours_gitignore_and_skips_what_is_not_the_projects(tmp_path):
    root = _project(tmp_path)
    found = [p.relative_to(root).as_posix() for p in find_flow_files(root)]
    assert found == ["flows/a.flow", "flows/keep.gen.flow", "flows/sub/b.flow"]
    # from a sub-folder, the repository root's .gitignore still applies
    found = [p.relative_to(root).as_posix() for p in find_flow_files(root / "flows")]
    assert found == ["flows/a.flow", "flows/keep.gen.flow", "flows/sub/b.flow"]


def test_relative_folder_gives_relative_paths(tmp_path):
    root = _project(tmp_path)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert [p.as_posix() for p in find_flow_files(".")] == [
            "flows/a.flow", "flows/keep.gen.flow", "flows/sub/b.flow"]
    finally:
        os.chdir(cwd)


def _flowc(*args, cwd):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_check_dot_takes_only_the_projects_flows(tmp_path):
    root = _project(tmp_path)
    r = _flowc("check", ".", cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checked 3 files: no problems" in r.stdout
    assert "F0001" not in r.stdout


def test_a_named_file_is_taken_even_if_ignored_but_never_a_js_flow(tmp_path):
    root = _project(tmp_path)
    r = _flowc("check", "build/out.flow", cwd=root)
    assert r.returncode == 1 and "F0001" in r.stdout
    r = _flowc("check", "flows/types.js.flow", "flows/a.flow", cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checked 1 file" in r.stdout
    assert "types.js.flow" in r.stderr and "JavaScript Flow" in r.stderr
    r = _flowc("check", "flows/types.js.flow", cwd=root)
    assert r.returncode == 2 and "Traceback" not in r.stderr
