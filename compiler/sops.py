"""SOP imports: find the documents a flow imports and hash their content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SopEntry", "SopLibrary", "load_sop", "SOP_SUFFIXES"]

SOP_SUFFIXES = (".md", ".markdown", ".txt", ".rst")


@dataclass(frozen=True, slots=True)
class SopEntry:
    """One SOP document: its dotted name within the import, path and content hash."""

    name: str
    path: Path
    sha256: str
    size: int


@dataclass(slots=True)
class SopLibrary:
    """What one `import sop` brings: a single document, or a folder of entries."""

    alias: str
    path: Path
    is_folder: bool
    entries: dict[str, SopEntry] = field(default_factory=dict)

    def entry_names(self) -> list[str]:
        return sorted(self.entries)


def _entry(name: str, path: Path) -> SopEntry:
    data = path.read_bytes()
    return SopEntry(name, path, hashlib.sha256(data).hexdigest(), len(data))


def load_sop(alias: str, path: Path) -> SopLibrary | None:
    """Load an import; None when the path does not exist."""
    if path.is_file():
        return SopLibrary(alias, path, False, {"": _entry("", path)})
    if not path.is_dir():
        return None
    lib = SopLibrary(alias, path, True)
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.suffix.lower() in SOP_SUFFIXES and not p.name.startswith("."):
            rel = p.relative_to(path).with_suffix("")
            name = ".".join(rel.parts).replace("-", "_").replace(" ", "_")
            lib.entries[name] = _entry(name, p)
    return lib
