"""The package as users get it: the light install (`pip install flowc`) in a fresh virtual
environment on the oldest Python it supports, resolved from the package index (no Deno, no
sandbox, no model providers); the pre-commit hooks run by real pre-commit; the sdist; one
licence and the project's metadata everywhere."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

import flowc

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUN_EXTRA = {"deno", "pyodide-lock", "httpx"}  # (orjson, small, writes plans: light install)


def _oldest_python() -> str:
    """The oldest Python the light install claims (3.10) when this machine has it (on PATH
    or under pyenv), else this one."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for cand in [shutil.which("python3.10"), *sorted(root.glob("versions/3.10*/bin/python"))]:
        if cand and subprocess.run([str(cand), "-c", "import venv, ensurepip"],
                                   capture_output=True).returncode == 0:
            return str(cand)
    return sys.executable


def _sh(*argv, cwd=None, env=None, timeout=600, check=True):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, "NO_COLOR": "1", **(env or {})}, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{argv}: {r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the repository's files as a fresh clone has them (tracked and new, not
    ignored), committed in a git repository of its own (pre-commit clones from it)."""
    dest = tmp_path_factory.mktemp("flowc-src")
    listing = _sh("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                  cwd=ROOT).stdout
    for rel in filter(None, listing.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    _sh("git", "init", "-q", "-b", "main", cwd=dest)
    _sh("git", "add", "-A", cwd=dest)
    _sh("git", "commit", "-q", "-m", "snapshot", cwd=dest, env=env)
    return dest


@pytest.fixture(scope="module")
def light(checkout, tmp_path_factory) -> Path:
    """A fresh venv with `pip install <checkout>`: not editable, dependencies from the index."""
    venv = tmp_path_factory.mktemp("light") / "venv"
    _sh(_oldest_python(), "-m", "venv", venv)
    _sh(venv / "bin" / "python", "-m", "pip", "install", "--quiet",
        "--disable-pip-version-check", checkout)
    return venv


def _installed(venv: Path) -> set[str]:
    out = _sh(venv / "bin" / "python", "-m", "pip", "list", "--format", "json").stdout
    return {p["name"].lower() for p in json.loads(out)}


def test_light_install_has_no_runtime_and_checks_flows(light, checkout):
    installed = _installed(light)
    assert "flowc" in installed and {"lark", "pygls", "pathspec"} <= installed
    assert not (RUN_EXTRA & installed), RUN_EXTRA & installed
    flowc_bin = light / "bin" / "flowc"
    r = _sh(flowc_bin, "check", "examples/client_report", "examples/ecommerce", cwd=checkout)
    assert "no problems" in r.stdout
    r = _sh(flowc_bin, "check", "--format", "concise", "examples/broken/unknown_field.flow",
            cwd=checkout, check=False)
    assert r.returncode == 1 and "[F0203]" in r.stdout
    _sh(flowc_bin, "fmt", "--check", "examples/client_report", cwd=checkout)
    assert "F0203" in _sh(flowc_bin, "explain", "F0203").stdout
    # the compiler and the language server byte-compile on this Python
    site = _sh(light / "bin" / "python", "-c",
               "import flowc, os; print(os.path.dirname(flowc.__file__))").stdout.strip()
    for sub in ("compiler", "lsp", "grammar"):
        _sh(light / "bin" / "python", "-m", "compileall", "-q", Path(site) / sub)


def test_light_install_refuses_runtime_commands_clearly(light, checkout):
    r = _sh(light / "bin" / "flowc", "sandbox", "doctor", cwd=checkout, check=False)
    assert r.returncode != 0 and "flowc[run]" in r.stderr and "Traceback" not in r.stderr


def _lsp_message(proc) -> dict:
    length = None
    while True:
        line = proc.stdout.readline()
        assert line, "the server closed its output"
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(proc.stdout.read(length))


def _lsp_send(proc, msg: dict) -> None:
    body = json.dumps(msg).encode()
    proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    proc.stdin.flush()


def test_light_install_serves_the_language_server(light, checkout):
    flow = checkout / "examples" / "broken" / "unknown_field.flow"
    proc = subprocess.Popen([light / "bin" / "flowc", "lsp"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _lsp_send(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": checkout.as_uri(), "capabilities": {}}})
        assert _lsp_message(proc)["id"] == 1
        _lsp_send(proc, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
        _lsp_send(proc, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": flow.as_uri(), "languageId": "flow", "version": 1,
                             "text": flow.read_text(encoding="utf-8")}}})
        while True:
            msg = _lsp_message(proc)
            if msg.get("method") == "textDocument/publishDiagnostics":
                break
        assert "F0203" in {d["code"] for d in msg["params"]["diagnostics"]}
        _lsp_send(proc, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        assert _lsp_message(proc)["id"] == 2
        _lsp_send(proc, {"jsonrpc": "2.0", "method": "exit"})
        assert proc.wait(timeout=60) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_pre_commit_runs_the_hooks_from_this_repository(checkout, tmp_path):
    pytest.importorskip("pre_commit", reason="pre-commit is a test dependency")
    sha = _sh("git", "rev-parse", "HEAD", cwd=checkout).stdout.strip()
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "refund_approval" / "refund_approval.flow",
                project / "flows" / "refund.flow")
    (project / "flows" / "types.js.flow").write_text("// @flow\ndeclare var x: number;\n",
                                                       encoding="utf-8")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {checkout.as_uri()}\n    rev: {sha}\n    hooks:\n"
        "      - id: flowc-fmt\n      - id: flowc-check\n", encoding="utf-8")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    _sh("git", "init", "-q", "-b", "main", cwd=project)
    _sh("git", "add", "-A", cwd=project)
    pre_commit = [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"]
    r = _sh(*pre_commit, cwd=project, env=env, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "flowc check" in r.stdout and "Passed" in r.stdout
    # the hooks' environment is the light install: no Deno in it
    envs = list((tmp_path / "cache").glob("repo*/py_env-*"))
    assert envs and not (RUN_EXTRA & _installed(envs[0]))
    flow = project / "flows" / "refund.flow"
    flow.write_text(flow.read_text(encoding="utf-8").replace("proposal.refund,",
                                                             "proposal.refnd,"),
                    encoding="utf-8")
    _sh("git", "add", "-A", cwd=project)
    r = _sh(*pre_commit, cwd=project, env=env, check=False)
    assert r.returncode == 1 and "F0203" in r.stdout and "types.js.flow" not in r.stdout


def test_sdist_holds_the_package_and_no_tests(checkout, tmp_path):
    pytest.importorskip("build", reason="`build` is a test dependency")
    _sh(sys.executable, "-m", "build", "--sdist", "--outdir", tmp_path, checkout)
    (sdist,) = tmp_path.glob("flowc-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", "grammar/flow.lark",
            "compiler/api.py", "lsp/server.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "wip/"))]


def test_one_licence_and_the_project_urls_everywhere():
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    pkg = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text("utf-8"))
    assert pkg["license"] == "Apache-2.0"
    assert pkg["repository"]["url"].startswith(flowc.PROJECT_URL)
    assert project["urls"]["Homepage"] == project["urls"]["Source"] == flowc.PROJECT_URL
    assert flowc.DOCS_URL.startswith(flowc.PROJECT_URL)
    versions = {c.rsplit(" ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    assert min(versions, key=lambda v: int(v.split(".")[1])) == \
        project["requires-python"].removeprefix(">=")
