"""Skill registries: skill folders with a SKILL.md, their versions, and version resolution.

A registry is a local folder or an fsspec URL (`file://`, `memory://`, `s3://`, ...): inside,
`NAME/SKILL.md` (one version) or `NAME/VERSION/SKILL.md` (immutable published versions).
Registries are searched in order (`--skills` folders, the project's `skills/`, the registries
of `flowc.toml`, `stdlib_skills/`); a range resolves to the highest version found in any of
them, and an earlier registry wins a tie, so a project can shadow a standard skill's version.
A URL registry's SKILL.md files are read to resolve; the version chosen is copied into a local
content-addressed cache (`~/.cache/flowc/skills/NAME/VERSION-SHA`), which is what is hashed,
pinned, staged and run. A registry that cannot be read fails every skill lookup with a clear
problem (resolution must not silently depend on which registries happened to answer).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flowc.contenthash import hash_folder

__all__ = [
    "SkillVersion", "SkillProblem", "SkillRegistry", "parse_version_spec", "normalize_skill_name",
    "hash_folder", "RegistryURL", "configured_registries", "is_url", "skill_cache_root",
    "materialize", "hash_remote", "RegistryError", "registry_fs",
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
    folder: Path           # local; for a URL registry, the cache copy once materialized
    registry: Path | str
    description: str = ""
    inputs: dict = field(default_factory=dict)   # name -> type text (may end in "?")
    outputs: dict = field(default_factory=dict)  # deliverable: text/files/fields/memory
    effects: list = field(default_factory=list)
    entry: str | None = None
    frontmatter_line: int = 1
    packages: list = field(default_factory=list)  # pure-Python packages the entry imports
    url: str | None = None   # the version's folder in a URL registry
    _hash: str | None = None
    _md: Path | None = None

    @property
    def skill_md(self) -> Path:
        return self._md or self.folder / "SKILL.md"

    @property
    def location(self) -> str:
        """Where this version comes from: its URL, or its local folder."""
        return self.url or str(self.folder)

    def materialize(self) -> Path:
        """The version's complete local folder (a URL registry's copy is fetched into the
        content-addressed cache); raises RegistryError when the registry cannot be read."""
        if self.url is not None and self._hash is None:
            self.folder, self._hash = materialize(self.url, self.name, self.version)
        return self.folder

    @property
    def sha256(self) -> str:
        if self._hash is None:
            self.materialize()
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


def _parse_frontmatter(path: Path, text: str | None = None) -> tuple[dict | None,
                                                                    SkillProblem | None]:
    import yaml

    if text is None:
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


def load_skill(folder: Path, registry: Path | str, md: Path | None = None,
               url: str | None = None) -> tuple[SkillVersion | None, SkillProblem | None]:
    """Read one skill version folder (`md`: its SKILL.md when read from a URL registry)."""
    import semantic_version

    md = md or folder / "SKILL.md"
    data, problem = _read_frontmatter(md) if url is None else _parse_frontmatter(md)
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
    packages = data.get("packages", data.get("requires")) or []
    if isinstance(packages, str):
        packages = packages.replace(",", " ").split()
    if not isinstance(packages, list) or not all(
            isinstance(p, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", p)
            for p in packages):
        return None, SkillProblem(md, _line_of(md, "packages") if "packages" in data else
                                  _line_of(md, "requires"),
                                  "`packages` must be a list of Python package names (the "
                                  "pure-Python wheels the skill's commands import)")
    sv = SkillVersion(
        name=name, version=version, folder=folder, registry=registry,
        description=str(data.get("description", "")), inputs=dict(inputs),
        outputs=dict(outputs), effects=list(effects),
        entry=data.get("entry"), frontmatter_line=1, packages=list(packages), url=url,
        _md=md if url is not None else None,
    )
    return sv, None


# ---- URL registries ---------------------------------------------------------------------------


class RegistryError(Exception):
    """A skill registry that cannot be read or written: the message names it and the cause."""


class RegistryURL(str):
    """A registry root given as a URL in `flowc.toml` (`config`/`line`: where it was set);
    `error` is set when the configuration itself is broken (then `self` is the config path)."""

    config: Path | None = None
    line: int = 1
    error: str | None = None

    @classmethod
    def make(cls, url: str, config: Path | None = None, line: int = 1,
             error: str | None = None) -> RegistryURL:
        r = cls(url)
        r.config, r.line, r.error = config, line, error
        return r


def is_url(root) -> bool:
    return isinstance(root, str) and "://" in root


def skill_cache_root() -> Path:
    """Where URL-registry skills are copied: `$FLOWC_SKILL_CACHE`, else flowc's cache."""
    env = os.environ.get("FLOWC_SKILL_CACHE", "").strip()
    if env:
        return Path(env)
    from .cache import cache_dir

    return cache_dir() / "skills"


def registry_fs(url: str):
    """(filesystem, path) for a URL, or a RegistryError naming the cause."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ValueError as e:  # fsspec: "Protocol not known: foo"
        known = ", ".join(sorted(p for p in fsspec.available_protocols()
                                 if p in ("file", "memory", "s3", "gs", "az", "http", "https",
                                          "sftp", "ssh", "github", "ftp", "smb", "hdfs")))
        raise RegistryError(f"`{url}`: {e} (known protocols include: {known})") from None
    except ImportError as e:  # a protocol whose implementation is not installed
        raise RegistryError(f"`{url}`: {e}") from None
    except Exception as e:  # any fsspec implementation's own failure
        raise RegistryError(f"`{url}`: {type(e).__name__}: {e}") from None


def _remote_files(fs, path: str) -> dict[str, str]:
    """relative name -> full path of every file under `path` (no `__pycache__`)."""
    out = {}
    base = path.rstrip("/")
    for full in sorted(fs.find(base)):
        rel = full[len(base):].lstrip("/") if full.startswith(base) else full.rsplit("/", 1)[-1]
        if rel and "__pycache__" not in rel.split("/"):
            out[rel] = full
    return out


def hash_remote(url: str) -> str | None:
    """The `hash_folder` hash of a folder at a URL, or None when nothing is there."""
    fs, path = registry_fs(url)
    if not fs.isdir(path):
        return None
    h = hashlib.sha256()
    for rel, full in _remote_files(fs, path).items():
        h.update(rel.encode() + b"\0" + hashlib.sha256(fs.cat_file(full)).digest())
    return h.hexdigest()


def materialize(url: str, name: str, version: str, expect: str | None = None) -> tuple[Path, str]:
    """Copy the skill version folder at `url` into the content-addressed cache
    (`NAME/VERSION-SHA16`); returns (folder, sha256). With `expect`, a copy whose hash
    differs is refused (RegistryError): the registry's content changed since it was pinned."""
    cache = skill_cache_root()
    if expect:
        hit = cache / name / f"{version}-{expect[:16]}"
        if hit.is_dir() and hash_folder(hit) == expect:
            return hit, expect  # already fetched and still intact
    try:
        fs, path = registry_fs(url)
        files = _remote_files(fs, path)
        if not files:
            raise RegistryError(f"`{url}` holds no files")
        (cache / name).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=cache / name))
        try:
            for rel, full in files.items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(fs.cat_file(full))
            digest = hash_folder(tmp)
            if expect and digest != expect:
                raise RegistryError(
                    f"skill {name} {version} at {url} does not match its pin (sha256 "
                    f"{digest[:12]}, pinned {expect[:12]}): the shared skill changed; refusing "
                    "to use it")
            final = cache / name / f"{version}-{digest[:16]}"
            if final.is_dir() and hash_folder(final) != digest:
                shutil.rmtree(final)  # a damaged copy: replaced
            try:
                tmp.rename(final)
            except OSError:  # another process put the same content there first
                pass
            return final, digest
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except RegistryError:
        raise
    except Exception as e:  # any fsspec implementation's own failure
        raise RegistryError(f"cannot read skill {name} {version} from `{url}`: "
                            f"{type(e).__name__}: {e}") from None


def _config_line(path: Path, value: str) -> int:
    """The line of `flowc.toml` that names a registry (else the `registries` line, else 1)."""
    fallback = 1
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    for i, line in enumerate(lines, 1):
        if f'"{value}"' in line or f"'{value}'" in line:
            return i
        if line.strip().startswith("registries"):
            fallback = i
    return fallback


class ConfiguredFolder(type(Path())):
    """A registry folder named in `flowc.toml` (so a missing one is reported there)."""

    config: Path | None = None
    line: int = 1


def configured_registries(base_dir: Path) -> list:
    """The registries `flowc.toml` names for a flow in `base_dir`, in order: local folders as
    ConfiguredFolder, URLs as RegistryURL; a broken configuration as one RegistryURL whose
    `error` says what is wrong."""
    from flowc.config import ConfigError, find_config, load_config

    try:
        cfg = load_config(base_dir)
    except ConfigError as e:
        try:
            path = find_config(base_dir)
        except ConfigError:
            path = None
        return [RegistryURL.make(str(path or "flowc.toml"), path, 1, str(e))]
    out: list = []
    for r in cfg.registries:
        line = _config_line(cfg.path, r) if cfg.path else 1
        if is_url(r):
            out.append(RegistryURL.make(r, cfg.path, line))
        else:
            folder = ConfiguredFolder(r)
            folder.config, folder.line = cfg.path, line
            out.append(folder)
    return out


def _where(root) -> tuple[Path, int]:
    """The local file a registry problem points into: the `flowc.toml` line that names the
    registry; for a registry given in code, a note file in the cache naming it."""
    config = getattr(root, "config", None)
    if config is not None and Path(config).is_file():
        return Path(config), getattr(root, "line", 1)
    note = skill_cache_root() / ".index" / "registries.txt"
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(f"skill registry: {root}\n", encoding="utf-8")
    return note, 1


@dataclass
class SkillRegistry:
    """All skill versions found in an ordered list of registries (folders or URLs).

    Folders are listed eagerly (cheap); a skill's SKILL.md files are read only when a flow
    asks for that skill. URL registries are listed the same way through fsspec.
    """

    roots: list
    _folders: dict[str, list[tuple[object, object]]] | None = None
    _loaded: dict[str, list[SkillVersion]] = field(default_factory=dict)
    problems: dict[str, list[SkillProblem]] = field(default_factory=dict)
    broken: list[SkillProblem] = field(default_factory=list)  # registries that cannot be read

    def _listing(self) -> dict[str, list[tuple[object, object]]]:
        """normalized name -> [(skill folder or URL, registry root)], in registry order."""
        if self._folders is None:
            folders: dict[str, list[tuple[object, object]]] = {}
            seen = set()
            for root in self.roots:
                if str(root) in seen:  # e.g. `--skills skills` and the project's skills/
                    continue
                seen.add(str(root))
                if isinstance(root, RegistryURL) and root.error:
                    self._broken(root, root.error)
                elif is_url(root):
                    self._list_url(root, folders)
                elif Path(root).is_dir():
                    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
                        if not folder.name.startswith((".", "_")):
                            folders.setdefault(normalize_skill_name(folder.name), []).append(
                                (folder, root))
                elif isinstance(root, ConfiguredFolder):
                    self._broken(root, "no such folder")
            self._folders = folders
        return self._folders

    def _broken(self, root, message: str) -> None:
        text = message if getattr(root, "error", None) else \
            f"skill registry `{root}` cannot be read: {message}"
        self.broken.append(SkillProblem(*_where(root), text))

    def _list_url(self, root: str, folders: dict) -> None:
        try:
            fs, path = registry_fs(root)
            entries = fs.ls(path, detail=True)
        except RegistryError as e:
            self._broken(root, str(e).split(": ", 1)[-1])
            return
        except FileNotFoundError:
            self._broken(root, "it does not exist")
            return
        except Exception as e:  # network, permissions, any implementation's error
            self._broken(root, f"{type(e).__name__}: {e}")
            return
        for entry in sorted(entries, key=lambda e: e["name"]):
            base = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry.get("type") == "directory" and not base.startswith((".", "_")):
                folders.setdefault(normalize_skill_name(base), []).append(
                    (root.rstrip("/") + "/" + base, root))

    def names(self) -> list[str]:
        return sorted(self._listing())

    def versions(self, name: str) -> list[SkillVersion]:
        key = normalize_skill_name(name)
        if key not in self._loaded:
            found: list[SkillVersion] = []
            listing = self._listing()
            if self.broken:  # resolution would depend on which registries answered
                self._loaded[key] = []
                return []
            for folder, root in listing.get(key, []):
                if is_url(folder):
                    self._load_url(key, str(folder), root, found)
                    continue
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

    def _load_url(self, key: str, url: str, root, found: list) -> None:
        """The versions of one skill in a URL registry: each SKILL.md read (and kept in the
        cache's index, so a problem can point into it); folders fetched only when chosen."""
        try:
            fs, path = registry_fs(url)
            entries = fs.ls(path, detail=True)
            candidates = []
            names = {e["name"].rstrip("/").rsplit("/", 1)[-1]: e for e in entries}
            if names.get("SKILL.md", {}).get("type") == "file":
                candidates.append(url)
            for base, e in sorted(names.items()):
                if e.get("type") == "directory" and _VERSION_DIR.match(base) and \
                        fs.isfile(f"{path.rstrip('/')}/{base}/SKILL.md"):
                    candidates.append(f"{url}/{base}")
            for c in candidates:
                text = fs.cat_file(registry_fs(c)[1].rstrip("/") + "/SKILL.md")
                index = skill_cache_root() / ".index" / hashlib.sha256(c.encode()).hexdigest()[:24]
                index.mkdir(parents=True, exist_ok=True)
                md = index / "SKILL.md"
                if not md.is_file() or md.read_bytes() != text:
                    md.write_bytes(text)
                sv, problem = load_skill(index, root, md=md, url=c)
                if problem:
                    self.problems.setdefault(key, []).append(problem)
                elif sv is not None:
                    found.append(sv)
        except RegistryError as e:
            self.problems.setdefault(key, []).append(SkillProblem(*_where(root), str(e)))
        except Exception as e:  # network, permissions, any implementation's error
            self.problems.setdefault(key, []).append(SkillProblem(
                *_where(root), f"skill registry `{root}` cannot be read at `{url}`: "
                f"{type(e).__name__}: {e}"))

    def problems_for(self, name: str) -> list[SkillProblem]:
        self.versions(name)
        return self.broken + self.problems.get(normalize_skill_name(name), [])

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
