"""The shell as command nodes run it: the module preloaded in the real sandbox (Deno, Pyodide,
its memory snapshot), against bash and GNU coreutils on the host.

`test_shell_differential.py` checks the same cases on the host's CPython; this runs every one
of them inside one sandbox execution (Pyodide's Python, its `re` and `decimal`, the
`flowc_shell` module from the snapshot) and compares what each left behind, hashed: stdout,
the exit status, whether stderr was written, and the folder's files.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from test_shell_differential import CASES, FILES, _gnu, _lossy, _snapshot, _write

from flowc.runtime.sandbox import Limits, SandboxPool

# Runs in the sandbox: each case in a fresh folder holding FILES, through the preloaded shell.
_IN_SANDBOX = r"""
import base64, hashlib, os, shutil
from flowc_shell import run_line

files = {k: base64.b64decode(v) for k, v in FILES_B64.items()}
home = os.getcwd()
out = []
for k, (line, stdin) in enumerate(CASES):
    folder = os.path.join(home, f"case{k}")
    os.mkdir(folder)
    os.chdir(folder)
    for name, data in files.items():
        with open(name, "wb") as f:
            f.write(data)
    r = run_line(line, stdin)
    left = {n: hashlib.sha256(open(n, "rb").read()).hexdigest()
            for n in sorted(os.listdir(".")) if os.path.isfile(n)}
    out.append([hashlib.sha256(r["stdout"].encode()).hexdigest(), r["exit_code"],
                bool(r["stderr"]), left])
    os.chdir(home)
    shutil.rmtree(folder)
result = out
"""


def _expected(line: str, stdin: str, root) -> list:
    root.mkdir()
    _write(root, FILES)
    g_out, g_err, g_code = _gnu(line, stdin, root)
    left = {n: hashlib.sha256(d).hexdigest() for n, d in _snapshot(root).items()}
    return [hashlib.sha256(_lossy(g_out)).hexdigest(), g_code, bool(g_err), left]


def test_every_differential_case_gives_gnus_result_inside_the_sandbox(tmp_path):
    # cases whose stderr lands in a file compare only whether it is empty: left out here
    cases = [(p.id, p.values[0], p.values[1]) for p in CASES if not p.values[2]]
    assert len(cases) > 250
    with SandboxPool(size=0, memory_mb=256) as pool:
        r = pool.run(_IN_SANDBOX, globals_={
            "FILES_B64": {k: base64.b64encode(v).decode() for k, v in FILES.items()},
            "CASES": [[line, stdin] for _, line, stdin in cases]},
            limits=Limits(timeout=180, memory_mb=256))
    assert r.ok, r.error
    wrong = []
    for k, (ident, line, stdin) in enumerate(cases):
        want = _expected(line, stdin, tmp_path / f"case{k}")
        if r.value[k] != want:
            parts = [part for part, a, b in zip(("stdout", "exit status", "stderr written",
                                                 "files left"), r.value[k], want) if a != b]
            wrong.append(f"{ident}: `{line}`: {', '.join(parts)} differ "
                         f"(sandbox {r.value[k][1:3]}, gnu {want[1:3]})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("line", ["ls /bin", "cat nope.txt | wc -l", "grep -Q x"])
def test_the_sandboxs_shell_is_todays_shell_py(line):
    """The `flowc_shell` a sandbox imports (from the snapshot, or compiled at start when the
    snapshot's differs) is the source of shell.py, and answers as it does on the host."""
    from pathlib import Path

    from flowc.runtime.sandbox import shell

    source = Path(shell.__file__).read_text()
    with SandboxPool(size=0) as pool:
        r = pool.run("import flowc_shell\n"
                     f"result = [flowc_shell.__flowc_source__ == {source!r}, "
                     f"flowc_shell.run_line({line!r})]")
    assert r.ok, r.error
    same, got = r.value
    assert same
    assert got == shell.run_line(line)
