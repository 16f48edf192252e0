"""`flowc skill list/new/test/publish`: the skill registries from the command line."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from flowc.errors import CommandError

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


def _registry(args):
    from flowc.compiler.api import find_skill_roots
    from flowc.compiler.skills import SkillRegistry

    roots = find_skill_roots(Path(args.dir).resolve(), [Path(d) for d in args.skills])
    return roots, SkillRegistry(roots)


def _problem_text(p) -> str:
    return f"{p.path}:{p.line}: {p.message}" if "registries.txt" not in str(p.path) \
        else p.message


def cmd_list(args) -> int:
    from flowc.compiler.skills import RegistryError, is_url

    roots, reg = _registry(args)
    names = reg.names()
    if reg.broken:
        raise CommandError(_problem_text(reg.broken[0]))
    shown = 0
    for name in names:
        versions = reg.versions(name)
        for sv in sorted(versions, key=lambda v: [int(x) if x.isdigit() else x
                                                   for x in re.split(r"[.+-]", v.version)]):
            try:
                digest = sv.sha256[:12]
            except RegistryError as e:
                print(f"{sv.name:<24} {sv.version:<10} (unreadable) {e}")
                continue
            inputs = ", ".join(sv.inputs) or "-"
            print(f"{sv.name:<24} {sv.version:<10} {digest}  {sv.location}  (inputs: {inputs})")
            shown += 1
        for problem in reg.problems_for(name):
            print(f"{name:<24} {'(broken)':<10} {_problem_text(problem)}")
    print(f"{shown} skill version(s) in: " + ", ".join(
        str(r) for r in roots if is_url(r) or Path(r).is_dir()))
    return 0


def cmd_show(args) -> int:
    """One skill version: what it does, its typed inputs, its deliverable, effects, entry."""
    import textwrap

    sv = _find(args.name, args)
    print(f"{sv.name} {sv.version}  ({sv.location}, sha256 {sv.sha256[:12]})")
    if sv.description:
        print(textwrap.fill(" ".join(sv.description.split()), 96, initial_indent="  ",
                            subsequent_indent="  "))
    print("  inputs:" if sv.inputs else "  inputs: none")
    for name, spec in sv.inputs.items():
        if isinstance(spec, dict):
            default = f" = {json.dumps(spec['default'])}" if "default" in spec else ""
            print(f"    {name}: {spec.get('type', 'json')}{default}")
        else:
            print(f"    {name}: {spec}")
    parts = []
    for kind, value in (sv.outputs or {}).items():
        if isinstance(value, dict):
            parts += [f"{kind} {k}: {v}" for k, v in value.items()]
        elif value is True:
            parts.append(kind)
        else:
            parts.append(f"{kind} {value}")
    print(f"  outputs: {', '.join(parts) or 'none'}")
    print(f"  effects: {', '.join(map(str, sv.effects)) or 'none'}")
    if sv.entry:
        print(f"  entry: {sv.entry}")
    alias = sv.name.replace("-", "_")
    args_text = ", ".join(f"{n}: ..." for n, spec in sv.inputs.items()
                          if not (isinstance(spec, dict) and "default" in spec)
                          and not str(spec).endswith("?"))
    print(f"  use it: `use skill {alias} @ {sv.version}`, then "
          f"`node x = skill {alias}({args_text})`")
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


def _find(name_spec: str, args):
    """A skill version from `NAME` or `NAME@SPEC`, or a one-line error."""
    from flowc.compiler.skills import RegistryError, parse_version_spec

    name, _, spec = name_spec.partition("@")
    roots, reg = _registry(args)
    if not reg.versions(name):
        problems = reg.problems_for(name)
        if problems:
            raise CommandError(_problem_text(problems[0]))
        from flowc.compiler.suggest import did_you_mean

        hint = did_you_mean(name, reg.names())
        raise CommandError(f"no skill `{name}` in: " + ", ".join(str(r) for r in roots)
                           + (f" ({hint} `flowc skill list` lists them)" if hint else
                              " (`flowc skill list` lists them)"))
    try:
        sv = reg.resolve(name, parse_version_spec(spec or "*"))
    except ValueError as e:
        raise CommandError(f"`{spec}` is not a version or range") from e
    if sv is None:
        have = ", ".join(v.version for v in reg.versions(name))
        raise CommandError(f"no version of `{name}` satisfies `{spec}` (have: {have})")
    try:
        sv.materialize()  # a URL registry's version is fetched into the local cache
    except RegistryError as e:
        raise CommandError(str(e)) from None
    return sv


def _check_fixture(fx: dict, res: dict, files: list[str]) -> list[str]:
    expect = fx.get("expect", {})
    problems = []
    code = res.get("exit_code")
    if code != expect.get("exit_code", 0):
        problems.append(f"exit status {code}, expected {expect.get('exit_code', 0)}: "
                        f"{(res.get('stderr') or '').strip()[-200:]}")
    if "fields" in expect:
        try:
            got = json.loads(res.get("stdout") or "")
        except ValueError:
            got = None
        for key, want in expect["fields"].items():
            have = got.get(key, "<missing>") if isinstance(got, dict) else "<not JSON>"
            if have != want:
                problems.append(f"field `{key}` is {have!r}, expected {want!r}")
    for text in expect.get("stdout_contains", []):
        if text not in (res.get("stdout") or ""):
            problems.append(f"stdout lacks {text!r}")
    for name in expect.get("files", []):
        if name not in files:
            problems.append(f"no file `{name}` was written")
    return problems


def cmd_test(args) -> int:
    """Run a skill's fixtures in the sandbox, without any flow."""
    import fsspec

    from flowc.runtime.sandbox import Limits, SandboxPool, SandboxSetupError
    from flowc.runtime.skillrun import entry_line, sandbox_options, shell_code, stage_skill

    sv = _find(args.name, args)
    fixtures = sorted((sv.folder / "fixtures").glob("*.json"))
    if not fixtures:
        raise CommandError(f"{sv.name} {sv.version} has no fixtures ({sv.folder}/fixtures/*.json)")
    if not sv.entry:
        raise CommandError(f"{sv.name} {sv.version} has no `entry` command to test")
    failed = 0
    try:
        pool = SandboxPool(size=0)
    except SandboxSetupError as e:
        raise CommandError(str(e)) from e
    # One warm interpreter for the skill's fixtures (a run session: each fixture's command and
    # files are its own, the interpreter and its imported modules are shared), so the
    # fixtures after the first pay no interpreter start and no imports; --strict starts a
    # fresh one for each, as a strict node runs.
    with pool, pool.session() as session:
        runner = pool if args.strict else session
        for path in fixtures:
            try:
                fx = json.loads(path.read_text())
            except ValueError as e:
                print(f"FAIL {path.name}: not valid JSON: {e}")
                failed += 1
                continue
            inputs, commands = {}, {}
            stage_skill(sv.folder, sv.name.replace("-", "_"), sv.entry, inputs, commands)
            for name, text in (fx.get("files") or {}).items():
                url = f"memory://flowc-skill-test/{path.stem}/{name}"
                with fsspec.open(url, "w") as f:
                    f.write(text)
                inputs[name] = url
            values = dict(fx.get("inputs") or {})
            line, stdin, _ = entry_line(sv.entry, values, lambda v: v if isinstance(v, str)
                                        else json.dumps(v))
            r = runner.run(shell_code(line, stdin, commands), inputs=inputs,
                         output_dir=f"memory://flowc-skill-test-out/{path.stem}",
                         limits=Limits(timeout=args.timeout), **sandbox_options(inputs))
            if not r.ok:
                problems = [f"{r.error_kind}: {r.error}"]
            else:
                problems = _check_fixture(fx, r.value or {}, [f.name for f in r.files])
            status = "ok  " if not problems else "FAIL"
            print(f"{status} {sv.name} {sv.version} {path.name}" +
                  ("" if not problems else ": " + "; ".join(problems)))
            failed += bool(problems)
    print(f"{len(fixtures) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_publish(args) -> int:
    """Copy a skill folder into a registry (a folder or any fsspec URL) as an immutable
    NAME/VERSION folder: written beside it first, then moved into place."""
    from flowc.compiler.skills import RegistryError, hash_remote, load_skill, registry_fs
    from flowc.contenthash import hash_folder

    src = Path(args.folder)
    if not (src / "SKILL.md").is_file():
        raise CommandError(f"`{src}` has no SKILL.md")
    sv, problem = load_skill(src, src.parent)
    if problem is not None:
        raise CommandError(f"{problem.path}:{problem.line}: {problem.message}")
    to = str(args.to).rstrip("/") or "/"
    target = f"{to}/{sv.name}/{sv.version}"
    digest = hash_folder(src)
    try:
        fs, root = registry_fs(to)
        path = f"{root.rstrip('/')}/{sv.name}/{sv.version}"
        existing = hash_remote(target) if fs.exists(path) else None
        if existing is not None or fs.exists(path):
            if existing == digest:
                print(f"{sv.name} {sv.version} is already published at {target} (same content)")
                return 0
            raise CommandError(f"{sv.name} {sv.version} is already published at {target} with "
                               "different content: versions are immutable, publish a new "
                               "version")
        partial = path + ".partial"
        if fs.exists(partial):
            fs.rm(partial, recursive=True)
        for f in sorted(src.rglob("*")):
            if f.is_file() and "__pycache__" not in f.relative_to(src).parts:
                dest = f"{partial}/{f.relative_to(src).as_posix()}"
                fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
                fs.pipe_file(dest, f.read_bytes())
        fs.mv(partial, path, recursive=True)
        published = hash_remote(target)
    except RegistryError as e:
        raise CommandError(f"cannot publish to {to}: {e}") from None
    except (OSError, ValueError) as e:
        raise CommandError(f"cannot publish to {to}: {type(e).__name__}: {e}") from None
    if published != digest:
        raise CommandError(f"published {sv.name} {sv.version} to {target}, but its content "
                           "there does not match the folder (sha256 differs)")
    print(f"published {sv.name} {sv.version} to {target} (sha256 {digest[:16]})")
    return 0


def add_skill_commands(sub, parser_class) -> None:
    sp = sub.add_parser("skill", help="skill registries: list versions, scaffold a skill")
    ss = sp.add_subparsers(dest="skill_command", metavar="SUBCOMMAND", parser_class=parser_class,
                           required=True)
    lp = ss.add_parser("list", help="every skill version and where it comes from")
    lp.add_argument("--dir", default=".", help="the project folder (default: here)")
    lp.add_argument("--skills", action="append", default=[], metavar="DIR")
    lp.set_defaults(func=cmd_list)
    wp = ss.add_parser("show", help="one skill version: inputs, outputs, effects, entry")
    wp.add_argument("name", metavar="NAME[@VERSION]")
    wp.add_argument("--dir", default=".", help="the project folder (default: here)")
    wp.add_argument("--skills", action="append", default=[], metavar="DIR")
    wp.set_defaults(func=cmd_show)
    np = ss.add_parser("new", help="scaffold a skill folder")
    np.add_argument("name", metavar="NAME")
    np.add_argument("--dir", default="skills", help="where to create it (default: skills/)")
    np.add_argument("--description", metavar="TEXT")
    np.set_defaults(func=cmd_new)
    tp = ss.add_parser("test", help="run a skill's fixtures in the sandbox")
    tp.add_argument("name", metavar="NAME[@VERSION]")
    tp.add_argument("--dir", default=".", help="the project folder (default: here)")
    tp.add_argument("--skills", action="append", default=[], metavar="DIR")
    tp.add_argument("--timeout", type=float, default=30.0)
    tp.add_argument("--strict", action="store_true",
                    help="a fresh interpreter for each fixture (as a strict node runs), "
                    "instead of one warm interpreter for all of them")
    tp.set_defaults(func=cmd_test)
    pp = ss.add_parser("publish", help="publish a skill folder as an immutable version")
    pp.add_argument("folder", metavar="FOLDER")
    pp.add_argument("--to", required=True, metavar="REGISTRY",
                    help="the registry: a folder or an fsspec URL (file://, s3://, ...)")
    pp.set_defaults(func=cmd_publish)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `flowc skill ...`")
