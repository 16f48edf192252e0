"""Skill registries: versions, ranges, hashes, malformed SKILL.md files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flowc.compiler.api import Compiler
from flowc.compiler.skills import SkillRegistry, parse_version_spec
from flowc.compiler.source import Source

FIXTURES = Path(__file__).parent / "fixtures" / "skills"


@pytest.mark.parametrize(("spec", "version"), [
    ("1.0.0", "1.0.0"), ("^1.0", "1.2.0"), ("~1.0.0", "1.0.0"), (">=1.1,<2", "1.2.0"),
    ("*", "2.0.0"), ("^2", "2.0.0"), (">=1.0.0, <1.2.0", "1.0.0"),
])
def test_ranges_resolve_to_highest_match(spec, version):
    reg = SkillRegistry([FIXTURES])
    assert reg.resolve("greeter", parse_version_spec(spec)).version == version


def test_no_match_and_bad_spec():
    reg = SkillRegistry([FIXTURES])
    assert reg.resolve("greeter", parse_version_spec("^3")) is None
    with pytest.raises(ValueError):
        parse_version_spec("latest!")


def _check(text: str, tmp_path: Path, skills: list[Path] | None = None):
    return Compiler(skills or [FIXTURES]).check(Source(text, str(tmp_path / "f.flow")),
                                                tmp_path, plan=True)


def test_skill_call_typed_against_skill_md(tmp_path):
    r = _check('flow f version "1.0.0"\nuse skill greeter @ ^1.0\ninput who: str\n'
               'node g = skill greeter(name: who, polite: 3)\noutput o: str = g.greeting\n'
               'output n: int = g.lenght\n', tmp_path)
    codes = sorted((d.code, d.start.line) for d in r.diagnostics.items)
    assert codes == [("F0203", 6), ("F0204", 4)]


def test_missing_required_skill_input(tmp_path):
    r = _check('flow f version "1.0.0"\nuse skill greeter @ 1.2.0\n'
               'node g = skill greeter()\noutput o: str = g.greeting\n', tmp_path)
    assert [d.code for d in r.diagnostics.items] == ["F0202"]
    assert "`name`" in r.diagnostics.items[0].message


def test_plan_pins_version_and_hash(tmp_path):
    r = _check('flow f version "1.0.0"\nuse skill greeter @ ^1.0\n'
               'node g = skill greeter(name: "x")\noutput o: str = g.greeting\n', tmp_path)
    assert not r.diagnostics.items
    (pin,) = r.plan.skills
    assert (pin.name, pin.version, pin.requested) == ("greeter", "1.2.0", "^1.0")
    assert len(pin.sha256) == 64
    assert pin.inputs["polite"]["required"] is False


def test_changing_a_skill_changes_its_hash_and_the_plan(tmp_path):
    reg = tmp_path / "skills"
    shutil.copytree(FIXTURES / "greeter", reg / "greeter")
    text = ('flow f version "1.0.0"\nuse skill greeter @ 1.0.0\n'
            'node g = skill greeter(name: "x")\noutput o: str = g.greeting\n')
    before = _check(text, tmp_path, [reg]).plan
    md = reg / "greeter" / "1.0.0" / "SKILL.md"
    md.write_text(md.read_text() + "\nOne more line of playbook.\n")
    after = _check(text, tmp_path, [reg]).plan
    assert before.skills[0].sha256 != after.skills[0].sha256
    assert before.hash != after.hash


def test_malformed_frontmatter_points_into_skill_md(tmp_path):
    r = _check('flow f version "1.0.0"\nuse skill bad_frontmatter @ 1.0.0\n', tmp_path)
    d = next(d for d in r.diagnostics.items if d.code == "F0108")
    assert d.source.path.endswith("bad-frontmatter/SKILL.md")
    assert d.start.line == 4 and "semver" in d.message


def test_unknown_skill_suggests(tmp_path):
    r = _check('flow f version "1.0.0"\nuse skill greeterr @ 1.0.0\n', tmp_path)
    (d,) = [d for d in r.diagnostics.items if d.code == "F0105"]
    assert d.help == "did you mean `greeter`?"


def _lock_case(tmp_path, spec="^1.0"):
    reg = tmp_path / "skills"
    shutil.copytree(FIXTURES / "greeter", reg / "greeter")
    flow = tmp_path / "hello.flow"
    flow.write_text(f'flow hello version "1.0.0"\nuse skill greeter @ {spec}\n'
                    'node g = skill greeter(name: "x")\noutput o: str = g.greeting\n')
    return reg, flow


def _locked_codes(reg, flow):
    r = Compiler([reg], locked=True).check(Source.from_file(flow), flow.parent)
    return [(d.code, d.message) for d in r.diagnostics.items]


def test_lock_records_and_detects_every_kind_of_drift(tmp_path):
    from flowc.compiler.lockfile import read_lock, write_lock_entry

    reg, flow = _lock_case(tmp_path)
    (code, msg), = _locked_codes(reg, flow)
    assert code == "F0111" and "no entry" in msg
    program = Compiler([reg]).check(Source.from_file(flow), flow.parent).program
    assert write_lock_entry(flow, program) is True
    assert write_lock_entry(flow, program) is False  # already current: nothing rewritten
    pin = read_lock(tmp_path)["flows"]["hello.flow"]["skills"]["greeter"]
    assert pin["version"] == "1.2.0" and len(pin["sha256"]) == 64
    assert _locked_codes(reg, flow) == []
    # the shared skill changes: its hash no longer matches
    md = reg / "greeter" / "1.2.0" / "SKILL.md"
    md.write_text(md.read_text() + "\nA new rule.\n")
    (code, msg), = _locked_codes(reg, flow)
    assert code == "F0111" and "changed since it was locked" in msg
    # a new version appears that the range admits
    shutil.copytree(reg / "greeter" / "1.2.0", reg / "greeter" / "1.3.0")
    v = reg / "greeter" / "1.3.0" / "SKILL.md"
    v.write_text(v.read_text().replace("version: 1.2.0", "version: 1.3.0"))
    (code, msg), = _locked_codes(reg, flow)
    assert code == "F0111" and "now resolves to 1.3.0" in msg


def test_lock_and_locked_check_from_the_cli(tmp_path):
    import subprocess
    import sys

    reg, flow = _lock_case(tmp_path)
    run = lambda *a: subprocess.run([sys.executable, "-m", "flowc", *a], capture_output=True,  # noqa: E731
                                    text=True)
    assert run("check", "--locked", "--skills", str(reg), str(flow)).returncode == 1
    r = run("lock", "--skills", str(reg), str(flow))
    assert r.returncode == 0 and "1 flow(s) updated" in r.stdout
    assert run("check", "--locked", "--skills", str(reg), str(flow)).returncode == 0
    (tmp_path / "flow.lock").write_text("{not json")
    r = run("check", "--locked", "--skills", str(reg), str(flow))
    assert r.returncode == 1 and "F0111" in r.stdout


def _stdlib_versions():
    """Every published version of the standard skills, as `NAME@VERSION`."""
    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    return [md.parent.parent.name + "@" + md.parent.name
            for md in sorted(STDLIB_SKILLS_DIR.glob("*/*/SKILL.md"))]


@pytest.mark.parametrize("skill", _stdlib_versions())
def test_standard_skills_pass_their_fixtures_in_the_sandbox(skill, tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "flowc", "skill", "test", skill],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout


def test_every_standard_skill_has_fixtures():
    """Every version is a NAME/VERSION folder (the version its SKILL.md declares) with
    fixtures, and each of them is tested above."""
    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    mds = sorted(STDLIB_SKILLS_DIR.rglob("SKILL.md"))
    assert len(mds) >= 13
    for md in mds:
        version = md.parent
        assert version.parent.parent == STDLIB_SKILLS_DIR, md
        assert f"\nversion: {version.name}\n" in md.read_text(), md
        assert sorted((version / "fixtures").glob("*.json")), f"{version} has no fixtures"
    assert len(_stdlib_versions()) == len(mds)


def test_the_web_search_fixture_fails_for_the_refused_host(tmp_path):
    """web-search's fixture expects exit status 2 (the network failed): `flowc skill test`
    allows no host, and the status is the refusal's, not argparse's (also 2)."""
    import shutil
    import subprocess
    import sys

    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    skill = tmp_path / "skills" / "web-search"
    shutil.copytree(STDLIB_SKILLS_DIR / "web-search" / "1.1.0", skill,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (fixture,) = (skill / "fixtures").glob("*.json")
    fixture.write_text(fixture.read_text().replace('"exit_code": 2', '"exit_code": 0'))
    r = subprocess.run([sys.executable, "-m", "flowc", "skill", "test", "web-search",
                        "--skills", str(tmp_path / "skills")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 1 and "exit status 2, expected 0" in r.stdout, r.stdout + r.stderr
    assert "network access to api.duckduckgo.com is not allowed" in r.stdout, r.stdout
