"""Content hashes shared by the compiler (to pin) and the runtime (to verify)."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["hash_folder"]


def hash_folder(folder: Path) -> str:
    """A hash of every file under `folder` (paths and bytes), independent of mtime."""
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            rel = p.relative_to(folder).as_posix()
            h.update(rel.encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
