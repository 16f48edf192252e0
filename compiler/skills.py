"""Skill registries: skill folders with a SKILL.md, their versions, and version resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from flowc.contenthash import hash_folder

__all__ = [
    "SkillVersion", "SkillProblem", "SkillRegistry", "parse_version_spec", "normalize_skill_name",
    "hash_folder",
]

_VERSION_DIR = re.compile(r"^\d+\.\d+\.\d+([-+].*)?$")


def normalize_skill_name(name: str) -> str:
    """Skill names match across `-` and `_` (Agent Skills folders use `-`, flows use `_`)."""
    return name.strip().lower().replace("-", "_")


@dataclass(slots=True)
class SkillProblem:
    """A malformed SKILL.md: the file, a 1-based line and a message."""

    path: Path
    line: int
    message: str


@dataclass(slots=True)
class SkillVersion:
    """One version of one skill, as its SKILL.md declares it."""

    name: str
    version: str
    folder: Path
    registry: Path
    description: str = ""
    inputs: dict = field(default_factory=dict)   # name -> type text (may end in "?")
    outputs: dict = field(default_factory=dict)  # deliverable: text/files/fields/memory
    effects: list = field(default_factory=list)
    entry: str | None = None
    frontmatter_line: int = 1
    _hash: str | None = None

    @property
    def skill_md(self) -> Path:
        return self.folder / "SKILL.md"

    @property
    def sha256(self) -> str:
        if self._hash is None:
            self._hash = hash_folder(self.folder)
        return self._hash


def parse_version_spec(spec: str):
    """A `semantic_version.NpmSpec` for a pin or range; raises ValueError when malformed."""
    import semantic_version

    text = spec.strip()
    if text != "*" and not re.fullmatch(r"[\s0-9A-Za-z.^~<>=,*+-]+", text):
        raise ValueError(spec)
    text = re.sub(r"==\s*", "=", text)  # `==2.1.0` is an exact pin, as `2.1.0` and `=2.1.0`
    return semantic_version.NpmSpec(" ".join(p.strip() for p in text.split(",")))


def _read_frontmatter(path: Path) -> tuple[dict | None, SkillProblem | None]:
    from .cache import frontmatter_cache

    cache = frontmatter_cache()
    cached = cache.get(path)
    if cached is not None:
        return cached, None
    data, problem = _parse_frontmatter(path)
    if data is not None:
        cache.put(path, data)
    return data, problem


def _parse_frontmatter(path: Path) -> tuple[dict | None, SkillProblem | None]:
    import yaml

    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return None, SkillProblem(path, 1, "SKILL.md must start with YAML frontmatter (`---`)")
    end = text.find("\n---", 3)
    if end == -1:
        return None, SkillProblem(path, 1, "the YAML frontmatter is never closed with `---`")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
    try:
        data = yaml.load(text[3:end], Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = (mark.line + 1) if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        return None, SkillProblem(path, line, f"the frontmatter is not valid YAML: {problem}")
    if not isinstance(data, dict):
        return None, SkillProblem(path, 2, "the frontmatter must be a YAML mapping")
    return data, None


def _line_of(path: Path, key: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(key + ":"):
            return i
    return 1


def load_skill(folder: Path, registry: Path) -> tuple[SkillVersion | None, SkillProblem | None]:
    """Read one skill version folder."""
    import semantic_version

    md = folder / "SKILL.md"
    data, problem = _read_frontmatter(md)
    if problem:
        return None, problem
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        return None, SkillProblem(md, _line_of(md, "name"),
                                  "`name` must be 1-64 characters of a-z, 0-9, `-` or `_`")
    version = str(data.get("version", "")).strip()
    try:
        semantic_version.Version(version)
    except ValueError:
        return None, SkillProblem(md, _line_of(md, "version"),
                                  f"`version` must be a semver version such as 1.0.0, not {version!r}")
    inputs = data.get("inputs") or {}
    outputs = data.get("outputs") or {}
    if not isinstance(inputs, dict):
        return None, SkillProblem(md, _line_of(md, "inputs"), "`inputs` must map names to types")
    if not isinstance(outputs, dict):
        return None, SkillProblem(md, _line_of(md, "outputs"),
                                  "`outputs` must be a deliverable: text, files, fields, memory")
    for k in outputs:
        if k not in ("text", "files", "fields", "memory"):
            return None, SkillProblem(md, _line_of(md, "outputs"),
                                      f"unknown deliverable part `{k}` in `outputs`")
    effects = data.get("effects") or []
    if isinstance(effects, str):
        effects = [effects]
    sv = SkillVersion(
        name=name, version=version, folder=folder, registry=registry,
        description=str(data.get("description", "")), inputs=dict(inputs),
        outputs=dict(outputs), effects=list(effects),
        entry=data.get("entry"), frontmatter_line=1,
    )
    return sv, None


@dataclass
class SkillRegistry:
    """All skill versions found in an ordered list of registry folders.

    Folders are listed eagerly (cheap); a skill's SKILL.md files are read only when a flow
    asks for that skill.
    """

    roots: list[Path]
    _folders: dict[str, list[tuple[Path, Path]]] | None = None
    _loaded: dict[str, list[SkillVersion]] = field(default_factory=dict)
    problems: dict[str, list[SkillProblem]] = field(default_factory=dict)

    def _listing(self) -> dict[str, list[tuple[Path, Path]]]:
        """normalized name -> [(skill folder, registry root)], in registry order."""
        if self._folders is None:
            folders: dict[str, list[tuple[Path, Path]]] = {}
            for root in self.roots:
                if root.is_dir():
                    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                        if not folder.name.startswith((".", "_")):
                            folders.setdefault(normalize_skill_name(folder.name), []).append(
                                (folder, root))
            self._folders = folders
        return self._folders

    def names(self) -> list[str]:
        return sorted(self._listing())

    def versions(self, name: str) -> list[SkillVersion]:
        key = normalize_skill_name(name)
        if key not in self._loaded:
            found: list[SkillVersion] = []
            for folder, root in self._listing().get(key, []):
                candidates = [folder] if (folder / "SKILL.md").is_file() else []
                candidates += sorted(
                    v for v in folder.iterdir()
                    if v.is_dir() and _VERSION_DIR.match(v.name) and (v / "SKILL.md").is_file()
                )
                for c in candidates:
                    sv, problem = load_skill(c, root)
                    if problem:
                        self.problems.setdefault(key, []).append(problem)
                    elif sv is not None:
                        found.append(sv)
            self._loaded[key] = found
        return self._loaded[key]

    def problems_for(self, name: str) -> list[SkillProblem]:
        self.versions(name)
        return self.problems.get(normalize_skill_name(name), [])

    def resolve(self, name: str, spec) -> SkillVersion | None:
        """The highest version of `name` that `spec` admits (earlier registries win ties)."""
        import semantic_version

        best: SkillVersion | None = None
        best_v = None
        for sv in self.versions(name):
            v = semantic_version.Version(sv.version)
            if v in spec and (best_v is None or v > best_v):
                best, best_v = sv, v
        return best
