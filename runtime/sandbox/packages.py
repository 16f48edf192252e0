"""Pure-Python wheels for the sandbox, offline: a local wheelhouse and its pyodide-lock.json.

The wheels of a wheelhouse folder are registered in a copy of Pyodide's own lock file (with
the `pyodide-lock` library that pyodide-build's `pyodide lockfile add-wheels` is built on),
each with its sha256; Pyodide then loads them from the local folder and checks every file
against the lock. Only pure-Python wheels (`py3-none-any`) are accepted: anything compiled
would need a Pyodide build.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Wheelhouse", "WheelhouseError", "build_lockfile"]

_PURE = re.compile(r"-(py3|py2\.py3)-none-any\.whl$")


class WheelhouseError(ValueError):
    """A wheel that cannot be used in the sandbox."""


@dataclass(frozen=True)
class Wheelhouse:
    folder: Path
    lockfile: Path
    packages: tuple[str, ...]


def build_lockfile(folder: Path, pyodide_dir: Path, cache: Path) -> Wheelhouse:
    """Register every wheel in `folder`; the lock file is cached by the wheels' content."""
    from pyodide_lock import PyodideLockSpec
    from pyodide_lock.utils import add_wheels_to_spec

    folder = folder.resolve()
    wheels = sorted(folder.glob("*.whl"))
    for w in wheels:
        if not _PURE.search(w.name):
            raise WheelhouseError(f"{w.name} is not a pure-Python wheel (py3-none-any); only "
                                  "those run in the sandbox")
    digest = hashlib.sha256()
    for w in wheels:
        digest.update(w.name.encode() + hashlib.sha256(w.read_bytes()).digest())
    digest.update((pyodide_dir / "pyodide-lock.json").read_bytes() + b"paths-v2")
    lockfile = cache / f"pyodide-lock-{digest.hexdigest()[:16]}.json"
    if not lockfile.exists():
        spec = PyodideLockSpec.from_json(pyodide_dir / "pyodide-lock.json")
        try:
            spec = add_wheels_to_spec(spec, wheels, base_path=folder,
                                      base_url=str(folder) + "/",
                                      ignore_missing_dependencies=True)
        except Exception as e:  # the library raises plain errors for bad wheels
            raise WheelhouseError(f"cannot register the wheels in {folder}: {e}") from e
        cache.mkdir(parents=True, exist_ok=True)
        tmp = lockfile.with_suffix(".tmp")
        spec.to_json(tmp)
        tmp.replace(lockfile)
    data = json.loads(lockfile.read_text())
    names = tuple(sorted(
        name for name, pkg in data["packages"].items()
        if str(pkg.get("file_name", "")).startswith(str(folder) + "/")
    ))
    return Wheelhouse(folder, lockfile, names)
