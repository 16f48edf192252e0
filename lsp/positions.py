"""The one codec between compiler offsets and LSP positions.

The compiler counts code points from the start of the text (`Span`); Lark's columns are
1-based code points. LSP positions are a 0-based line and a 0-based column counted in the
code units of the negotiated position encoding: UTF-16 by default, UTF-8 or UTF-32 when the
client offers them. Every conversion in the server goes through `PositionCodec`.
"""

from __future__ import annotations

from bisect import bisect_right

from lsprotocol import types as lsp

__all__ = ["PositionCodec", "UTF8", "UTF16", "UTF32"]

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(text: str, encoding: str) -> int:
    """How many code units `text` takes in `encoding`."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)
    return len(text.encode("utf-8", errors="surrogatepass"))


class PositionCodec:
    """Offsets <-> positions for one version of one text.

    Lines end at `\\n` (a `\\r` before it belongs to the line ending). Columns beyond the end
    of a line clamp to its end, and lines beyond the end of the text clamp to its end, as
    the protocol asks.
    """

    __slots__ = ("_ascii", "encoding", "line_starts", "text")

    def __init__(self, text: str, encoding: str = UTF16):
        self.text = text
        self.encoding = str(getattr(encoding, "value", encoding))
        starts = [0]
        i = text.find("\n")
        while i != -1:
            starts.append(i + 1)
            i = text.find("\n", i + 1)
        self.line_starts = starts
        self._ascii = text.isascii()

    # ---- offsets to positions ----------------------------------------------------------------
    def position(self, offset: int) -> lsp.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        if self._ascii:
            return lsp.Position(line=line, character=offset - start)
        return lsp.Position(line=line, character=_units(self.text[start:offset], self.encoding))

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(start=self.position(start), end=self.position(max(start, end)))

    # ---- positions to offsets ----------------------------------------------------------------
    def line_end(self, line: int) -> int:
        """The offset where line `line`'s content ends (before `\\r\\n` or `\\n`)."""
        if line + 1 < len(self.line_starts):
            end = self.line_starts[line + 1] - 1
            if end > self.line_starts[line] and self.text[end - 1] == "\r":
                end -= 1
            return end
        return len(self.text)

    def offset(self, pos: lsp.Position) -> int:
        if pos.line < 0:
            return 0
        if pos.line >= len(self.line_starts):
            return len(self.text)
        start = self.line_starts[pos.line]
        end = self.line_end(pos.line)
        want = max(0, pos.character)
        if self._ascii or self.encoding == UTF32:
            return min(start + want, end)
        units = 0
        i = start
        while i < end and units < want:
            units += _units(self.text[i], self.encoding)
            if units > want:  # the position falls inside a character: stay before it
                break
            i += 1
        return i

    def offsets(self, rng: lsp.Range) -> tuple[int, int]:
        a, b = self.offset(rng.start), self.offset(rng.end)
        return (a, b) if a <= b else (b, a)
