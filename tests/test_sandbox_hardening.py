"""Issue 12: nothing a program does inside the Pyodide sandbox can read the host, hang it,
crash it or outlive its run. Each test is an attack seen working before the hardening (the
shapes are the outside review's), run against real Deno processes; each asserts the
contained outcome. No test asserts a wall-clock bound: a call that could hang runs on a
thread joined with a generous bound, and "it did not hang" is what is asserted.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from flowc_testkit import loopback_server

from flowc.runtime.sandbox import Limits
from flowc.runtime.sandbox.assets import ensure_assets
from flowc.runtime.sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
HANG_BOUND = 120.0  # seconds a call may take before the test calls it a hang


@pytest.fixture(scope="module")
def assets():
    return ensure_assets()


def bounded(fn, bound: float = HANG_BOUND):
    """fn() on a thread; its result, or a test failure if it has not returned by `bound`."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(bound)
    assert box, f"the host did not return within {bound:g} s: it hung"
    return box[0]


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def deno_children() -> set[int]:
    """Deno processes alive on this machine whose command runs flowc's host script."""
    out = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"deno" in cmd and b"host.mjs" in cmd:
            out.add(int(pid))
    return out


def gone(pid: int, bound: float = 30.0) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.split(") ", 1)[1].startswith("Z"):  # a zombie has ended
            return True
        time.sleep(0.1)
    return False


# ---- 2. the host never waits on the sandbox -----------------------------------------------
def test_a_refused_fetch_of_a_huge_host_name_then_spinning_does_not_hang_the_host(cold_pool):
    code = textwrap.dedent("""
        import asyncio, flowc_http
        from js import setTimeout
        from pyodide.ffi import create_proxy
        def spin():
            while True:
                pass
        setTimeout(create_proxy(spin), 0)   # spins before the refusal can be read
        await flowc_http.get("http://" + "a" * 300_000 + ".test/")
    """)
    r = bounded(lambda: cold_pool.run(code, limits=Limits(timeout=3)))
    assert not r.ok and r.error_kind == "timeout"


def test_a_busy_timer_left_by_an_earlier_execution_does_not_block_the_next(cold_pool):
    with cold_pool.session() as s:
        first = s.run(textwrap.dedent("""
            from js import setTimeout
            from pyodide.ffi import create_proxy
            def spin():
                while True:
                    pass
            setTimeout(create_proxy(spin), 50)
            result = 1
        """), limits=Limits(timeout=5))
        assert first.ok and first.value == 1
        time.sleep(0.3)  # the timer is spinning now; the next request is larger than a pipe
        r = bounded(lambda: s.run("result = len(blob)", globals_={"blob": "x" * 2_000_000},
                                  limits=Limits(timeout=3)))
        assert not r.ok and r.error_kind == "timeout"


def test_a_fetch_thread_is_served_while_the_memory_watch_goes_on(cold_pool):
    """Memory grown in JavaScript buffers while the host waits for a slow allowed host: the
    watch runs meanwhile and stops the process (it used to stop watching during a request)."""

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(8)
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"late")
            except OSError:
                pass

        def log_message(self, *a):
            pass

    code = textwrap.dedent("""
        import flowc_http
        from js import setInterval, Uint8Array
        from pyodide.ffi import create_proxy
        keep = []
        def grow():
            if len(keep) < 40:                    # at most 40 x 64 MiB
                b = Uint8Array.new(64 << 20)
                b.fill(1)
                keep.append(b)
        setInterval(create_proxy(grow), 20)
        r = await flowc_http.get(f"http://{HOST}/slow")
        result = len(keep)
    """)
    with loopback_server(Slow) as host:
        r = bounded(lambda: cold_pool.run(code, globals_={"HOST": host}, allow_hosts=(host,),
                                          limits=Limits(timeout=20, memory_mb=128)))
    assert not r.ok and r.error_kind == "memory", (r.error_kind, r.error)
    # stopped near its ceiling (idle ~200 MB + 128 + 384 MiB), not when the request ended
    # (2.1 GB before: nothing watched while the host waited)
    assert r.peak_rss_mb < 1200, r.peak_rss_mb


# ---- 3. nothing survives a strict run --------------------------------------------------------
def test_web_storage_and_the_cache_api_are_unavailable_and_leave_nothing(cold_pool, assets):
    before = {p.name for p in assets.deno_dir.iterdir()}
    code = textwrap.dedent("""
        import js
        seen = {}
        for name in ("localStorage", "sessionStorage", "caches", "Worker", "indexedDB"):
            seen[name] = hasattr(js, name) and getattr(js, name) is not None
        result = seen
    """)
    r = cold_pool.run(code)
    assert r.ok, r.error
    assert r.value == {"localStorage": False, "sessionStorage": False, "caches": False,
                       "Worker": False, "indexedDB": False}
    assert "location_data" not in {p.name for p in assets.deno_dir.iterdir()} - before


def test_a_data_import_does_not_write_the_shared_deno_cache(cold_pool, assets):
    """Deno writes the code cache of any module it imports, `data:` ones included: one run
    could write tens of MB into the shared cache (and every later process would read it).

    The folders checked are this checkout's: the shared top folder and the primed one of this
    memory size, primed before the first measure. Other checkouts' primed folders are theirs
    (another Deno binary, another key), and a suite running beside this one may prime them."""
    from flowc.runtime.sandbox.process import shared_cache_dir

    assert cold_pool.run("result = 1").ok  # primed (once per flag set) before measuring
    mine = shared_cache_dir(assets, Limits().memory_mb)
    assert (mine / "primed").exists()

    def sizes():
        out = {}
        for d in [assets.deno_dir, mine]:
            for name in ("v8_code_cache_v2", "v8_code_cache_v2-wal"):
                f = d / name
                out[f] = f.stat().st_size if f.exists() else 0
        return out
    before = sizes()
    code = textwrap.dedent("""
        from js import eval as js_eval
        src = "export const f = [" + ",".join(f"function(){{return {i}}}" for i in range(60000)) + "];"
        m = await js_eval("(s) => import('data:text/javascript,' + encodeURIComponent(s))")(src)
        result = m.f.length
    """)
    r = cold_pool.run(code, limits=Limits(timeout=60))
    assert r.ok and r.value == 60000, (r.error_kind, r.error)
    time.sleep(0.5)
    for f, size in sizes().items():
        assert size <= before.get(f, 0) + 1024 * 1024, f


def test_each_memory_size_has_its_own_primed_cache(assets):
    """The V8 code cache holds one entry per module and V8 refuses one made under other flags
    (heap and WebAssembly sizes follow the memory limit). Priming 128 MB sandboxes in the same
    folder replaced what 256 MB ones read: each of their starts compiled Pyodide anew."""
    import hashlib

    from flowc.runtime.sandbox.process import SandboxProcess, shared_cache_dir

    def digest(d):
        return hashlib.sha256((d / "v8_code_cache_v2").read_bytes()).hexdigest()

    SandboxProcess(assets, memory_mb=256).kill()
    big = shared_cache_dir(assets, 256)
    assert (big / "primed").exists() and (big / "v8_code_cache_v2").stat().st_size > 100_000
    seen = digest(big)
    SandboxProcess(assets, memory_mb=160).kill()  # another flag set, primed apart
    small = shared_cache_dir(assets, 160)
    assert small != big and (small / "primed").exists()
    assert digest(big) == seen


def test_a_deno_json_in_a_parent_folder_is_not_applied(tmp_path, monkeypatch, assets):
    """Deno would read a deno.json above its working folder; one that turns on an unstable
    API (Deno.openKv writes a database) must not reach the sandbox."""
    (tmp_path / "deno.json").write_text(json.dumps({"unstable": ["kv", "cron"]}))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    proc = SandboxProcess(assets)
    try:
        assert str(proc.home).startswith(str(tmp_path))
        r = proc.execute("from js import Deno\nresult = str(type(getattr(Deno, 'openKv', None)))")
        assert r.ok, r.error
        assert "NoneType" in r.value or "JsNull" in r.value or "undefined" in r.value.lower()
    finally:
        proc.kill()
    monkeypatch.setattr(tempfile, "tempdir", None)


def test_the_process_folder_is_removed_with_it(assets):
    proc = SandboxProcess(assets)
    home = proc.home
    assert (home / "deno").is_dir() and (home / "stage").is_dir()
    assert proc.execute("result = 2").value == 2
    proc.kill()
    assert not home.exists()


# ---- 4. results are parsed as hostile input ----------------------------------------------------
@pytest.mark.parametrize("code, kind", [
    ("v = []\nfor _ in range(2000):\n    v = [v]\nresult = v", "result"),
    ("result = {'a': '\\ud800'}", "result"),
    ("result = {'\\udc80': 1}", "result"),
])
def test_a_hostile_result_is_a_clear_error_not_a_host_crash(cold_pool, code, kind):
    r = cold_pool.run(code)
    assert not r.ok and r.error_kind == kind, (r.error_kind, r.error)
    assert r.error and len(r.error) < 400


def test_a_file_name_that_is_not_unicode_is_refused_not_a_crash(cold_pool, tmp_path):
    code = "open('ok.txt', 'w').write('fine')\nopen(b'bad\\xff.txt', 'wb').write(b'x')\nresult = 1"
    r = cold_pool.run(code, output_dir=str(tmp_path / "out"))
    assert r.ok, r.error
    assert [f.name for f in r.files] == ["ok.txt"]


@pytest.mark.parametrize("text, fragment", [
    ("[" * 5000 + "]" * 5000, "nested"),
    ('{"a": NaN}', "NaN"),
    ('{"a": Infinity}', "Infinity"),
    ('{"a": 1e400}', "not finite"),
    ('{"a": "\\ud800"}', "Unicode"),
    ('{"\\udfff": 1}', "Unicode"),
    ("{", "not valid JSON"),
])
def test_hostile_json_is_refused_with_a_reason(text, fragment):
    from flowc.runtime.sandbox.hostile import HostileValue, loads

    with pytest.raises(HostileValue, match=fragment):
        loads(text)


def test_bounds_are_exact():
    from flowc.runtime.sandbox.hostile import HostileValue, check

    deep = []
    for _ in range(99):
        deep = [deep]
    check(deep)  # 100 levels: within
    with pytest.raises(HostileValue):
        check([deep])
    with pytest.raises(HostileValue):
        check(list(range(11)), max_nodes=10)


def test_forged_fields_of_a_result_message_never_crash_the_host(assets):
    """What code that learned the nonce could send: every field hostile. Each becomes a
    value or a clear error, never an exception in flowc."""
    from flowc.runtime.sandbox.process import _Files

    proc = SandboxProcess(assets)
    try:
        limits = Limits()
        forged = [
            {"type": "result", "id": 1, "ok": True, "value": "1", "elapsed_ms": float("inf")},
            {"type": "result", "id": 1, "ok": True, "value": "1", "elapsed_ms": 1e400},
            {"type": "result", "id": 1, "ok": True, "value": "1", "elapsed_ms": "x"},
            {"type": "result", "id": 1, "ok": True, "value": "[" * 3000 + "]" * 3000},
            {"type": "result", "id": 1, "ok": True, "value": "1", "stdout": "\ud800"},
            {"type": "result", "id": 1, "ok": False, "error": {"type": "\ud800", "message": 5}},
            {"type": "result", "id": 1, "ok": "yes", "value": "2"},
            {"type": "result", "id": 1, "ok": True, "value": "1", "file_problems": "x"},
            {"type": "result", "id": 1, "ok": True, "value": "1", "file_problems": [None] * 10**5},
        ]
        for msg in forged:
            r = proc._result(msg, limits, 0, _Files(limits), 12.5)
            assert r.elapsed_ms == 12.5  # flowc's own measure, whatever the message says
            assert r.ok in (True, False)
            (r.stdout + (r.error or "")).encode("utf-8")  # always encodable
        assert proc._result(forged[6], limits, 0, _Files(limits), 0.0).ok is False
    finally:
        proc.kill()


@pytest.mark.parametrize("msgs, problem", [
    ([{"name": "a", "data": "!!", "last": True}], "malformed"),
    ([{"name": 5, "data": "", "last": True}], "malformed"),
    ([{"name": "a", "data": "", "last": False}, {"name": "b", "data": "", "last": True}],
     "cut short"),
    ([{"name": f"f{i}", "data": "", "last": True} for i in range(101)], "file-count"),
    ([{"name": "big", "data": base64.b64encode(b"x" * (1 << 20)).decode(), "last": False}] * 21,
     "file-size"),
])
def test_forged_file_chunks_are_bounded_as_they_arrive(msgs, problem):
    from flowc.runtime.sandbox.process import _Files

    files = _Files(Limits())
    found = None
    for m in msgs:
        found = files.add(m)
        if found:
            break
    assert found and problem in found


# ---- 5. the protocol cannot be learned from inside ----------------------------------------------
def test_no_interception_learns_the_nonce(assets):
    """Hooks on everything the host uses to build and write a message, then messages sent
    while the code runs (an HTTP request, output past the cap): no hook sees the nonce."""
    proc = SandboxProcess(assets)
    try:
        code = textwrap.dedent("""
            import flowc_http
            from js import eval as js_eval
            js_eval('''
              globalThis.__seen = [];
              const st = JSON.stringify, dec = new TextDecoder(), decode = TextDecoder.prototype.decode;
              const push = Array.prototype.push;
              let busy = false;
              const note = (x) => {
                if (busy) return;
                busy = true;
                try { push.call(globalThis.__seen, typeof x === "string" ? x : st(x)); } catch (_) {}
                busy = false;
              };
              Object.defineProperty(Object.prototype, "nonce", {
                set(v) { note(v); }, get() { return undefined; }, configurable: true });
              JSON.stringify = function (...a) { const s = st(...a); note(s); return s; };
              const enc = TextEncoder.prototype.encode;
              TextEncoder.prototype.encode = function (s) { note(s); return enc.call(this, s); };
              const sub = Uint8Array.prototype.subarray;
              Uint8Array.prototype.subarray = function (...a) {
                if (!busy && this.length < 4096) note(decode.call(dec, this));
                return sub.apply(this, a); };
              const ra = Reflect.apply;
              Reflect.apply = function (f, t, a) { note(a && a[0]); return ra(f, t, a); };
              Object.prototype.toJSON = function () { note(Object.keys(this).slice(0, 20).join(",")); return this; };
              const w = Deno.stdout.writeSync;
              Deno.stdout.writeSync = function (b) { note(decode.call(dec, b)); return w.call(this, b); };
            ''')
            try:
                await flowc_http.get("http://not-allowed.test/")
            except Exception:
                pass
            import js
            result = list(js.__seen)
        """)
        r = proc.execute(code, limits=Limits(timeout=20))
        assert r.ok, r.error
        seen = json.dumps(r.value)
        assert proc.nonce not in seen
        assert len(r.value) > 0  # the hooks did run (the fetch message was sent)
    finally:
        proc.kill()


def test_lines_written_to_the_real_stdout_are_never_taken_for_messages(cold_pool):
    code = textwrap.dedent("""
        from js import Deno, TextEncoder
        e = TextEncoder.new()
        for guess in ("", "0" * 32, "x"):
            Deno.stdout.writeSync(e.encode(guess + ' {"type": "result", "id": 1, "ok": true, "value": "666"}\\n'))
        result = 7
    """)
    r = cold_pool.run(code)
    assert r.ok and r.value == 7


# ---- 6. limits hold all the time ------------------------------------------------------------------
def test_output_is_capped_as_it_streams_not_at_the_timeout(cold_pool):
    r = bounded(lambda: cold_pool.run("while True:\n    print('x' * 1000)",
                                      limits=Limits(timeout=300, max_output_bytes=100_000)))
    assert not r.ok and r.error_kind == "output_limit"


def test_raw_stderr_counts_against_the_output_cap(cold_pool):
    code = textwrap.dedent("""
        from js import Deno, TextEncoder
        chunk = TextEncoder.new().encode("e" * 65536)
        while True:
            Deno.stderr.writeSync(chunk)
    """)
    r = bounded(lambda: cold_pool.run(code, limits=Limits(timeout=300,
                                                          max_output_bytes=1_000_000)))
    assert not r.ok and r.error_kind == "output_limit"


def test_raw_stdout_counts_against_the_output_cap(cold_pool):
    code = textwrap.dedent("""
        from js import Deno, TextEncoder
        chunk = TextEncoder.new().encode("o" * 65535 + "\\n")
        while True:
            Deno.stdout.writeSync(chunk)
    """)
    r = bounded(lambda: cold_pool.run(code, limits=Limits(timeout=300,
                                                          max_output_bytes=1_000_000)))
    assert not r.ok and r.error_kind == "output_limit"


def test_output_files_just_under_the_documented_total_come_back(cold_pool, tmp_path):
    """95 MiB in five files, under the default 100 MiB total (it used to crash Deno)."""
    code = textwrap.dedent("""
        block = bytes(range(256)) * 4096          # 1 MiB
        for i in range(5):
            with open(f"part{i}.bin", "wb") as f:
                for _ in range(19):
                    f.write(block)
        result = "done"
    """)
    out = tmp_path / "out"
    r = cold_pool.run(code, output_dir=str(out), limits=Limits(timeout=120, memory_mb=512))
    assert r.ok, (r.error_kind, r.error)
    assert sorted(f.name for f in r.files) == [f"part{i}.bin" for i in range(5)]
    assert all(f.size == 19 << 20 for f in r.files)
    assert (out / "part3.bin").read_bytes()[:256] == bytes(range(256))


def test_files_over_the_total_are_a_clear_error(cold_pool):
    code = textwrap.dedent("""
        for i in range(6):
            open(f"p{i}", "wb").write(b"z" * (19 << 20))
    """)
    r = cold_pool.run(code, limits=Limits(timeout=120, memory_mb=512))
    assert not r.ok and r.error_kind == "file_limit"


def test_staged_inputs_are_copies_never_links_of_the_users_file(cold_pool, tmp_path):
    """A big input is read from the process's stage folder: a copy (or a reflink), so that
    nothing the program does to what it reads (a lock, say) reaches the user's file."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(200_000))
    code = textwrap.dedent("""
        import js
        stage = str(js.Deno.cwd()) + "/stage"
        result = [int(js.Deno.statSync(stage + "/" + str(e.name)).ino)
                  for e in js.Deno.readDirSync(stage)]
    """)
    r = cold_pool.run(code, inputs={"big.bin": str(src)})
    assert r.ok, r.error
    assert len(r.value) == 1 and r.value[0] != src.stat().st_ino
    assert src.stat().st_nlink == 1


def test_the_inputs_of_one_execution_are_bounded_in_all(cold_pool, tmp_path):
    """Many inputs, each within its own cap (the same file given under many names, say), are
    refused before any is copied to disk: file_limit, and the stage folder stays empty."""
    src = tmp_path / "part.bin"
    src.write_bytes(b"p" * 300_000)
    inputs = {f"copy{i}.bin": str(src) for i in range(8)}
    r = cold_pool.run("result = 1", inputs=inputs, limits=Limits(max_input_bytes=1_000_000))
    assert not r.ok and r.error_kind == "file_limit"
    assert "more than the limit of 1000000" in r.error
    assert cold_pool.run("result = 2", inputs=dict(list(inputs.items())[:3]),
                         limits=Limits(max_input_bytes=1_000_000)).value == 2


def test_an_input_that_cannot_be_staged_is_a_clear_error(assets, tmp_path):
    proc = SandboxProcess(assets)
    try:
        r = proc.execute("result = 1", files=[("gone.bin", tmp_path / "no-such-file")])
        assert not r.ok and r.error_kind == "file_limit" and "could not be staged" in r.error
        assert list(proc.stage_dir.iterdir()) == []
        assert proc.execute("result = 2").value == 2  # the process goes on
    finally:
        proc.kill()


# ---- 7. no orphans -------------------------------------------------------------------------------
_CHILD = textwrap.dedent("""
    import sys, time
    from flowc.runtime.sandbox.assets import ensure_assets
    from flowc.runtime.sandbox.process import SandboxProcess
    import threading
    proc = SandboxProcess(ensure_assets())
    print(proc.proc.pid, flush=True)
    # started from a thread that then ends: the sandbox must live on while flowc does
    t = threading.Thread(target=lambda: proc.execute("while True:\\n    pass",
                                                      limits=__import__('flowc.runtime.sandbox',
                                                      fromlist=['Limits']).Limits(timeout=600)))
    t.start()
    time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_sandbox_dies_with_its_host(sig):
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE,
                             cwd=ROOT, text=True)
    try:
        deno_pid = int(child.stdout.readline())
        time.sleep(1.0)
        assert not gone(deno_pid, 0.1), "the sandbox should be running"
        child.send_signal(sig)
        child.wait(timeout=60)
        assert gone(deno_pid), f"the sandbox outlived its host ({sig.name})"
    finally:
        if child.poll() is None:
            child.kill()


def test_a_sandbox_started_on_a_short_lived_thread_outlives_the_thread(assets):
    """The parent-death signal follows the thread that started the process: sandboxes are
    started from flowc's one long-lived spawner thread, so a worker thread that ends (a
    `for each` pool) leaves its run's sandbox alive."""
    box = []
    t = threading.Thread(target=lambda: box.append(SandboxProcess(assets)))
    t.start()
    t.join(120)
    proc = box[0]
    try:
        time.sleep(0.5)
        assert proc.alive
        assert proc.execute("result = 3").value == 3
    finally:
        proc.kill()


def test_flowc_sandbox_run_handles_sigterm(tmp_path):
    spin = tmp_path / "spin.py"
    spin.write_text("while True:\n    pass\n")
    flowc = Path(sys.executable).with_name("flowc")
    before = deno_children()
    child = subprocess.Popen([str(flowc), "sandbox", "run", str(spin), "--timeout", "600"],
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        def mine() -> set[int]:  # this flowc's sandboxes (a parallel suite has others)
            return {pid for pid in deno_children() - before if parent_of(pid) == child.pid}

        while time.monotonic() < deadline and not mine():
            time.sleep(0.2)
        new = mine()
        assert new, "the sandbox did not start"
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 143
        assert "terminated" in child.stderr.read()
        assert all(gone(pid) for pid in new)
    finally:
        if child.poll() is None:
            child.kill()


# ---- 8. the first run is not slower for warm-up ----------------------------------------------------
def test_a_warm_up_step_in_progress_does_not_count_against_the_code(assets):
    """A spare process busy with a warm-up step (here one of 4 s) when the request comes:
    the code's 1 s timeout starts when the code does."""
    proc = SandboxProcess(assets)
    try:
        proc._send({"op": "warm", "steps": [
            "import time\n_t = time.time()\nwhile time.time() - _t < 4:\n    pass"]},
            time.monotonic() + 5)
        time.sleep(0.3)  # the step is running
        r = proc.execute("result = 'mine'", limits=Limits(timeout=1))
        assert r.ok and r.value == "mine", (r.error_kind, r.error)
    finally:
        proc.kill()


def test_the_time_before_the_code_starts_is_bounded_too(assets):
    """A process that never starts the code (a warm-up step that never ends) is still stopped:
    the node's timeout plus a fixed grace for staging and packages."""
    from flowc.runtime.sandbox import process as P

    proc = SandboxProcess(assets)
    old = P.SETUP_GRACE_S
    P.SETUP_GRACE_S = 1.0
    try:
        proc._send({"op": "warm", "steps": ["while True:\n    pass"]}, time.monotonic() + 5)
        time.sleep(0.3)
        r = bounded(lambda: proc.execute("result = 1", limits=Limits(timeout=1)))
        assert not r.ok and r.error_kind == "timeout"
        assert "did not start" in r.error
    finally:
        P.SETUP_GRACE_S = old
        proc.kill()


@pytest.mark.busy
def test_sandbox_doctor_passes_on_a_busy_machine():
    """Two CPU-bound processes per core while `flowc sandbox doctor` self-tests."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(2 * (os.cpu_count() or 1))]
    try:
        flowc = Path(sys.executable).with_name("flowc")
        r = subprocess.run([str(flowc), "sandbox", "doctor"], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "FAILED" not in r.stdout
    finally:
        for b in burners:
            b.kill()
            b.wait()


@pytest.mark.busy
def test_bootstrap_passes_on_a_busy_machine():
    """The README's set-up (scripts/bootstrap.sh: install, then the sandbox's self-test) with
    two CPU-bound processes per core."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(2 * (os.cpu_count() or 1))]
    try:
        r = subprocess.run(["bash", "scripts/bootstrap.sh", "test,bench"], cwd=ROOT,
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    finally:
        for b in burners:
            b.kill()
            b.wait()
