"""Files in and out of a sandbox, through fsspec, with names that cannot escape.

Inputs are fsspec URLs (local paths, `memory://`, object stores); they appear in the
sandbox's working directory under a sanitised name. Files the code writes there come back to
a destination fsspec folder, each with its sha256 and size.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileOut", "safe_name", "read_inputs", "write_outputs", "UnsafeName"]

_BAD = re.compile(r"[\x00-\x1f\\]")


class UnsafeName(ValueError):
    """A file name that is absolute, climbs out with `..`, or holds control characters."""


@dataclass(frozen=True)
class FileOut:
    name: str
    url: str
    sha256: str
    size: int


def safe_name(name: str) -> str:
    """A relative POSIX path inside the working directory, or UnsafeName."""
    if not isinstance(name, str) or not name or len(name) > 255 or _BAD.search(name):
        raise UnsafeName(f"unsafe file name {name!r}")
    if name.startswith("/") or name.startswith("~"):
        raise UnsafeName(f"absolute file name {name!r}")
    norm = posixpath.normpath(name)
    if norm in (".", "") or norm == ".." or norm.startswith("../") or "/../" in f"/{norm}/":
        raise UnsafeName(f"file name {name!r} leaves the working directory")
    return norm


def read_inputs(inputs: dict[str, str], *, local_paths: bool = False) -> list[tuple[str, object]]:
    """{name in the sandbox: fsspec URL} -> [(name, bytes)]; with `local_paths`, a local
    file is given as its Path instead of its bytes (the sandbox reads it without a copy)."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    out: list[tuple[str, object]] = []
    for name, url in inputs.items():
        if local_paths:
            fs, path = fsspec.core.url_to_fs(url)
            if isinstance(fs, LocalFileSystem) and os.path.isfile(path):
                out.append((safe_name(name), Path(path)))
                continue
        with fsspec.open(url, "rb") as f:
            out.append((safe_name(name), f.read()))
    return out


def write_outputs(files: list[tuple[str, bytes]], destination: str) -> tuple[list[FileOut], list[str]]:
    """Write returned files under the destination fsspec folder; unsafe names are refused."""
    import fsspec

    written, refused = [], []
    fs, root = fsspec.core.url_to_fs(destination)
    for name, data in files:
        try:
            rel = safe_name(name)
        except UnsafeName as e:
            refused.append(str(e))
            continue
        path = posixpath.join(root.rstrip("/"), rel)
        parent = posixpath.dirname(path)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(path, "wb") as f:
            f.write(data)
        url = fs.unstrip_protocol(path)
        written.append(FileOut(rel, url, hashlib.sha256(data).hexdigest(), len(data)))
    return written, refused
