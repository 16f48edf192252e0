"""Completion, outline, semantic tokens, formatting, quick fixes and incremental checking."""

from __future__ import annotations

import itertools

import pytest
from lsp_harness import EXAMPLES, open_doc
from lsprotocol import types as lsp
from test_navigation import apply

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPORT = EXAMPLES / "client_report" / "client_report.flow"


async def labels(client, doc, needle, delta=0, nth=0) -> list[str]:
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=doc.id, position=doc.pos(needle, delta, nth)))
    items = res.items if isinstance(res, lsp.CompletionList) else res
    return [i.label for i in items]


async def at_end(client, doc, text) -> list[str]:
    """Type `text` at the end of the document, then complete there."""
    await doc.change(doc.text + text)
    end = len(doc.text)
    line = doc.text.count("\n")
    col = end - (doc.text.rfind("\n") + 1)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=doc.id, position=lsp.Position(line, col)))
    return [i.label for i in res.items]


async def test_completion_of_parts_after_a_dot(client):
    doc = await open_doc(client, REPORT)
    got = await labels(client, doc, "draft.body,", len("draft."))
    assert {"body", "report", "subject", "memory"} <= set(got)
    got = await labels(client, doc, "client.currency", len("client."))
    assert got[:4] == ["id", "name", "email", "currency"]
    doc.close()


async def test_completion_in_a_half_typed_declaration(client):
    doc = await open_doc(client, REPORT)
    # a new node that does not parse yet: names, parts, gate options still complete
    got = await at_end(client, doc, "\nnode notify = llm {\n  prompt \"{stats.")
    assert {"total_return", "status", "summary"} <= set(got)
    assert doc.codes()  # the file has a syntax error now...
    got = await at_end(client, doc, "}\"\n  context [")
    assert {"stats", "draft", "client"} <= set(got)  # ...and completion still works
    doc.close()


async def test_completion_of_properties_gate_options_and_actions(client):
    doc = await open_doc(client, REPORT)
    got = await at_end(client, doc, "\nnode extra = agent {\n  ")
    assert {"goal", "instructions", "skills", "max_steps"} <= set(got)
    doc.close()
    doc = await open_doc(client, REPORT)
    got = await at_end(client, doc, "\nnode ok = await human(\n  ")
    assert {"to", "show", "edit", "actions", "timeout"} <= set(got)
    got = await at_end(client, doc, "actions: [")
    assert got == ["approve", "edit", "reject"]
    got = await at_end(client, doc, "approve],\n  timeout: 2h -> ")
    assert set(got) == {"approve", "reject", "fail"}
    doc.close()


async def test_completion_of_skills_versions_and_sop_entries(client):
    doc = await open_doc(client, REPORT)
    got = await at_end(client, doc, "\nuse skill ")
    assert {"portfolio_stats", "render_report", "csv_report"} & set(got)
    assert "portfolio_stats" in got or "portfolio-stats" in got
    doc.close()
    doc = await open_doc(client, REPORT)
    got = await at_end(client, doc, "\nuse skill portfolio_stats @ ")
    assert "2.1.0" in got and any(g.startswith("^") for g in got)
    doc.close()
    doc = await open_doc(client, REPORT)
    got = await at_end(client, doc, "\nnode x = llm {\n  prompt \"a\"\n  sops [")
    assert {"compliance", "reporting", "reporting.monthly", "reporting.quarterly"} <= set(got)
    got = await at_end(client, doc, "reporting.")
    assert set(got) == {"monthly", "quarterly"}
    doc.close()


async def test_completion_of_keywords_snippets_and_node_kinds(client):
    doc = await open_doc(client, REPORT)
    res = await client.text_document_completion_async(lsp.CompletionParams(
        text_document=doc.id, position=lsp.Position(doc.text.count("\n"), 0)))
    by_label = {i.label: i for i in res.items}
    assert {"node", "input", "output", "match", "import", "use"} <= set(by_label)
    snip = by_label["node = await human"]
    assert snip.insert_text_format == lsp.InsertTextFormat.Snippet
    assert "timeout:" in snip.text_edit.new_text
    got = await at_end(client, doc, "\nnode y = ")
    assert {"llm", "agent", "extract", "skill", "code", "command", "await human",
            "ask human", "for each"} <= set(got)
    got = await at_end(client, doc, "skill ")
    assert {"portfolio_stats", "render_report"} <= set(got) and "client" not in got
    doc.close()


async def test_document_symbols(client):
    doc = await open_doc(client, REPORT)
    res = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=doc.id))
    (flow,) = res
    assert flow.name == "client_report"
    by_name = {s.name: s for s in flow.children}
    assert by_name["draft"].kind == lsp.SymbolKind.Function
    assert by_name["draft"].detail == "agent: Draft"
    assert [c.name for c in by_name["Draft"].children] == ["body", "report", "subject", "memory"]
    assert by_name["Client"].kind == lsp.SymbolKind.Struct
    assert by_name["client"].detail == "input: Client"
    sel = by_name["review"].selection_range
    assert doc.text.splitlines()[sel.start.line][sel.start.character:sel.end.character] == \
        "review"
    doc.close()


def decode(data, text, legend):
    out = []
    line = col = 0
    lines = text.splitlines()
    for i in range(0, len(data), 5):
        dl, dc, length, ty, mods = data[i:i + 5]
        line += dl
        col = col + dc if dl == 0 else dc
        out.append((lines[line][col:col + length], legend[ty], mods))
    return out


async def test_semantic_tokens(client):
    doc = await open_doc(client, REPORT)
    res = await client.text_document_semantic_tokens_full_async(
        lsp.SemanticTokensParams(text_document=doc.id))
    from flowc.lsp.outline import TOKEN_TYPES

    toks = decode(res.data, doc.text, TOKEN_TYPES)
    kinds = {}
    for word, ty, mods in toks:
        kinds.setdefault(word, set()).add((ty, mods))
    assert ("function", 1) in kinds["draft"]          # the declaration
    assert ("function", 0) in kinds["draft"]          # its uses
    assert ("struct", 1) in kinds["Draft"]
    assert ("property", 0) in kinds["total_return"]
    assert ("keyword", 0) in kinds["node"]
    assert any(ty == "comment" for _, ty, _ in toks)
    assert any(ty == "string" for _, ty, _ in toks)
    # tokens never overlap and come in order
    pos = []
    line = col = 0
    for i in range(0, len(res.data), 5):
        line += res.data[i]
        col = col + res.data[i + 1] if res.data[i] == 0 else res.data[i + 1]
        pos.append((line, col, res.data[i + 2]))
    for (l1, c1, n1), (l2, c2, _) in itertools.pairwise(pos):
        assert (l1, c1 + n1) <= (l2, c2)
    doc.close()


async def test_formatting_is_flowc_fmt(client):
    from flowc.compiler.formatter import format_source

    doc = await open_doc(client, REPORT)
    messy = doc.text.replace("node stats = skill", "node   stats=skill").replace(
        "  timeout 2m", "      timeout 2m")
    await doc.change(messy)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=doc.id, options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert edits
    assert apply(messy, edits) == format_source(messy, str(REPORT))
    await doc.change(format_source(messy, str(REPORT)))
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=doc.id, options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert not edits  # already formatted: nothing to change
    await doc.change(doc.text + "\nnode broken = ")
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=doc.id, options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert not edits  # a file with syntax errors is left alone
    doc.close()


async def actions_for(client, doc, code):
    diag = next(d for d in doc.diagnostics if d.code == code)
    return await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=doc.id, range=diag.range,
        context=lsp.CodeActionContext(diagnostics=[diag])))


async def test_quick_fix_adds_a_missing_timeout(client):
    doc = await open_doc(client, EXAMPLES / "broken" / "gate_without_timeout.flow")
    assert "F0304" in doc.codes()
    (fix,) = await actions_for(client, doc, "F0304")
    assert fix.kind == lsp.CodeActionKind.QuickFix and "timeout" in fix.title
    fixed = apply(doc.text, fix.edit.changes[doc.uri])
    assert "  actions: [approve, edit, reject],\n  timeout: 48h -> reject,\n)" in fixed
    await doc.change(fixed)
    assert "F0304" not in doc.codes()
    doc.close()


async def test_quick_fix_applies_did_you_mean(client):
    for name, code in (("unknown_field.flow", "F0203"), ("unknown_name.flow", "F0101"),
                       ("unknown_type.flow", "F0110")):
        doc = await open_doc(client, EXAMPLES / "broken" / name)
        fixes = await actions_for(client, doc, code)
        fix = next(f for f in fixes if f.title.startswith("Change to"))
        fixed = apply(doc.text, fix.edit.changes[doc.uri])
        await doc.change(fixed)
        assert code not in doc.codes(), name
        doc.close()


async def test_incremental_check_reparses_only_the_edited_declaration(client):
    doc = await open_doc(client, REPORT)
    before = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="flowc.stats", arguments=[doc.uri]))
    at = doc.pos("max_steps    8", len("max_steps    "))
    end = lsp.Position(at.line, at.character + 1)
    await doc.edit(at, end, "9", doc.text.replace("max_steps    8", "max_steps    9"))
    after = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(
        command="flowc.stats", arguments=[doc.uri]))
    assert after["checks"] > before["checks"]
    assert after["parsed"] == 1 and after["reused"] == after["pieces"] - 1
    doc.close()


async def test_file_watcher_is_registered(client):
    assert any(r.method == lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES
               for r in client.registrations)


async def test_a_burst_of_edits_makes_few_checks_and_ends_up_current(client):
    doc = await open_doc(client, REPORT)
    stats = lsp.ExecuteCommandParams(command="flowc.stats", arguments=[doc.uri])
    before = (await client.workspace_execute_command_async(stats))["checks"]
    text = doc.text
    for k in range(20):  # typed faster than the debounce: one change after another
        text = text.replace("max_steps    8" if k == 0 else f"max_steps    8{'x' * k}",
                            f"max_steps    8{'x' * (k + 1)}")
        await doc.change(text, wait=False)
    from lsp_harness import published_count, wait_diagnostics

    await wait_diagnostics(client, doc.uri, doc.version, published_count(client, doc.uri) - 1)
    after = (await client.workspace_execute_command_async(stats))["checks"]
    assert after - before < 20
    assert doc.codes()  # `8xxxx...` is not a number: the last text was checked
    doc.close()
