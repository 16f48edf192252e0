"""Incremental parsing: a file as pieces that start at top-level declarations.

A file is cut where a line starts with a declaration keyword (the places where the parser's
own error recovery resumes). Each piece is parsed on its own and cached by its text; an edit
re-parses only the pieces whose text changed, and the syntax trees of the others are moved
to their new offsets. A piece that does not parse cleanly on its own (a syntax error, or a
cut inside a long string) is parsed together with the pieces after it, with the parser's
own recovery, until the stretch ends cleanly (to the end of the file when a long string or
command line is left open). The diagnostics are then the same as parsing the whole file, and
so is the tree when the file has no syntax error; with syntax errors the tree keeps every
piece that parses, where the whole-file recovery may drop some (tests/lsp/test_incremental.py
compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowc.compiler import syntax as s
from flowc.compiler.diagnostics import Diagnostic, Diagnostics
from flowc.compiler.parser import SYNC_RE, ParseResult, parse_fragment
from flowc.compiler.records import Record
from flowc.compiler.source import Source, Span

__all__ = ["IncrementalParser", "ParseStats", "shift_tree"]


_FIELDS: dict[type, tuple[str, ...]] = {}


def shift_tree(node, delta: int) -> None:
    """Move every span in a syntax subtree by `delta` characters, in place."""
    cls = type(node)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(cls.__dataclass_fields__)
    for name in names:
        v = getattr(node, name)
        tv = type(v)
        if tv is Span:
            setattr(node, name, Span(v.start + delta, v.end + delta))
        elif tv is tuple:
            for x in v:
                if isinstance(x, Record):
                    shift_tree(x, delta)
        elif isinstance(v, Record):
            shift_tree(v, delta)


@dataclass
class _Piece:
    """One parsed piece; the spans of its tree are currently shifted by `offset`."""

    header: s.Header | None
    items: tuple
    comments: tuple[s.Comment, ...]
    diagnostics: list[Diagnostic]   # spans relative to the piece's own text
    clean: bool
    offset: int = 0

    def move_to(self, offset: int) -> None:
        delta = offset - self.offset
        if delta:
            if self.header is not None:
                shift_tree(self.header, delta)
            for it in self.items:
                shift_tree(it, delta)
            for c in self.comments:
                shift_tree(c, delta)
            self.offset = offset


def _open_long_token(piece: _Piece, text: str) -> bool:
    """Whether a syntax error in the piece is a quote that a later line might close."""
    for d in piece.diagnostics:
        if d.message == "unterminated string":
            at = d.span.start
            c = text[at:at + 1]
            if c == "`" or text[max(0, at - 2):at + 1] == c * 3 or text[at:at + 3] == c * 3:
                return True
    return False


@dataclass
class ParseStats:
    pieces: int = 0     # pieces in the last parse
    parsed: int = 0     # pieces (or stretches) parsed in the last parse
    reused: int = 0     # pieces taken from the cache in the last parse
    total_parsed: int = 0


@dataclass
class IncrementalParser:
    """Parses successive versions of one document, reusing unchanged pieces."""

    _cache: dict[tuple[str, bool], _Piece] = field(default_factory=dict)
    stats: ParseStats = field(default_factory=ParseStats)

    def _piece(self, text: str, header: bool, used: set, fresh: dict) -> _Piece:
        key = (text, header)
        piece = fresh.get(key) if key not in used else None
        if piece is None and key not in used:
            piece = self._cache.get(key)
            if piece is not None:
                self.stats.reused += 1
        if piece is None:
            diags = Diagnostics(limit=10_000)
            result, clean = parse_fragment(Source(text, "<piece>"), diags, header=header)
            f = result.file
            piece = _Piece(f.header, f.items, result.comments, diags.items, clean)
            self.stats.parsed += 1
            self.stats.total_parsed += 1
        used.add(key)
        fresh[key] = piece
        return piece

    def parse(self, source: Source, diagnostics: Diagnostics) -> ParseResult:
        """Parse `source` as `flowc.compiler.parser.parse` would, reporting to `diagnostics`."""
        text = source.text
        bounds = [0, *(m.start() for m in SYNC_RE.finditer(text) if m.start() > 0), len(text)]
        n = len(bounds) - 1
        self.stats.parsed = self.stats.reused = 0
        self.stats.pieces = n
        used: set = set()
        fresh: dict = {}
        header = None
        items: list = []
        comments: list = []
        i = 0
        while i < n:
            j = i + 1
            piece = self._piece(text[bounds[i]:bounds[j]], i == 0, used, fresh)
            while j < n and not piece.clean:
                j = min(n, j + max(1, j - i))  # widen: 2, 4, 8... pieces
                piece = self._piece(text[bounds[i]:bounds[j]], i == 0, used, fresh)
            if j < n and _open_long_token(piece, text[bounds[i]:bounds[j]]):
                # a long string or command line left open may close anywhere further on
                j = n
                piece = self._piece(text[bounds[i]:], i == 0, used, fresh)
            start = bounds[i]
            piece.move_to(start)
            if i == 0:
                header = piece.header
            items.extend(piece.items)
            comments.extend(piece.comments)
            for d in piece.diagnostics:
                diagnostics.add(d.code, source, Span(d.span.start + start, d.span.end + start),
                                d.message, label=d.label, help=d.help, notes=d.notes,
                                severity=d.severity)
            i = j
        self._cache = fresh
        ordered = tuple(comments)
        return ParseResult(s.FlowFile(header, tuple(items), ordered, Span(0, len(text))), ordered)
