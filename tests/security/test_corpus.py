"""The security corpus: hostile programs run in the sandbox, each must be contained.

Every program in `corpus/` (`.py` runs in the Pyodide sandbox through a shared
`SandboxPool`, `.js` through `run_javascript`) starts with a comment block:

    # ATTACK: what it tries. CONTAINED: what stops it.
    # expect: <directive>; <directive>; ...
    # xfail: <reason>            (only for a sandbox bug that has been reported)

Directives (`|` separates alternatives):

    ok                        the execution succeeded
    error_kind=K1|K2          it failed with one of these kinds
    value=<JSON>              the returned value equals this JSON
    value~S1|S2               the value (as text) contains one of these
    value!~S                  the value does not contain S
    each~S1|S2                the value is a list; every item contains one of these
    error~S / stdout~S / stderr~S / refused~S   the same for those fields
    names=a,b                 exactly these files were written to output_dir
    elapsed<SECONDS           the wall-clock time of the call, past which it counts as not
                              stopped in time; TIME_MARGIN is added, as to every wall-clock
                              bound here, so that a loaded machine does not fail it (a bound on
                              a hang, never a speed figure: bench/sandbox.py measures speed)
    host_mem<MIB              peak resident memory growth of this (flowc's) process in the call
    host_cpu<SECONDS          CPU time of this (flowc's) process, all its threads, in the call
    sandbox_peak<MIB          the sandbox's peak resident memory, as flowc's own watch saw it (a
                              watch that pauses sees the peak late, or stops the process late)
    limits=key:value,...      Limits for the execution (defaults: timeout 15 s: no case counts on
                              being stopped by it, and a busy machine must not stop one that
                              only needs to finish; a case about timeouts sets its own)
    allow=server,RULE         allow the local test server for flowc_http, and allowlist rules
                              besides it (e.g. allowed.test)
    server=none|hit           the local test server got no connection / a connection
    evil=none                 the second local server (a host that is never allowed) got none
    outcome=ok|K1|K2          it succeeded, or failed with one of these kinds (either is contained)
    requested!~S              no HTTP request flowc made (not a refused one) names S
    server_hits<N             the allowed test server got fewer than N connections in the call
    input=NAME:BYTES          stage an input file of that size (bytes of TOKEN, repeated)
    input_lock=free           while the call runs, flowc's side can always flock() the input files
                              (the sandbox cannot lock the user's files through its stage folder)
    output_bytes=capped       stdout and stderr together, as UTF-8, are within max_output_bytes
    session=run               run in a run session (isolation "run") instead of strict
    followup=PATH             then run corpus/PATH (corpus/followups/, not a case of its own;
                              its own header and expectations) with the same TOKEN: in the same
                              session with session=run, else in a sandbox started after this call
                              (a new pool, or a new JavaScript process)
    trace=none                after the call (and its follow-up) the TOKEN is in no file under
                              the sandbox cache folder (Deno's folders, locks, wheelhouses), any
                              sandbox stage folder, or any entry new in /tmp
    disk<MIB                  the sandbox cache folder and stage folders grew, at their peak
                              during the call, by less than this many MiB (blocks on disk)

Every execution is also checked for containment whatever its directives say: the secret
sentinel put in this process's environment, /etc/passwd's "root:x:0:0" and pyproject.toml's
text never appear in any output; no marker file appears in the host's /tmp; nothing is
written outside the output folder and no written file breaks the file limits; the shared
sandbox assets are unchanged (the snapshot by its bytes: any flowc process refreshes its mtime);
the call ends within its timeout plus a margin (and a call that never returns fails the test
instead of hanging the suite); no sandbox process of the call is alive after it (a Python sandbox
whose stage folder is gone, a JavaScript runner process); no HTTP request thread started in the
call outlives the node's deadline (its timeout from the call's start, plus a margin); the time
the result reports (elapsed_ms) is no longer than the call took.

CORPUS_VERBOSE=1 (with pytest -s) prints what each program did, passing or not.

Every program gets these globals (JavaScript: as arguments): SERVER, SERVER_HOST, SERVER_PORT,
SERVER_NETLOC, EVIL, EVIL_PORT, PYODIDE_DIR, SNAPSHOT, HOST_SCRIPT, PROJECT_ROOT, MARKER,
SENTINEL_NAME and TOKEN (unique to the test: what a program plants, so that `trace=none` and a
follow-up can look for it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flowc.runtime.sandbox import Limits, SandboxPool
from flowc.runtime.sandbox.assets import Assets
from flowc.runtime.sandbox.js import run_javascript

CORPUS = Path(__file__).with_name("corpus")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SENTINEL_NAME = "FLOWC_SECRET_SENTINEL"
SENTINEL = f"flowc-secret-{uuid.uuid4().hex}"
os.environ[SENTINEL_NAME] = SENTINEL  # before any sandbox starts: it must never get out
MARKER = f"/tmp/flowc-sec-{uuid.uuid4().hex[:12]}"
FORBIDDEN_TEXT = ("root:x:0:0", SENTINEL, "[build-system]", 'requires-python = ">=3.12"')
SLOW_CAP_SECONDS = 300.0  # /slow answers when the call is back, or after this
TIME_MARGIN = 5.0
DEFAULT_TIMEOUT = 15.0  # a case's timeout unless it sets one (see the docstring)
HANG_SECONDS = 90.0  # past timeout + this, a call is reported as hung (setup grace is 30 s)
GONE_SECONDS = 3.0  # a killed process and a request thread have this long to be gone
BIG_BODY = 4 * 1024 * 1024  # the allowed server's /big answer

_DIRECTIVE = re.compile(r"^(\w+)\s*(=|~|!~|<)\s*(.*)$")


# ---- the expectations, parsed from each program's comment block -----------------------------
@dataclass
class Case:
    name: str
    path: Path
    language: str
    attack: str
    ok: bool | None = None
    kinds: tuple[str, ...] = ()
    value: object = None
    has_value: bool = False
    contains: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    value_excludes: list[str] = field(default_factory=list)
    each: tuple[str, ...] = ()
    names: tuple[str, ...] | None = None
    elapsed: float | None = None
    host_mem: float | None = None
    host_cpu: float | None = None
    sandbox_peak: float | None = None
    limits: dict = field(default_factory=dict)
    allow_server: bool = False
    allow_rules: tuple[str, ...] = ()
    server: str | None = None
    evil: str | None = None
    xfail: str = ""
    outcome: tuple[str, ...] = ()
    requested_excludes: list[str] = field(default_factory=list)
    server_hits: int | None = None
    inputs: list[tuple[str, int]] = field(default_factory=list)
    input_lock: bool = False
    output_bytes: bool = False
    session: bool = False
    followup: str | None = None
    trace: bool = False
    disk_mib: float | None = None


_LIMIT_FIELDS = {f.name: f.type for f in fields(Limits)}


def _parse(path: Path) -> Case:
    prefix = "//" if path.suffix == ".js" else "#"
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith(prefix):
            break
        header.append(line[len(prefix):].strip())
    assert header and header[0].startswith("ATTACK:") and "CONTAINED" in header[0], \
        f"{path.name}: the first line must state the attack and its containment"
    case = Case(path.stem, path, "javascript" if path.suffix == ".js" else "python", header[0])
    directives = []
    for line in header[1:]:
        if line.startswith("expect:"):
            directives += [d.strip() for d in line[len("expect:"):].split(";") if d.strip()]
        elif line.startswith("xfail:"):
            case.xfail = (case.xfail + " " + line[len("xfail:"):].strip()).strip()
    assert directives, f"{path.name}: no `expect:` line"
    for d in directives:
        if d == "ok":
            case.ok = True
            continue
        m = _DIRECTIVE.match(d)
        assert m, f"{path.name}: cannot read directive {d!r}"
        key, op, arg = m.groups()
        alts = tuple(a for a in arg.split("|") if a)
        if key == "error_kind" and op == "=":
            case.ok, case.kinds = False, alts
        elif key == "outcome" and op == "=":
            assert "ok" in alts, f"{path.name}: outcome= names ok (else say error_kind=)"
            case.ok, case.outcome = True, alts
        elif key == "value" and op == "=":
            case.value, case.has_value = json.loads(arg), True
        elif key == "value" and op == "!~":
            case.value_excludes.append(arg)
        elif key == "each" and op == "~":
            case.each = alts
        elif key in ("value", "error", "stdout", "stderr", "refused") and op == "~":
            case.contains.append((key, alts))
        elif key == "names" and op == "=":
            case.names = tuple(sorted(n for n in arg.split(",") if n))
        elif key == "elapsed" and op == "<":
            case.elapsed = float(arg)
        elif key == "host_mem" and op == "<":
            case.host_mem = float(arg)
        elif key == "host_cpu" and op == "<":
            case.host_cpu = float(arg)
        elif key == "sandbox_peak" and op == "<":
            case.sandbox_peak = float(arg)
        elif key == "limits" and op == "=":
            for item in arg.split(","):
                k, _, v = item.partition(":")
                assert k in _LIMIT_FIELDS, f"{path.name}: unknown limit {k!r}"
                case.limits[k] = float(v) if k == "timeout" else int(v)
        elif key == "allow" and op == "=":
            for rule in arg.split(","):
                if rule == "server":
                    case.allow_server = True
                elif rule:
                    case.allow_rules += (rule,)
        elif key in ("server", "evil") and op == "=" and arg in ("none", "hit"):
            setattr(case, key, arg)
        elif key == "requested" and op == "!~":
            case.requested_excludes.append(arg)
        elif key == "server_hits" and op == "<":
            case.server_hits = int(arg)
        elif key == "input" and op == "=":
            name, _, size = arg.partition(":")
            case.inputs.append((name, int(size)))
        elif key == "input_lock" and op == "=" and arg == "free":
            case.input_lock = True
        elif key == "output_bytes" and op == "=" and arg == "capped":
            case.output_bytes = True
        elif key == "session" and op == "=" and arg == "run":
            case.session = True
        elif key == "followup" and op == "=":
            assert (CORPUS / arg).is_file(), f"{path.name}: no follow-up program {arg}"
            case.followup = arg
        elif key == "trace" and op == "=" and arg == "none":
            case.trace = True
        elif key == "disk" and op == "<":
            case.disk_mib = float(arg)
        else:
            raise AssertionError(f"{path.name}: unknown directive {d!r}")
    assert case.ok is not None, f"{path.name}: say `ok`, `outcome=` or `error_kind=...`"
    return case


CASES = [_parse(p) for p in sorted(CORPUS.iterdir()) if p.suffix in (".py", ".js")]
_ran: set[str] = set()


def _params():
    for c in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        yield pytest.param(c, id=c.path.name, marks=marks)


# ---- local servers: one allowed for flowc_http, one that stands for an attacker's host --------
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        srv.paths.append(self.path)
        if self.path == "/hello":
            self._send(200, b"hello from the allowed server")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", srv.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            # answers only once the call has returned (a barrier, not a delay): a sandbox that
            # waited for this answer would hang its call, whatever the machine's load
            srv.release.wait(SLOW_CAP_SECONDS)
            self._send(200, b"slow")
        elif self.path == "/big":
            self._send(200, b"b" * BIG_BODY)
        elif self.path == "/garbage":
            self.wfile.write(b"garbage instead of a status line\r\n\r\n")
            self.close_connection = True
        elif self.path == "/mod.js":
            self._send(200, b"export default 'imported from the test server';",
                       "application/javascript")
        else:
            self._send(404, b"not found")

    do_POST = do_DELETE = do_GET

    def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client (flowc, at its deadline) went away
            pass

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accepts = 0
        self.paths: list[str] = []
        self.redirect_to = ""
        self.release = threading.Event()  # set when the call in progress has returned

    def get_request(self):  # every TCP connection, HTTP or not
        conn = super().get_request()
        self.accepts += 1
        return conn

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def servers():
    good, evil = _Server(), _Server()
    good.redirect_to = evil.url + "/stolen"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (good, evil)]
    for t in threads:
        t.start()
    yield good, evil
    for s in (good, evil):
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def pool():
    p = SandboxPool(size=2)
    assert p.wait_ready(timeout=120), "the sandbox pool did not start"
    yield p
    p.close()


def _asset_state(a: Assets) -> dict[str, tuple]:
    paths = [a.pyodide_dir / n for n in ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
                                         "python_stdlib.zip", "pyodide-lock.json")]
    state: dict[str, tuple] = {}
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        state[str(p)] = (st.st_size, st.st_mtime_ns)
    try:  # any flowc process refreshes the snapshot's mtime (it marks it used): its bytes count
        state[str(a.snapshot)] = (a.snapshot.stat().st_size,
                                  hashlib.sha256(a.snapshot.read_bytes()).hexdigest())
    except FileNotFoundError:  # a snapshot replaced by a newer host.mjs: not our doing
        pass
    return state


def _program_globals(a: Assets, good: _Server, evil: _Server, token: str) -> dict:
    return {
        "SERVER": good.url, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": good.server_address[1],
        "SERVER_NETLOC": f"127.0.0.1:{good.server_address[1]}",
        "EVIL": evil.url, "EVIL_PORT": evil.server_address[1],
        "PYODIDE_DIR": str(a.pyodide_dir), "SNAPSHOT": str(a.snapshot),
        "HOST_SCRIPT": str(a.host_script), "PROJECT_ROOT": str(PROJECT_ROOT),
        "MARKER": MARKER, "SENTINEL_NAME": SENTINEL_NAME, "TOKEN": token,
    }


def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> int | None:
    """Reset this process's peak RSS (VmHWM) and return its current RSS in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status_kib("VmRSS") * 1024
    except (OSError, KeyError):
        return None


def _text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _markers() -> list[str]:
    return sorted(str(p) for p in Path(MARKER).parent.glob(Path(MARKER).name + "*"))


# ---- what a call may leave behind: processes, threads, files --------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2:].split()[0]
    except (OSError, ValueError, IndexError):
        return "X"


def _stray_sandboxes() -> list[str]:
    """Live (not zombie) sandbox processes started by this test process that nothing owns any
    more: a JavaScript runner process (each lives only for its call), or a Pyodide host whose
    stage folder is gone (removed when its owner ended it)."""
    kids, stack, found = _children(), [os.getpid()], []
    while stack:
        for pid in kids.get(stack.pop(), []):
            stack.append(pid)
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            argv = argv.rstrip("\0").split("\0")
            if not argv[0].endswith("deno") or _state(pid) in "ZX":
                continue
            if argv[-1] == "-" and "--deny-read" in argv:
                found.append(f"{pid} (a JavaScript runner)")
                continue
            reads = [a for a in argv if a.startswith("--allow-read=")]
            stages = [p for r in reads for p in r.split("=", 1)[1].split(",")
                      if "flowc-stage-" in p]
            if stages and not any(os.path.isdir(p) for p in stages):
                found.append(f"{pid} (a Pyodide sandbox whose stage folder is gone)")
    return found


def _fetch_threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.name == "flowc-sandbox-fetch"}


def _cache_roots(a: Assets, stages: str = "flowc-stage-*") -> list[Path]:
    """Where a sandbox could make Deno write: the sandbox cache folder (Deno's folders, locks,
    wheelhouses; not the Pyodide assets, checked apart) and the stage folders."""
    root = a.deno_dir.parent
    out = [p for p in root.iterdir() if p != a.pyodide_dir and not p.name.startswith("snapshot-")]
    out += list(Path(tempfile.gettempdir()).glob(stages))
    return out


def _walk(paths) -> list[Path]:
    files = []
    for top in paths:
        if top.is_file() and not top.is_symlink():
            files.append(top)
            continue
        for dirpath, _, names in os.walk(top):
            files += [Path(dirpath) / n for n in names]
    return files


def _disk_bytes(a: Assets) -> int:
    total = 0
    for f in _walk(_cache_roots(a, f"flowc-stage-{os.getpid()}-*")):  # (others' come and go)
        try:
            total += f.lstat().st_blocks * 512
        except OSError:
            pass
    return total


def _tmp_entries() -> set[str]:
    try:
        return set(os.listdir(tempfile.gettempdir()))
    except OSError:
        return set()


def _files_holding(token: str, a: Assets, tmp_before: set[str]) -> list[str]:
    tmp = Path(tempfile.gettempdir())
    roots = _cache_roots(a) + [tmp / n for n in _tmp_entries() - tmp_before]
    needle = token.encode()
    found = []
    for f in _walk(roots):
        try:
            if f.is_symlink() or not f.is_file() or f.stat().st_size > 256 * 2**20:
                continue
            if needle in f.read_bytes():
                found.append(str(f))
        except OSError:
            continue
    return found


class _DiskWatch:
    """The peak growth of `_disk_bytes` while a call runs, sampled on a thread."""

    def __init__(self, a: Assets):
        self.assets, self.base, self.peak = a, _disk_bytes(a), 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, _disk_bytes(self.assets) - self.base)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _disk_bytes(self.assets) - self.base)
        return self.peak / 2**20


class _LockWatch:
    """Try, every 50 ms while a call runs, to flock() each input file on the host side."""

    def __init__(self, paths: list[str]):
        self.paths, self.blocked = paths, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.wait(0.05):
            for path in self.paths:
                try:
                    with open(path, "rb") as f:
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        fcntl.flock(f, fcntl.LOCK_UN)
                except BlockingIOError:
                    if path not in self.blocked:
                        self.blocked.append(path)
                except OSError:
                    pass

    def stop(self) -> list[str]:
        self._stop.set()
        self._t.join()
        return self.blocked


# ---- one call, and what every call must satisfy ----------------------------------------------
def _call(case: Case, limits: Limits, fn) -> tuple:
    """Run `fn()` on a thread: a call that never returns fails the test (the suite goes on)."""
    box: list = []

    def target():
        try:
            box.append((True, fn()))
        except BaseException as e:  # handed to the test
            box.append((False, e))

    t0 = time.monotonic()
    t = threading.Thread(target=target, name=f"corpus-{case.name}", daemon=True)
    t.start()
    t.join(limits.timeout + HANG_SECONDS)
    elapsed = time.monotonic() - t0
    if t.is_alive():
        pytest.fail(f"{case.name}: the call did not return within {elapsed:.0f} s (the host hung)")
    ok, r = box[0]
    if not ok:
        raise r
    return r, elapsed


def _run(case: Case, pool: SandboxPool, g: dict, out_dir: Path, input_dir: Path,
         session=None, fresh: SandboxPool | None = None):
    limits = Limits(**{"timeout": DEFAULT_TIMEOUT, **case.limits})
    inputs = {}
    for name, size in case.inputs:
        src = input_dir / f"{case.name}-{name}"
        unit = (g["TOKEN"] + "\n").encode()
        src.write_bytes((unit * (size // len(unit) + 1))[:size])
        inputs[name] = str(src)
    allow = ((g["SERVER_NETLOC"],) if case.allow_server else ()) + case.allow_rules
    code = case.path.read_text(encoding="utf-8")
    if case.language == "python":
        if session is not None:
            def fn():
                return session.run(code, globals_=g, inputs=inputs, output_dir=str(out_dir),
                                   limits=limits, allow_hosts=allow)
        elif fresh is not None:
            def fn():
                return fresh.run(code, globals_=g, inputs=inputs, output_dir=str(out_dir),
                                 limits=limits, allow_hosts=allow)
        else:
            def fn():
                return pool.run(code, globals_=g, inputs=inputs, output_dir=str(out_dir),
                                limits=limits, allow_hosts=allow)
    else:
        def fn():
            return run_javascript(code, args=g, inputs=inputs, output_dir=str(out_dir),
                                  limits=limits, assets=pool.assets)
    return limits, _call(case, limits, fn)


def _check(case: Case, r, elapsed: float, limits: Limits, out_dir: Path, tmp_path: Path,
           pool: SandboxPool, servers, before: dict, host_peak: float, base_rss,
           host_cpu: float = 0.0) -> None:
    good, evil = servers
    diag = (f"{case.name}: ok={r.ok} kind={r.error_kind} elapsed={elapsed:.2f}s "
            f"host_peak={host_peak:.0f}MiB host_cpu={host_cpu:.2f}s\n"
            f"value={_text(r.value)[:1500]}\nerror={(r.error or '')[-1500:]}\n"
            f"stdout={r.stdout[:300]!r}\nstderr={r.stderr[:300]!r}\nrefused={r.refused_files}\n"
            f"network={r.network}")

    if os.environ.get("CORPUS_VERBOSE"):  # what a program did, even when it passes
        print(f"\n--- {diag}")
    # containment, whatever the program is
    written = {p.relative_to(out_dir).as_posix(): p.read_bytes()
               for p in out_dir.rglob("*") if p.is_file() or p.is_symlink()}
    blob = "\n".join([_text(r.value), r.stdout, r.stderr, r.error or "", *r.refused_files,
                      *r.network, *(d.decode("utf-8", "replace") for d in written.values())])
    for bad in FORBIDDEN_TEXT:
        assert bad not in blob, f"leaked {bad!r}\n{diag}"
    assert _markers() == [], f"a file appeared in the host's /tmp\n{diag}"
    outs = (tmp_path / "out", tmp_path / "followup-out")  # (a follow-up's: the second)
    outside = [p for p in tmp_path.rglob("*") if not any(d in (p, *p.parents) for d in outs)]
    assert outside == [], f"written outside output_dir: {outside}\n{diag}"
    assert not any(p.is_symlink() for p in out_dir.rglob("*")), diag
    for f in r.files:
        assert Path(f.url.removeprefix("file://")).resolve().is_relative_to(out_dir.resolve()), diag
    assert len(written) <= limits.max_files, f"more files than max_files\n{diag}"
    for name, data in written.items():
        assert len(data) <= limits.max_file_bytes, f"{name} breaks max_file_bytes\n{diag}"
    assert sum(map(len, written.values())) <= limits.max_total_file_bytes, \
        f"the files break max_total_file_bytes\n{diag}"
    assert len(r.stdout) + len(r.stderr) <= 2 * limits.max_output_bytes, diag
    assert r.elapsed_ms <= elapsed * 1000 + 1000, \
        f"the result reports {r.elapsed_ms:.0f} ms for a call of {elapsed:.1f} s\n{diag}"
    assert _asset_state(pool.assets) == before["assets"], f"the sandbox assets changed\n{diag}"
    assert elapsed < limits.timeout + TIME_MARGIN, f"outlived its timeout\n{diag}"
    if not case.allow_server and case.server != "hit":
        assert good.accepts == before["good"], f"the test server got a connection\n{diag}"
    assert evil.accepts == before["evil"], f"the never-allowed server got a connection\n{diag}"
    if not r.ok:
        assert r.error, f"a failure without an error message\n{diag}"
    end = time.monotonic() + GONE_SECONDS
    while _stray_sandboxes() and time.monotonic() < end:
        time.sleep(0.1)
    assert _stray_sandboxes() == [], f"a sandbox process outlived its call\n{diag}"
    # a request thread may last until the node's deadline (a process killed earlier, for memory
    # say, leaves its request to end then), never past it
    end = before["t0"] + limits.timeout + TIME_MARGIN
    while _fetch_threads() - before["threads"] and time.monotonic() < end:
        time.sleep(0.1)
    left = _fetch_threads() - before["threads"]
    assert not left, f"{len(left)} HTTP request thread(s) outlived the node's deadline\n{diag}"

    # the expectations of this program
    if case.outcome:
        assert r.ok or r.error_kind in case.outcome, \
            f"expected success or error_kind in {case.outcome}\n{diag}"
    elif case.ok:
        assert r.ok, f"expected success\n{diag}"
    else:
        assert not r.ok and r.error_kind in case.kinds, \
            f"expected error_kind in {case.kinds}\n{diag}"
    if case.has_value:
        assert r.value == case.value, diag
    fields_text = {"value": _text(r.value), "error": r.error or "", "stdout": r.stdout,
                   "stderr": r.stderr, "refused": "\n".join(r.refused_files)}
    for key, alts in case.contains:
        assert any(a in fields_text[key] for a in alts), f"{key} should name {alts}\n{diag}"
    for bad in case.value_excludes:
        assert bad not in fields_text["value"], f"value should not contain {bad!r}\n{diag}"
    if case.each:
        assert isinstance(r.value, list) and r.value, f"expected a list of attempts\n{diag}"
        for item in r.value:
            assert any(a in str(item) for a in case.each), \
                f"an attempt was not denied: {item!r}\n{diag}"
    if case.names is not None:
        assert tuple(sorted(f.name for f in r.files)) == case.names, diag
        assert tuple(sorted(written)) == case.names, diag
    if case.elapsed is not None:
        assert elapsed < case.elapsed + TIME_MARGIN, \
            f"took {elapsed:.2f}s, limit {case.elapsed}s + {TIME_MARGIN}s margin\n{diag}"
    if case.host_mem is not None:
        if base_rss is None:
            pytest.skip("/proc/self/clear_refs is not writable: cannot measure peak memory")
        assert host_peak < case.host_mem, \
            f"flowc allocated {host_peak:.0f} MiB, limit {case.host_mem:g}\n{diag}"
    if case.output_bytes:
        size = sum(len(t.encode("utf-8", "surrogatepass")) for t in (r.stdout, r.stderr))
        assert size <= limits.max_output_bytes, \
            f"{size} bytes of output came back, limit {limits.max_output_bytes}\n{diag}"
    if case.sandbox_peak is not None:
        assert r.peak_rss_mb < case.sandbox_peak, \
            f"the sandbox reached {r.peak_rss_mb:.0f} MiB, limit {case.sandbox_peak:g}\n{diag}"
    if case.host_cpu is not None:
        assert host_cpu < case.host_cpu, \
            f"flowc spent {host_cpu:.2f} s of CPU, limit {case.host_cpu:g}\n{diag}"
    if case.server == "hit":
        assert good.accepts > before["good"], f"the allowed server got no request\n{diag}"
    if case.server == "none":
        assert good.accepts == before["good"], diag
    if case.server_hits is not None:
        assert good.accepts - before["good"] < case.server_hits, \
            f"the allowed server got {good.accepts - before['good']} connections\n{diag}"
    if case.evil == "none":
        assert evil.accepts == before["evil"], diag
    made = [u for u in r.network if not u.startswith("refused ")]
    for bad in case.requested_excludes:
        assert not any(bad in u for u in made), f"flowc made a request naming {bad!r}\n{diag}"


def _one(case: Case, pool, servers, g, out_dir, tmp_path, input_dir, session=None,
         fresh: SandboxPool | None = None) -> None:
    good, evil = servers
    before = {"assets": _asset_state(pool.assets), "good": good.accepts, "evil": evil.accepts,
              "threads": _fetch_threads(), "t0": time.monotonic()}
    base_rss = _reset_peak_rss() if case.host_mem is not None else None
    disk = _DiskWatch(pool.assets) if case.disk_mib is not None else None
    locks = _LockWatch([str(input_dir / f"{case.name}-{n}") for n, _ in case.inputs]) \
        if case.input_lock else None
    cpu0 = time.process_time()
    good.release.clear()
    try:
        limits, (r, elapsed) = _run(case, pool, g, out_dir, input_dir, session, fresh)
    finally:
        good.release.set()
        grown = disk.stop() if disk is not None else 0.0
        blocked = locks.stop() if locks is not None else []
    host_cpu = time.process_time() - cpu0
    host_peak = (_proc_status_kib("VmHWM") * 1024 - base_rss) / 2**20 if base_rss else 0.0
    time.sleep(0.05)  # let a connection that raced the result reach the servers' accept loop
    _check(case, r, elapsed, limits, out_dir, tmp_path, pool, servers, before, host_peak,
           base_rss, host_cpu)
    assert blocked == [], f"{case.name}: the sandbox held a lock on the host's input {blocked}"
    if disk is not None:
        if os.environ.get("CORPUS_VERBOSE"):
            print(f"--- {case.name}: the sandbox folders grew by {grown:.1f} MiB at most")
        assert grown < case.disk_mib, \
            f"{case.name}: the sandbox folders grew by {grown:.0f} MiB during the call"


# ---- the corpus -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(_params()))
def test_corpus(case: Case, pool: SandboxPool, servers, tmp_path: Path, tmp_path_factory):
    good, evil = servers
    token = f"flowc-token-{uuid.uuid4().hex}"
    g = _program_globals(pool.assets, good, evil, token)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    input_dir = tmp_path_factory.mktemp("inputs")
    tmp_before = _tmp_entries() if case.trace else set()
    _ran.add(case.name)
    session = pool.session() if case.session else None
    try:
        _one(case, pool, servers, g, out_dir, tmp_path, input_dir, session)
        if case.followup:
            follow = _parse(CORPUS / case.followup)
            follow_out = tmp_path / "followup-out"
            follow_out.mkdir()
            if session is not None or follow.language == "javascript":
                _one(follow, pool, servers, g, follow_out, tmp_path, input_dir, session)
            else:  # a sandbox started after the call, from a pool of its own
                with SandboxPool(size=1, warm=False, assets=pool.assets) as fresh:
                    assert fresh.wait_ready(timeout=120), "a fresh sandbox did not start"
                    _one(follow, pool, servers, g, follow_out, tmp_path, input_dir, None, fresh)
    finally:
        if session is not None:
            session.close()
    if case.trace:
        found = _files_holding(token, pool.assets, tmp_before)
        assert found == [], f"{case.name}: what the run planted is on disk: {found[:10]}"


def test_corpus_is_large_and_documented():
    assert len(CASES) >= 40
    assert sum(c.language == "javascript" for c in CASES) >= 6
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def test_sandbox_still_serves_after_the_corpus(pool: SandboxPool):
    """Last: after every hostile program ran on this pool, it still works and still refills."""
    if len(_ran) < len(CASES):
        pytest.skip("only meaningful after the whole corpus ran")
    assert pool.wait_ready(timeout=60), "the pool did not refill after the corpus"
    r = pool.run("result = sum(range(10))", limits=Limits(timeout=10))
    assert r.ok and r.value == 45, r
    # nothing that persist_state.py planted is visible to a fresh strict execution
    r = pool.run(
        "import builtins, json, os, js\n"
        "result = [os.path.exists('/tmp/flowc-persist'), hasattr(builtins, 'flowc_persist'),\n"
        "          sum([1, 2]), json.dumps(1), str(js.eval('typeof globalThis.flowcPersist'))]\n",
        limits=Limits(timeout=10))
    assert r.ok and r.value == [False, False, 3, "1", "undefined"], r
    # strict runs kill their process: the pool refills to its size with live processes
    assert pool.wait_ready(timeout=60)
    assert len(pool._ready) == pool.size and all(p.alive for p in pool._ready)
    for _ in range(3):
        r = pool.run("import os\nresult = os.getcwd()", limits=Limits(timeout=10))
        assert r.ok and r.value == "/work", r
    assert pool.wait_ready(timeout=60)
    # a session (run isolation) works too
    with pool.session() as s:
        assert s.run("x = 20", limits=Limits(timeout=10)).ok
        r = s.run("result = x + 22", limits=Limits(timeout=10))
        assert r.ok and r.value == 42, r
    r = run_javascript("result = [1, 2, 3].reduce((a, b) => a + b);", limits=Limits(timeout=10),
                       assets=pool.assets)
    assert r.ok and r.value == 6, r
    assert _markers() == []
