"""The piecewise parser against the whole-file parser, and the position codec."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lsprotocol import types as lsp

from flowc.compiler.checker import _ASK_ARGS, _GATE_ARGS, _OPTIONS, _PROPS
from flowc.compiler.diagnostics import Diagnostics
from flowc.compiler.parser import parse
from flowc.compiler.source import Source
from flowc.lsp import vocabulary
from flowc.lsp.incremental import IncrementalParser
from flowc.lsp.positions import PositionCodec

ROOT = Path(__file__).resolve().parents[2]
FLOWS = sorted([*ROOT.glob("examples/**/*.flow"), *ROOT.glob("docs/**/*.flow")])


def _key(d: Diagnostics):
    return [(x.code, x.span.start, x.span.end, x.message, x.help) for x in d.sorted()]


def _same(text: str, inc: IncrementalParser) -> None:
    d1, d2 = Diagnostics(), Diagnostics()
    whole = parse(Source(text, "a.flow"), d1)
    pieces = inc.parse(Source(text, "a.flow"), d2)
    assert _key(d1) == _key(d2), text
    if not d1.has_errors:
        assert whole.file == pieces.file
        assert [(i.span, repr(i)) for i in whole.file.items] == \
            [(i.span, repr(i)) for i in pieces.file.items]
        assert [c.span for c in whole.comments] == [c.span for c in pieces.comments]


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_pieces_parse_as_the_whole_file_under_random_edits(path):
    rng = random.Random(path.name)
    text = path.read_text(encoding="utf-8")
    inc = IncrementalParser()
    _same(text, inc)
    for _ in range(25):
        at = rng.randrange(len(text) + 1)
        if rng.random() < 0.5:
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + rng.choice('{}()"x.\n `:node """') + text[at:]
        _same(text, inc)


def test_an_edit_reparses_one_piece():
    text = (ROOT / "examples/client_report/client_report.flow").read_text(encoding="utf-8")
    inc = IncrementalParser()
    inc.parse(Source(text, "a"), Diagnostics())
    assert inc.stats.parsed == inc.stats.pieces
    edited = text.replace("max_steps    8", "max_steps    12")
    inc.parse(Source(edited, "a"), Diagnostics())
    assert inc.stats.parsed == 1 and inc.stats.reused == inc.stats.pieces - 1


def test_a_long_string_cut_by_a_keyword_line_is_parsed_whole():
    text = ('flow f version "1.0.0"\ninput n: int\nnode c: int = code python """\n'
            'import os\nnode = 1\n"""\noutput o = c\n')
    d = Diagnostics()
    res = IncrementalParser().parse(Source(text, "a"), d)
    assert not d.has_errors and len(res.file.items) == 3


@pytest.mark.parametrize("encoding,col", [("utf-16", 8), ("utf-8", 12), ("utf-32", 7)])
def test_codec_counts_code_units_of_the_encoding(encoding, col):
    text = "ab\r\né😀 ü x = 1\nlast"
    codec = PositionCodec(text, encoding)
    at = text.index("= 1")
    pos = codec.position(at)
    # 'é😀 ü x ': 7 code points; é and ü are 2 UTF-8 bytes, 😀 is 4 bytes or 2 UTF-16 units
    assert (pos.line, pos.character) == (1, col)
    assert codec.offset(pos) == at
    # every offset survives the round trip, and columns beyond a line clamp to its end
    for off in range(len(text) + 1):
        if off and text[off - 1] == "\r" and text[off:off + 1] == "\n":
            continue
        assert codec.offset(codec.position(off)) == off
    assert codec.offset(lsp.Position(0, 99)) == text.index("\r")
    assert codec.offset(lsp.Position(9, 0)) == len(text)


def test_codec_never_splits_a_surrogate_pair():
    text = "x😀y"
    codec = PositionCodec(text, "utf-16")
    assert codec.offset(lsp.Position(0, 2)) == 1   # inside the emoji: before it
    assert codec.offset(lsp.Position(0, 3)) == 2


def test_vocabulary_covers_the_checker():
    for kind, props in _PROPS.items():
        assert set(vocabulary.PROPERTIES[kind]) == set(props), kind
    assert set(vocabulary.GATE_ARGS) == set(_GATE_ARGS)
    assert set(vocabulary.ASK_ARGS) == set(_ASK_ARGS)
    assert set(vocabulary.NODE_OPTIONS) == set(_OPTIONS)
