"""Finding a pinned skill's folder at run time, fetching it from a URL registry if need be.

A plan pins each skill by name, version and content hash; its `location` is `stdlib:NAME/..`,
a path relative to the flow, or (for a skill from a URL registry) a URL or the path of the
compiler's cached copy. A run may happen on another machine, or after the cache was cleared:
then the version is fetched again into the local content-addressed cache
(`~/.cache/flowc/skills/NAME/VERSION-SHA16`, `$FLOWC_SKILL_CACHE` to move it) from the URL, or
from the registries of the project's `flowc.toml`, and its hash is checked against the pin
before anything of it is used.
"""

from __future__ import annotations

from pathlib import Path

from flowc.compiler.skills import (
    RegistryError,
    configured_registries,
    hash_folder,
    is_url,
    materialize,
    skill_cache_root,
)

__all__ = ["SkillFetchError", "skill_folder"]


class SkillFetchError(Exception):
    """A pinned skill that cannot be found or fetched: the message says where it was sought."""


def _cached(name: str, version: str, sha256: str) -> Path | None:
    hit = skill_cache_root() / name / f"{version}-{sha256[:16]}"
    return hit if hit.is_dir() and hash_folder(hit) == sha256 else None


def skill_folder(pin, base: Path) -> Path:
    """The local folder holding exactly the pinned version (checked by the caller too)."""
    from flowc.stdlib_skills import STDLIB_SKILLS_DIR

    loc = pin.location
    if loc.startswith("stdlib:"):
        return STDLIB_SKILLS_DIR / loc[len("stdlib:"):]
    if is_url(loc):
        try:
            return materialize(loc, pin.name, pin.version, expect=pin.sha256)[0]
        except RegistryError as e:
            raise SkillFetchError(str(e)) from None
    local = (Path(base) / loc).resolve()
    if local.is_dir():
        return local
    hit = _cached(pin.name, pin.version, pin.sha256)
    if hit is not None:
        return hit
    # a URL-registry skill whose cached copy is gone: fetch it again from the project's registries
    tried, problems = [], []
    for root in configured_registries(Path(base)):
        if not is_url(root) or getattr(root, "error", None):
            continue
        for folder in dict.fromkeys((pin.name, pin.name.replace("-", "_"))):
            url = f"{str(root).rstrip('/')}/{folder}/{pin.version}"
            tried.append(url)
            try:
                return materialize(url, pin.name, pin.version, expect=pin.sha256)[0]
            except RegistryError as e:
                problems.append(str(e))
    if tried:
        # a copy that is there but differs says more than a name that is not there
        why = next((p for p in problems if "does not match its pin" in p), problems[0])
        raise SkillFetchError(f"skill {pin.name} {pin.version} is not in the local cache and "
                              f"could not be fetched again: {why}")
    return local  # the engine reports it missing
