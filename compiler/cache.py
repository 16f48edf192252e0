"""The compiler's on-disk cache: parser tables and parsed SKILL.md frontmatter.

Everything here is derived data keyed by content or by (path, mtime, size); deleting the
folder only costs time. `XDG_CACHE_HOME` moves it; when it cannot be written, the system's
temporary folder is used, and when that fails too, nothing is cached.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "FrontmatterCache"]

_DIR: Path | None = None


def cache_dir() -> Path:
    global _DIR
    if _DIR is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        for cand in (Path(base) / "flowc", Path(tempfile.gettempdir()) / "flowc-cache"):
            try:
                cand.mkdir(parents=True, exist_ok=True)
                (cand / ".probe").touch()
                _DIR = cand
                break
            except OSError:
                continue
        else:
            _DIR = Path(tempfile.mkdtemp(prefix="flowc-cache-"))
    return _DIR


class FrontmatterCache:
    """SKILL.md frontmatter already parsed, so a check need not load the YAML parser."""

    _VERSION = 1

    def __init__(self):
        self.path = cache_dir() / f"frontmatter-v{self._VERSION}.json"
        try:
            self.entries: dict = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    @staticmethod
    def _key(md: Path) -> tuple[str, list[int]]:
        st = md.stat()
        return str(md.resolve()), [st.st_mtime_ns, st.st_size]

    def get(self, md: Path) -> dict | None:
        try:
            key, stamp = self._key(md)
        except OSError:
            return None
        hit = self.entries.get(key)
        return hit[1] if hit and hit[0] == stamp else None

    def put(self, md: Path, data: dict) -> None:
        try:
            key, stamp = self._key(md)
            json.dumps(data)  # only plain data is cached (YAML dates and the like are not)
        except (OSError, TypeError, ValueError):
            return
        self.entries[key] = [stamp, data]
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.entries), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass


_FRONTMATTER: FrontmatterCache | None = None


def frontmatter_cache() -> FrontmatterCache:
    global _FRONTMATTER
    if _FRONTMATTER is None:
        _FRONTMATTER = FrontmatterCache()
    return _FRONTMATTER
