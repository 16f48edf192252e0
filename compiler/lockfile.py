"""`flow.lock`: the skill versions and content hashes each flow of a folder was checked with.

One `flow.lock` per folder, JSON with sorted keys, so it diffs well in review:

    {"format": "flowc.lock/1",
     "flows": {"client_report.flow": {"skills": {"portfolio_stats": {
         "name": "portfolio-stats", "requested": "2.1.0", "version": "2.1.0",
         "sha256": "...", "location": "stdlib:portfolio-stats"}}}}}

A skill from a URL registry (`flowc.toml`'s `[skills] registries`) is recorded with its URL
as its location (`memory://team/skills/greeter/1.2.0`), a local one relative to the flow.

`flowc lock FILE...` writes the entries; `flowc check` fails (F0111) when what a flow resolves
today differs from its entry: a range now resolves to another version, or a shared skill's
content changed (its hash). Which flows are compared (`lock_applies`) is the same in the
CLI and the language server: by default ("auto") every flow its folder's `flow.lock`
records; `--locked` (True) every flow, one without an entry failing too; `--no-locked`
(False) none.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["LOCK_NAME", "LockMode", "lock_applies", "read_lock", "write_lock_entry", "lock_entry_for", "skill_pins"]

LOCK_NAME = "flow.lock"
FORMAT = "flowc.lock/1"


def read_lock(folder: Path) -> dict:
    path = folder / LOCK_NAME
    if not path.is_file():
        return {"format": FORMAT, "flows": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} lock file")
    data.setdefault("flows", {})
    return data


LockMode = bool | str  # True, False or "auto"


def lock_applies(flow_path: Path, mode: LockMode) -> bool:
    """Whether `flowc check` (and the editor) compares this flow with its lock entry."""
    if mode is False:
        return False
    if mode is True:
        return True
    if not (flow_path.parent / LOCK_NAME).is_file():
        return False
    try:
        return lock_entry_for(flow_path) is not None
    except ValueError:
        return True  # a malformed lock file: the check reports it


def lock_entry_for(flow_path: Path) -> dict | None:
    return read_lock(flow_path.parent)["flows"].get(flow_path.name)


def plan_location(path: Path, base: Path) -> str:
    """How plans and locks name a file: `stdlib:REL` in the standard skills, else relative
    to the flow's folder (here, not in the planner: a lock check must not import pydantic)."""
    import os

    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    path = Path(path).resolve()
    try:
        return "stdlib:" + path.relative_to(STDLIB_SKILLS_DIR.resolve()).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, base)).as_posix()


def skill_pins(program) -> dict:
    """What a checked program resolved: alias -> pin, for the lock file."""
    _rel = plan_location
    pins = {}
    for alias, use in sorted(program.skills.items()):
        sv = use.version
        if sv is None:
            continue
        pins[alias] = {"name": sv.name, "requested": str(use.decl.spec.value),
                       "version": sv.version, "sha256": sv.sha256,
                       "location": sv.url or _rel(sv.folder, program.base_dir)}
    return pins


def write_lock_entry(flow_path: Path, program) -> bool:
    """Record the flow's resolved skills; True when the lock file changed."""
    folder = flow_path.parent
    data = read_lock(folder)
    entry = {"skills": skill_pins(program)}
    if data["flows"].get(flow_path.name) == entry:
        return False
    data["flows"][flow_path.name] = entry
    tmp = folder / (LOCK_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(folder / LOCK_NAME)
    return True
