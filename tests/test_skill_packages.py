"""Skill packages: the pure-Python wheels a skill ships, loaded offline before its commands."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from flowc.compiler.api import Compiler
from flowc.compiler.source import Source


def build_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A valid pure-Python wheel: the modules, METADATA, WHEEL and a RECORD with hashes."""
    dist = f"{name}-{version}.dist-info"
    entries = dict(files)
    entries[f"{dist}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                   "Summary: a test package\n")
    entries[f"{dist}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: flowc-tests\n"
                                "Root-Is-Purelib: true\nTag: py3-none-any\n")
    entries[f"{dist}/top_level.txt"] = name + "\n"
    record = []
    for path, text in entries.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    entries[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as z:
        for path, text in entries.items():
            z.writestr(path, text)
    return whl


SKILL_MD = """---
name: units
description: Converts kilometres to miles with the tinyunits package (a test skill).
version: 1.0.0
inputs:
  km: float
outputs:
  fields: {{ miles: float, source: str }}
packages: [{packages}]
entry: convert --km {{km}}
---
# Units
"""

SCRIPT = """import json
import sys

import tinyunits

km = float(sys.argv[sys.argv.index("--km") + 1])
print(json.dumps({"miles": tinyunits.km_to_miles(km), "source": tinyunits.__file__}))
"""


def make_skill(root: Path, packages: str = "tinyunits", wheel: bool = True) -> Path:
    folder = root / "units"
    (folder / "scripts").mkdir(parents=True)
    (folder / "fixtures").mkdir()
    (folder / "SKILL.md").write_text(SKILL_MD.format(packages=packages))
    (folder / "scripts" / "convert.py").write_text(SCRIPT)
    (folder / "fixtures" / "ten.json").write_text(
        '{"inputs": {"km": 10}, "expect": {"fields": {"miles": 6.21}}}\n')
    if wheel:
        build_wheel(folder / "wheels", "tinyunits", "0.1.0", {
            "tinyunits/__init__.py": "from ._core import km_to_miles\n",
            "tinyunits/_core.py": "def km_to_miles(km):\n    return round(km * 0.621371, 2)\n",
        })
    return root


def _plan(tmp_path: Path, skills: Path, body: str):
    text = 'flow f version "1.0.0"\nuse skill units @ 1.0.0\n' + body
    r = Compiler([skills]).check(Source(text, str(tmp_path / "f.flow")), tmp_path, plan=True)
    errors = [d.message for d in r.diagnostics.items if d.severity == "error"]
    assert r.plan is not None, errors
    return r.plan


@pytest.fixture
def engine(cold_pool, store, tmp_path):
    from flowc.runtime.engine import Engine

    return Engine(store, sandbox=cold_pool, base_dir=str(tmp_path))


def test_skill_md_declares_packages(tmp_path):
    from flowc.compiler.skills import SkillRegistry

    make_skill(tmp_path / "skills")
    (sv,) = SkillRegistry([tmp_path / "skills"]).versions("units")
    assert sv.packages == ["tinyunits"]


def test_malformed_packages_is_a_diagnostic(tmp_path):
    make_skill(tmp_path / "skills", packages="'not a name!'")
    r = Compiler([tmp_path / "skills"]).check(Source(
        'flow f version "1.0.0"\nuse skill units @ 1.0.0\n', str(tmp_path / "f.flow")), tmp_path)
    (d,) = [d for d in r.diagnostics.items if d.code == "F0108"]
    assert "`packages`" in d.message and d.start.line == 9


def test_a_skill_node_imports_its_own_wheel(engine, tmp_path):
    skills = make_skill(tmp_path / "skills")
    plan = _plan(tmp_path, skills, "node c = skill units(km: 10.0)\n"
                 "output m: float = c.miles\noutput s: str = c.source\n")
    run = engine.start(plan, {})
    assert run.status == "succeeded", run.error
    assert run.outputs["m"] == 6.21
    assert "tinyunits" in run.outputs["s"] and "site-packages" in run.outputs["s"]


def test_a_command_line_uses_the_skill_entry_with_its_packages(engine, tmp_path):
    skills = make_skill(tmp_path / "skills")
    plan = _plan(tmp_path, skills, "node c = command `convert --km 100 | jq .miles`\n"
                 "output o: str = c.stdout\n")
    run = engine.start(plan, {})
    assert run.status == "succeeded", run.error
    assert run.outputs["o"].strip() == "62.14"


def test_a_package_that_is_not_available_fails_the_node_naming_it(engine, tmp_path):
    skills = make_skill(tmp_path / "skills", packages="tinyunits, nosuchpkg")
    plan = _plan(tmp_path, skills, "node c = skill units(km: 1.0)\noutput m: float = c.miles\n")
    run = engine.start(plan, {})
    assert run.status == "failed"
    assert "`nosuchpkg`" in run.error and "skill `units` 1.0.0" in run.error
    assert "not available offline" in run.error


def test_a_declared_package_without_any_wheel(engine, tmp_path):
    skills = make_skill(tmp_path / "skills", wheel=False)
    plan = _plan(tmp_path, skills, "node c = skill units(km: 1.0)\noutput m: float = c.miles\n")
    run = engine.start(plan, {})
    assert run.status == "failed" and "`tinyunits`" in run.error


def test_skill_test_installs_the_packages(tmp_path):
    skills = make_skill(tmp_path / "skills")
    r = subprocess.run([sys.executable, "-m", "flowc", "skill", "test", "units", "--skills",
                        str(skills)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed, 0 failed" in r.stdout
    bad = make_skill(tmp_path / "other", packages="nosuchpkg")
    r = subprocess.run([sys.executable, "-m", "flowc", "skill", "test", "units", "--skills",
                        str(bad)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 1 and "`nosuchpkg`" in r.stdout and "Traceback" not in r.stderr
