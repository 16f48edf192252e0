"""Big inputs staged through the process's stage folder; spare processes warmed in the pool."""

from __future__ import annotations

import os

import pytest

from flowc.runtime.sandbox import SandboxPool


def test_big_inputs_are_read_from_the_stage_folder_and_cleaned_up(tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" + b"1,2\n" * 100_000)  # 400 KB: linked, not sent inline
    small = tmp_path / "small.txt"
    small.write_text("hi")
    code = ("import hashlib\nd = open('in/big.csv', 'rb').read()\n"
            "result = [len(d), hashlib.sha256(d).hexdigest(), open('small.txt').read()]\n"
            "open('out.txt', 'w').write('x')")
    with SandboxPool(size=0) as pool:
        proc = pool.acquire()
        try:
            from flowc.runtime.sandbox.limits import Limits
            from flowc.runtime.sandbox.pool import _run_in

            r = _run_in(proc, code, None, {"in/big.csv": str(big), "small.txt": str(small)},
                        str(tmp_path / "out"), Limits(), (), reuse=False)
            assert r.ok, r.error
            import hashlib

            assert r.value == [400_004, hashlib.sha256(big.read_bytes()).hexdigest(), "hi"]
            assert [f.name for f in r.files] == ["out.txt"]  # unchanged inputs are not returned
            assert os.listdir(proc.stage_dir) == []  # staged files removed after the run
            assert big.read_bytes().startswith(b"a,b\n")  # the original is untouched
        finally:
            proc.kill()
        assert not proc.stage_dir.exists()


def test_a_warmed_spare_process_shares_nothing_with_the_code(tmp_path):
    with SandboxPool(size=1) as pool:
        assert pool.wait_ready(120, warmed=True), pool.last_error
        r = pool.run("import os\nresult = [sorted(k for k in globals() if not k.startswith('__')),"
                     " os.listdir('.')]")
        assert r.ok, r.error
        assert r.value == [["os"], []]  # only what the code itself defined


def test_every_warm_up_step_runs_cleanly():
    """The warm-up swallows errors (it must never disturb a request): check them here."""
    from flowc.runtime.sandbox.warm import _LINES, warm_steps

    with SandboxPool(size=0, warm=False) as pool, pool.session() as s:
        for step in warm_steps(rounds=1):
            r = s.run(step + "\nresult = None")
            assert r.ok, (step[:80], r.error)
        r = s.run(f"result = [run_line(ln, _data, {{}})['exit_code'] for ln in {_LINES!r}]")
        assert r.ok and r.value == [0] * len(_LINES), (r.value, r.error)


def test_a_staged_input_comes_back_exactly_when_the_code_wrote_to_it(tmp_path):
    """Inputs are not read back and compared after a run: a staged file is returned when
    it was written, truncated, appended to or replaced, and only then."""
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 1024)  # 256 KiB: staged through the stage folder
    small = tmp_path / "small.txt"
    small.write_text("hello\n")
    inputs = {name: str(path) for name, path in
              [("keep.bin", big), ("inplace.bin", big), ("append.txt", small),
               ("trunc.txt", small), ("replace.txt", small), ("same.txt", small),
               ("keep.txt", small), ("moved.txt", small), ("regrow.bin", big)]}
    code = """
import os
open('keep.bin', 'rb').read(); open('keep.txt').read()
with open('inplace.bin', 'r+b') as f:
    f.seek(10); f.write(b'XY')
with open('append.txt', 'a') as f:
    f.write('more\\n')
os.truncate('trunc.txt', 2)
os.unlink('replace.txt')
with open('replace.txt', 'w') as f:
    f.write('new\\n')
with open('same.txt', 'w') as f:
    f.write('hello\\n')
os.rename('moved.txt', 'moved2.txt')
os.truncate('regrow.bin', 10)  # a truncation stamps no mtime in MEMFS
os.truncate('regrow.bin', 20)
result = 1
"""
    with SandboxPool(size=0) as pool:
        r = pool.run(code, inputs=inputs, output_dir=str(tmp_path / "out"))
    assert r.ok, r.error
    got = {f.name: (tmp_path / "out" / f.name).read_bytes() for f in r.files}
    expected_inplace = bytearray(big.read_bytes())
    expected_inplace[10:12] = b"XY"
    assert got == {"inplace.bin": bytes(expected_inplace), "append.txt": b"hello\nmore\n",
                   "trunc.txt": b"he", "replace.txt": b"new\n", "same.txt": b"hello\n",
                   "moved2.txt": b"hello\n", "regrow.bin": bytes(range(10)) + bytes(10)}
    assert big.read_bytes() == bytes(range(256)) * 1024  # the originals are untouched
    assert small.read_text() == "hello\n"


def test_no_stage_folder_outlives_its_process(tmp_path):
    """A pool nobody closed leaves nothing behind at exit; a folder whose owner died without
    cleaning up (SIGKILL) is removed by the next process that starts a sandbox."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.gettempdir())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp / f"flowc-stage-{dead}-leftover"
    stale.mkdir()
    (stale / "0-0").write_bytes(b"x")
    code = ("import os, sys\nfrom flowc.runtime.sandbox import SandboxPool\n"
            "p = SandboxPool(size=2)\nassert p.wait_ready(120), p.last_error\n"
            "print(os.getpid())\n")  # exits without p.close()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    pid = out.stdout.strip()
    assert not list(tmp.glob(f"flowc-stage-{pid}-*"))  # its own: removed at exit
    assert not stale.exists()  # the dead process's: swept by the new one


def test_two_threads_building_the_snapshot_at_once_both_get_it(tmp_path, monkeypatch):
    """A fresh cache (Pyodide copied from the real one): two builds race, both succeed."""
    import shutil
    import threading

    from flowc.runtime.sandbox.assets import ensure_assets

    real = ensure_assets()
    root = tmp_path / "cache"
    root.mkdir()
    shutil.copytree(real.pyodide_dir, root / real.pyodide_dir.name)  # (Deno reads real paths)
    monkeypatch.setenv("FLOWC_SANDBOX_CACHE", str(root))
    got, errors = [], []

    def build():
        try:
            got.append(ensure_assets().snapshot)
        except Exception as e:  # the test reports it
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(got) == 2 and got[0] == got[1] and got[0].stat().st_size > 1_000_000
    assert not list(root.glob("*.partial"))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_childs_exit_leaves_its_parents_sandboxes_alone():
    import signal
    import time

    from flowc.runtime.sandbox.process import _end_live_sandboxes

    with SandboxPool(size=1, warm=False) as pool:
        assert pool.wait_ready(120), pool.last_error
        proc = pool._ready[0]
        pid = os.fork()
        if pid == 0:  # the child: flowc's exit handler runs, then it leaves at once
            try:
                _end_live_sandboxes()
            finally:
                os._exit(0)
        deadline = time.monotonic() + 60
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child did not exit")
            time.sleep(0.05)
        assert proc.alive and proc.stage_dir.is_dir()
        r = pool.run("result = 6 * 7")
        assert r.ok and r.value == 42
