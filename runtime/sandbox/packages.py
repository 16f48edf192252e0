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
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Wheelhouse", "WheelhouseError", "build_lockfile", "merge_wheel_dirs",
           "canonical_name"]

_PURE = re.compile(r"-(py3|py2\.py3)-none-any\.whl$")


class WheelhouseError(ValueError):
    """A wheel that cannot be used in the sandbox."""


@dataclass(frozen=True)
class Wheelhouse:
    folder: Path
    lockfile: Path
    packages: tuple[str, ...]

    def find(self, name: str) -> str | None:
        """The lock's name for a package as a SKILL.md spells it (`Tiny_Pkg` is `tiny-pkg`)."""
        want = canonical_name(name)
        return next((p for p in self.packages if canonical_name(p) == want), None)


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: case and runs of `-_.` do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def merge_wheel_dirs(dirs, cache: Path) -> Path:
    """One folder holding the wheels of several folders (a skill's `wheels/`, the pool's
    wheelhouse), content-addressed so that the same wheels give the same folder and lock."""
    wheels: dict[str, tuple[Path, str]] = {}
    for d in dirs:
        for w in sorted(Path(d).glob("*.whl")):
            digest = hashlib.sha256(w.read_bytes()).hexdigest()
            if w.name in wheels and wheels[w.name][1] != digest:
                raise WheelhouseError(f"two different wheels are named {w.name}: "
                                      f"{wheels[w.name][0]} and {w}")
            wheels[w.name] = (w, digest)
    key = hashlib.sha256("".join(f"{n}:{h};" for n, (_, h) in sorted(wheels.items()))
                         .encode()).hexdigest()[:16]
    folder = cache / f"wheelhouse-{key}"
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".wheelhouse-", dir=cache))
        for name, (w, _) in wheels.items():
            shutil.copyfile(w, tmp / name)  # a copy: the skill's own file may change later
        try:
            os.rename(tmp, folder)
        except OSError:  # another process made the same folder first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


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
