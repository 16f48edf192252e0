"""The compiler's diagnostics as LSP diagnostics (the same objects `flowc check` renders)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from flowc.compiler.codes import CODES
from flowc.compiler.diagnostics import Diagnostic
from flowc.compiler.source import Source

from .documents import path_to_uri
from .positions import PositionCodec

__all__ = ["to_lsp_diagnostics"]

_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning,
             "info": lsp.DiagnosticSeverity.Information}


def _location(src: Source, start: int, end: int, own: Source, codec: PositionCodec):
    if src is own:
        return path_to_uri(own.path) if own.path != "<input>" else None, codec.range(start, end)
    other = PositionCodec(src.text)
    path = Path(src.path.split("#", 1)[0])
    return path_to_uri(path), other.range(start, end)


def _positional(label: str) -> bool:
    """A caret label that only says where ("here", "imported here", "second declaration"):
    `flowc check` draws it under the span; in an editor the message already sits there."""
    return label.endswith("here") or label in ("second declaration", "this")


def _message(d: Diagnostic) -> str:
    msg = d.message
    if d.label and not _positional(d.label):
        msg += f"\n{d.label}"
    if d.help:
        msg += f"\nhelp: {d.help}"
    for note in d.notes:
        msg += f"\nnote: {note}"
    return msg


def to_lsp_diagnostics(diags: list[Diagnostic], own: Source, codec: PositionCodec,
                       uri: str) -> list[lsp.Diagnostic]:
    """The diagnostics to publish for one document.

    A diagnostic in another file (a malformed SKILL.md, an imported flow) is shown where this
    document refers to that file, with the other file as related information; one that
    never points into this document is left to that file's own check.
    """
    out = []
    for d in diags:
        related = []
        if d.source is own:
            rng = codec.range(d.span.start, d.span.end)
        else:
            here = next((r for r in d.related if r.source is own), None)
            if here is None:
                continue
            rng = codec.range(here.span.start, here.span.end)
            other_uri, other_rng = _location(d.source, d.span.start, d.span.end, own, codec)
            related.append(lsp.DiagnosticRelatedInformation(
                lsp.Location(other_uri or uri, other_rng), f"{d.source.path}: {d.message}"))
        for r in d.related:
            if r.source is own and d.source is not own:
                continue
            r_uri, r_rng = _location(r.source, r.span.start, r.span.end, own, codec)
            related.append(lsp.DiagnosticRelatedInformation(
                lsp.Location(r_uri or uri, r_rng), r.label or "related"))
        code = CODES.get(d.code)
        out.append(lsp.Diagnostic(
            range=rng,
            message=_message(d),
            severity=_SEVERITY[d.severity],
            code=d.code,
            source="flowc",
            related_information=related or None,
            data={"help": d.help, "title": code.title if code else None},
            tags=[lsp.DiagnosticTag.Unnecessary] if d.code in ("F0305", "F0306", "F0311")
            and d.severity != "error" else None,
        ))
    return out
