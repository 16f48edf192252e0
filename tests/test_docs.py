"""The documentation stays true: generated diagnostics docs are current, examples check."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from flowc.compiler.api import Compiler, compile_file
from flowc.compiler.codes import CODES
from flowc.compiler.source import Source

ROOT = Path(__file__).resolve().parent.parent
GEN = runpy.run_path(str(ROOT / "scripts" / "gen_diagnostics_doc.py"))
DIAG_EXAMPLES = ROOT / "docs" / "diagnostics"


def test_diagnostics_doc_is_current():
    assert (ROOT / "docs" / "diagnostics.md").read_text() == GEN["render_doc"](), \
        "run `python scripts/gen_diagnostics_doc.py`"


@pytest.mark.parametrize("code", [c for c in CODES if c != "F9999"])
def test_every_code_has_an_example_that_produces_exactly_it(code):
    path = DIAG_EXAMPLES / f"{code}.flow"
    assert path.exists(), f"add docs/diagnostics/{code}.flow"
    result = Compiler([GEN["SKILLS"]], locked=code == "F0111").check(Source.from_file(path),
                                                                     path.parent)
    assert {d.code for d in result.diagnostics.items} == {code}


LANGUAGE = ROOT / "docs" / "language.md"
_BLOCK = re.compile(r"<!-- example: (\S+) -->\s*```flow\n(.*?)```", re.S)


def _language_examples():
    if not LANGUAGE.exists():
        return []
    return _BLOCK.findall(LANGUAGE.read_text())


def test_language_reference_has_examples():
    assert len(_language_examples()) >= 20


@pytest.mark.parametrize(("path", "body"), _language_examples(), ids=lambda x: str(x)[:40])
def test_language_examples_match_their_files_and_check_clean(path, body):
    file = ROOT / path
    assert file.read_text() == body, f"the block in docs/language.md differs from {path}"
    result = compile_file(file)
    assert not result.diagnostics.items, [d.message for d in result.diagnostics.items]
    assert result.plan is not None


# ---- the README and the docs say what the tool does ------------------------------------------

README = ROOT / "README.md"


def _using_it_lines() -> list[str]:
    text = README.read_text().split("## Using it", 1)[1]
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [ln.split("  #", 1)[0].strip() for ln in block.splitlines() if ln.strip()]


def test_the_readmes_using_it_lines_run_as_pasted(tmp_path):
    import os
    import subprocess
    import sys

    flowc = str(Path(sys.executable).parent / "flowc")
    lines = _using_it_lines()
    assert len(lines) >= 6
    for line in lines:
        assert line.startswith(".venv/bin/flowc "), line
        command = flowc + line.removeprefix(".venv/bin/flowc").replace(
            "-o plan.json", f"-o {tmp_path}/plan.json")
        r = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "NO_COLOR": "1"})
        assert r.returncode == 0, (line, r.stdout[-2000:], r.stderr[-2000:])


_MENTION = re.compile(r"flowc ((?:skill|sandbox|trace|store|version) \w+|\w+)([^`\n#]*)")


def _help(command: str) -> str:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "flowc", *command.split(), "--help"],
                       capture_output=True, text=True, cwd=ROOT)
    return r.stdout if r.returncode == 0 else ""


def test_every_option_the_docs_give_a_command_is_an_option_of_that_command():
    helps: dict[str, str] = {}
    wrong = []
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for m in _MENTION.finditer(doc.read_text()):
            command, rest = m.group(1), m.group(2)
            if command not in helps:
                helps[command] = _help(command)
            if not helps[command]:
                continue  # not a command (prose such as "flowc is")
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
                if option not in helps[command]:
                    wrong.append(f"{doc.name}: `flowc {command} ... {option}`")
    assert not wrong, sorted(set(wrong))


def test_the_default_store_is_ignored_by_git():
    assert ".flowc/" in (ROOT / ".gitignore").read_text().splitlines()


def test_language_reference_and_readme_agree_on_the_lock_file():
    language = LANGUAGE.read_text()
    assert "no separate" not in language.split("flow.lock")[0][-200:]
    assert "flowc lock" in language and "flowc check --locked" in language


def test_the_default_store_folder_ignores_itself(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FLOWC_STORE"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    r = subprocess.run([sys.executable, "-m", "flowc", "runs"], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / ".flowc" / "runs.db").exists(), r.stderr
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=tmp_path, capture_output=True, text=True, check=True)
    assert status.stdout == ""
