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
