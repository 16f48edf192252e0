"""A pool of pre-started sandboxes, refilled in the background, and the execution API.

Isolation levels: `strict` (the default between runs) gives every execution a fresh
interpreter, a process restored from the snapshot that nothing else has touched, and kills it
afterwards; `run` keeps one interpreter for the executions of one run (`pool.session()`),
which is fast but shares state between them. Processes are never shared between sessions.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assets import Assets, SandboxSetupError, ensure_assets
from .files import FileOut, read_inputs, write_outputs
from .limits import Limits
from .net import NetworkPolicy
from .packages import Wheelhouse, WheelhouseError, build_lockfile, merge_wheel_dirs
from .process import RawResult, SandboxCrashed, SandboxProcess

__all__ = ["SandboxPool", "ExecutionResult", "RunSession"]


@dataclass
class ExecutionResult:
    ok: bool
    value: Any = None
    stdout: str = ""
    stderr: str = ""
    error_kind: str | None = None     # timeout, memory, output_limit, result_too_large,
    error: str | None = None          # file_limit, exception, crashed, protocol, setup
    files: list[FileOut] = field(default_factory=list)
    refused_files: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0
    peak_rss_mb: float = 0.0
    network: list[str] = field(default_factory=list)


def _run_in(proc: SandboxProcess, code, globals_, inputs, output_dir, limits, allow_hosts, *,
            reuse: bool, packages: tuple[str, ...] = (),
            idempotency_key: str | None = None) -> ExecutionResult:
    """One execution in `proc`: inputs staged, output files written, network mediated (with
    an external effect's key on every request, see NetworkPolicy)."""
    net = NetworkPolicy(allow_hosts, idempotency_key=idempotency_key)
    raw = proc.execute(code, globals_=globals_, limits=limits,
                       files=read_inputs(inputs or {}, local_paths=True),
                       network=net, reuse_namespace=reuse, fresh_workdir=not reuse,
                       packages=packages)
    return _finish(raw, output_dir, net)


def _needed_by(packages) -> dict[str, str]:
    """package -> who needs it, from a mapping or a list of names."""
    if isinstance(packages, dict):
        return {str(k): str(v) for k, v in packages.items()}
    return {str(p): "the code" for p in packages}


def _finish(raw: RawResult, output_dir: str | None, net: NetworkPolicy) -> ExecutionResult:
    files, refused = [], list(raw.file_problems)
    if output_dir and raw.files and raw.ok:
        files, bad = write_outputs(raw.files, output_dir)
        refused += bad
    return ExecutionResult(raw.ok, raw.value, raw.stdout, raw.stderr, raw.error_kind, raw.error,
                           files, refused, raw.elapsed_ms, raw.peak_rss / 2**20,
                           net.requests + [f"refused {u}" for u in net.refused])


def max_running_default() -> int:
    """Strict executions one pool runs at once: FLOWC_SANDBOX_MAX_RUNNING, else twice the
    cores (at least 2)."""
    raw = os.environ.get("FLOWC_SANDBOX_MAX_RUNNING", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= 1024:
            raise SandboxSetupError(f"FLOWC_SANDBOX_MAX_RUNNING={raw!r}: give a whole "
                                    "number from 1 to 1024")
        return value
    return max(2, 2 * (os.cpu_count() or 1))


class SandboxPool:
    """Ready sandboxes for strict executions, plus sessions for run-level reuse."""

    def __init__(self, size: int = 2, memory_mb: int = 256, assets: Assets | None = None,
                 wheelhouse: str | Path | None = None, warm: bool = True,
                 touch_mb: int | None = None, max_running: int | None = None):
        self.assets = assets or ensure_assets()
        # strict executions at once; the others wait their turn. Without a bound, a burst of
        # N executions starts N Deno processes together (about 200 MB and a core's worth of
        # start-up each), and all of them finish late: 100 arriving at 10/s on 2 cores drove
        # the load to 59 and every latency past 20 s
        self.max_running = max_running or max_running_default()
        self._slots = threading.BoundedSemaphore(self.max_running)
        self.warm = warm  # spare processes run flowc's warm-up steps while they wait
        # ...the last of which touches this much memory, held by each spare process (see
        # warm.py; default: 3/8 of the memory limit, at most 96 MiB; 0: none)
        self.touch_mb = min(96, memory_mb * 3 // 8) if touch_mb is None else max(0, touch_mb)
        self.wheelhouse = None
        if wheelhouse is not None:
            self.wheelhouse = build_lockfile(Path(wheelhouse), self.assets.pyodide_dir,
                                             self.assets.deno_dir.parent / "locks")
        self.size = size
        self.memory_mb = memory_mb
        self._ready: deque[SandboxProcess] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._starting = 0
        self._busy = 0  # strict executions running now
        self._failures = 0
        self.last_error: str | None = None
        self._refiller = threading.Thread(target=self._refill_loop, daemon=True)
        self._refiller.start()

    # ---- pool management -----------------------------------------------------------------
    def _refill_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and len(self._ready) + self._starting >= self.size:
                    self._cond.wait()
                if self._closed:
                    return
                self._starting += 1
            proc = None
            try:
                proc = SandboxProcess(self.assets, self.memory_mb, wheelhouse=self.wheelhouse)
                proc.needs_warm = self.warm  # warmed once no execution is running
                proc.touch_mb = self.touch_mb
                self.last_error = None
            except SandboxCrashed as e:
                self.last_error = str(e)  # surfaced by wait_ready; acquire starts its own
                time.sleep(min(5.0, 0.5 * (1 + self._failures)))
                self._failures += 1
            else:
                self._failures = 0
            with self._cond:
                self._starting -= 1
                if proc is not None:
                    if self._closed:
                        proc.kill()
                    else:
                        self._ready.append(proc)
                        if not self._busy:
                            self._warm_idle()
                self._cond.notify_all()

    def _warm_idle(self) -> None:
        """Start the warm-up of the spare processes that still need it (under the lock, when
        no execution is running: the warm-up is off the clock, and it yields to a request)."""
        for proc in self._ready:
            if getattr(proc, "needs_warm", False):
                proc.needs_warm = False
                try:
                    proc.warm()
                except SandboxCrashed:
                    pass

    def wait_ready(self, timeout: float = 120.0, warmed: bool = False) -> bool:
        """Block until the pool is full (for benchmarks and tests); with `warmed`, until its
        processes have also finished their warm-up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._ready) < self.size:
                left = deadline - time.monotonic()
                if left <= 0 or self._failures >= 3:
                    return False
                self._cond.wait(min(left, 1.0))
            if warmed:
                for proc in list(self._ready):
                    if not proc.wait_warm(max(0.0, deadline - time.monotonic())):
                        return False
        return True

    def packages_for(self, packages, wheel_dirs=()) -> tuple[Wheelhouse | None, tuple[str, ...]]:
        """The wheelhouse holding `packages` (the pool's wheels plus `wheel_dirs`, e.g. a
        skill's `wheels/`) and the lock's names for them; WheelhouseError names a package
        that is in neither."""
        needed = _needed_by(packages)
        dirs = [Path(d) for d in wheel_dirs if Path(d).is_dir()]
        wh = self.wheelhouse
        if dirs:
            locks = self.assets.deno_dir.parent / "locks"
            folder = merge_wheel_dirs(dirs + ([wh.folder] if wh else []),
                                      self.assets.deno_dir.parent / "wheelhouses")
            wh = build_lockfile(folder, self.assets.pyodide_dir, locks)
        names = []
        for pkg, who in needed.items():
            found = wh.find(pkg) if wh is not None else None
            if found is None:
                where = ", ".join(str(d) for d in dirs) or "no wheels/ folder"
                raise WheelhouseError(
                    f"{who} needs package `{pkg}`, which is not available offline: it is "
                    f"neither among the wheels shipped ({where}) nor in the sandbox's "
                    "wheelhouse; add its pure-Python wheel (py3-none-any) to the skill's "
                    "wheels/ folder")
            names.append(found)
        return (wh if names else self.wheelhouse), tuple(names)

    def acquire(self, memory_mb: int | None = None,
                wheelhouse: Wheelhouse | None = None) -> SandboxProcess:
        """A fresh sandbox: from the pool when one is ready, else started now (always started
        now for another wheelhouse than the pool's)."""
        if wheelhouse is not None and wheelhouse != self.wheelhouse:
            return SandboxProcess(self.assets, memory_mb or self.memory_mb, wheelhouse=wheelhouse)
        if memory_mb is None or memory_mb == self.memory_mb:
            with self._cond:
                while self._ready:
                    proc = self._ready.popleft()
                    self._cond.notify_all()
                    if proc.alive:
                        return proc
                    proc.kill()
        return SandboxProcess(self.assets, memory_mb or self.memory_mb, wheelhouse=self.wheelhouse)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            procs = list(self._ready)
            self._ready.clear()
            self._cond.notify_all()
        for p in procs:
            p.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- executions ----------------------------------------------------------------------
    def run(self, code: str, *, globals_: dict | None = None, inputs: dict[str, str] | None = None,
            output_dir: str | None = None, limits: Limits | None = None,
            allow_hosts: tuple[str, ...] = (), packages=(), wheel_dirs=(),
            idempotency_key: str | None = None) -> ExecutionResult:
        """Run Python in a fresh interpreter (strict isolation). `packages` (names, or a map
        of name to who needs it) are loaded offline first, from the pool's wheelhouse and
        `wheel_dirs`. `idempotency_key`: an external effect's key, sent as `Idempotency-Key`
        on each HTTP request that does not carry one."""
        limits = limits or Limits()
        try:
            wh, names = self.packages_for(packages, wheel_dirs)
        except WheelhouseError as e:
            return ExecutionResult(False, error_kind="packages", error=str(e))
        self._slots.acquire()
        try:
            with self._cond:
                self._busy += 1
            try:
                proc = self.acquire(limits.memory_mb, wheelhouse=wh)
                try:
                    return _run_in(proc, code, globals_, inputs, output_dir, limits,
                                   allow_hosts, reuse=False, packages=names,
                                   idempotency_key=idempotency_key)
                finally:
                    proc.discard()
            finally:
                with self._cond:
                    self._busy -= 1
                    if not self._busy:
                        self._warm_idle()
        finally:
            self._slots.release()

    def session(self, limits_memory_mb: int | None = None) -> RunSession:
        """One interpreter reused for the executions of one run (isolation `run`)."""
        return RunSession(self, limits_memory_mb)


class RunSession:
    """Executions that share one interpreter: variables persist between them."""

    def __init__(self, pool: SandboxPool, memory_mb: int | None):
        self.pool = pool
        self.memory_mb = memory_mb
        self.proc: SandboxProcess | None = None

    def run(self, code: str, *, globals_: dict | None = None, inputs: dict[str, str] | None = None,
            output_dir: str | None = None, limits: Limits | None = None,
            allow_hosts: tuple[str, ...] = (), packages=(), wheel_dirs=(),
            idempotency_key: str | None = None) -> ExecutionResult:
        limits = limits or Limits()
        try:
            wh, names = self.pool.packages_for(packages, wheel_dirs)
        except WheelhouseError as e:
            return ExecutionResult(False, error_kind="packages", error=str(e))
        if self.proc is not None and names and self.proc.wheelhouse != wh:
            self.proc.kill()  # packages from another wheelhouse need an interpreter started
            self.proc = None  # with it (the session's earlier variables are not carried over)
        if self.proc is None or not self.proc.alive:
            self.proc = self.pool.acquire(self.memory_mb or limits.memory_mb,
                                          wheelhouse=wh if names else None)
        result = _run_in(self.proc, code, globals_, inputs, output_dir, limits, allow_hosts,
                         reuse=True, packages=names, idempotency_key=idempotency_key)
        if not self.proc.alive:
            self.proc = None  # killed for a limit: the next execution gets a fresh one
        return result

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
