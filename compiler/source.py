"""Source text and spans: offsets are stored, line and column are computed only when shown."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Source", "Span", "Position", "normalize_text"]


def normalize_text(text: str) -> str:
    """A flow's text as the compiler reads it: a leading UTF-8 byte-order mark dropped and
    Windows line ends (CRLF) turned into LF, so a file saved either way has the same plan
    hash and no `\\r` inside its long strings (prompts, code, standard input)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n") if "\r" in text else text


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of character offsets [start, end) in one source."""

    start: int
    end: int

    def cover(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column (columns count code points)."""

    line: int
    column: int


@dataclass(eq=False)
class Source:
    """One `.flow` text with its path; maps offsets to lines and columns."""

    text: str
    path: str = "<input>"
    _line_starts: list[int] | None = field(default=None, repr=False)
    #: offset of the first character that was not valid UTF-8 in the file, if any
    bad_utf8_at: int | None = field(default=None, repr=False)

    @classmethod
    def from_file(cls, path: str | Path) -> Source:
        """Read a file; bytes that are not UTF-8 become U+FFFD and are remembered."""
        data = Path(path).read_bytes()
        try:
            return cls(normalize_text(data.decode("utf-8")), str(path))
        except UnicodeDecodeError as e:
            prefix = normalize_text(data[: e.start].decode("utf-8", errors="replace"))
            return cls(normalize_text(data.decode("utf-8", errors="replace")), str(path),
                       bad_utf8_at=len(prefix))

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            text = self.text
            i = text.find("\n")
            while i != -1:
                starts.append(i + 1)
                i = text.find("\n", i + 1)
            self._line_starts = starts
        return self._line_starts

    def position(self, offset: int) -> Position:
        starts = self.line_starts
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(starts, offset) - 1
        return Position(line + 1, offset - starts[line] + 1)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        starts = self.line_starts
        if line < 1 or line > len(starts):
            return ""
        start = starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end != -1 else len(self.text)].rstrip("\r")

    @property
    def line_count(self) -> int:
        return len(self.line_starts)
