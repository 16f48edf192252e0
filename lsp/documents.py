"""Open documents: their text and version, edited through the position codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp

from .positions import UTF16, PositionCodec

__all__ = ["Document", "uri_to_path", "path_to_uri"]


def uri_to_path(uri: str) -> Path | None:
    """The file a `file:` URI names, or None for other schemes (unsaved buffers)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if parsed.netloc:
        path = f"//{parsed.netloc}{path}"
    return Path(path)


def path_to_uri(path: Path | str) -> str:
    return Path(path).resolve().as_uri()


@dataclass
class Document:
    uri: str
    text: str
    version: int
    encoding: str = UTF16
    path: Path | None = None
    _codec: PositionCodec | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.path is None:
            self.path = uri_to_path(self.uri)

    @property
    def codec(self) -> PositionCodec:
        if self._codec is None or self._codec.text is not self.text:
            self._codec = PositionCodec(self.text, self.encoding)
        return self._codec

    @property
    def display_path(self) -> str:
        """The path diagnostics and the compiler use for this document."""
        return str(self.path) if self.path is not None else "<input>"

    def apply(self, changes, version: int) -> tuple[int, int] | None:
        """Apply content changes; return the changed range of the new text (None: all)."""
        changed: tuple[int, int] | None = (len(self.text), 0)
        for ch in changes:
            if isinstance(ch, lsp.TextDocumentContentChangePartial):
                a, b = self.codec.offsets(ch.range)
                self.text = self.text[:a] + ch.text + self.text[b:]
                if changed is not None:
                    lo, hi = changed
                    # earlier changes' ends move with this edit
                    hi = hi if hi <= a else max(a, hi + len(ch.text) - (b - a))
                    changed = (min(lo, a), max(hi, a + len(ch.text)))
            else:
                self.text = ch.text
                changed = None
        self.version = version
        return changed
