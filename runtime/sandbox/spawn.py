"""Starting sandbox processes so that none outlives flowc, and none can fill the disk.

Every Deno process of the sandbox (the Pyodide host and the JavaScript runner) is started here:

- **It dies with flowc.** The process gets Linux's parent-death signal (SIGKILL), through
  `setpriv --pdeathsig KILL` (util-linux) or, without it, `prctl` in the child. That signal
  fires when the *thread* that started the process ends, not the process, so every sandbox
  is started from one long-lived thread of this module: it ends only with flowc's process
  (exit, SIGTERM, SIGKILL alike), and the sandboxes with it.
- **Its files stay small.** `prlimit` caps the size of any file it writes (RLIMIT_FSIZE; a
  write past it kills the process with SIGXFSZ) and turns core dumps off. A sandbox writes no
  files of its own; the cap bounds what Deno itself writes into the process's own cache
  folder on its behalf (the code cache of a module it imports).
"""

from __future__ import annotations

import ctypes
import os
import queue
import resource
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable

__all__ = ["spawn", "FILE_SIZE_CAP", "wrapper"]

FILE_SIZE_CAP = 64 * 1024 * 1024  # the largest file a sandbox process may write (its caches)
_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_wrapper: list[str] | None = None


def wrapper(fsize: int = FILE_SIZE_CAP) -> list[str]:
    """The command prefix that applies the parent-death signal and the file limits ([] when
    neither tool exists: `_preexec` does it then)."""
    global _wrapper
    if _wrapper is None:
        out: list[str] = []
        setpriv = shutil.which("setpriv", path=_SYSTEM_PATH)
        prlimit = shutil.which("prlimit", path=_SYSTEM_PATH)
        if setpriv and prlimit:
            out = [setpriv, "--pdeathsig", "KILL", "--", prlimit]
        _wrapper = out
    return [*_wrapper, f"--fsize={fsize}", "--core=0", "--"] if _wrapper else []


def _preexec(fsize: int) -> Callable[[], None]:  # pragma: no cover - without util-linux
    """In the child, before exec: the same as the wrapper, by hand."""
    def child() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return child


class _Spawner:
    """The one thread that starts sandbox processes (see the module's docstring)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="flowc-sandbox-spawner",
                                       daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            job, box, done = self.jobs.get()
            try:
                box.append((True, job()))
            except BaseException as e:  # handed back to the caller
                box.append((False, e))
            done.set()

    def call(self, job: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        box: list = []
        done = threading.Event()
        self.jobs.put((job, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


_spawner: _Spawner | None = None
_lock = threading.Lock()


def spawn(cmd: list[str], *, fsize: int = FILE_SIZE_CAP, **popen_kwargs) -> subprocess.Popen:
    """`subprocess.Popen(cmd, **popen_kwargs)` from the spawner thread, wrapped so the process
    dies with flowc and writes no file larger than `fsize` bytes (0: none at all)."""
    global _spawner
    with _lock:
        if _spawner is None or _spawner.pid != os.getpid() or not _spawner.thread.is_alive():
            _spawner = _Spawner()  # (a forked child starts its own)
        spawner = _spawner
    prefix = wrapper(fsize)
    if not prefix:
        popen_kwargs["preexec_fn"] = _preexec(fsize)
    full = [*prefix, *cmd]
    return spawner.call(lambda: subprocess.Popen(full, **popen_kwargs))
