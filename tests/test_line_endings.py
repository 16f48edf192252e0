"""A byte-order mark and Windows line ends change nothing (issue 15, item 4).

A flow saved with a UTF-8 BOM, or with CRLF line ends, checks like the same flow saved
plainly, compiles to the byte-identical plan (same hash), and its long strings (prompts,
code, standard input) hold no `\\r`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowc.compiler.api import check_source, compile_file
from flowc.compiler.formatter import format_source

FLOW = '''flow endings version "1.0.0"
  "Line ends and byte-order marks."

input text: str

node summary = llm {
  prompt """
    Summarise this:
    {text}
    Keep it short.
  """
}

node count: int = code python(t: text) """
lines = t.splitlines()
result = len(lines)
"""

node shout = command `tr a-z A-Z` <- """
  first line
  second line
"""

output out: str = summary.text
output n: int = count
output loud: str = shout.stdout
'''

VARIANTS = {
    "bom": b"\xef\xbb\xbf" + FLOW.encode(),
    "crlf": FLOW.replace("\n", "\r\n").encode(),
    "bom+crlf": b"\xef\xbb\xbf" + FLOW.replace("\n", "\r\n").encode(),
}


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_plan_is_the_plain_files_plan(tmp_path, variant):
    plain = tmp_path / "plain" / "endings.flow"
    other = tmp_path / variant / "endings.flow"
    for path, data in ((plain, FLOW.encode()), (other, VARIANTS[variant])):
        path.parent.mkdir()
        path.write_bytes(data)
    a, b = compile_file(plain), compile_file(other)
    assert not b.diagnostics.items, [(d.code, d.message) for d in b.diagnostics.items]
    assert b.plan.hash == a.plan.hash
    assert b.plan.to_json() == a.plan.to_json()
    texts = _strings(b.plan.to_data())
    assert not [t for t in texts if "\r" in t or "\ufeff" in t]
    assert any("Summarise this:\n" in t for t in texts)


@pytest.mark.parametrize("variant", VARIANTS)
def test_check_and_fmt_from_the_cli(tmp_path, variant):
    path = tmp_path / "endings.flow"
    path.write_bytes(VARIANTS[variant])
    r = subprocess.run([sys.executable, "-m", "flowc", "check", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "flowc", "fmt", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert path.read_bytes() == format_source(FLOW).encode()  # LF, no mark


def test_source_text_and_a_mark_inside_the_file():
    assert not check_source("\ufeff" + FLOW).diagnostics.items
    assert not check_source(FLOW.replace("\n", "\r\n")).diagnostics.items
    # a zero-width no-break space between tokens is blank, not an unexpected character
    assert not check_source(FLOW.replace("input text", "input\ufefftext")).diagnostics.items
