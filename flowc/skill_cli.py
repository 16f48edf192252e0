"""`flowc skill list` and `flowc skill new`: the skill registries from the command line."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from flowc.cli import CommandError

__all__ = ["add_skill_commands"]

_TEMPLATE = """---
name: {name}
description: {description}
version: 0.1.0
inputs:
  text: str
outputs:
  text: summary
  fields: {{ words: int }}
effects: []
entry: {command} --input {{text}}
---
# {title}

The playbook: when to use this skill, what it needs, what it delivers, and the rules it
follows. Keep it short and concrete; it is what an agent reads before calling the skill.

## Steps
1. ...

## Fixtures
`fixtures/` holds example inputs with the deliverable they must produce.
"""


def cmd_list(args) -> int:
    from flowc.compiler.api import find_skill_roots
    from flowc.compiler.skills import SkillRegistry

    roots = find_skill_roots(Path(args.dir).resolve(), [Path(d) for d in args.skills])
    reg = SkillRegistry(roots)
    shown = 0
    for name in reg.names():
        versions = reg.versions(name)
        for sv in sorted(versions, key=lambda v: [int(x) if x.isdigit() else x
                                                   for x in re.split(r"[.+-]", v.version)]):
            print(f"{sv.name:<24} {sv.version:<10} {sv.sha256[:12]}  {sv.folder}")
            shown += 1
        for problem in reg.problems_for(name):
            print(f"{name:<24} {'(broken)':<10} {problem.path}:{problem.line}: {problem.message}")
    print(f"{shown} skill version(s) in: " + ", ".join(str(r) for r in roots if r.is_dir()))
    return 0


def cmd_new(args) -> int:
    name = args.name.strip().lower().replace("_", "-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", name):
        raise CommandError(f"`{args.name}` is not a skill name: 1-64 characters of a-z, 0-9 "
                           "and `-`")
    folder = Path(args.dir) / name
    if folder.exists():
        raise CommandError(f"`{folder}` already exists")
    (folder / "scripts").mkdir(parents=True)
    (folder / "fixtures").mkdir()
    command = name.replace("-", "_")
    (folder / "SKILL.md").write_text(_TEMPLATE.format(
        name=name, description=args.description or f"What {name} does and when to use it.",
        command=command, title=name.replace("-", " ").capitalize()))
    (folder / "scripts" / f"{command}.py").write_text(
        f'"""The `{command}` command of the {name} skill."""\n\nimport json\nimport sys\n\n\n'
        "def main(argv):\n"
        "    text = argv[argv.index(\"--input\") + 1] if \"--input\" in argv else \"\"\n"
        "    print(json.dumps({\"summary\": text[:80], \"words\": len(text.split())}))\n\n\n"
        "if __name__ == \"__main__\":\n    main(sys.argv[1:])\n")
    (folder / "fixtures" / "basic.json").write_text(
        '{\n  "inputs": {"text": "one two three"},\n  "expect": {"fields": {"words": 3}}\n}\n')
    print(f"created {folder}/ (SKILL.md, scripts/{command}.py, fixtures/basic.json)")
    print(f"use it in a flow: use skill {command} @ ^0.1")
    return 0


def add_skill_commands(sub, parser_class) -> None:
    sp = sub.add_parser("skill", help="skill registries: list versions, scaffold a skill")
    ss = sp.add_subparsers(dest="skill_command", metavar="SUBCOMMAND", parser_class=parser_class,
                           required=True)
    lp = ss.add_parser("list", help="every skill version and where it comes from")
    lp.add_argument("--dir", default=".", help="the project folder (default: here)")
    lp.add_argument("--skills", action="append", default=[], metavar="DIR")
    lp.set_defaults(func=cmd_list)
    np = ss.add_parser("new", help="scaffold a skill folder")
    np.add_argument("name", metavar="NAME")
    np.add_argument("--dir", default="skills", help="where to create it (default: skills/)")
    np.add_argument("--description", metavar="TEXT")
    np.set_defaults(func=cmd_new)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `flowc skill ...`")
