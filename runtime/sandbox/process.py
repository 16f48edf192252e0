"""One sandbox: a Deno process running Pyodide, driven over the host protocol.

The process is the boundary. It starts with a scrubbed environment and the narrowest Deno
permissions (read the Pyodide assets and nothing else; no net, env, run, ffi, sys, write;
no dynamic import from any host). Limits are enforced from this side: the wall-clock timeout
kills the process, memory is capped inside V8 (WebAssembly pages, JS heap) and watched from
outside (resident memory, SIGKILL past the ceiling), and every message it sends is parsed
as untrusted input with size caps.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assets import SHELL_SOURCE, Assets, clean_env
from .limits import Limits
from .lines import read_nonce_lines
from .net import NetworkPolicy
from .packages import Wheelhouse

__all__ = ["SandboxProcess", "RawResult", "SandboxCrashed"]

_PAGE = 65536
_INLINE_MAX = 64 * 1024  # input files below this travel inline in the request


class SandboxCrashed(RuntimeError):
    """The process died or broke the protocol."""


@dataclass
class RawResult:
    """What one execution produced, before files are written anywhere."""

    ok: bool
    value: Any = None
    stdout: str = ""
    stderr: str = ""
    error_kind: str | None = None
    error: str | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0
    peak_rss: int = 0


def deno_command(assets: Assets, memory_mb: int, wheelhouse: Wheelhouse | None = None,
                 stage_dir: Path | None = None) -> list[str]:
    pages = max(1, memory_mb * 1024 * 1024 // _PAGE)
    heap = max(64, min(memory_mb, 2048))
    readable = [assets.pyodide_dir, assets.snapshot, assets.host_script]
    if stage_dir is not None:  # this process's own folder of staged input files
        readable.append(stage_dir)
    extra = []
    if wheelhouse is not None:
        readable += [wheelhouse.folder, wheelhouse.lockfile]
        extra = [f"--lockfile={wheelhouse.lockfile}", f"--wheels={wheelhouse.folder}"]
    reads = ",".join(str(p) for p in readable)
    return [
        str(assets.deno), "run", "--no-prompt", "--quiet", "--unstable-detect-cjs",
        "--cached-only", "--allow-import=flowc-no-import.invalid:1",
        f"--allow-read={reads}",
        "--deny-net", "--deny-env", "--deny-run", "--deny-ffi", "--deny-sys", "--deny-write",
        f"--v8-flags=--max-old-space-size={heap},--wasm-max-mem-pages={pages}",
        str(assets.host_script), str(assets.pyodide_dir), str(assets.snapshot), *extra,
    ]


_PRELOAD: dict[str, str] = {}


def preload_modules() -> dict[str, str]:
    """flowc's own modules every sandbox imports at start, off the clock (module -> source):
    `flowc_shell`, the command-line shell (shell.py)."""
    if not _PRELOAD:
        _PRELOAD["flowc_shell"] = SHELL_SOURCE.read_text()
    return _PRELOAD


# Stage folders are this process's: removed when a sandbox ends, by the atexit hook for
# the sandboxes still alive at exit (a pool nobody closed), and, for a process that died
# without running it (SIGKILL), by the next flowc process that starts a sandbox.
_STAGE_PREFIX = "flowc-stage-"
_LIVE: weakref.WeakSet = weakref.WeakSet()
_swept = False


def _sweep_stale_stage_dirs() -> None:
    global _swept
    if _swept:
        return
    _swept = True
    for d in Path(tempfile.gettempdir()).glob(f"{_STAGE_PREFIX}*"):
        pid = d.name[len(_STAGE_PREFIX):].split("-", 1)[0]
        try:
            if pid.isdigit():
                if int(pid) == os.getpid():
                    continue
                os.kill(int(pid), 0)  # the owner is alive: its folder stays
                continue
            if time.time() - d.stat().st_mtime < 86400:  # an older flowc's: after a day
                continue
        except ProcessLookupError:
            pass
        except OSError:  # PermissionError (another user's process), a vanished folder
            continue
        shutil.rmtree(d, ignore_errors=True)


_marked_at = 0.0


def _mark_used(snapshot: Path) -> None:
    """Refresh the snapshot's mtime now and then: another checkout's flowc removes snapshots
    nobody has used for a week (assets.py), and a long-lived pool keeps using its own."""
    global _marked_at
    if time.monotonic() - _marked_at < 3600:
        return
    _marked_at = time.monotonic()
    try:
        os.utime(snapshot)
    except OSError:
        pass


@atexit.register
def _end_live_sandboxes() -> None:
    for proc in list(_LIVE):
        if proc.owner_pid != os.getpid():  # a forked child's exit leaves its parent's alone
            continue
        try:
            proc.kill()
        except Exception:  # pragma: no cover - best effort at exit
            pass


_reaper_queue: queue.Queue = queue.Queue()
_reaper_lock = threading.Lock()
_reaper_thread: threading.Thread | None = None


def _reap(proc: SandboxProcess) -> None:
    """Hand a killed process to the reaper thread (started on first use)."""
    global _reaper_thread
    with _reaper_lock:
        if _reaper_thread is None or not _reaper_thread.is_alive():  # (gone after a fork)
            _reaper_thread = threading.Thread(target=_reaper, name="flowc-sandbox-reaper",
                                              daemon=True)
            _reaper_thread.start()
    _reaper_queue.put(proc)


def _reaper() -> None:
    while True:
        proc = _reaper_queue.get()
        try:
            proc.kill()  # already signalled: waits for the exit, closes the pipes
        except Exception:  # pragma: no cover - never let the reaper die
            pass


def _line_bound(limits: Limits) -> int:
    """The longest line a result message can need: files (base64), result and output."""
    return int(limits.max_total_file_bytes * 4 / 3 + limits.max_result_bytes * 2
               + limits.max_output_bytes * 2 + 1024 * 1024)


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class SandboxProcess:
    """A started sandbox. `execute` runs code; `kill` ends it. Not thread-safe."""

    def __init__(self, assets: Assets, memory_mb: int = 256, start_timeout: float = 60.0,
                 wheelhouse: Wheelhouse | None = None):
        self.assets = assets
        self.memory_mb = memory_mb
        self.wheelhouse = wheelhouse
        self.nonce = secrets.token_hex(16)
        self.executions = 0
        self.garbage_lines = 0
        self.garbage_bytes = 0
        self._lines: queue.Queue = queue.Queue()
        self.max_line = _line_bound(Limits())
        self._stderr: list[bytes] = []
        t0 = time.perf_counter()
        # big input files are put here (hard links when possible) and read by the host
        # directly: no base64 and JSON of megabytes through the pipe
        _sweep_stale_stage_dirs()
        _mark_used(assets.snapshot)
        self.owner_pid = os.getpid()
        self.stage_dir = Path(tempfile.mkdtemp(prefix=f"{_STAGE_PREFIX}{os.getpid()}-"))
        _LIVE.add(self)
        self.proc = subprocess.Popen(
            deno_command(assets, memory_mb, wheelhouse, self.stage_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=clean_env(assets.deno_dir), cwd=str(assets.deno_dir),
            start_new_session=True,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._send({"nonce": self.nonce, "preload": preload_modules()})
        msg = self._next_message(time.monotonic() + start_timeout)
        if msg is None or msg.get("type") != "ready":
            err = b"".join(self._stderr).decode(errors="replace")[-600:]
            self.kill()
            raise SandboxCrashed(f"the sandbox did not start: {err or 'no ready message'}")
        self.ready_seconds = time.perf_counter() - t0
        self.idle_rss = resident_bytes(self.proc.pid)

    # ---- plumbing ------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        read_nonce_lines(self.proc.stdout.fileno(), self.nonce, self._lines, self)

    def _read_stderr(self) -> None:
        err = self.proc.stderr
        total = 0
        try:
            for chunk in iter(lambda: err.read(4096), b""):
                if total < 64 * 1024:
                    self._stderr.append(chunk)
                total += len(chunk)
        except (OSError, ValueError):
            pass

    def _send(self, msg: dict) -> None:
        data = (json.dumps(msg) + "\n").encode()
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as e:
            raise SandboxCrashed("the sandbox closed its input") from e

    def _next_message(self, deadline: float) -> dict | None:
        """The next message that carries this process's nonce; None on timeout."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                kind, line = self._lines.get(timeout=min(left, 0.05))
            except queue.Empty:
                continue
            if kind == "eof":
                raise SandboxCrashed("the sandbox process exited")
            if kind == "overlong":
                raise SandboxCrashed("the sandbox sent a message over the size limit")
            try:
                msg = json.loads(line)
            except ValueError:
                msg = None
            if not isinstance(msg, dict) or msg.get("nonce") != self.nonce:
                self.garbage_lines += 1  # forged or stray output: never trusted
                continue
            return msg

    def warm(self) -> None:
        """Start the warm-up steps (runs in the background in the process; see warm.py)."""
        from .warm import warm_steps

        touch = getattr(self, "touch_mb", None)
        self._send({"op": "warm", "steps": warm_steps(
            touch_mb=min(96, self.memory_mb * 3 // 8) if touch is None else touch)})
        self.warming = True

    def wait_warm(self, timeout: float) -> bool:
        """Wait until the warm-up steps are done (for benchmarks; never needed to run code)."""
        deadline = time.monotonic() + timeout
        if getattr(self, "needs_warm", False):
            return False  # not started yet: the pool warms it when no execution runs
        while getattr(self, "warming", False):
            try:
                msg = self._next_message(deadline)
            except SandboxCrashed:
                return False
            if msg is None:
                return False
            if msg.get("type") == "warmed":
                self.warming = False
        return True

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _sigkill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()

    def kill(self) -> None:
        self._sigkill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except OSError:
                pass
        shutil.rmtree(self.stage_dir, ignore_errors=True)

    def discard(self) -> None:
        """End the process without waiting for it: SIGKILL now, the exit reaped by a
        background thread (a Deno process with a big WebAssembly memory takes 10-20 ms to
        go away, which the caller need not wait for)."""
        self._sigkill()
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        _reap(self)

    def _stage(self, files) -> tuple[list[dict], list[Path]]:
        """The request's file entries: small ones inline (base64), big ones and local files
        as a path in this process's stage folder (linked, else copied, else written)."""
        entries, staged = [], []
        for k, (name, data) in enumerate(files):
            if isinstance(data, (bytes, bytearray)) and len(data) < _INLINE_MAX:
                entries.append({"name": name, "data": base64.b64encode(data).decode()})
                continue
            target = self.stage_dir / f"{self.executions}-{k}"
            if isinstance(data, Path):
                try:
                    os.link(data, target)
                except OSError:
                    shutil.copyfile(data, target)
            else:
                target.write_bytes(data)
            staged.append(target)
            entries.append({"name": name, "path": str(target)})
        return entries, staged

    def close(self) -> None:
        if self.alive:
            try:
                self._send({"op": "exit"})
                self.proc.wait(timeout=2)
            except (SandboxCrashed, subprocess.TimeoutExpired):
                pass
        self.kill()

    # ---- execution --------------------------------------------------------------------------
    def execute(self, code: str, *, globals_: dict | None = None,
                files: list[tuple[str, bytes | Path]] = (), limits: Limits | None = None,
                network: NetworkPolicy | None = None, reuse_namespace: bool = False,
                fresh_workdir: bool = True, packages: tuple[str, ...] = ()) -> RawResult:
        limits = limits or Limits()
        network = network or NetworkPolicy(())
        self.executions += 1
        self.max_line = max(self.max_line, _line_bound(limits))
        entries, staged = self._stage(files)
        req = {
            "op": "exec", "id": self.executions, "code": code, "globals": globals_ or {},
            "files": entries,
            "limits": limits.to_host(), "reuse_namespace": reuse_namespace,
            "fresh_workdir": fresh_workdir, "packages": list(packages),
        }
        t0 = time.monotonic()
        deadline = t0 + limits.timeout
        try:
            return self._execute(req, limits, network, deadline, t0)
        finally:
            for f in staged:
                f.unlink(missing_ok=True)

    def _execute(self, req: dict, limits: Limits, network: NetworkPolicy, deadline: float,
                 t0: float) -> RawResult:
        ceiling = limits.rss_ceiling_bytes(self.idle_rss)
        peak = 0
        try:
            self._send(req)
            while True:
                msg = self._next_message(min(deadline, time.monotonic() + 0.05))
                rss = resident_bytes(self.proc.pid)
                peak = max(peak, rss)
                if rss > ceiling:
                    self.kill()
                    return RawResult(False, error_kind="memory", peak_rss=peak,
                                     error=f"the sandbox used more than its memory limit "
                                     f"({limits.memory_mb} MiB) and was stopped")
                if msg is None:
                    if time.monotonic() >= deadline:
                        self.kill()
                        return RawResult(False, error_kind="timeout", peak_rss=peak,
                                         elapsed_ms=(time.monotonic() - t0) * 1000,
                                         error=f"the code ran longer than {limits.timeout:g} s "
                                         "and was stopped")
                    continue
                if msg.get("type") == "fetch":
                    answer = self._fetch(network, msg, deadline)
                    if answer is None:
                        self.kill()
                        return RawResult(False, error_kind="timeout", peak_rss=peak,
                                         error=f"the code ran longer than {limits.timeout:g} s "
                                         "(waiting for an HTTP request) and was stopped")
                    self._send(answer)
                    continue
                if msg.get("type") == "result" and msg.get("id") == self.executions:
                    return self._result(msg, limits, peak)
        except SandboxCrashed as e:
            self.kill()
            if time.monotonic() >= deadline:
                return RawResult(False, error_kind="timeout", error=str(e), peak_rss=peak)
            err = b"".join(self._stderr).decode(errors="replace")
            kind = "memory" if ("out of memory" in err.lower() or "heap" in err.lower()) \
                else "crashed"
            return RawResult(False, error_kind=kind, peak_rss=peak,
                             error=f"the sandbox process ended: {e}" +
                             (f" ({err.strip().splitlines()[-1][:300]})" if err.strip() else ""))

    @staticmethod
    def _fetch(network: NetworkPolicy, msg: dict, deadline: float) -> dict | None:
        """Make the request on a thread; None when the execution's deadline passes first."""
        box: list[dict] = []
        t = threading.Thread(target=lambda: box.append(
            network.handle(msg, timeout=deadline - time.monotonic())), daemon=True)
        t.start()
        t.join(max(0.0, deadline - time.monotonic()))
        return box[0] if box else None

    def _result(self, msg: dict, limits: Limits, peak: int) -> RawResult:
        """Every field of the host's message checked: it may have been forged."""
        try:
            return self._parse_result(msg, limits, peak)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            return RawResult(False, error_kind="protocol", peak_rss=peak,
                             error=f"the sandbox sent a malformed result ({type(e).__name__})")

    def _parse_result(self, msg: dict, limits: Limits, peak: int) -> RawResult:
        ok = bool(msg.get("ok"))
        error = msg.get("error") if isinstance(msg.get("error"), dict) else None
        kind = None
        text = None
        if error:
            etype = str(error.get("type", "Error"))
            text = str(error.get("message", ""))[:20000]
            kind = {"ResultTooLarge": "result_too_large", "ResultError": "result",
                    "PackageError": "packages"}.get(etype)
            if kind is None:
                kind = "memory" if "MemoryError" in text else "exception"
        value = None
        raw_value = msg.get("value")
        if ok and isinstance(raw_value, str):
            if len(raw_value) > limits.max_result_bytes:
                ok, kind, text = False, "result_too_large", \
                    f"the result exceeds {limits.max_result_bytes} bytes"
            else:
                try:
                    value = json.loads(raw_value)
                except ValueError:
                    ok, kind, text = False, "protocol", "the result is not valid JSON"
        stdout = str(msg.get("stdout", ""))[: limits.max_output_bytes]
        stderr = str(msg.get("stderr", ""))[: limits.max_output_bytes]
        if msg.get("output_overflow"):
            ok, kind = False, "output_limit"
            text = f"the code printed more than {limits.max_output_bytes} bytes"
        raw_problems = msg.get("file_problems") or []
        if not isinstance(raw_problems, list):
            raise TypeError("file_problems")
        problems = list(dict.fromkeys(str(p)[:200] for p in raw_problems))[:50]
        raw_files = msg.get("files") or []
        if not isinstance(raw_files, list):
            raise TypeError("files")
        files, total = [], 0
        for f in raw_files[: limits.max_files + 1]:
            try:
                data = base64.b64decode(f["data"], validate=True)
                files.append((str(f["name"]), data))
            except (KeyError, TypeError, ValueError):
                problems.append("a returned file was malformed")
                continue
            total += len(data)
            if len(data) > limits.max_file_bytes:  # re-checked here: the host may be forged
                problems.append(f"file-size:{str(f['name'])[:100]}")
        if total > limits.max_total_file_bytes:
            problems.append("total-file-size")
        if len(raw_files) > limits.max_files:
            problems.append("file-count")
        if any(p.startswith(("file-count", "file-size", "total-file-size")) for p in problems):
            ok, kind = False, "file_limit"
            text = "the code wrote more files, or larger files, than its limits allow: " + \
                ", ".join(problems[:5])
        return RawResult(ok, value, stdout, stderr, kind, text, files, problems,
                         float(msg.get("elapsed_ms") or 0), peak)
