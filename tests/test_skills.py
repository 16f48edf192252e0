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
