"""Figures that cannot drift: every benchmark block in the README and docs is, byte for byte,
the markdown its benchmark wrote last (scripts/figures.py pastes it and checks it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "figures.py"


def _figures(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_the_readme_and_docs_show_the_last_recorded_runs():
    r = _figures("--check")
    assert r.returncode == 0, r.stdout + r.stderr
    blocks = int(re.search(r"(\d+) figure block", r.stdout)[1])
    assert blocks >= 5, r.stdout  # the sandbox, compile, runtime, agents and lsp tables
    for name in ("sandbox", "compile", "runtime", "agents", "lsp"):
        text = (ROOT / "bench" / "results" / f"{name}.md").read_text()
        assert text.startswith(f"_Written by `python bench/{name}.py"), text[:200]
        assert "| measure |" in text


def _project(tmp_path: Path, block_body: str) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "bench" / "results" / "x.md").write_text("| a |\n|---|\n| 1 ms |\n")
    (tmp_path / "README.md").write_text(
        f"intro\n<!-- figures: bench/results/x.md -->\n{block_body}<!-- /figures -->\nend\n")
    return tmp_path


def test_a_figure_edited_by_hand_is_found_and_pasted_back(tmp_path):
    root = _project(tmp_path, "| a |\n|---|\n| 0.5 ms |\n")  # someone "improved" the figure
    r = _figures("--check", "--root", str(root))
    assert r.returncode == 1 and "README.md" in r.stdout and "x.md" in r.stdout, r.stdout
    r = _figures("--root", str(root))
    assert r.returncode == 0, r.stdout
    assert "| 1 ms |" in (root / "README.md").read_text()
    assert (root / "README.md").read_text().startswith("intro\n") and \
        (root / "README.md").read_text().endswith("<!-- /figures -->\nend\n")
    assert _figures("--check", "--root", str(root)).returncode == 0


def test_a_block_naming_a_missing_result_fails(tmp_path):
    root = _project(tmp_path, "")
    (root / "README.md").write_text(
        "<!-- figures: bench/results/none.md -->\nold\n<!-- /figures -->\n")
    r = _figures("--check", "--root", str(root))
    assert r.returncode == 1 and "does not exist" in r.stdout
