"""Skill registries at fsspec URLs and folders configured per project in `flowc.toml`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import fsspec
import pytest

from flowc.cli import main as flowc_main
from flowc.compiler.api import Compiler, find_skill_roots
from flowc.compiler.source import Source

ROOT = Path(__file__).resolve().parent.parent
GREETER = ROOT / "tests" / "fixtures" / "skills" / "greeter"
FLOW = ('flow hello version "1.0.0"\nuse skill greeter @ ^1.0\n'
        'node g = skill greeter(name: "x")\noutput o: str = g.greeting\n')


@pytest.fixture(autouse=True)
def skill_cache(tmp_path, monkeypatch):
    cache = tmp_path / "skill-cache"
    monkeypatch.setenv("FLOWC_SKILL_CACHE", str(cache))
    monkeypatch.delenv("FLOWC_CONFIG", raising=False)
    return cache


@pytest.fixture
def memreg():
    """A fresh registry on fsspec's in-memory filesystem (a real fsspec implementation)."""
    url = f"memory://team-{uuid.uuid4().hex[:8]}/skills"
    yield url
    fs, path = fsspec.core.url_to_fs(url)
    fs.rm(path.rsplit("/", 1)[0], recursive=True)


def _upload(local: Path, url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    for f in sorted(local.rglob("*")):
        if f.is_file():
            fs.pipe_file(f"{path}/{f.relative_to(local).as_posix()}", f.read_bytes())


def _project(tmp_path: Path, registries: list[str], flow: str = FLOW) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "flowc.toml").write_text("[skills]\nregistries = [" +
                                     ", ".join(json.dumps(r) for r in registries) + "]\n")
    (proj / "hello.flow").write_text(flow)
    return proj / "hello.flow"


def _check(flow: Path, *, locked: bool = False):
    return Compiler(locked=locked).check(Source.from_file(flow), flow.parent, plan=True)


def _codes(result):
    return [(d.code, d.message) for d in result.diagnostics.items if d.code != "F0306"]


def test_memory_registry_resolves_pins_and_locks_its_url(tmp_path, memreg, skill_cache):
    from flowc.compiler.lockfile import read_lock, write_lock_entry

    for v in ("1.0.0", "1.2.0", "2.0.0"):
        _upload(GREETER / v, f"{memreg}/greeter/{v}")
    flow = _project(tmp_path, [memreg])
    roots = find_skill_roots(flow.parent)
    assert memreg in roots and roots.index(memreg) < len(roots) - 1  # before stdlib_skills
    r = _check(flow)
    assert _codes(r) == []
    (pin,) = r.plan.skills
    assert pin.version == "1.2.0"
    # the chosen version was copied into the content-addressed cache, and that is what's pinned
    cached = skill_cache / "greeter" / f"1.2.0-{pin.sha256[:16]}"
    assert (cached / "SKILL.md").read_bytes() == (GREETER / "1.2.0" / "SKILL.md").read_bytes()
    assert write_lock_entry(flow, r.program)
    entry = read_lock(flow.parent)["flows"]["hello.flow"]["skills"]["greeter"]
    assert entry["location"] == f"{memreg}/greeter/1.2.0"
    assert entry["sha256"] == pin.sha256
    assert _codes(_check(flow, locked=True)) == []
    # the shared skill changes in the registry: --locked fails with F0111
    fs, path = fsspec.core.url_to_fs(memreg)
    fs.pipe_file(f"{path}/greeter/1.2.0/SKILL.md",
                 (GREETER / "1.2.0" / "SKILL.md").read_bytes() + b"\nA new rule.\n")
    (code, msg), = _codes(_check(flow, locked=True))
    assert code == "F0111" and "changed since it was locked" in msg


def test_file_url_registry_from_the_command_line(tmp_path):
    reg = tmp_path / "shared"
    shutil.copytree(GREETER, reg / "greeter")
    flow = _project(tmp_path, [reg.as_uri()])
    env = {"FLOWC_SKILL_CACHE": str(tmp_path / "skill-cache"), "PATH": "/usr/bin:/bin"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "flowc", *args], capture_output=True,
                              text=True, env=env, cwd=flow.parent)

    assert run("check", "--locked", str(flow)).returncode == 1
    r = run("lock", str(flow))
    assert r.returncode == 0, r.stdout + r.stderr
    lock = json.loads((flow.parent / "flow.lock").read_text())
    assert lock["flows"]["hello.flow"]["skills"]["greeter"]["location"] == \
        f"{reg.as_uri()}/greeter/1.2.0"
    assert run("check", "--locked", str(flow)).returncode == 0
    r = run("skill", "list")
    assert r.returncode == 0, r.stderr
    assert f"{reg.as_uri()}/greeter/1.2.0" in r.stdout and reg.as_uri() in r.stdout
    # a new version published to the URL registry: the range now resolves to it
    new = tmp_path / "greeter-1.3.0"
    shutil.copytree(GREETER / "1.2.0", new)
    md = new / "SKILL.md"
    md.write_text(md.read_text().replace("version: 1.2.0", "version: 1.3.0"))
    r = run("skill", "publish", str(new), "--to", reg.as_uri())
    assert r.returncode == 0 and "published greeter 1.3.0" in r.stdout, r.stdout + r.stderr
    r = run("check", "--locked", str(flow))
    assert r.returncode == 1 and "now resolves to 1.3.0" in r.stdout
    # versions are immutable: the same content again is fine, other content is refused
    assert run("skill", "publish", str(new), "--to", reg.as_uri()).returncode == 0
    md.write_text(md.read_text() + "\nchanged\n")
    r = run("skill", "publish", str(new), "--to", reg.as_uri())
    assert r.returncode != 0 and "immutable" in r.stderr and "Traceback" not in r.stderr


def test_publish_to_a_memory_registry_and_list_it(tmp_path, memreg, capsys):
    src = tmp_path / "greeter"
    shutil.copytree(GREETER / "1.0.0", src)
    assert flowc_main(["skill", "publish", str(src), "--to", memreg]) == 0
    fs, path = fsspec.core.url_to_fs(memreg)
    assert fs.isfile(f"{path}/greeter/1.0.0/SKILL.md")
    assert not fs.exists(f"{path}/greeter/1.0.0.partial")
    (src / "SKILL.md").write_text((src / "SKILL.md").read_text() + "\nchanged\n")
    assert flowc_main(["skill", "publish", str(src), "--to", memreg]) != 0
    assert "immutable" in capsys.readouterr().err
    flow = _project(tmp_path, [memreg])
    capsys.readouterr()
    assert flowc_main(["skill", "list", "--dir", str(flow.parent)]) == 0
    out = capsys.readouterr().out
    assert f"{memreg}/greeter/1.0.0" in out


def test_relative_folder_registry_and_precedence_over_stdlib(tmp_path):
    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    shared = tmp_path / "shared-skills"
    shutil.copytree(STDLIB_SKILLS_DIR / "csv-report", shared / "csv-report")
    md = next((shared / "csv-report").rglob("SKILL.md"))
    md.write_text(md.read_text() + "\nThe team's own rules.\n")  # same version, other content
    flow = _project(tmp_path, ["../shared-skills"], 'flow f version "1.0.0"\n'
                    'use skill csv_report @ 1.0.0\nnode x = command `ls /bin`\n'
                    'output o: str = x.stdout\n')
    r = _check(flow)
    assert _codes(r) == []
    (pin,) = r.plan.skills
    assert pin.location.startswith("../shared-skills/csv-report")  # the project's registry wins


@pytest.mark.parametrize(("registry", "message"), [
    ("nosuchproto://x/skills", "Protocol not known: nosuchproto"),
    ("memory://flowc-test-nowhere/skills", "does not exist"),
    ("file:///nonexistent/flowc/skills", "does not exist"),
    ("./missing-folder", "no such folder"),
])
def test_a_registry_that_cannot_be_read_is_a_diagnostic_in_flowc_toml(tmp_path, registry,
                                                                      message):
    flow = _project(tmp_path, [registry])
    r = _check(flow)
    (d,) = [d for d in r.diagnostics.items if d.code != "F0306"]
    assert d.code == "F0108" and message in d.message and "cannot be read" in d.message
    assert d.source.path.endswith("flowc.toml") and d.start.line == 2
    p = subprocess.run([sys.executable, "-m", "flowc", "check", str(flow)], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "F0108" in p.stdout and "Traceback" not in p.stderr + p.stdout


def test_a_malformed_flowc_toml_is_a_diagnostic(tmp_path):
    flow = _project(tmp_path, [])
    (flow.parent / "flowc.toml").write_text("[skills]\nregistries = 3\n")
    (d,) = _check(flow).diagnostics.items
    assert d.code == "F0108" and "registries must be a list" in d.message


def test_the_runtime_fetches_a_url_registry_skill_and_checks_its_hash(tmp_path, memreg,
                                                                      skill_cache):
    from flowc.runtime.engine import Engine
    from flowc.runtime.sandbox import SandboxPool
    from flowc.runtime.store import SQLiteStore
    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    src = STDLIB_SKILLS_DIR / "csv-report" / "1.0.0"
    _upload(src, f"{memreg}/csv-report/1.0.0")  # published into the URL registry
    flow = _project(tmp_path, [memreg], 'flow f version "1.0.0"\nuse skill csv_report @ 1.0.0\n'
                    'node x = command `ls /bin`\noutput o: str = x.stdout\n')
    # a folder with the same version in stdlib_skills is shadowed by the project's registry
    fs, path = fsspec.core.url_to_fs(memreg)
    fs.pipe_file(f"{path}/csv-report/1.0.0/NOTES.md", b"team notes\n")
    plan = _check(flow).plan
    (pin,) = plan.skills
    assert pin.sha256 != "" and not pin.location.startswith("stdlib:")
    shutil.rmtree(skill_cache)  # another machine, or a cleared cache: fetched again at run time
    store = SQLiteStore(str(tmp_path / "runs.db"))
    try:
        with SandboxPool(size=0) as pool:
            engine = Engine(store, sandbox=pool, base_dir=str(flow.parent))
            run = engine.start(plan, {})
            assert run.status == "succeeded", run.error
            assert "report" in run.outputs["o"]
            assert (skill_cache / "csv-report" / f"1.0.0-{pin.sha256[:16]}" / "NOTES.md").is_file()
            # the shared copy changes after compiling: the run refuses it
            shutil.rmtree(skill_cache)
            fs.pipe_file(f"{path}/csv-report/1.0.0/NOTES.md", b"other notes\n")
            run = engine.start(plan, {})
            assert run.status == "failed" and "does not match its pin" in run.error
    finally:
        store.close()
