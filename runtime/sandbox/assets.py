"""The sandbox's assets: the Deno binary, a pinned Pyodide, and the memory snapshot.

Deno comes from PyPI's `deno` package (a dependency of flowc). Pyodide comes from the npm
registry, fetched once with `npm pack`, checked against the sha512 integrity pinned here, and
unpacked into the cache; after that nothing is downloaded. The snapshot is made on first use
(about 2 s) and reused by every sandbox start (about 0.2 s instead of a cold load).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PYODIDE_VERSION", "PYODIDE_INTEGRITY", "Assets", "SandboxSetupError",
           "ensure_assets", "deno_binary", "clean_env", "private_deno_dir", "cache_lock",
           "checkpoint_caches"]

PYODIDE_VERSION = "0.28.3"
PYODIDE_INTEGRITY = ("sha512-rtCsyTU55oNGpLzSVuAd55ZvruJDEX8o6keSdWKN9jPeBVSNlynaKFG7eRqkiIgU7i2"
                     "M6HEgYtm0atCEQX3u4A==")
HOST_SCRIPT = Path(__file__).with_name("host.mjs")
SHELL_SOURCE = Path(__file__).with_name("shell.py")  # preloaded as `flowc_shell`
_REQUIRED = ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
             "pyodide-lock.json")


class SandboxSetupError(RuntimeError):
    """The sandbox cannot start: a missing tool, a failed download, a bad checksum."""


@dataclass(frozen=True)
class Assets:
    deno: Path
    pyodide_dir: Path
    snapshot: Path
    deno_dir: Path
    host_script: Path = HOST_SCRIPT


def _cache_root() -> Path:
    base = os.environ.get("FLOWC_SANDBOX_CACHE")
    if base:
        return Path(base)
    from flowc.compiler.cache import cache_dir

    return cache_dir() / "sandbox"


def deno_binary() -> Path:
    try:
        import deno
    except ImportError as e:  # pragma: no cover - a dependency of flowc
        raise SandboxSetupError(
            "the sandbox needs the `run` extra: pip install 'flowc[run]' (Python 3.12+)") from e
    path = Path(deno.find_deno_bin())
    if not path.is_file():  # pragma: no cover
        raise SandboxSetupError(f"the deno binary is missing at {path}")
    return path


def clean_env(deno_dir: Path) -> dict[str, str]:
    """The whole environment a sandbox process gets: nothing of the host's."""
    return {
        "DENO_DIR": str(deno_dir),
        "DENO_NO_UPDATE_CHECK": "1",
        "DENO_NO_PROMPT": "1",
        "NO_COLOR": "1",
        "PATH": "/nonexistent",
        "HOME": str(deno_dir),
    }


# Deno's caches in its folder (SQLite files): the V8 code cache of the modules it loads (the
# Pyodide host's start is much faster with it) and its module analyses.
_CACHE_DBS = ("v8_code_cache_v2", "dep_analysis_cache_v2", "node_analysis_cache_v2")
# What else Deno would write into its folder for a program, each made an empty file there so
# that it cannot be created: origin storage (web storage, the Cache API), the JavaScript it
# emits for every TypeScript module imported (a file each: a program could write thousands),
# and the caches of remote and npm modules (refused anyway: --cached-only, no import host).
_BLOCKED = ("location_data", "gen", "remote", "deps", "npm", "registries")


@contextlib.contextmanager
def cache_lock(deno_dir: Path, exclusive: bool):
    """Shared while a process's copy of the caches is taken, exclusive while flowc's own
    process fills them (see process.py, `_prime`)."""
    with open(deno_dir / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def private_deno_dir(shared: Path, target: Path) -> Path:
    """A sandbox process's own Deno folder, removed with it: copies of the shared caches, so
    nothing the process makes Deno write (the code cache of a module it imports, even a
    `data:` one) reaches another process or outlives it; and no origin storage: where Deno
    keeps web storage and the Cache API (`location_data`) is an empty file, so neither can
    be created (the host also removes those globals)."""
    target.mkdir(mode=0o700)
    with cache_lock(shared, exclusive=False):
        for name in _CACHE_DBS:
            for suffix in ("", "-wal"):
                src = shared / (name + suffix)
                if src.is_file():
                    shutil.copyfile(src, target / (name + suffix))
    for name in _BLOCKED:
        blocker = target / name
        blocker.touch()
        blocker.chmod(0)
    return target


def checkpoint_caches(deno_dir: Path) -> None:
    """Fold the caches' write-ahead logs into their files (one small file each to copy)."""
    import sqlite3

    for name in _CACHE_DBS:
        db = deno_dir / name
        if not db.is_file():
            continue
        try:
            conn = sqlite3.connect(db, timeout=5)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        except sqlite3.Error:
            pass


def _integrity_ok(tgz: Path) -> bool:
    algo, _, expected = PYODIDE_INTEGRITY.partition("-")
    digest = hashlib.new(algo, tgz.read_bytes()).digest()
    return base64.b64encode(digest).decode() == expected


def _fetch_pyodide(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SandboxSetupError("npm is needed once to fetch Pyodide from the npm registry; "
                                "install Node.js (npm) and run `flowc sandbox doctor`")
    with tempfile.TemporaryDirectory(prefix="flowc-pyodide-") as tmp:
        proc = subprocess.run([npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--silent"],
                              cwd=tmp, capture_output=True, text=True, timeout=600)
        tgz = Path(tmp) / f"pyodide-{PYODIDE_VERSION}.tgz"
        if proc.returncode != 0 or not tgz.exists():
            raise SandboxSetupError(f"`npm pack pyodide@{PYODIDE_VERSION}` failed: "
                                    f"{(proc.stderr or proc.stdout).strip()[:400]}")
        if not _integrity_ok(tgz):
            raise SandboxSetupError(f"pyodide-{PYODIDE_VERSION}.tgz does not match the pinned "
                                    "sha512 integrity: refusing to use it")
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tgz) as tar:
            tar.extractall(staging, filter="data")
        pkg = staging / "package"
        # A package.json without "type" makes Deno read pyodide.asm.js as CommonJS
        (pkg / "package.json").unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_target = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp_target, ignore_errors=True)
        shutil.move(str(pkg), tmp_target)
        (tmp_target / ".integrity").write_text(PYODIDE_INTEGRITY)
        tmp_target.rename(target)


def _make_snapshot(deno: Path, pyodide_dir: Path, snapshot: Path, deno_dir: Path) -> None:
    # unique per call: two threads (or processes) may build the same snapshot at once
    tmp = snapshot.with_name(f"{snapshot.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    cmd = [str(deno), "run", "--no-prompt", "--unstable-detect-cjs", "--cached-only",
           f"--allow-read={pyodide_dir},{HOST_SCRIPT},{SHELL_SOURCE}", f"--allow-write={tmp}",
           "--deny-net", "--deny-env", "--deny-run", "--deny-ffi", "--deny-sys",
           str(HOST_SCRIPT), str(pyodide_dir), str(tmp), "--make-snapshot",
           f"--preload=flowc_shell={SHELL_SOURCE}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(deno_dir),
                          timeout=300)
    if proc.returncode != 0 or not tmp.exists():
        raise SandboxSetupError(f"making the Pyodide snapshot failed: {proc.stderr.strip()[-800:]}")
    tmp.replace(snapshot)


def ensure_assets() -> Assets:
    """Everything a sandbox needs, fetched or built once; raises SandboxSetupError."""
    root = _cache_root()
    deno = deno_binary()
    pyodide_dir = root / f"pyodide-{PYODIDE_VERSION}"
    # Deno's shared caches, written only by flowc's own process under their lock and copied
    # into each sandbox's own folder (process.py); earlier flowc versions let sandboxes write
    # into "deno-dir", which is left to them
    deno_dir = root / "deno-shared"
    deno_dir.mkdir(parents=True, exist_ok=True)
    if not all((pyodide_dir / f).is_file() for f in _REQUIRED) or \
            (pyodide_dir / ".integrity").read_text() != PYODIDE_INTEGRITY:
        shutil.rmtree(pyodide_dir, ignore_errors=True)
        _fetch_pyodide(pyodide_dir)
    # the snapshot holds the host's preloaded modules too: it is made anew when either changes
    host_hash = hashlib.sha256(HOST_SCRIPT.read_bytes() + SHELL_SOURCE.read_bytes()).hexdigest()[:12]
    snapshot = root / f"snapshot-{PYODIDE_VERSION}-{host_hash}.bin"
    if snapshot.is_file():
        try:  # in use: the clean-up below goes by the last use, not by when it was made
            if time.time() - snapshot.stat().st_mtime > 3600:
                os.utime(snapshot)
        except OSError:
            pass
    else:
        # (a Deno folder of its own: the shared one's caches are filled only under their
        # lock, by flowc's own process, see process.py `_prime`)
        with tempfile.TemporaryDirectory(prefix="flowc-snapshot-deno-") as own:
            _make_snapshot(deno, pyodide_dir, snapshot, Path(own))
        # Snapshots of other host versions may still be in use by another checkout or a
        # running pool: remove only those nobody has used for a week (a process start
        # refreshes its snapshot's mtime hourly, see process.py).
        week_ago = time.time() - 7 * 86400
        for old in [*root.glob("snapshot-*.bin"), *root.glob("snapshot-*.partial")]:
            try:
                if old != snapshot and old.stat().st_mtime < week_ago:
                    old.unlink(missing_ok=True)
            except OSError:  # removed meanwhile by another process
                pass
    return Assets(deno, pyodide_dir, snapshot, deno_dir)
