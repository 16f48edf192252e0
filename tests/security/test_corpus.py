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
    elapsed<SECONDS           the wall-clock time of the call
    host_mem<MIB              peak resident memory growth of this (flowc's) process in the call
    limits=key:value,...      Limits for the execution (defaults: timeout 5 s)
    allow=server              allow the local test server for flowc_http
    server=none|hit           the local test server got no connection / a connection
    evil=none                 the second local server (a host that is never allowed) got none

Every execution is also checked for containment whatever its directives say: the secret
sentinel put in this process's environment, /etc/passwd's "root:x:0:0" and pyproject.toml's
text never appear in any output; no marker file appears in the host's /tmp; nothing is
written outside the output folder and no written file breaks the file limits; the shared
sandbox assets are unchanged; the call ends within its timeout plus a margin.
"""

from __future__ import annotations

import json
import os
import re
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
SLOW_SECONDS = 4.0
TIME_MARGIN = 5.0

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
    limits: dict = field(default_factory=dict)
    allow_server: bool = False
    server: str | None = None
    evil: str | None = None
    xfail: str = ""


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
        elif key == "limits" and op == "=":
            for item in arg.split(","):
                k, _, v = item.partition(":")
                assert k in _LIMIT_FIELDS, f"{path.name}: unknown limit {k!r}"
                case.limits[k] = float(v) if k == "timeout" else int(v)
        elif key == "allow" and op == "=" and arg == "server":
            case.allow_server = True
        elif key in ("server", "evil") and op == "=" and arg in ("none", "hit"):
            setattr(case, key, arg)
        else:
            raise AssertionError(f"{path.name}: unknown directive {d!r}")
    assert case.ok is not None, f"{path.name}: say `ok` or `error_kind=...`"
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
            time.sleep(SLOW_SECONDS)
            self._send(200, b"slow")
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
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accepts = 0
        self.paths: list[str] = []
        self.redirect_to = ""

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


def _asset_state(a: Assets) -> dict[str, tuple[int, int]]:
    paths = [a.pyodide_dir / n for n in ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
                                         "python_stdlib.zip", "pyodide-lock.json")]
    paths.append(a.snapshot)
    state = {}
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:  # a snapshot replaced by a newer host.mjs: not our doing
            continue
        state[str(p)] = (st.st_size, st.st_mtime_ns)
    return state


def _program_globals(a: Assets, good: _Server, evil: _Server) -> dict:
    return {
        "SERVER": good.url, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": good.server_address[1],
        "SERVER_NETLOC": f"127.0.0.1:{good.server_address[1]}",
        "EVIL": evil.url, "EVIL_PORT": evil.server_address[1],
        "PYODIDE_DIR": str(a.pyodide_dir), "SNAPSHOT": str(a.snapshot),
        "HOST_SCRIPT": str(a.host_script), "PROJECT_ROOT": str(PROJECT_ROOT),
        "MARKER": MARKER, "SENTINEL_NAME": SENTINEL_NAME,
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


# ---- the corpus -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(_params()))
def test_corpus(case: Case, pool: SandboxPool, servers, tmp_path: Path):
    good, evil = servers
    limits = Limits(**{"timeout": 5.0, **case.limits})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before_assets = _asset_state(pool.assets)
    good_before, evil_before = good.accepts, evil.accepts
    g = _program_globals(pool.assets, good, evil)
    code = case.path.read_text(encoding="utf-8")
    _ran.add(case.name)
    base_rss = _reset_peak_rss() if case.host_mem is not None else None
    t0 = time.monotonic()
    if case.language == "python":
        r = pool.run(code, globals_=g, output_dir=str(out_dir), limits=limits,
                     allow_hosts=(g["SERVER_NETLOC"],) if case.allow_server else ())
    else:
        r = run_javascript(code, args=g, output_dir=str(out_dir), limits=limits,
                           assets=pool.assets)
    elapsed = time.monotonic() - t0
    host_peak = (_proc_status_kib("VmHWM") * 1024 - base_rss) / 2**20 if base_rss else 0.0
    time.sleep(0.05)  # let a connection that raced the result reach the servers' accept loop
    diag = (f"{case.name}: ok={r.ok} kind={r.error_kind} elapsed={elapsed:.2f}s "
            f"host_peak={host_peak:.0f}MiB\n"
            f"value={_text(r.value)[:1500]}\nerror={(r.error or '')[-1500:]}\n"
            f"stdout={r.stdout[:300]!r}\nstderr={r.stderr[:300]!r}\nrefused={r.refused_files}\n"
            f"network={r.network}")

    # containment, whatever the program is
    written = {p.relative_to(out_dir).as_posix(): p.read_bytes()
               for p in out_dir.rglob("*") if p.is_file() or p.is_symlink()}
    blob = "\n".join([_text(r.value), r.stdout, r.stderr, r.error or "", *r.refused_files,
                      *r.network, *(d.decode("utf-8", "replace") for d in written.values())])
    for bad in FORBIDDEN_TEXT:
        assert bad not in blob, f"leaked {bad!r}\n{diag}"
    assert _markers() == [], f"a file appeared in the host's /tmp\n{diag}"
    outside = [p for p in tmp_path.rglob("*") if out_dir not in (p, *p.parents)]
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
    assert _asset_state(pool.assets) == before_assets, f"the sandbox assets changed\n{diag}"
    assert elapsed < limits.timeout + TIME_MARGIN, f"outlived its timeout\n{diag}"
    if not case.allow_server and case.server != "hit":
        assert good.accepts == good_before, f"the test server got a connection\n{diag}"
    assert evil.accepts == evil_before, f"the never-allowed server got a connection\n{diag}"
    if not r.ok:
        assert r.error, f"a failure without an error message\n{diag}"

    # the expectations of this program
    if case.ok:
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
        assert elapsed < case.elapsed, f"took {elapsed:.2f}s, limit {case.elapsed}s\n{diag}"
    if case.host_mem is not None:
        if base_rss is None:
            pytest.skip("/proc/self/clear_refs is not writable: cannot measure peak memory")
        assert host_peak < case.host_mem, \
            f"flowc allocated {host_peak:.0f} MiB, limit {case.host_mem:g}\n{diag}"
    if case.server == "hit":
        assert good.accepts > good_before, f"the allowed server got no request\n{diag}"
    if case.server == "none":
        assert good.accepts == good_before, diag
    if case.evil == "none":
        assert evil.accepts == evil_before, diag


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
