"""Hover, go to definition, references and rename, over the real server."""

from __future__ import annotations

import pytest
from lsp_harness import EXAMPLES, open_doc
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPORT = EXAMPLES / "client_report" / "client_report.flow"


async def hover(client, doc, needle, delta=1, nth=0) -> str:
    h = await client.text_document_hover_async(lsp.HoverParams(doc.id, doc.pos(needle, delta, nth)))
    assert h is not None, needle
    return h.contents.value


async def test_hover_node_shows_its_deliverable(client):
    doc = await open_doc(client, REPORT)
    text = await hover(client, doc, "node draft", 6)
    assert "an `agent` node" in text or "a `agent` node" in text
    text = await hover(client, doc, "draft.body")
    assert "node draft: Draft" in text and "text body: str" in text and "file report" in text
    doc.close()


async def test_hover_part_input_skill_sop(client):
    doc = await open_doc(client, REPORT)
    text = await hover(client, doc, "total_return}")
    assert "total_return: float" in text and "portfolio_stats" in text
    assert "input client: Client" in await hover(client, doc, "input client", 7)
    skill = await hover(client, doc, "use skill portfolio_stats", 11)
    assert "portfolio-stats" in skill and "2.1.0" in skill and "SKILL.md" in skill
    sop = await hover(client, doc, "reporting.monthly", 11, nth=1)
    assert "reporting.monthly" in sop and "```markdown" in sop
    assert "compliance" in await hover(client, doc, "compliance]", 2)
    doc.close()


async def test_hover_keywords_of_the_language(client):
    doc = await open_doc(client, REPORT)
    assert "Who decides" in await hover(client, doc, "to:      role")
    assert "How long the node may run" in await hover(client, doc, "timeout 2m")
    assert "The reviewer rejects" in await hover(client, doc, "reject]", 1)
    assert "principal" in await hover(client, doc, 'role("compliance")')
    doc.close()


async def definition(client, doc, needle, delta=1, nth=0):
    res = await client.text_document_definition_async(
        lsp.DefinitionParams(doc.id, doc.pos(needle, delta, nth)))
    assert res, needle
    return res[0] if isinstance(res, list) else res


async def test_definition_of_node_type_and_part(client):
    doc = await open_doc(client, REPORT)
    loc = await definition(client, doc, "draft.body")
    assert loc.uri == doc.uri and loc.range.start == doc.pos("draft: Draft")
    loc = await definition(client, doc, "Draft = agent")
    assert loc.range.start == doc.pos("Draft {")
    loc = await definition(client, doc, "body, draft.report", 0)
    assert loc.range.start == doc.pos("body\n  files")
    doc.close()


async def test_definition_of_sop_and_skill_goes_to_their_files(client):
    doc = await open_doc(client, REPORT)
    loc = await definition(client, doc, "reporting.monthly", 11, nth=1)
    assert loc.uri.endswith("sops/reporting/monthly.md")
    loc = await definition(client, doc, "compliance]")
    assert loc.uri.endswith("sops/compliance.md")
    loc = await definition(client, doc, "skill portfolio_stats(", 7)
    assert loc.uri.endswith("SKILL.md") and "portfolio" in loc.uri
    loc = await definition(client, doc, '"sops/compliance.md"')
    assert loc.uri.endswith("sops/compliance.md")
    doc.close()


async def test_references_of_a_node(client):
    doc = await open_doc(client, REPORT)
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=doc.id, position=doc.pos("node stats", 6),
        context=lsp.ReferenceContext(include_declaration=True)))
    lines = sorted({r.range.start.line for r in refs})
    assert len(refs) == doc.text.count("stats.") + doc.text.count("[stats]") + 1 + \
        doc.text.count("[draft, stats]")
    assert all(doc.text.splitlines()[r.range.start.line][r.range.start.character:
                                                        r.range.end.character] == "stats"
               for r in refs)
    assert len(lines) > 5
    refs2 = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=doc.id, position=doc.pos("node stats", 6),
        context=lsp.ReferenceContext(include_declaration=False)))
    assert len(refs2) == len(refs) - 1
    doc.close()


def apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines_start = [0]
    for i, c in enumerate(text):
        if c == "\n":
            lines_start.append(i + 1)
    def off(p):
        return lines_start[p.line] + p.character
    for e in sorted(edits, key=lambda e: off(e.range.start), reverse=True):
        text = text[:off(e.range.start)] + e.new_text + text[off(e.range.end):]
    return text


async def rename(client, doc, needle, new, delta=1, nth=0) -> str:
    res = await client.text_document_rename_async(
        lsp.RenameParams(doc.id, doc.pos(needle, delta, nth), new))
    return apply(doc.text, res.changes[doc.uri])


async def test_rename_node_type_and_field_gives_a_flow_that_checks(client):
    doc = await open_doc(client, REPORT)
    for needle, new in (("node stats", "figures"), ("Draft {", "Letter"),
                        ("body\n  files", "content"), ("Client {", "Customer"),
                        ("total_return}", "performance")):
        renamed = await rename(client, doc, needle, new, 6 if needle.startswith("node") else 0)
        await doc.change(renamed)
        bad = [d for d in doc.diagnostics if d.severity == lsp.DiagnosticSeverity.Error
               and d.code != "F0203"]
        assert bad == [], (needle, [(d.code, d.message) for d in bad])
    assert "figures.total_return" not in doc.text and "node figures" in doc.text
    assert "deliverable Letter" in doc.text and "draft.content" in doc.text
    doc.close()


async def test_rename_skill_without_alias_adds_one(client):
    doc = await open_doc(client, REPORT)
    renamed = await rename(client, doc, "use skill render_report", "renderer", 11)
    assert "use skill render_report @ ^1.3 as renderer" in renamed
    assert "skills       [renderer]" in renamed
    await doc.change(renamed)
    # the lock records skills by alias: the only complaint is the stale lock (until relocked)
    assert doc.codes() == ["F0111"]
    doc.close()


async def test_rename_refuses_collisions_and_bad_names(client):
    doc = await open_doc(client, REPORT)
    for needle, new, why in (("node stats", "draft", "already declared"),
                             ("node stats", "node", "keyword"),
                             ("node stats", "2x", "not a name"),
                             ("Draft {", "Client", "already declared"),
                             ("body\n  files", "subject", "already has")):
        with pytest.raises(JsonRpcException) as e:
            await rename(client, doc, needle, new, 6 if needle.startswith("node") else 0)
        assert why in str(e.value), (needle, new, str(e.value))
    prep = await client.text_document_prepare_rename_async(
        lsp.PrepareRenameParams(doc.id, doc.pos("llm {", 1)))
    assert prep is None  # a keyword is not renameable
    prep = await client.text_document_prepare_rename_async(
        lsp.PrepareRenameParams(doc.id, doc.pos("node send", 6)))
    assert prep.placeholder == "send"
    doc.close()
