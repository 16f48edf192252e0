"""Big inputs staged through the process's stage folder; spare processes warmed in the pool."""

from __future__ import annotations

import os

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
