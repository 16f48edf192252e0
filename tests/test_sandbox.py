"""The sandbox: real Deno processes running real Pyodide, each limit enforced and tested."""

from __future__ import annotations

import pytest
from flowc_testkit import JsonHandler, loopback_server

from flowc.runtime.sandbox import Limits, SandboxPool, UnsafeName, safe_name
from flowc.runtime.sandbox.js import run_javascript
from flowc.runtime.sandbox.net import host_allowed


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(size=2) as p:
        p.wait_ready()
        yield p


def test_runs_python_and_returns_value_and_output(pool):
    r = pool.run("import sys\nprint('hello', x)\nresult = {'sum': sum(range(x))}",
                 globals_={"x": 10})
    assert r.ok, r.error
    assert r.value == {"sum": 45}
    assert r.stdout == "hello 10"


def test_exception_is_a_clear_error(pool):
    r = pool.run("def f():\n    raise ValueError('bad input')\nf()")
    assert not r.ok and r.error_kind == "exception"
    assert "ValueError: bad input" in r.error


def test_strict_isolation_shares_nothing(pool):
    assert pool.run("import builtins\nbuiltins.leak = 1\nresult = 1").ok
    r = pool.run("import builtins\nresult = hasattr(builtins, 'leak')")
    assert r.ok and r.value is False


def test_session_reuses_the_interpreter(pool):
    with pool.session() as s:
        assert s.run("x = 41").ok
        assert s.run("result = x + 1").value == 42
        pid = s.proc.proc.pid
        for _ in range(20):  # one interpreter answers them all (speed: bench/sandbox.py)
            assert s.run("result = 1").value == 1
            assert s.proc.proc.pid == pid


def test_timeout_kills_and_the_pool_keeps_serving(pool):
    r = pool.run("while True:\n    pass", limits=Limits(timeout=1))
    assert r.error_kind == "timeout" and "1 s" in r.error
    r = pool.run("try:\n    while True: pass\nexcept BaseException:\n    while True: pass",
                 limits=Limits(timeout=1))
    assert r.error_kind == "timeout"
    assert pool.run("result = 2 + 2").value == 4


def test_memory_limit_gives_a_memory_error(pool):
    r = pool.run("chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 2**20))",
                 limits=Limits(timeout=20, memory_mb=96))
    assert not r.ok and r.error_kind == "memory", (r.error_kind, r.error)


def test_output_cap(pool):
    r = pool.run("for i in range(100000):\n    print('x' * 100)",
                 limits=Limits(max_output_bytes=10_000))
    assert not r.ok and r.error_kind == "output_limit"
    assert len(r.stdout) <= 10_000


def test_result_cap(pool):
    r = pool.run("result = 'x' * 200000", limits=Limits(max_result_bytes=100_000))
    assert not r.ok and r.error_kind == "result_too_large"


def test_files_in_and_out_through_fsspec(pool, tmp_path):
    import fsspec

    with fsspec.open("memory://inputs/holdings.csv", "wb") as f:
        f.write(b"ticker,weight\nA,0.5\nB,0.5\n")
    code = ("import csv, os\n"
            "rows = list(csv.DictReader(open('data/holdings.csv')))\n"
            "os.makedirs('out', exist_ok=True)\n"
            "open('out/summary.txt', 'w').write(f'{len(rows)} rows')\n"
            "result = os.getcwd()")
    r = pool.run(code, inputs={"data/holdings.csv": "memory://inputs/holdings.csv"},
                 output_dir=str(tmp_path))
    assert r.ok, r.error
    assert r.value == "/work"
    (out,) = r.files
    assert out.name == "out/summary.txt" and out.size == len(b"2 rows")
    assert (tmp_path / "out" / "summary.txt").read_text() == "2 rows"
    import hashlib

    assert out.sha256 == hashlib.sha256(b"2 rows").hexdigest()


def test_file_caps(pool, tmp_path):
    r = pool.run("for i in range(20):\n    open(f'f{i}.txt', 'w').write('x')",
                 limits=Limits(max_files=5), output_dir=str(tmp_path))
    assert not r.ok and r.error_kind == "file_limit"
    r = pool.run("open('big.bin', 'wb').write(b'0' * 3_000_000)",
                 limits=Limits(max_file_bytes=1_000_000), output_dir=str(tmp_path))
    assert not r.ok and r.error_kind == "file_limit"
    assert not (tmp_path / "big.bin").exists()


def test_symlinks_are_not_returned(pool, tmp_path):
    r = pool.run("import os\nos.symlink('/etc/passwd', 'pw')\nopen('ok.txt', 'w').write('1')",
                 output_dir=str(tmp_path))
    assert r.ok
    assert [f.name for f in r.files] == ["ok.txt"]
    assert any("symlink" in p for p in r.refused_files)


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "~/.ssh/id", "", "a\x00b",
                                  "a\\..\\b"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafeName):
        safe_name(name)


def test_safe_names_normalise():
    assert safe_name("a/./b.txt") == "a/b.txt"
    assert safe_name("out/report.pdf") == "out/report.pdf"


class _Handler(JsonHandler):
    hits: list[str] = []

    def do_GET(self):
        _Handler.hits.append(self.path)
        self.send_json(b'{"price": 42}')


@pytest.fixture(scope="module")
def server():
    with loopback_server(_Handler) as address:
        yield address


def test_network_is_off_by_default(pool, server):
    _Handler.hits.clear()
    code = ("import urllib.request\n"
            f"urllib.request.urlopen('http://{server}/direct').read()")
    r = pool.run(code, limits=Limits(timeout=10))
    assert not r.ok
    code = f"import flowc_http\nresult = await flowc_http.get('http://{server}/mediated')"
    r = pool.run(code)
    assert not r.ok and "not allowed" in r.error
    assert _Handler.hits == []


def test_allowlisted_host_is_reachable_through_the_host(pool, server):
    _Handler.hits.clear()
    code = ("import flowc_http, json\n"
            f"r = await flowc_http.get('http://{server}/quote')\n"
            "result = {'status': r['status'], 'body': json.loads(r['text'])}")
    r = pool.run(code, allow_hosts=(server,))
    assert r.ok, r.error
    assert r.value == {"status": 200, "body": {"price": 42}}
    assert _Handler.hits == ["/quote"]
    assert r.network == [f"http://{server}/quote"]


@pytest.mark.parametrize(("netloc", "rules", "ok"), [
    ("api.example.com", ("api.example.com",), True),
    ("api.example.com:443", ("api.example.com",), True),
    ("evil.com", ("api.example.com",), False),
    ("a.example.com", ("*.example.com",), True),
    ("example.com", ("*.example.com",), False),
    ("api.example.com.evil.com", ("api.example.com",), False),
    ("127.0.0.1:8080", ("127.0.0.1:8080",), True),
    ("127.0.0.1:9090", ("127.0.0.1:8080",), False),
])
def test_host_allowlist_rules(netloc, rules, ok):
    assert host_allowed(netloc, rules) is ok


def test_javascript_runs_without_permissions():
    r = run_javascript("console.log('hi', a); return a + 1", args={"a": 41})
    assert r.ok and r.value == 42 and r.stdout == "hi 41"
    r = run_javascript("return await Deno.readTextFile('/etc/passwd')")
    assert not r.ok and "NotCapable" in r.error and "root:x" not in (r.error + r.stdout)
    r = run_javascript("while (true) {}", limits=Limits(timeout=1))
    assert r.error_kind == "timeout"


def test_javascript_files(tmp_path):
    import fsspec

    with fsspec.open("memory://js/in.txt", "wb") as f:
        f.write(b"abc")
    r = run_javascript("outFiles['up.txt'] = new TextDecoder().decode(files['in.txt']).toUpperCase()",
                       inputs={"in.txt": "memory://js/in.txt"}, output_dir=str(tmp_path))
    assert r.ok, r.error
    assert (tmp_path / "up.txt").read_text() == "ABC"


def test_pool_refills_in_the_background(pool):
    p1 = pool.acquire()
    p1.kill()
    assert pool.wait_ready(timeout=60)


def _make_wheel(folder, name="tinypkg", version="1.0.0", body="VALUE = 42\n"):
    import zipfile

    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", body)
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                   "Tag: py3-none-any\n")
        z.writestr(f"{dist}/top_level.txt", f"{name}\n")
        z.writestr(f"{dist}/RECORD", "")
    return path


def test_wheelhouse_packages_load_offline_and_are_checked(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    whl = _make_wheel(wheels)
    with SandboxPool(size=0, wheelhouse=wheels) as p:
        assert p.wheelhouse.packages == ("tinypkg",)
        r = p.run("import tinypkg\nresult = tinypkg.VALUE")
        assert r.ok and r.value == 42, r.error
        r = p.run("import numpy\nresult = 1")  # in Pyodide's index, but not local: no network
        assert not r.ok and "numpy" in r.error
        # a wheel changed after it was locked is refused by its sha256
        import zipfile

        with zipfile.ZipFile(whl, "a") as z:
            z.writestr("tinypkg/extra.py", "X = 1\n")
        r = p.run("import tinypkg\nresult = tinypkg.VALUE")
        assert not r.ok


def test_compiled_wheels_are_refused(tmp_path):
    from flowc.runtime.sandbox.packages import WheelhouseError

    (tmp_path / "fast-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"x")
    with pytest.raises(WheelhouseError, match="not a pure-Python wheel"):
        SandboxPool(size=0, wheelhouse=tmp_path)


def test_a_burst_of_strict_runs_never_runs_more_than_max_running_at_once():
    # 8 strict runs released together against a bound of 2: never more than 2 sandbox
    # processes alive for them at once (unbounded, a burst started one Deno per run)
    import threading

    with SandboxPool(size=0, max_running=2) as p:
        live, peak, lock = [0], [0], threading.Lock()
        acquire = p.acquire

        def counted(*a, **k):
            proc = acquire(*a, **k)
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            discard = proc.discard

            def discarded():
                with lock:
                    live[0] -= 1
                discard()

            proc.discard = discarded
            return proc

        p.acquire = counted
        barrier = threading.Barrier(8)
        results = []

        def one(i: int) -> None:
            barrier.wait()
            results.append(p.run(f"x = sum(range(200_000))\nprint({i})"))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        assert not any(t.is_alive() for t in threads), "a run never returned"
        assert len(results) == 8 and all(r.ok for r in results), [r.error for r in results]
        assert sorted(int(r.stdout) for r in results) == list(range(8))
        assert 1 <= peak[0] <= 2, peak[0]
        assert live[0] == 0


def test_max_running_comes_from_the_environment_and_a_bad_value_is_named(monkeypatch):
    from flowc.runtime.sandbox import SandboxSetupError
    from flowc.runtime.sandbox.pool import max_running_default

    monkeypatch.setenv("FLOWC_SANDBOX_MAX_RUNNING", "3")
    assert max_running_default() == 3
    for bad in ("abc", "0", "-1", "1e3", "99999"):
        monkeypatch.setenv("FLOWC_SANDBOX_MAX_RUNNING", bad)
        with pytest.raises(SandboxSetupError, match="FLOWC_SANDBOX_MAX_RUNNING"):
            max_running_default()
    monkeypatch.delenv("FLOWC_SANDBOX_MAX_RUNNING")
    assert max_running_default() >= 2
