"""Diagnostics: published on open and on change, the same as `flowc check`, cross-file too."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_harness import EXAMPLES, open_doc
from lsprotocol import types as lsp

from flowc.compiler.api import Compiler
from flowc.compiler.source import Source

pytestmark = pytest.mark.asyncio(loop_scope="module")

BROKEN = sorted((EXAMPLES / "broken").glob("*.flow"))


def _expected(path: Path):
    """What `flowc check` (with `--locked` for a flow its flow.lock records) reports."""
    locked = path.name == "stale_lock.flow"
    res = Compiler(locked=locked).check(Source.from_file(path), path.parent)
    out = []
    for d in res.diagnostics.sorted():
        if Path(d.source.path).resolve() != path.resolve():
            continue
        s, e = d.start, d.end
        out.append((d.code, s.line - 1, s.column - 1, e.line - 1, e.column - 1, d.message))
    return sorted(out)


async def test_every_broken_example_matches_flowc_check(client):
    assert len(BROKEN) >= 40
    for path in BROKEN:
        doc = await open_doc(client, path)
        got = sorted((str(d.code), d.range.start.line, d.range.start.character,
                      d.range.end.line, d.range.end.character, d.message.split("\n")[0])
                     for d in doc.diagnostics if d.related_information is None
                     or not any(r.message.startswith(str(Path(path.parent)))
                                for r in d.related_information))
        want = _expected(path)
        assert [g for g in got if g in want] == want, path.name
        assert all(d.source == "flowc" for d in doc.diagnostics)
        doc.close()


async def test_help_and_related_are_carried(client):
    doc = await open_doc(client, EXAMPLES / "broken" / "unknown_field.flow")
    d = next(d for d in doc.diagnostics if d.code == "F0203")
    assert "help: did you mean" in d.message
    assert d.data["help"].startswith("did you mean")
    assert d.severity == lsp.DiagnosticSeverity.Error
    doc.close()


async def test_cross_file_missing_sop(client):
    doc = await open_doc(client, EXAMPLES / "broken" / "missing_sop.flow")
    d = next(d for d in doc.diagnostics if d.code == "F0103")
    assert "does not exist" in d.message
    doc.close()


async def test_cross_file_skill_version_that_does_not_resolve(client):
    doc = await open_doc(client, EXAMPLES / "broken" / "no_matching_version.flow")
    d = next(d for d in doc.diagnostics if d.code == "F0106")
    assert "available versions" in d.message
    doc.close()


async def test_cross_file_stale_lock(client):
    doc = await open_doc(client, EXAMPLES / "broken" / "stale_lock.flow")
    d = next(d for d in doc.diagnostics if d.code == "F0111")
    assert "changed since it was locked" in d.message
    assert doc.text[:0] == ""
    doc.close()


async def test_unlocked_flow_in_a_locked_folder_is_not_reported(client):
    # examples/broken/flow.lock records only stale_lock.flow: the others are not locked
    doc = await open_doc(client, EXAMPLES / "broken" / "unknown_name.flow")
    assert "F0111" not in doc.codes()
    doc.close()


async def test_invalid_skill_definition_is_shown_at_the_use(client):
    path = EXAMPLES / "broken" / "invalid_skill.flow"
    doc = await open_doc(client, path)
    d = next(d for d in doc.diagnostics if d.code == "F0108")
    # shown on the `use skill` line of this flow, pointing at the SKILL.md
    assert "use skill" in doc.text.splitlines()[d.range.start.line]
    assert any(r.location.uri.endswith("SKILL.md") for r in d.related_information)
    doc.close()


async def test_clean_example_has_no_diagnostics(client):
    doc = await open_doc(client, EXAMPLES / "client_report" / "client_report.flow")
    assert doc.diagnostics == []
    doc.close()


async def test_diagnostics_follow_changes(client):
    path = EXAMPLES / "client_report" / "client_report.flow"
    doc = await open_doc(client, path)
    broken = doc.text.replace("stats.total_return}", "stats.total_retrun}")
    await doc.change(broken)
    assert doc.codes() == ["F0203"]
    await doc.change(path.read_text(encoding="utf-8"))
    assert doc.diagnostics == []
    doc.close()


async def test_incremental_edit_keeps_ranges_right(client):
    path = EXAMPLES / "client_report" / "client_report.flow"
    doc = await open_doc(client, path)
    # type one character into a name, as an editor sends it
    at = doc.pos("node rework")
    start = lsp.Position(at.line, at.character + len("node rework"))
    new_text = doc.text.replace("node rework", "node reworkx")
    await doc.edit(start, start, "x", new_text)
    assert "F0101" in doc.codes(), [(d.code, d.message) for d in doc.diagnostics]
    d = next(d for d in doc.diagnostics if d.code == "F0101")
    line = new_text.splitlines()[d.range.start.line]
    assert line[d.range.start.character:d.range.end.character] == "rework"
    doc.close()


async def test_half_typed_file_reports_the_syntax_error(client):
    path = EXAMPLES / "client_report" / "client_report.flow"
    text = path.read_text(encoding="utf-8")
    half = text.replace("node send = command", "node send = comm", 1)
    doc = await open_doc(client, path, text=half)
    assert doc.codes() and set(doc.codes()) <= {"F0001", "F0002", "F0003"}
    want = _expected_text(half, path)
    got = sorted((str(d.code), d.range.start.line, d.range.start.character)
                 for d in doc.diagnostics)
    assert got == want
    doc.close()


def _expected_text(text: str, path: Path):
    res = Compiler().check(Source(text, str(path)), path.parent)
    return sorted((d.code, d.start.line - 1, d.start.column - 1)
                  for d in res.diagnostics.sorted())


async def test_non_ascii_columns_are_utf16(client):
    text = ('flow accents version "1.0.0"\n'
            'input naïve_emoji: str\n'
            'node draft = llm { prompt "Grüße 😀 {naïve_emoji} {missing}" }\n'
            'output out = draft.text\n').replace("naïve_emoji", "nai_emoji")
    doc = await open_doc(client, None, text=text, name="accents.flow")
    d = next(d for d in doc.diagnostics if d.code == "F0101")
    assert d.range.start == doc.pos("missing")   # pos() counts UTF-16 units
    # the emoji is two UTF-16 units: a code-point column would be one less
    line = text.splitlines()[2]
    assert d.range.start.character == len(line[:line.index("missing")].encode("utf-16-le")) // 2
    assert d.range.start.character == line.index("missing") + 1
    doc.close()


async def test_garbage_gives_diagnostics_and_the_server_keeps_going(client):
    doc = await open_doc(client, None, text="\x00\x01 ;;; }}} flow\n\t\"\"\"", name="junk.flow")
    assert doc.codes()
    hover = await client.text_document_hover_async(lsp.HoverParams(doc.id, lsp.Position(0, 3)))
    assert hover is None
    await doc.change("")
    assert doc.codes() == ["F0003"]
    doc.close()


async def test_a_javascript_flow_declaration_file_is_not_checked(client, tmp_path):
    # `*.js.flow` is JavaScript Flow's, not ours: an editor that sends it gets no diagnostics
    path = tmp_path / "types.js.flow"
    path.write_text("// @flow\ndeclare export function f(x: number): string;\n",
                    encoding="utf-8")
    doc = await open_doc(client, path)
    assert doc.diagnostics == []
    doc.close()
