"""Golden diagnostics: every flow in examples/broken/ with its expected text and JSON output.

Each broken flow names the code it is written for in its first line
(`// Broken on purpose (F0xxx): ...`); the test checks that code is reported and that the
rendered text and JSON equal the files in tests/golden/. FLOWC_UPDATE_GOLDEN=1 rewrites them;
review the diff in the commit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from flowc.compiler.api import Compiler
from flowc.compiler.render import render_json, render_text
from flowc.compiler.source import Source

ROOT = Path(__file__).resolve().parent.parent
BROKEN = sorted((ROOT / "examples" / "broken").glob("*.flow"))
GOLDEN = Path(__file__).parent / "golden"


def _compare(path: Path, text: str) -> None:
    if os.environ.get("FLOWC_UPDATE_GOLDEN") or (not path.exists() and not os.environ.get("CI")):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}"
    assert text == path.read_text(), f"output changed; FLOWC_UPDATE_GOLDEN=1 rewrites {path}"


@pytest.mark.parametrize("flow", BROKEN, ids=lambda p: p.stem)
def test_broken_example(flow: Path, monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = flow.relative_to(ROOT).as_posix()
    intended = re.search(r"\((F\d{4})\)", flow.read_text().splitlines()[0]).group(1)
    locked = "[--locked]" in flow.read_text().splitlines()[0]
    result = Compiler(locked=locked).check(Source.from_file(rel), flow.parent, plan=True)
    diags = result.diagnostics.sorted()
    assert intended in {d.code for d in diags}
    _compare(GOLDEN / f"{flow.stem}.txt", render_text(diags))
    _compare(GOLDEN / f"{flow.stem}.json", render_json(diags))


def test_every_code_has_a_broken_example():
    from flowc.compiler.codes import CODES

    covered = {re.search(r"\((F\d{4})\)", f.read_text().splitlines()[0]).group(1) for f in BROKEN}
    assert set(CODES) - covered == {"F9999"}
