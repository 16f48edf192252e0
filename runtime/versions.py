"""Flow versions: a flow's snapshot (its plan and every file the plan was compiled from),
its lifecycle from draft to published, who may move it, and its export as one file.

The snapshot (a *bundle*)
    `{"format": "flowc.version/1", "flow", "entry", "plan_hash", "plan", "files"}`: the
    compiled plan and the text of the files it was built from, at their paths relative to
    their common folder: the flow file, the flows it calls, the SOP documents it imports, its
    `flow.lock` and `flowc.toml`, and the folders of skills it uses from the project (a
    standard-library or registry skill is pinned by its content hash in the plan and found
    again by it). A version is identified by its plan hash (which commits to the sources,
    the SOPs' and skills' hashes), and its bundle by the sha256 of the bundle's canonical
    JSON. Runs of a version run from the bundle written out under the store's folder
    (`versions/FLOW/HASH16/`), never from the working copy: editing or publishing later
    changes no run already started.

The lifecycle
    draft --review--> in_review --approve--> approved --publish--> published --> superseded
                                 --reject--> rejected   (approved --reject--> rejected too)
    superseded --rollback--> published (the flow's published version becomes superseded)
    Roles: `drafter` records a version and asks for its review, `reviewer` approves or
    rejects, `publisher` publishes and rolls back; `admin` holds all three. With separation
    of duties (flowc.toml `[versions] separate_duties`, on by default) the author of a
    version can neither approve nor publish it. Anyone holding one of the roles may comment.
    Every transition is a compare-and-set with its event in the flow's chained history
    (runtime/store/versions.py).

Export and import
    `export_version` writes `{"format": "flowc.version-export/1", "bundle", "bundle_sha256",
    "version": {...}, "history": [...]}`; `import_version` refuses a file whose bundle does
    not hash to its `bundle_sha256`, whose paths leave its folder, whose sources do not
    compile to exactly its plan, or that is over the size bounds, and records it as a draft
    of the target store with its original author (so separation of duties holds across
    environments)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flowc.runtime.store.chain import canonical_json

__all__ = [
    "ACTIONS", "BUNDLE_FORMAT", "EXPORT_FORMAT", "VersionConflict", "VersionError",
    "VersionRefused",
    "allowed_actions", "build_bundle", "bundle_plan", "export_version", "import_version",
    "materialize", "parse_ref", "resolve", "submit", "transition",
]

BUNDLE_FORMAT = "flowc.version/1"
EXPORT_FORMAT = "flowc.version-export/1"
MAX_FILES = 2000
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
ROLES = ("drafter", "reviewer", "publisher")


class VersionError(Exception):
    """A version that cannot be made, found or read: the message says why (one line)."""


class VersionRefused(VersionError):
    """An action this person may not take on this version now."""


class VersionConflict(VersionRefused):
    """The version moved on since the person looked (another acted first, or the ref names
    another version now): nothing was done."""


@dataclass(frozen=True)
class Action:
    name: str
    source: tuple[str, ...]      # the statuses it moves a version from
    target: str
    event: str
    role: str
    not_author: bool             # refused to the version's author under separation of duties
    needs_message: bool = False


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("review", ("draft",), "in_review", "version.review_requested", "drafter", False),
    Action("approve", ("in_review",), "approved", "version.approved", "reviewer", True),
    Action("reject", ("in_review", "approved"), "rejected", "version.rejected", "reviewer", True,
           needs_message=True),
    Action("publish", ("approved",), "published", "version.published", "publisher", True),
    Action("rollback", ("superseded",), "published", "version.rolled_back", "publisher", False,
           needs_message=True),
)}


def _has(roles, role: str) -> bool:
    return role in roles or "admin" in roles


def allowed_actions(version, person: str, roles, *, separate: bool = True,
                    recorded_by: str | None = None) -> list[str]:
    """The actions `person` may take on `version` now (for the pages' buttons);
    `recorded_by`: who recorded it (its `version.submitted` actor: an importer)."""
    return [a.name for a in ACTIONS.values()
            if _refusal(a, version, person, roles, separate, recorded_by) is None]


def _refusal(action: Action, version, person: str, roles, separate: bool,
             recorded_by: str | None = None) -> str | None:
    if version.status not in action.source:
        return (f"{version.flow} v{version.number} is {version.status.replace('_', ' ')}; "
                f"{action.name} takes a version that is "
                + " or ".join(s.replace("_", " ") for s in action.source))
    if not _has(roles, action.role):
        return f"{person} does not hold the role `{action.role}` needed to {action.name}"
    if separate and action.not_author and person == version.author:
        return (f"{person} wrote {version.flow} v{version.number}: its author cannot "
                f"{action.name} it (separation of duties; flowc.toml [versions] "
                "separate_duties)")
    if separate and action.not_author and person == recorded_by:
        # an import names its author from the file: whoever brought it in counts as one
        return (f"{person} recorded {version.flow} v{version.number} (an import): who "
                f"recorded a version cannot {action.name} it (separation of duties; "
                "flowc.toml [versions] separate_duties)")
    return None


def transition(store, flow: str, ref: str, action: str, person: str, roles, *,
               message: str = "", separate: bool = True, seen: str | None = None,
               seen_hash: str | None = None):
    """Take `action` on a version, checked against the person's roles, the version's status
    and its author; the status change and its event commit together. The change is a
    compare-and-set from the status this call read (or `seen`, the status a page showed
    the person): a decision taken on what someone else has changed since is refused.
    `seen_hash`: the plan hash of the version the person was shown; when the ref (`latest`,
    `published`, a prefix) names another version now, the action is refused."""
    from flowc.runtime.store import StatusConflict

    act = ACTIONS.get(action)
    if act is None:
        raise VersionError(f"unknown action `{action}` (one of {', '.join(ACTIONS)})")
    version = resolve(store, flow, ref)
    _as_seen(flow, ref, version, seen, seen_hash)
    submitted = store.version_submission(flow, version.number) if act.not_author else None
    why = _refusal(act, version, person, roles, separate,
                   submitted.actor if submitted is not None else None)
    if why is not None:
        raise VersionRefused(why)
    message = (message or "").strip()
    if act.needs_message and not message:
        raise VersionRefused(f"{action} needs a reason (-m/--message)")
    payload: dict[str, Any] = {"message": message, "hash": version.hash}
    if action == "rollback":
        current = store.published_version(flow)
        payload["from"] = current.number if current else None
    try:
        return store.set_version_status(flow, version.number, (version.status,), act.target,
                                        kind=act.event, actor=person, payload=payload)
    except StatusConflict as e:
        raise VersionConflict(f"{e} now (someone acted on it first)") from None


def _as_seen(flow: str, ref: str, version, seen: str | None, seen_hash: str | None) -> None:
    """VersionConflict when the version is not the one, or not in the status, the person
    was shown."""
    if seen_hash is not None and seen_hash != version.hash:
        raise VersionConflict(f"{flow} {ref} is v{version.number} now, not the version you "
                              "were shown (nothing done: look at it first)")
    if seen is not None and seen != version.status:
        raise VersionConflict(f"{flow} v{version.number} is {version.status} now (someone "
                              f"acted on it first; you saw it {seen})")


def comment(store, flow: str, ref: str, person: str, roles, text: str, *,
            seen_hash: str | None = None) -> None:
    """A review comment on a version (`seen_hash`: the version the person was shown)."""
    version = resolve(store, flow, ref)
    _as_seen(flow, ref, version, None, seen_hash)
    if not any(_has(roles, r) for r in ROLES):
        raise VersionRefused(f"{person} holds none of the roles drafter, reviewer, publisher")
    text = (text or "").strip()
    if not text:
        raise VersionRefused("a comment needs text")
    if len(text) > 10_000:
        raise VersionRefused("a comment is at most 10,000 characters")
    store.add_version_event(flow, "version.comment", person,
                            {"version": version.number, "message": text})


# -- references: "3", "v3", "published", a plan hash (or its first 8+ characters)

def parse_ref(ref: str) -> tuple[str, Any]:
    ref = (ref or "").strip()
    low = ref.lower()
    if low in ("published", "live", "current"):
        return "published", None
    if low in ("latest", "newest"):
        return "latest", None
    digits = low[1:] if low.startswith("v") else low
    if digits.isascii() and digits.isdigit() and len(digits) < 8:
        return "number", int(digits)
    if 8 <= len(low) <= 64 and all(c in "0123456789abcdef" for c in low):
        return "hash", low
    raise VersionError(f"`{ref}` names no version: give a number (3 or v3), `published`, "
                       "`latest` or a plan hash (8 or more hex digits)")


def resolve(store, flow: str, ref: str):
    kind, value = parse_ref(ref)
    if kind == "published":
        found = store.published_version(flow)
    elif kind == "latest":
        found = next(iter(store.list_versions(flow)), None)
    elif kind == "number":
        found = store.get_version(flow, value)
    else:
        matches = [v for v in store.list_versions(flow) if v.hash.startswith(value)]
        if len(matches) > 1:
            raise VersionError(f"`{ref}` is the start of {len(matches)} versions' hashes: "
                               "give more of it")
        found = matches[0] if matches else None
    if found is None:
        known = store.list_versions(flow)
        hint = (f"{flow} has v1..v{known[0].number}" if known else
                f"{flow} has no versions (`flowc version submit FILE.flow`)")
        raise VersionError(f"no version `{ref}` of {flow} ({hint})")
    return found


# -- bundles

MAX_PATH_CHARS = 512  # a version's file path: at most this many characters,
MAX_PATH_PARTS = 24  # this many folders deep, each name at most 200 bytes


def _safe_rel(path: str) -> str:
    p = PurePosixPath(path) if isinstance(path, str) else None
    if p is None or not path or not p.parts or p.is_absolute() or \
            any(part in ("", ".", "..") for part in p.parts) or "\\" in path or \
            "\x00" in path or path != p.as_posix():
        raise VersionError(f"a version's file path must stay inside its folder: {path!r}"[:300])
    if len(path) > MAX_PATH_CHARS or len(p.parts) > MAX_PATH_PARTS or any(
            len(part.encode("utf-8", "surrogatepass")) > 200 for part in p.parts):
        raise VersionError(f"a version's file path is too long or too deep: {path[:80]!r}...")
    return path


def _check_names(names) -> None:
    """Every file path safe, and no file named like another file's folder."""
    names = [_safe_rel(n) for n in names]
    folders = {str(parent) for n in names for parent in PurePosixPath(n).parents} - {"."}
    clash = sorted(folders & set(names))
    if clash:
        raise VersionError(f"the version names `{clash[0][:100]}` both as a file and as a "
                           "folder")


def _json_depth_ok(value: Any, limit: int = 64) -> bool:
    """Whether `value` nests at most `limit` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
    return True


def _inside(names: set[str], base: PurePosixPath, target: str) -> bool:
    """Whether `target` (a path a source names, relative to `base`) is one of the version's
    files or folders."""
    if not target or PurePosixPath(target).is_absolute() or "\\" in target or "\x00" in target:
        return False
    joined = os.path.normpath(str(base / target))
    if joined == "." or joined == ".." or joined.startswith(("../", "/")):
        return joined == "."
    return joined in names or any(n.startswith(joined + "/") for n in names)


def _sources_stay_inside(bundle: dict) -> None:
    """A version is self-contained: every SOP and sub-flow its `.flow` files import is one of
    its own files, and its flowc.toml names no registry but its own folders. Checked on the
    text, before anything is compiled, so an import never makes flowc read, probe or connect
    to anything outside the bundle."""
    from flowc.compiler import syntax as syn
    from flowc.compiler.diagnostics import Diagnostics
    from flowc.compiler.parser import parse
    from flowc.compiler.source import Source

    names = set(bundle["files"])
    for name, entry in bundle["files"].items():
        if not name.endswith(".flow"):
            continue
        text = _file_bytes(entry, name).decode("utf-8", "replace")
        for item in parse(Source(text, name), Diagnostics()).file.items:
            if isinstance(item, (syn.ImportSop, syn.UseFlow)):
                target = item.path.value if isinstance(item.path.value, str) else ""
                if not _inside(names, PurePosixPath(name).parent, target):
                    raise VersionError(f"{name} imports `{target[:200]}`, which is not among "
                                       "the version's files: a version holds all it uses")
    for name, entry in bundle["files"].items():
        if PurePosixPath(name).name != "flowc.toml":
            continue
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            config = tomllib.loads(_file_bytes(entry, name).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise VersionError(f"the version's {name} is not valid TOML: {e}"[:300]) from None
        skills = config.get("skills")
        registries = skills.get("registries", []) if isinstance(skills, dict) else []
        for r in registries if isinstance(registries, list) else [registries]:
            if not isinstance(r, str) or "://" in r or not _inside(
                    names, PurePosixPath(name).parent, r):
                raise VersionError(f"the version's {name} names the skill registry "
                                   f"`{str(r)[:200]}`: an imported version resolves skills "
                                   "from its own files only")


def _collect(flow_file: Path, plan: dict, into: set[Path]) -> None:
    """The files `plan` (compiled from `flow_file`) was built from."""
    base = flow_file.parent
    into.add(flow_file)
    for name in ("flow.lock", "flowc.toml"):
        if (base / name).is_file():
            into.add(base / name)
    for sop in plan.get("sops") or []:
        for doc in sop.get("documents") or []:
            if isinstance(doc, dict) and isinstance(doc.get("path"), str):
                into.add((base / doc["path"]).resolve())
    for skill in plan.get("skills") or []:
        loc = skill.get("location") if isinstance(skill, dict) else None
        if isinstance(loc, str) and not loc.startswith("stdlib:") and "://" not in loc:
            folder = (base / loc).resolve()
            if folder.is_dir():
                for f in sorted(folder.rglob("*")):
                    if f.is_file() and "__pycache__" not in f.parts:
                        into.add(f)
    for sub in plan.get("flows") or []:
        if isinstance(sub, dict) and isinstance(sub.get("path"), str):
            _collect((base / sub["path"]).resolve(), sub.get("plan") or {}, into)


def _file_entry(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _file_bytes(entry: Any, name: str) -> bytes:
    if isinstance(entry, dict) and isinstance(entry.get("text"), str) and len(entry) == 1:
        return entry["text"].encode("utf-8")
    if isinstance(entry, dict) and isinstance(entry.get("base64"), str) and len(entry) == 1:
        try:
            return base64.b64decode(entry["base64"], validate=True)
        except ValueError:
            raise VersionError(f"file {name!r} of the version is not valid base64") from None
    raise VersionError(f"file {name!r} of the version is neither text nor base64")


def compile_plan(flow_file: Path) -> dict:
    from flowc.compiler.api import compile_file

    result = compile_file(flow_file)
    if result.plan is None:
        errors = [d for d in result.diagnostics.items if d.severity == "error"]
        first = errors[0] if errors else None
        where = f": {first.message}" if first else ""
        raise VersionError(f"{flow_file} does not compile ({len(errors)} error(s){where}; "
                           f"`flowc check {flow_file}`)")
    return json.loads(result.plan.to_json())


def build_bundle(flow_file: Path) -> dict:
    """The bundle of the flow in `flow_file` as it is on disk now."""
    flow_file = Path(flow_file).resolve()
    plan = compile_plan(flow_file)
    files: set[Path] = set()
    _collect(flow_file, plan, files)
    missing = sorted(str(f) for f in files if not f.is_file())
    if missing:
        raise VersionError(f"the flow's file {missing[0]} is missing")
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    if len(files) > MAX_FILES:
        raise VersionError(f"the flow uses {len(files)} files; a version holds at most "
                           f"{MAX_FILES}")
    bundle = {"format": BUNDLE_FORMAT, "flow": plan["flow"]["name"],
              "entry": flow_file.relative_to(root).as_posix(), "plan_hash": plan["hash"],
              "plan": plan,
              "files": {f.relative_to(root).as_posix(): _file_entry(f) for f in sorted(files)}}
    if len(canonical_json(bundle).encode("utf-8")) > MAX_BUNDLE_BYTES:
        raise VersionError(f"the flow's files come to more than {MAX_BUNDLE_BYTES >> 20} MiB")
    return bundle


def bundle_sha256(bundle: dict) -> str:
    return hashlib.sha256(canonical_json(bundle).encode("utf-8")).hexdigest()


def _write_tree(bundle: dict, folder: Path) -> None:
    files = bundle.get("files")
    if not isinstance(files, dict) or not files or len(files) > MAX_FILES:
        raise VersionError("a version holds 1 to 2000 files")
    _check_names(files)
    for name, entry in files.items():
        target = folder / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_file_bytes(entry, name))
        except OSError as e:
            raise VersionError(f"the version's file {name[:100]!r} cannot be written: "
                               f"{e.strerror or type(e).__name__}") from None


def check_bundle(bundle: Any) -> dict:
    """Refuse a bundle that is not one, or whose files do not compile to its plan."""
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise VersionError(f"not a flowc version (format {BUNDLE_FORMAT} expected)")
    for key, kind in (("flow", str), ("entry", str), ("plan_hash", str), ("plan", dict),
                      ("files", dict)):
        if not isinstance(bundle.get(key), kind):
            raise VersionError(f"the version's `{key}` is missing or not a {kind.__name__}")
    _safe_rel(bundle["entry"])
    if bundle["entry"] not in bundle["files"]:
        raise VersionError("the version's entry flow is not among its files")
    if not _json_depth_ok(bundle["plan"]):
        raise VersionError("the version's plan nests too deep to be a plan")
    _check_names(bundle["files"])
    _sources_stay_inside(bundle)
    with tempfile.TemporaryDirectory(prefix="flowc-version-") as tmp:
        _write_tree(bundle, Path(tmp))
        try:
            plan = compile_plan(Path(tmp) / bundle["entry"])
        except VersionError as e:
            raise VersionError("the version's sources do not compile: it was changed or made "
                               f"by another flowc ({str(e).replace(tmp + '/', '')})") from None
    if plan["hash"] != bundle["plan_hash"] or canonical_json(plan) != canonical_json(
            bundle["plan"]):
        raise VersionError("the version's sources do not compile to its plan (plan hash "
                           f"{plan['hash'][:12]}, the version says {bundle['plan_hash'][:12]}):"
                           " it was changed")
    if plan["flow"]["name"] != bundle["flow"]:
        raise VersionError(f"the version's flow is {plan['flow']['name']}, not "
                           f"{bundle['flow']}")
    return bundle


def stored_bundle(store, version) -> dict:
    """A version's stored snapshot, read as hostile input (a row can be changed outside
    flowc): VersionError when it is not a readable bundle."""
    text = store.version_bundle(version.flow, version.number)
    try:
        bundle = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        bundle = None
    if not isinstance(bundle, dict) or not isinstance(bundle.get("plan"), dict) \
            or not isinstance(bundle.get("files"), dict):
        raise VersionError(f"{version.flow} v{version.number}'s stored snapshot is not "
                           f"readable: it was changed (`flowc versions {version.flow} "
                           "--verify`)")
    return bundle


def bundle_plan(store, version) -> dict:
    return stored_bundle(store, version)["plan"]


def materialize(store, version, root: Path) -> Path:
    """The version's files written out under `root/versions/FLOW/HASH16/` (once; checked
    against the bundle each time): returns the path of its entry flow file."""
    bundle = stored_bundle(store, version)
    folder = root / "versions" / _safe_rel(version.flow) / version.hash[:16]
    if not isinstance(bundle.get("entry"), str):
        raise VersionError(f"{version.flow} v{version.number}'s stored snapshot names no "
                           "entry file")
    entry = folder / _safe_rel(bundle["entry"])
    if folder.is_dir() and all(
            (folder / name).is_file() and (folder / name).read_bytes() == _file_bytes(e, name)
            for name, e in bundle["files"].items()):
        return entry
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        _write_tree(bundle, tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


# -- recording versions

def submit(store, flow_file: Path, author: str, message: str, *, origin: str | None = None):
    """Record the flow in `flow_file` as it is now as a draft version (VersionExists: the
    flow already has a version with this plan)."""
    bundle = build_bundle(flow_file)
    message = (message or "").strip() or "(no message)"
    return store.add_version(bundle["flow"], bundle["plan_hash"], canonical_json(bundle),
                             bundle_sha256(bundle), author=author, message=message,
                             origin=origin, event={"entry": bundle["entry"],
                                                   "files": sorted(bundle["files"])})


def export_version(store, version) -> str:
    bundle = stored_bundle(store, version)
    history = [{"seq": e.seq, "ts": e.ts, "kind": e.kind, "actor": e.actor,
                "payload": e.payload} for e in store.version_events(version.flow)
               if isinstance(e.payload, dict) and e.payload.get("version") == version.number]
    return canonical_json({
        "format": EXPORT_FORMAT, "bundle": bundle, "bundle_sha256": version.bundle_sha256,
        "version": {"flow": version.flow, "number": version.number, "hash": version.hash,
                    "status": version.status, "author": version.author,
                    "message": version.message, "origin": version.origin,
                    "created_at": version.created_at},
        "history": history}) + "\n"


def import_version(store, data: bytes | str, importer: str):
    """Record an exported version as a draft of this store (its author kept; the import is
    the event's actor)."""
    if len(data) > MAX_BUNDLE_BYTES * 2:
        raise VersionError("the file is too large to be a version export")
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise VersionError(f"not a version export: {e}"[:300]) from None
    except RecursionError:
        raise VersionError("not a version export: its JSON nests too deep") from None
    if not _json_depth_ok(doc):
        raise VersionError("not a version export: its JSON nests too deep")
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise VersionError(f"not a version export (format {EXPORT_FORMAT} expected)")
    meta = doc.get("version")
    bundle = doc.get("bundle")
    if not isinstance(meta, dict) or not isinstance(bundle, dict):
        raise VersionError("the export has no version or bundle")
    if bundle_sha256(bundle) != doc.get("bundle_sha256"):
        raise VersionError("the export's bundle does not hash to its bundle_sha256: it was "
                           "changed")
    check_bundle(bundle)
    author = meta.get("author")
    if not isinstance(author, str) or not author.strip() or len(author) > 200:
        raise VersionError("the export names no author")
    message = meta.get("message") if isinstance(meta.get("message"), str) else ""
    origin = f"import of v{meta.get('number')}" if isinstance(meta.get("number"), int) \
        else "import"
    return store.add_version(bundle["flow"], bundle["plan_hash"], canonical_json(bundle),
                             bundle_sha256(bundle), author=author, message=message[:10_000],
                             origin=origin, recorded_by=importer,
                             event={"imported_by": importer,
                                                   "source_status": str(meta.get("status"))})


def bundle_files(store, version) -> dict[str, str]:
    """The version's files as text (a binary file: a note of its size), for diffs."""
    bundle = stored_bundle(store, version)
    out = {}
    for name, entry in bundle["files"].items():
        if isinstance(entry, dict) and isinstance(entry.get("text"), str):
            out[name] = entry["text"]
        else:
            out[name] = f"(binary, {len(_file_bytes(entry, name))} bytes)\n"
    return out
