"""The document's outline (document symbols) and its semantic tokens."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from flowc.compiler import syntax as s
from flowc.compiler.source import Span

from .positions import PositionCodec

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["document_symbols", "semantic_tokens", "TOKEN_TYPES", "TOKEN_MODIFIERS"]

SK = lsp.SymbolKind


def _sym(codec: PositionCodec, name: str, kind, span, sel, detail=None, children=None):
    return lsp.DocumentSymbol(name=name, kind=kind, range=codec.range(span.start, span.end),
                              selection_range=codec.range(sel.start, sel.end), detail=detail,
                              children=children or None)


def _fields(codec, fields, kind=SK.Field):
    return [_sym(codec, fd.name.value, kind, fd.span, fd.name.span,
                 _type_text(fd.type)) for fd in fields]


def _type_text(te) -> str:
    if isinstance(te, s.OptionalType):
        return _type_text(te.inner) + "?"
    if isinstance(te, s.EnumType):
        return "enum { " + ", ".join(v.value for v in te.variants) + " }"
    if isinstance(te, s.NamedType):
        if te.args:
            return f"{te.name.value}<{', '.join(_type_text(a) for a in te.args)}>"
        return te.name.value
    return ""


def document_symbols(an: Analysis, codec: PositionCodec) -> list[lsp.DocumentSymbol]:
    out = []
    p = an.program
    for it in an.file.items:
        if isinstance(it, s.NodeDecl):
            info = p.nodes.get(it.name.value) if p is not None else None
            kind = type(it.body).__name__
            detail = info.kind if info else kind
            if info is not None:
                detail += f": {info.type.describe()}"
            out.append(_sym(codec, it.name.value, SK.Function, it.span, it.name.span, detail))
        elif isinstance(it, s.InputDecl):
            out.append(_sym(codec, it.name.value, SK.Variable, it.span, it.name.span,
                            "input: " + _type_text(it.type)))
        elif isinstance(it, s.OutputDecl):
            out.append(_sym(codec, it.name.value, SK.Property, it.span, it.name.span,
                            "output" + (": " + _type_text(it.type) if it.type else "")))
        elif isinstance(it, s.RecordDecl):
            out.append(_sym(codec, it.name.value, SK.Struct, it.span, it.name.span, "record",
                            _fields(codec, it.fields)))
        elif isinstance(it, s.EnumDecl):
            kids = [_sym(codec, v.value, SK.EnumMember, v.span, v.span) for v in it.variants]
            out.append(_sym(codec, it.name.value, SK.Enum, it.span, it.name.span, "enum", kids))
        elif isinstance(it, s.DeliverableDecl):
            kids = []
            for part in it.parts:
                if part.kind == "text" and part.name is not None:
                    kids.append(_sym(codec, part.name.value, SK.Field, part.span,
                                     part.name.span, "text"))
                elif part.kind == "memory":
                    kids.append(_sym(codec, "memory", SK.Field, part.span, part.span, "memory"))
                else:
                    kids += _fields(codec, part.fields)
            out.append(_sym(codec, it.name.value, SK.Class, it.span, it.name.span,
                            "deliverable", kids))
        elif isinstance(it, s.ImportSop):
            out.append(_sym(codec, it.alias.value, SK.File, it.span, it.alias.span,
                            f"sop {it.path.value}"))
        elif isinstance(it, s.UseSkill):
            out.append(_sym(codec, it.local_name.value, SK.Module, it.span, it.local_name.span,
                            f"skill {it.skill.value} @ {it.spec.value}"))
        elif isinstance(it, s.UseFlow):
            out.append(_sym(codec, it.alias.value, SK.Module, it.span, it.alias.span,
                            f"flow {it.path.value}"))
        elif isinstance(it, s.MatchDecl):
            subject = an.source.text[it.subject.span.start:it.subject.span.end]
            out.append(_sym(codec, f"match {subject}", SK.Operator, it.span, it.subject.span))
    if an.file.header is not None:
        h = an.file.header
        whole = Span(0, len(an.source.text))
        return [_sym(codec, h.name.value, SK.Module, whole, h.name.span,
                     f"flow {h.version.value if h.version else ''}".strip(), out)]
    return out


# ---- semantic tokens -----------------------------------------------------------------------------

TOKEN_TYPES = ["namespace", "type", "struct", "enum", "enumMember", "property", "variable",
               "parameter", "function", "keyword", "string", "number", "comment", "event",
               "operator"]
TOKEN_MODIFIERS = ["declaration", "readonly", "defaultLibrary"]
_T = {name: i for i, name in enumerate(TOKEN_TYPES)}
_KIND_TOKEN = {
    "node": "function", "input": "variable", "output": "variable", "sop": "namespace",
    "skill": "namespace", "flow": "namespace", "skill_name": "namespace",
    "flow_name": "namespace", "record": "struct", "deliverable": "struct", "enum": "enum",
    "field": "property", "part": "property", "builtin_member": "property",
    "variant": "enumMember", "outcome": "event", "sop_entry": "namespace",
    "local": "variable", "param": "parameter", "property": "property", "option": "property",
    "builtin_type": "type", "builtin_fn": "function", "action": "enumMember",
    "keyword": "keyword", "language": "keyword", "file_kind": "type",
}
_LEX = re.compile(r'(?P<comment>//[^\n]*)|(?P<long>"""(?:[^"\\]|\\.|"(?!""))*"""|'
                  r"'''(?:[^'\\]|\\.|'(?!''))*''')|(?P<str>\"(?:[^\"\\\n]|\\.)*\")|"
                  r"(?P<cmd>`(?:[^`\\]|\\.)*`)|(?P<num>\b\d+(?:\.\d+)?(?:ms|s|m|h|d|w)*\b)|"
                  r"(?P<word>[A-Za-z_]\w*)")
_KEYWORDS = frozenset((
    "flow version mode on policy import sop use skill as record enum deliverable text files "
    "fields memory input output node llm agent extract code command await human ask for each "
    "in concurrency when after effect match else not and or true false null").split())


def semantic_tokens(an: Analysis, codec: PositionCodec) -> list[int]:
    """The LSP's relative encoding: (line delta, start delta, length, type, modifiers)."""
    text = an.source.text
    named: dict[int, tuple[int, int, int]] = {}   # start -> (end, type, modifiers)
    for o in an.index.occurrences:
        if o.symbol.kind in ("unknown",) or o.symbol.key[0] == "import_path":
            continue
        tok = _KIND_TOKEN.get(o.symbol.kind)
        if tok is None:
            continue
        mods = 1 if o.definition else 0
        if o.symbol.kind in ("builtin_type", "builtin_fn", "builtin_member", "action"):
            mods |= 4
        named[o.span.start] = (o.span.end, _T[tok], mods)
    tokens: list[tuple[int, int, int, int]] = []   # (start, end, type, mods)
    for m in _LEX.finditer(text):
        kind = m.lastgroup
        a, b = m.span()
        if kind == "word":
            hit = named.get(a)
            if hit is not None and hit[0] == b:
                tokens.append((a, b, hit[1], hit[2]))
            elif m.group() in _KEYWORDS:
                tokens.append((a, b, _T["keyword"], 0))
        elif kind == "num":
            tokens.append((a, b, _T["number"], 0))
        elif kind == "comment":
            tokens.append((a, b, _T["comment"], 0))
        else:
            # strings: the text between holes is a string, names inside holes are names
            pos = a
            for start in sorted(k for k in named if a < k < b):
                end, ty, mods = named[start]
                if start < pos:
                    continue
                if start > pos:
                    tokens.append((pos, start, _T["string"], 0))
                tokens.append((start, end, ty, mods))
                pos = end
            if pos < b:
                tokens.append((pos, b, _T["string"], 0))
    return _encode(tokens, codec)


def _encode(tokens, codec: PositionCodec) -> list[int]:
    data: list[int] = []
    prev_line = prev_col = 0
    text = codec.text
    for a, b, ty, mods in tokens:
        # a token may not span lines: split it at each line end
        while a < b:
            nl = text.find("\n", a, b)
            end = b if nl == -1 else nl
            if end > a:
                start = codec.position(a)
                length = codec.position(end).character - start.character
                dl = start.line - prev_line
                dc = start.character - prev_col if dl == 0 else start.character
                data += [dl, dc, length, ty, mods]
                prev_line, prev_col = start.line, start.character
            a = end + 1 if nl != -1 else b
    return data
