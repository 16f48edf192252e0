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
import fcntl
import hashlib
import json
import os
import queue
import secrets
import select
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

from .assets import SHELL_SOURCE, Assets, cache_lock, checkpoint_caches, clean_env, private_deno_dir
from .hostile import HostileValue, clean_text, cut_utf8, utf8_size
from .hostile import loads as hostile_loads
from .inflight import executing
from .limits import Limits
from .lines import read_nonce_lines
from .net import NetworkPolicy
from .packages import Wheelhouse
from .spawn import spawn

__all__ = ["SandboxProcess", "RawResult", "SandboxCrashed"]

_PAGE = 65536
_INLINE_MAX = 64 * 1024  # input files below this travel inline in the request
_CHUNK = 1 << 20  # a returned file travels in messages of this many bytes at most
# Until the host says the code has started, the time taken (staging, the end of a warm-up
# step, loading packages) is not the node's: it has this long on top of its timeout.
SETUP_GRACE_S = 30.0
# In a process that ran code before, a request not taken by the host within the node's
# timeout (and at least this) is a process that stopped reading its input.
RECEIVE_MIN_S = 2.0
_RSS_EVERY_S = 0.005  # resident memory is read at most this often while serving messages
_MAX_FETCHES = 8  # HTTP requests of one execution in flight at once
_LIMIT_PROBLEMS = ("file-count", "file-size", "total-file-size")


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
        "--cached-only", "--no-config", "--no-lock", "--allow-import=flowc-no-import.invalid:1",
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
    """The longest line a message can need: a result (its value, output and a forged field's
    worth of slack) or a file chunk (base64); files never travel whole in one message."""
    return int(limits.max_result_bytes * 2 + limits.max_output_bytes * 2
               + _CHUNK * 4 / 3 + 1024 * 1024)


_primed: dict[tuple[Path, int], Path] = {}


def shared_cache_dir(assets: Assets, memory_mb: int) -> Path:
    """The shared Deno folder whose caches the sandboxes of this memory size start from.

    One folder per V8 flag set: the code cache keeps one entry per module, and V8 refuses an
    entry made under other flags (the heap and WebAssembly sizes follow `memory_mb`). With one
    folder for all, priming 128 MB replaced the entries 256 MB sandboxes read, and each of
    their starts then compiled Pyodide anew (+0.1 s) without writing the cache back. The name
    also follows the snapshot (the host's sources) and the Deno binary, whose code caches
    differ."""
    deno = assets.deno
    try:
        st = deno.stat()
        stamp = f"{deno}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = str(deno)
    flags = [a for a in deno_command(assets, memory_mb, None, None) if a.startswith("--v8-flags")]
    digest = hashlib.sha256("\0".join([stamp, assets.snapshot.stem, *flags]).encode())
    return assets.deno_dir / "primed" / f"{memory_mb}-{digest.hexdigest()[:12]}"


def _prime(assets: Assets, memory_mb: int, wheelhouse) -> Path:
    """The shared caches for these V8 flags (`shared_cache_dir`), filled once by flowc's own
    process: one that runs no sandboxed code, started with the shared folder, then ended.
    Sandboxes get copies (assets.private_deno_dir) and never write it."""
    key = (assets.deno_dir, memory_mb)
    if key in _primed:
        return _primed[key]
    shared = shared_cache_dir(assets, memory_mb)
    marker = shared / "primed"
    if not marker.exists():
        shared.mkdir(parents=True, exist_ok=True)
        with cache_lock(shared, exclusive=True):
            if not marker.exists():
                proc = spawn(deno_command(assets, memory_mb, wheelhouse, None),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=clean_env(shared),
                             cwd=str(shared), start_new_session=True)
                try:
                    proc.stdin.write(b"p" * 32 + b"\n" + json.dumps(
                        {"preload": preload_modules()}).encode() + b"\n")
                    proc.stdin.flush()
                    proc.stdout.readline()  # ready (or EOF)
                    proc.stdin.write(b'{"op": "exit"}\n')
                    proc.stdin.close()
                    proc.wait(timeout=60)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    for f in (proc.stdout,):
                        f.close()
                checkpoint_caches(shared)
                marker.touch()
    _primed[key] = shared
    return shared


def _copy(src: Path, dst: Path) -> None:
    """Copy a file: a reflink where the file system shares blocks (no bytes copied), else
    the kernel's copy (shutil uses sendfile)."""
    try:
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            fcntl.ioctl(fo.fileno(), _FICLONE, fi.fileno())
        return
    except OSError:
        pass
    shutil.copyfile(src, dst)


_FICLONE = 0x40049409


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
        self.stderr_bytes = 0
        self._lines: queue.Queue = queue.Queue()
        self.max_line = _line_bound(Limits())
        self._stderr: list[bytes] = []
        t0 = time.perf_counter()
        _sweep_stale_stage_dirs()
        _mark_used(assets.snapshot)
        shared = _prime(assets, memory_mb, wheelhouse)
        self.owner_pid = os.getpid()
        # The process's own folder, removed with it: `stage/` holds big input files (copies;
        # reflinks where the file system can), read by the host directly (no base64 and JSON of megabytes
        # through the pipe; the only folder of its own it may read); `deno/` is its Deno
        # folder (caches copied from the shared one, no origin storage): nothing it makes
        # Deno write reaches another process.
        self.home = Path(tempfile.mkdtemp(prefix=f"{_STAGE_PREFIX}{os.getpid()}-"))
        self.stage_dir = self.home / "stage"
        self.stage_dir.mkdir()
        _LIVE.add(self)
        deno_dir = private_deno_dir(shared, self.home / "deno")
        self.proc = spawn(
            deno_command(assets, memory_mb, wheelhouse, self.stage_dir), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(deno_dir),
            cwd=str(self.home), start_new_session=True,
        )
        self._in = self.proc.stdin.fileno()
        os.set_blocking(self._in, False)  # writes are bounded by a deadline (_send)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + start_timeout
        # the nonce first, as 32 bare bytes (the host keeps it as bytes, never as text)
        self._send_bytes((self.nonce + "\n").encode(), deadline)
        self._send({"preload": preload_modules()}, deadline)
        msg = self._next_message(deadline)
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
        """Deno's stderr (sandboxed code can write to it): the first 64 KiB kept for error
        messages, all of it counted against the output cap of the execution running."""
        err = self.proc.stderr
        try:
            for chunk in iter(lambda: err.read1(65536), b""):
                if self.stderr_bytes < 64 * 1024:
                    self._stderr.append(chunk)
                self.stderr_bytes += len(chunk)
        except (OSError, ValueError):
            pass

    def _send(self, msg: dict, deadline: float) -> None:
        """Write one message, never waiting past `deadline`: a sandbox that stops reading its
        input (code that spins, a busy timer left by an earlier execution) cannot block flowc.
        SandboxCrashed when the process closed its input or the deadline passed."""
        self._send_bytes((json.dumps(msg) + "\n").encode(), deadline)

    def _send_bytes(self, raw: bytes, deadline: float) -> None:
        data = memoryview(raw)
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxCrashed("the sandbox stopped reading its input")
            try:
                _, writable, _ = select.select([], [self._in], [], min(left, 0.05))
                if not writable:
                    continue
                n = os.write(self._in, data[:65536])
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError, ValueError) as e:
                raise SandboxCrashed("the sandbox closed its input") from e
            data = data[n:]

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
            except (ValueError, RecursionError):
                msg = None
            if not isinstance(msg, dict):
                self.garbage_lines += 1  # (the reader keeps only lines led by the nonce)
                continue
            return msg

    def warm(self) -> None:
        """Start the warm-up steps (runs in the background in the process; see warm.py)."""
        from .warm import warm_steps

        touch = getattr(self, "touch_mb", None)
        self._send({"op": "warm", "steps": warm_steps(
            touch_mb=min(96, self.memory_mb * 3 // 8) if touch is None else touch)},
            time.monotonic() + 5)
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
        shutil.rmtree(self.home, ignore_errors=True)

    def discard(self) -> None:
        """End the process without waiting for it: SIGKILL now, the exit reaped by a
        background thread (a Deno process with a big WebAssembly memory takes 10-20 ms to
        go away, which the caller need not wait for)."""
        self._sigkill()
        shutil.rmtree(self.home, ignore_errors=True)
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
                # a copy, never a link: the sandbox may open what it reads, and a lock it
                # takes on a link would be a lock on the user's own file
                _copy(data, target)
            else:
                target.write_bytes(data)
            staged.append(target)
            entries.append({"name": name, "path": str(target)})
        return entries, staged

    def close(self) -> None:
        if self.alive:
            try:
                self._send({"op": "exit"}, time.monotonic() + 1)
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
        total = 0
        for _, data in files:  # (each input is copied to disk, then read into memory)
            try:
                total += data.stat().st_size if isinstance(data, Path) else len(data)
            except OSError:
                pass  # (staging names the file)
        if total > limits.max_input_bytes:
            return RawResult(False, error_kind="file_limit", error=f"the input files of this "
                             f"execution total {total} bytes, more than the limit of "
                             f"{limits.max_input_bytes}")
        try:
            entries, staged = self._stage(files)
        except OSError as e:  # (a full disk, a file gone meanwhile): nothing is left behind
            for f in self.stage_dir.glob(f"{self.executions}-*"):
                f.unlink(missing_ok=True)
            return RawResult(False, error_kind="file_limit", error=f"an input file could not "
                             f"be staged: {clean_text(e.strerror or e, 200)}")
        req = {
            "op": "exec", "id": self.executions, "code": code, "globals": globals_ or {},
            "files": entries,
            "limits": limits.to_host(), "reuse_namespace": reuse_namespace,
            "fresh_workdir": fresh_workdir, "packages": list(packages),
        }
        t0 = time.monotonic()
        try:
            with executing(self._sigkill):  # a cancelled run's work is killed from outside
                return self._execute(req, limits, network, t0)
        except Exception as e:  # any failure here is the sandbox's: it never outlives one
            self.kill()
            return RawResult(False, error_kind="protocol",
                             error=f"the sandbox broke the protocol ({type(e).__name__}) and "
                             "was stopped")
        finally:
            for f in staged:
                f.unlink(missing_ok=True)

    def _execute(self, req: dict, limits: Limits, network: NetworkPolicy, t0: float) -> RawResult:
        """Send the request, then serve the sandbox until its result, watching all the time:
        the deadline (the node's timeout from the moment its code starts), resident memory,
        output as it streams (host-counted and raw writes to stdout and stderr), HTTP
        requests (answered as they complete, while the watch goes on), returned files (as
        their chunks arrive). Any limit passed: the process is killed at once."""
        ceiling = limits.rss_ceiling_bytes(self.idle_rss)
        # Until the host has taken the request: in a process that ran code before (a run
        # session), the node's own timeout (at least RECEIVE_MIN_S): a timer that code left
        # can keep its loop busy for ever. In a new one, only flowc's own warm-up step can
        # delay it: the set-up grace applies. Then, until the code starts, the timeout plus
        # the grace; from the start, the timeout.
        reused = self.executions > 1
        receive_s = max(limits.timeout, RECEIVE_MIN_S) if reused else \
            limits.timeout + SETUP_GRACE_S
        deadline = t0 + receive_s
        received = False
        started = 0.0  # when the host said the code started (monotonic)
        out_base = self.garbage_bytes + self.stderr_bytes
        files = _Files(limits)
        fetches: dict = {}  # fid -> [thread, answer box]
        peak = 0

        def stop(kind: str, error: str, **extra) -> RawResult:
            self.kill()
            return RawResult(False, error_kind=kind, error=error, peak_rss=peak, **extra)

        def timed_out(doing: str = "") -> RawResult:
            if not received and reused:
                return stop("timeout", f"the sandbox did not take the request within "
                            f"{receive_s:g} s (code of an earlier execution keeps it busy) "
                            "and was stopped")
            if not started:
                return stop("timeout", f"the sandbox did not start the code within "
                            f"{limits.timeout + SETUP_GRACE_S:g} s and was stopped")
            return stop("timeout", f"the code ran longer than {limits.timeout:g} s{doing} and "
                        "was stopped", elapsed_ms=(time.monotonic() - t0) * 1000)

        try:
            self._send(req, deadline)
            rss_at = 0.0
            while True:
                msg = self._next_message(min(deadline, time.monotonic() + 0.05))
                now = time.monotonic()
                if now - rss_at >= _RSS_EVERY_S:  # (a read of /proc per message is costly
                    rss_at = now                  # when a sandbox floods flowc with them)
                    rss = resident_bytes(self.proc.pid)
                    peak = max(peak, rss)
                    if rss > ceiling:
                        return stop("memory", f"the sandbox used more than its memory limit "
                                    f"({limits.memory_mb} MiB) and was stopped")
                if self.garbage_bytes + self.stderr_bytes - out_base > limits.max_output_bytes:
                    return stop("output_limit", f"the code printed more than "
                                f"{limits.max_output_bytes} bytes")
                for fid in [f for f, (t, _) in fetches.items() if not t.is_alive()]:
                    _, box = fetches.pop(fid)
                    answer = box[0] if box else {"op": "fetch_result", "fid": fid,
                                                 "error": "request failed"}
                    self._send(answer, deadline)
                if msg is None:
                    if time.monotonic() >= deadline:
                        return timed_out(" (waiting for an HTTP request)" if fetches else "")
                    continue
                kind = msg.get("type")
                if msg.get("id") not in (None, self.executions):
                    continue  # (an earlier execution's late message)
                if kind == "received" and not received and msg.get("id") == self.executions:
                    received = True
                    if not started:
                        deadline = time.monotonic() + limits.timeout + SETUP_GRACE_S
                elif kind == "started" and not started:
                    received = True
                    started = time.monotonic()
                    deadline = started + limits.timeout
                elif kind == "overflow":
                    return stop("output_limit", f"the code printed more than "
                                f"{limits.max_output_bytes} bytes")
                elif kind == "fetch":
                    fid = msg.get("fid")
                    if not isinstance(fid, int) or fid in fetches:
                        continue
                    refusal = network.refusal(msg)  # (refused at once: no thread)
                    if refusal is None and len(fetches) >= _MAX_FETCHES:
                        refusal = {"op": "fetch_result", "fid": fid, "error":
                                   f"more than {_MAX_FETCHES} requests at once"}
                    if refusal is not None:
                        self._send(refusal, deadline)
                        continue
                    fetches[fid] = self._fetch(network, msg, deadline)
                elif kind == "file":
                    problem = files.add(msg)
                    if problem:
                        return stop("file_limit", "the code wrote more files, or larger files, "
                                    f"than its limits allow: {problem}")
                elif kind == "result" and msg.get("id") == self.executions:
                    # the code's time is flowc's own measure (the host's can be forged)
                    elapsed = (time.monotonic() - started) * 1000 if started else 0.0
                    return self._result(msg, limits, peak, files, elapsed)
        except SandboxCrashed as e:
            self.kill()
            if time.monotonic() >= deadline:
                return timed_out()
            err = b"".join(self._stderr).decode(errors="replace")
            kind = "memory" if ("out of memory" in err.lower() or "heap" in err.lower()) \
                else "crashed"
            tail = clean_text(err.strip().splitlines()[-1], 300) if err.strip() else ""
            return RawResult(False, error_kind=kind, peak_rss=peak,
                             error=f"the sandbox process ended: {e}" + (f" ({tail})" if tail else ""))

    @staticmethod
    def _fetch(network: NetworkPolicy, msg: dict, deadline: float) -> list:
        """Make the request on a thread, bounded by the execution's deadline; [thread, box]:
        the answer lands in the box (the loop above keeps watching meanwhile)."""
        box: list[dict] = []
        t = threading.Thread(target=lambda: box.append(
            network.handle(msg, timeout=max(0.1, deadline - time.monotonic()))),
            name="flowc-sandbox-fetch", daemon=True)
        t.start()
        return [t, box]

    def _result(self, msg: dict, limits: Limits, peak: int, files: _Files,
                elapsed_ms: float) -> RawResult:
        """Every field of the host's message checked: it may have been forged."""
        try:
            return self._parse_result(msg, limits, peak, files, elapsed_ms)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError,
                RecursionError) as e:
            self.kill()
            return RawResult(False, error_kind="protocol", peak_rss=peak, elapsed_ms=elapsed_ms,
                             error=f"the sandbox sent a malformed result ({type(e).__name__})")

    def _parse_result(self, msg: dict, limits: Limits, peak: int, files: _Files,
                      elapsed_ms: float) -> RawResult:
        ok = msg.get("ok") is True
        error = msg.get("error") if isinstance(msg.get("error"), dict) else None
        kind = None
        text = None
        if error:
            etype = clean_text(error.get("type", "Error"), 100)
            text = clean_text(error.get("message", ""), 20000)
            kind = {"ResultTooLarge": "result_too_large", "ResultError": "result",
                    "PackageError": "packages"}.get(etype)
            if kind is None:
                kind = "memory" if "MemoryError" in text else "exception"
        elif not ok:
            kind, text = "exception", "the code failed"
        value = None
        raw_value = msg.get("value")
        if ok and isinstance(raw_value, str):
            if len(raw_value) > limits.max_result_bytes or \
                    utf8_size(raw_value) > limits.max_result_bytes:
                ok, kind, text = False, "result_too_large", \
                    f"the result exceeds {limits.max_result_bytes} bytes"
            else:
                try:
                    value = hostile_loads(raw_value)
                except HostileValue as e:
                    ok, kind, text = False, "result", str(e)
        # output is capped in bytes, stdout and stderr together (as the host counts it)
        stdout = cut_utf8(msg.get("stdout", ""), limits.max_output_bytes)
        stderr = cut_utf8(msg.get("stderr", ""), limits.max_output_bytes - utf8_size(stdout))
        if msg.get("output_overflow"):
            ok, kind = False, "output_limit"
            text = f"the code printed more than {limits.max_output_bytes} bytes"
        raw_problems = msg.get("file_problems") or []
        if not isinstance(raw_problems, list):
            raise TypeError("file_problems")
        limit_passed = any(isinstance(p, str) and p.startswith(_LIMIT_PROBLEMS)
                           for p in raw_problems)  # (the host always says these)
        problems = list(dict.fromkeys(clean_text(p, 200) for p in raw_problems[:50]))
        problems += files.problems
        if files.open_name is not None:
            problems.append("a returned file was cut short")
        if limit_passed or any(p.startswith(_LIMIT_PROBLEMS) for p in problems):
            ok, kind = False, "file_limit"
            text = "the code wrote more files, or larger files, than its limits allow: " + \
                ", ".join(problems[:5])
        return RawResult(ok, value, stdout, stderr, kind, text, files.done, problems,
                         elapsed_ms, peak)


class _Files:
    """Returned files as their chunks arrive (`file` messages), each bound checked on the way:
    count, size of one, size of all, names as text that a file system can take."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.done: list[tuple[str, bytes]] = []
        self.problems: list[str] = []
        self.open_name: str | None = None
        self.parts: list[bytes] = []
        self.size = 0
        self.total = 0

    def add(self, msg: dict) -> str | None:
        """Take one chunk; the problem that stops the execution, if any."""
        name, data = msg.get("name"), msg.get("data")
        if not isinstance(name, str) or not isinstance(data, str) or len(name) > 4096:
            return "a returned file was malformed"
        try:
            chunk = base64.b64decode(data, validate=True)
        except ValueError:
            return "a returned file was malformed"
        if self.open_name is not None and name != self.open_name:
            return "a returned file was cut short"
        if self.open_name is None:
            if len(self.done) >= self.limits.max_files:
                return "file-count"
            self.open_name, self.parts, self.size = name, [], 0
        self.parts.append(chunk)
        self.size += len(chunk)
        self.total += len(chunk)
        if self.size > self.limits.max_file_bytes:
            return f"file-size:{clean_text(name, 100)}"
        if self.total > self.limits.max_total_file_bytes:
            return "total-file-size"
        if msg.get("last") is True:
            if clean_text(name) != name:  # not valid Unicode: no file system takes it
                self.problems.append(f"unsafe file name {clean_text(name, 100)!r} not returned")
            else:
                self.done.append((name, b"".join(self.parts)))
            self.open_name, self.parts = None, []
        return None
