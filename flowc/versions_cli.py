"""`flowc version` (record, review, approve, reject, publish, roll back, comment, show,
export, import), `flowc versions FLOW`, `flowc diff FLOW V1 V2`, and the short forms
`flowc publish` and `flowc rollback` (runtime/versions.py holds the rules)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from flowc.errors import CommandError

__all__ = ["add_version_commands"]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _roles(args, store, user: str) -> tuple[str, ...]:
    """A person's roles: the store's record of them, else `flowc people`'s file."""
    from flowc.cli_store import _roles as file_roles

    person = store.get_person(user)
    return tuple(person.roles) if person is not None else file_roles(args, user)


def _separate(project: Path | None) -> bool:
    from flowc.config import ConfigError, load_config

    try:
        return load_config(project or Path.cwd()).separate_duties
    except ConfigError as e:
        raise CommandError(str(e)) from None


def _version_error(e) -> CommandError:
    return CommandError(" ".join(str(e).split())[:600], 1)


def _resolve(store, flow: str, ref: str):
    from flowc.runtime.versions import VersionError, resolve

    try:
        return resolve(store, flow, ref)
    except VersionError as e:
        raise _version_error(e) from None


def _git_message(path: Path) -> tuple[str, str]:
    """(the commit's subject and sha, "git:SHA") of HEAD in the repository holding `path`."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%H%n%s"], cwd=path.parent,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise CommandError(f"--from-git: cannot run git: {e}") from None
    if out.returncode != 0 or "\n" not in out.stdout:
        raise CommandError(f"--from-git: {path.parent} is not in a git repository with a "
                           f"commit ({' '.join(out.stderr.split())[:200] or 'no commit'})")
    sha, subject = out.stdout.split("\n", 1)
    status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=path.parent,
                            capture_output=True, text=True, timeout=30)
    dirty = " (with uncommitted changes)" if status.stdout.strip() else ""
    return f"{subject.strip()} ({sha[:12]}){dirty}", f"git:{sha}"


def cmd_submit(args) -> int:
    from flowc.cli_store import _anchor_versions, _name, _store
    from flowc.runtime.store.versions import VersionExists
    from flowc.runtime.versions import VersionError, submit

    _name(args.as_user, "--as")
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no flow file `{args.file}`")
    store = _store(args)
    roles = _roles(args, store, args.as_user)
    if "drafter" not in roles and "admin" not in roles:
        raise CommandError(f"{args.as_user} does not hold the role `drafter` needed to record "
                           f"a version (`flowc people {args.as_user} drafter`)", 1)
    message, origin = args.message or "", None
    if args.from_git:
        subject, origin = _git_message(path.resolve())
        message = message or subject
    try:
        v = submit(store, path, args.as_user, message, origin=origin)
    except VersionExists as e:
        raise CommandError(f"nothing to record: {e}", 1) from None
    except VersionError as e:
        raise _version_error(e) from None
    _anchor_versions(args, store, v.flow, path.resolve().parent)
    print(f"{v.flow} v{v.number}: draft ({v.hash[:12]}) by {v.author}: {v.message}")
    return 0


def cmd_act(args) -> int:
    from flowc.cli_store import _anchor_versions, _name, _store
    from flowc.runtime.versions import VersionError, transition

    _name(args.as_user, "--as")
    store = _store(args)
    roles = _roles(args, store, args.as_user)
    try:
        v = transition(store, args.flow, args.ref, args.action, args.as_user, roles,
                       message=args.message or "", separate=_separate(None))
    except VersionError as e:
        raise _version_error(e) from None
    done = {"review": "in review", "approve": "approved", "reject": "rejected",
            "publish": "published", "rollback": "published again (rolled back)"}[args.action]
    _anchor_versions(args, store, v.flow)
    print(f"{v.flow} v{v.number}: {done} by {args.as_user}")
    return 0


def cmd_comment(args) -> int:
    from flowc.cli_store import _anchor_versions, _name, _store
    from flowc.runtime.versions import VersionError, comment

    _name(args.as_user, "--as")
    store = _store(args)
    try:
        comment(store, args.flow, args.ref, args.as_user, _roles(args, store, args.as_user),
                args.message)
    except VersionError as e:
        raise _version_error(e) from None
    _anchor_versions(args, store, args.flow)
    print(f"{args.flow}: comment recorded")
    return 0


def _event_line(e) -> str:
    p = e.payload if isinstance(e.payload, dict) else {}
    what = e.kind.removeprefix("version.").replace("_", " ")
    msg = p.get("message")
    extra = f": {msg}" if msg else ""
    return f"{_when(e.ts)}  v{p.get('version', '?')}  {what} by {e.actor or '-'}{extra}"


def cmd_versions(args) -> int:
    from flowc.cli_store import _anchor, _store

    store = _store(args)
    versions = store.list_versions(args.flow)
    problems: list[str] = []
    anchor = None
    if args.verify:
        from flowc.runtime.audit import AnchorError, verify_versions

        anchor = _anchor(args)
        try:
            problems = verify_versions(store, args.flow, anchor=anchor)
        except AnchorError as e:
            raise CommandError(str(e), 4) from None
    if args.format == "json":
        print(json.dumps({"flow": args.flow, "versions": [
            {"number": v.number, "hash": v.hash, "status": v.status, "author": v.author,
             "message": v.message, "origin": v.origin, "created_at": v.created_at}
            for v in versions], **({"history_problems": problems} if args.verify else {})},
            indent=2))
    else:
        if not versions:
            print(f"{args.flow} has no versions (`flowc version submit FILE.flow --as USER`)")
        for v in versions:
            origin = f" [{v.origin}]" if v.origin else ""
            print(f"v{v.number:<4} {v.status:<10} {v.hash[:12]}  {_when(v.created_at)}  "
                  f"{v.author}: {v.message}{origin}")
        if args.verify:
            events = len(store.version_events(args.flow))
            if problems:
                for p in problems:
                    print(f"history broken: {p}")
            else:
                against = f", every head anchored in {anchor.url} held" if anchor else ""
                print(f"history of {args.flow}: {events} events, intact{against}")
    return 1 if problems else 0


def cmd_show(args) -> int:
    from flowc.cli_store import _store

    store = _store(args)
    v = _resolve(store, args.flow, args.ref)
    print(f"{v.flow} v{v.number}: {v.status}")
    print(f"  plan     {v.hash}")
    print(f"  bundle   sha256 {v.bundle_sha256}")
    print(f"  author   {v.author}, {_when(v.created_at)}")
    print(f"  message  {v.message}")
    if v.origin:
        print(f"  origin   {v.origin}")
    for e in store.version_events(v.flow):
        if isinstance(e.payload, dict) and e.payload.get("version") == v.number:
            print("  " + _event_line(e))
    return 0


def cmd_export(args) -> int:
    from flowc.cli_store import _store
    from flowc.runtime.versions import VersionError, export_version

    store = _store(args)
    v = _resolve(store, args.flow, args.ref)
    try:
        text = export_version(store, v)
    except VersionError as e:
        raise _version_error(e) from None
    if args.output and args.output != "-":
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise CommandError(f"cannot write {args.output}: {e.strerror or e}") from None
        print(f"{v.flow} v{v.number} exported to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args) -> int:
    from flowc.cli_store import _anchor_versions, _name, _store
    from flowc.runtime.store.versions import VersionExists
    from flowc.runtime.versions import VersionError, import_version

    _name(args.as_user, "--as")
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise CommandError(f"cannot read {args.file}: {e.strerror or e}") from None
    store = _store(args)
    roles = _roles(args, store, args.as_user)
    if "drafter" not in roles and "admin" not in roles:
        raise CommandError(f"{args.as_user} does not hold the role `drafter` needed to record "
                           "a version", 1)
    try:
        v = import_version(store, data, args.as_user)
    except VersionExists as e:
        raise CommandError(f"nothing to import: {e}", 1) from None
    except VersionError as e:
        raise CommandError(f"refused: {' '.join(str(e).split())[:500]}", 1) from None
    _anchor_versions(args, store, v.flow)
    print(f"{v.flow} v{v.number}: draft ({v.hash[:12]}) imported; author {v.author}")
    return 0


def diff_versions(store, flow: str, ref_a: str, ref_b: str):
    """(version a, version b, semantic changes, file diffs)."""
    from flowc.compiler.plandiff import semantic_diff, source_diff
    from flowc.runtime.versions import bundle_files, bundle_plan

    a, b = _resolve(store, flow, ref_a), _resolve(store, flow, ref_b)
    return (a, b, semantic_diff(bundle_plan(store, a), bundle_plan(store, b)),
            source_diff(bundle_files(store, a), bundle_files(store, b)))


def cmd_diff(args) -> int:
    from flowc.cli_store import _store
    from flowc.runtime.versions import VersionError

    store = _store(args)
    try:
        a, b, changes, files = diff_versions(store, args.flow, args.a, args.b)
    except VersionError as e:
        raise _version_error(e) from None
    if args.format == "json":
        print(json.dumps({"flow": args.flow, "from": {"number": a.number, "hash": a.hash},
                          "to": {"number": b.number, "hash": b.hash},
                          "changes": [c.to_json() for c in changes],
                          "files": [f.to_json() for f in files]}, indent=2))
        return 0
    print(f"{args.flow} v{a.number} ({a.hash[:12]}) -> v{b.number} ({b.hash[:12]})")
    if not changes:
        print("plan: no semantic change" + ("" if files else "s; sources identical"))
    for c in changes:
        label = {"danger": "DANGER", "warning": "warning", "info": "info"}.get(c.severity,
                                                                              c.severity)
        print(f"  {label:<8} {c.area} {c.subject}: {c.change}"
              + (f" - {c.detail}" if c.detail else ""))
    if not args.semantic_only:
        for f in files:
            print()
            for line in f.unified:
                print(line.rstrip("\n"))
    return 0


def add_version_commands(sub, parser_class) -> None:
    def store_opt(sp, anchored: bool = False):
        sp.add_argument("--store", metavar="PATH",
                        help="the run store (default: $FLOWC_STORE or ./.flowc/runs.db)")
        if anchored:
            sp.add_argument("--anchor", metavar="URL", help="the audit anchor: a file or "
                            "fsspec URL the history's head is appended to, and checked "
                            "against (default: flowc.toml's [audit] anchor)")

    sp = sub.add_parser("version", help="flow versions: record a draft, review, approve, "
                        "publish, roll back, export, import (docs/versions.md)")
    vsub = sp.add_subparsers(dest="version_command", metavar="ACTION",
                             parser_class=parser_class, required=True)

    v = vsub.add_parser("submit", help="record the flow as it is now as a draft version")
    v.add_argument("file", metavar="FILE.flow")
    v.add_argument("--as", dest="as_user", required=True, metavar="USER")
    v.add_argument("-m", "--message", default="")
    v.add_argument("--from-git", action="store_true", help="the last commit's subject as the "
                   "message (and its sha as the version's origin)")
    store_opt(v, anchored=True)
    v.set_defaults(func=cmd_submit)

    for action, text in (("review", "ask for a draft's review"),
                         ("approve", "approve a version in review (not its author)"),
                         ("reject", "reject a version in review, with a reason"),
                         ("publish", "publish an approved version (not its author)"),
                         ("rollback", "publish a superseded version again, with a reason")):
        v = vsub.add_parser(action, help=text)
        v.add_argument("flow", metavar="FLOW")
        v.add_argument("ref", metavar="VERSION", help="3, v3, published, latest or a plan hash")
        v.add_argument("--as", dest="as_user", required=True, metavar="USER")
        v.add_argument("-m", "--message", default="")
        store_opt(v, anchored=True)
        v.set_defaults(func=cmd_act, action=action)

    v = vsub.add_parser("comment", help="a review comment on a version")
    v.add_argument("flow", metavar="FLOW")
    v.add_argument("ref", metavar="VERSION")
    v.add_argument("--as", dest="as_user", required=True, metavar="USER")
    v.add_argument("-m", "--message", required=True)
    store_opt(v, anchored=True)
    v.set_defaults(func=cmd_comment)

    v = vsub.add_parser("show", help="a version and its history")
    v.add_argument("flow", metavar="FLOW")
    v.add_argument("ref", metavar="VERSION")
    store_opt(v)
    v.set_defaults(func=cmd_show)

    v = vsub.add_parser("export", help="a version as one file (to move it or keep it in git)")
    v.add_argument("flow", metavar="FLOW")
    v.add_argument("ref", metavar="VERSION")
    v.add_argument("-o", "--output", help="the file (default: standard output)")
    store_opt(v)
    v.set_defaults(func=cmd_export)

    v = vsub.add_parser("import", help="record an exported version as a draft here")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--as", dest="as_user", required=True, metavar="USER")
    store_opt(v, anchored=True)
    v.set_defaults(func=cmd_import)

    sp = sub.add_parser("versions", help="a flow's versions, newest first")
    sp.add_argument("flow", metavar="FLOW")
    sp.add_argument("--verify", action="store_true", help="check the history's hash chain")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    store_opt(sp, anchored=True)
    sp.set_defaults(func=cmd_versions)

    sp = sub.add_parser("diff", help="what changed between two versions of a flow: the plan "
                        "(effects, gates, nodes, types, skills, SOPs) and the sources")
    sp.add_argument("flow", metavar="FLOW")
    sp.add_argument("a", metavar="V1")
    sp.add_argument("b", metavar="V2")
    sp.add_argument("--format", choices=("text", "json"), default="text")
    sp.add_argument("--semantic-only", action="store_true", help="leave out the source diff")
    store_opt(sp)
    sp.set_defaults(func=cmd_diff)

    sp = sub.add_parser("publish", help="publish an approved version; --from-git FILE.flow: "
                        "record the flow as a draft with the last commit as its message (CI)")
    sp.add_argument("flow", metavar="FLOW|FILE.flow")
    sp.add_argument("ref", metavar="VERSION", nargs="?")
    sp.add_argument("--as", dest="as_user", required=True, metavar="USER")
    sp.add_argument("-m", "--message", default="")
    sp.add_argument("--from-git", action="store_true")
    store_opt(sp, anchored=True)
    sp.set_defaults(func=cmd_publish)

    sp = sub.add_parser("rollback", help="publish a superseded version again (history kept)")
    sp.add_argument("flow", metavar="FLOW")
    sp.add_argument("ref", metavar="VERSION")
    sp.add_argument("--as", dest="as_user", required=True, metavar="USER")
    sp.add_argument("-m", "--message", required=True, help="why")
    store_opt(sp, anchored=True)
    sp.set_defaults(func=cmd_act, action="rollback")


def cmd_publish(args) -> int:
    if args.from_git:
        if args.ref:
            raise CommandError("publish --from-git takes the flow's file, not a version")
        args.file = args.flow
        return cmd_submit(args)
    if not args.ref:
        raise CommandError("publish takes FLOW VERSION (or --from-git FILE.flow)")
    args.action = "publish"
    return cmd_act(args)
