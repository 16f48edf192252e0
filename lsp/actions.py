"""Quick fixes for common diagnostics, and whole-document formatting (`flowc fmt`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from flowc.compiler import syntax as s

if TYPE_CHECKING:
    from .analysis import Analysis
    from .positions import PositionCodec

__all__ = ["quick_fixes", "format_edits"]

_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?")


def quick_fixes(an: Analysis, codec: PositionCodec, uri: str, rng: lsp.Range,
                context: lsp.CodeActionContext) -> list[lsp.CodeAction]:
    out = []
    for diag in context.diagnostics:
        if diag.source != "flowc":
            continue
        a, b = codec.offsets(diag.range)
        help_ = (diag.data or {}).get("help") if isinstance(diag.data, dict) else None
        if help_ is None:
            m = re.search(r"^help: (.*)$", diag.message, re.M)
            help_ = m.group(1) if m else None
        m = _DID_YOU_MEAN.search(help_ or "")
        if m and _replaceable(an.source.text[a:b]):
            new = m.group(1)
            out.append(_action(f"Change to `{new}`", uri, diag,
                               [lsp.TextEdit(codec.range(a, b), new)], preferred=True))
        if diag.code == "F0304":
            edit = _add_timeout(an, codec, a)
            if edit is not None:
                title, te = edit
                out.append(_action(title, uri, diag, [te], preferred=True))
    return out


def _replaceable(text: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][\w]*(\s*\.\s*[A-Za-z_]\w*)*", text) is not None


def _action(title, uri, diag, edits, preferred=False) -> lsp.CodeAction:
    return lsp.CodeAction(title=title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diag],
                          is_preferred=preferred,
                          edit=lsp.WorkspaceEdit(changes={uri: edits}))


def _human_node_at(an: Analysis, offset: int):
    for it in an.file.items:
        if isinstance(it, s.NodeDecl) and it.span.start <= offset <= it.span.end:
            body = it.body
            if isinstance(body, s.ForEach):
                body = body.body
            if isinstance(body, s.GateNode | s.AskNode):
                return body
    return None


def _add_timeout(an: Analysis, codec, offset: int):
    """Insert `timeout: 48h -> reject` (a gate) or `timeout: 24h -> fail` (ask human)."""
    body = _human_node_at(an, offset)
    if body is None:
        return None
    text = an.source.text
    arg = "timeout: 48h -> reject" if isinstance(body, s.GateNode) else "timeout: 24h -> fail"
    close = body.span.end - 1  # the `)`
    if not body.args:
        return f"Add `{arg}`", lsp.TextEdit(codec.range(close, close), arg)
    last = body.args[-1]
    after = last.span.end
    rest = text[after:close]
    comma = rest.lstrip(" \t").startswith(",")
    line_start = text.rfind("\n", 0, last.span.start) + 1
    own_line = text[line_start:last.span.start].strip() == ""
    if own_line:
        indent = text[line_start:last.span.start]
        if comma:
            at = after + rest.index(",") + 1
            new = f"\n{indent}{arg},"
        else:
            at, new = after, f",\n{indent}{arg},"
    else:
        at, new = (after + rest.index(",") + 1, f" {arg},") if comma else (after, f", {arg}")
    return f"Add `{arg}`", lsp.TextEdit(codec.range(at, at), new)


def format_edits(an_text: str, path: str, codec: PositionCodec) -> list[lsp.TextEdit] | None:
    """One edit that replaces the document with its formatted text; None on syntax errors."""
    from flowc.compiler.formatter import format_source

    out = format_source(an_text, path)
    if out is None:
        return None
    if out == an_text:
        return []
    # replace only the lines that changed, so the cursor and folds stay where they were
    a = 0
    limit = min(len(out), len(an_text))
    while a < limit and out[a] == an_text[a]:
        a += 1
    a = an_text.rfind("\n", 0, a) + 1
    b_old, b_new = len(an_text), len(out)
    while b_old > a and b_new > a and an_text[b_old - 1] == out[b_new - 1]:
        b_old -= 1
        b_new -= 1
    return [lsp.TextEdit(codec.range(a, b_old), out[a:b_new])]

