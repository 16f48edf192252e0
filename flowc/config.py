"""The project configuration: `flowc.toml`, found in the flow's folder or the nearest parent.

Flows name models by alias (`model "default"`); the keys, endpoints and prices live here, so a
flow never holds a secret. Shared by the compiler (skill registries) and the runtime (models,
prices, telemetry).

```toml
[models.default]
provider    = "openai"                      # openai (any compatible endpoint) | anthropic
base_url    = "https://api.openai.com/v1"   # Ollama, vLLM, llama.cpp, LiteLLM, Azure, ...
model       = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"              # the key is read from this variable, never stored
timeout     = 60                            # seconds per request
max_retries = 4                             # on 429, 5xx and connection errors
price       = { input = 0.15, output = 0.60 }   # USD per million tokens

[skills]
registries = ["/shared/skills", "s3://bucket/skills"]   # fsspec URLs, after ./skills

[telemetry]
exporter = "otlp"                            # off (default) | console | otlp
endpoint = "http://localhost:4318"

[files]
protocols = ["file", "memory", "s3"]         # fsspec protocols of files people supply
max_mb = 100                                 # the largest file staged into a sandbox

[values]
max_field_kb = 1024                          # the largest value of one input, form field or
                                             # answer a person gives (its JSON), default 1 MiB

[audit]
anchor = "sftp://audit@vault.example/heads.jsonl"  # where run heads are appended (a file
                                                   # path is relative to this flowc.toml)
```

`[files] protocols` is the allowlist for files a person hands to a run (`--input f=@FILE`, a
form's file field, an answer): `file` (local files) by default. A file a node produced is
never named by a URL at all: it is a handle the runtime minted (docs/runtime.md, "Files are
capabilities").
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = ["CONFIG_NAME", "ConfigError", "ModelConfig", "ProjectConfig", "check_settings",
           "find_config", "load_config", "PROVIDERS", "DEFAULT_FILE_PROTOCOLS",
           "DEFAULT_MAX_FILE_BYTES", "DEFAULT_MAX_FIELD_BYTES"]

CONFIG_NAME = "flowc.toml"
PROVIDERS = ("openai", "anthropic")
_DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
_DEFAULT_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_FILE_PROTOCOLS = ("file",)
DEFAULT_MAX_FILE_BYTES = 100 * 2**20
DEFAULT_MAX_FIELD_BYTES = 2**20
_FILES_KEYS = ("protocols", "max_mb")
_PROTOCOL = re.compile(r"[a-z][a-z0-9+.-]*")
_MODEL_KEYS = {"provider", "base_url", "model", "api_key_env", "timeout", "max_retries", "price",
               "headers", "max_tokens", "structured_output", "agent_steps",
               "parallel_tool_calls", "reask_temperature"}
STRUCTURED_OUTPUT = ("auto", "json_schema", "none")
AGENT_STEPS = ("auto", "tools", "json")


class ConfigError(ValueError):
    """A bad `flowc.toml`: the message names the file and the setting."""


@dataclass(frozen=True)
class ModelConfig:
    alias: str
    provider: str
    model: str
    base_url: str
    api_key_env: str | None
    timeout: float = 60.0
    max_retries: int = 4
    price_input: float = 0.0    # USD per million prompt tokens
    price_output: float = 0.0   # USD per million completion tokens
    headers: dict[str, str] = field(default_factory=dict)
    max_tokens: int | None = None
    # capabilities: "auto" is what `flowc models check --save` found, else the runtime's own
    structured_output: str = "auto"     # "auto" | "json_schema" | "none"
    agent_steps: str = "auto"           # "auto" | "tools" | "json"
    parallel_tool_calls: bool = True    # send `parallel_tool_calls: false` with tools
    reask_temperature: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_input + completion_tokens * self.price_output) / 1e6

    def api_key(self) -> str | None:
        """The key from the environment; None when the model needs none (`api_key_env = ""`)."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None


@dataclass(frozen=True)
class ProjectConfig:
    path: Path | None
    models: dict[str, ModelConfig] = field(default_factory=dict)
    registries: tuple[str, ...] = ()
    telemetry: dict[str, Any] = field(default_factory=dict)
    file_protocols: tuple[str, ...] = DEFAULT_FILE_PROTOCOLS  # [files] protocols
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES              # [files] max_mb
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES            # [values] max_field_kb
    audit_anchor: str | None = None                           # [audit] anchor
    separate_duties: bool = True                              # [versions] separate_duties
    published_only: bool = False                              # [versions] published_only

    @property
    def root(self) -> Path | None:
        return self.path.parent if self.path else None

    def model(self, alias: str) -> ModelConfig:
        if alias in self.models:
            return self.models[alias]
        where = str(self.path) if self.path else f"no {CONFIG_NAME} was found"
        known = ", ".join(sorted(self.models)) or "none"
        raise ConfigError(f"unknown model `{alias}` ({where}; models configured: {known})")


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """`$FLOWC_CONFIG` if set, else the nearest `flowc.toml` at or above `start` (a file or
    folder; default: the working directory)."""
    env = os.environ.get("FLOWC_CONFIG", "").strip()
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"FLOWC_CONFIG names {env}, which is not a file")
        return path
    here = Path(start) if start is not None else Path.cwd()
    here = here.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _number(where: str, key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where}: `{key}` must be a non-negative number, not {value!r}")
    return kind(value)


def check_settings(where: str, raw: Mapping[str, Any], known: Iterable[str]) -> None:
    """`ConfigError` naming the first (by name) setting of the table `raw` not in `known`; the
    message lists `known` in the order given."""
    known = list(known)
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown setting `{unknown[0]}` (settings: "
                          f"{', '.join(known)})")


def _model(path: Path, alias: str, raw: Any) -> ModelConfig:
    where = f"{path}: [models.{alias}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_settings(where, raw, sorted(_MODEL_KEYS))
    provider = raw.get("provider", "openai")
    if provider not in PROVIDERS:
        raise ConfigError(f"{where}: unknown provider `{provider}` (providers: "
                          f"{', '.join(PROVIDERS)})")
    if not isinstance(raw.get("model"), str) or not raw["model"]:
        raise ConfigError(f"{where}: `model` (the provider's model name) is required")
    price = raw.get("price", {})
    if not isinstance(price, dict) or set(price) - {"input", "output"}:
        raise ConfigError(f"{where}: `price` must be {{ input = USD, output = USD }} per million "
                          "tokens")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{where}: `headers` must be a table of strings")
    key_env = raw.get("api_key_env", _DEFAULT_KEYS[provider])
    if not isinstance(key_env, str):
        raise ConfigError(f"{where}: `api_key_env` must be the name of an environment variable")
    max_tokens = raw.get("max_tokens")
    for key, allowed in (("structured_output", STRUCTURED_OUTPUT), ("agent_steps", AGENT_STEPS)):
        if raw.get(key, "auto") not in allowed:
            raise ConfigError(f"{where}: `{key}` must be one of "
                              f"{', '.join(repr(a) for a in allowed)}, not {raw[key]!r}")
    if not isinstance(raw.get("parallel_tool_calls", True), bool):
        raise ConfigError(f"{where}: `parallel_tool_calls` must be true or false")
    reask = raw.get("reask_temperature")
    return ModelConfig(
        alias=alias, provider=provider, model=raw["model"],
        base_url=str(raw.get("base_url", _DEFAULT_URLS[provider])).rstrip("/"),
        api_key_env=key_env or None,
        timeout=_number(where, "timeout", raw.get("timeout", 60), float),
        max_retries=_number(where, "max_retries", raw.get("max_retries", 4), int),
        price_input=_number(where, "price.input", price.get("input", 0), float),
        price_output=_number(where, "price.output", price.get("output", 0), float),
        headers=dict(headers),
        max_tokens=None if max_tokens is None else _number(where, "max_tokens", max_tokens, int),
        structured_output=raw.get("structured_output", "auto"),
        agent_steps=raw.get("agent_steps", "auto"),
        parallel_tool_calls=raw.get("parallel_tool_calls", True),
        reask_temperature=None if reask is None else _number(where, "reask_temperature", reask,
                                                             float),
    )


_LOADED: dict[tuple[str, int, int], ProjectConfig] = {}


def load_config(start: str | os.PathLike[str] | None = None) -> ProjectConfig:
    """The project configuration for a flow at `start` (empty when there is no flowc.toml).
    A file read once is not parsed again until it changes (size and mtime)."""
    path = find_config(start)
    if path is None:
        return ProjectConfig(None)
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED[key] = _load(path)
    return _LOADED[key]


def _load(path: Path) -> ProjectConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    unknown = sorted(set(raw) - {"models", "skills", "telemetry", "files", "values",
                                    "audit", "versions"})
    if unknown:
        raise ConfigError(f"{path}: unknown section `[{unknown[0]}]` (sections: models, skills, "
                          "telemetry, files, values, audit, versions)")
    models_raw = raw.get("models", {})
    if not isinstance(models_raw, dict):
        raise ConfigError(f"{path}: `models` must be a table of [models.ALIAS] tables")
    models = {alias: _model(path, alias, m) for alias, m in models_raw.items()}
    skills = raw.get("skills", {})
    registries = skills.get("registries", []) if isinstance(skills, dict) else None
    if not isinstance(registries, list) or not all(isinstance(r, str) for r in registries):
        raise ConfigError(f"{path}: [skills] registries must be a list of folder paths or "
                          "fsspec URLs")
    resolved = []
    for r in registries:
        if "://" not in r and not os.path.isabs(r):
            r = str((path.parent / r).resolve())   # relative to the config file
        resolved.append(r)
    telemetry = raw.get("telemetry", {})
    if not isinstance(telemetry, dict):
        raise ConfigError(f"{path}: [telemetry] must be a table")
    protocols, max_bytes = _files(path, raw.get("files", {}))
    return ProjectConfig(path, models, tuple(resolved), dict(telemetry), protocols, max_bytes,
                         _values(path, raw.get("values", {})), _audit(path, raw.get("audit", {})),
                         *_versions(path, raw.get("versions", {})))


def _values(path: Path, raw: Any) -> int:
    """`[values] max_field_kb`: the largest value (its JSON, in KiB) a person may give for one
    input, form field or answer."""
    where = f"{path}: [values]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_settings(where, raw, ("max_field_kb",))
    kb = _number(where, "max_field_kb", raw.get("max_field_kb", DEFAULT_MAX_FIELD_BYTES / 1024),
                 float)
    return max(1, int(kb * 1024))


def _versions(path: Path, raw: Any) -> tuple[bool, bool]:
    """`[versions] separate_duties` (default true: the author of a version can neither approve
    nor publish it) and `published_only` (default false: `flowc serve` and `flowc worker` run
    a flow that has no published version from its file; true: they refuse it)."""
    where = f"{path}: [versions]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_settings(where, raw, ("separate_duties", "published_only"))
    out = []
    for key, default in (("separate_duties", True), ("published_only", False)):
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: `{key}` must be true or false")
        out.append(value)
    return out[0], out[1]


def _audit(path: Path, raw: Any) -> str | None:
    """`[audit] anchor`: the file or fsspec URL run heads are appended to (a plain path is
    relative to the flowc.toml)."""
    where = f"{path}: [audit]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_settings(where, raw, ("anchor",))
    anchor = raw.get("anchor")
    if anchor is None:
        return None
    if not isinstance(anchor, str) or not anchor.strip():
        raise ConfigError(f"{where}: `anchor` must be a file path or fsspec URL")
    if "://" not in anchor and not os.path.isabs(anchor):
        anchor = str((path.parent / anchor).resolve())
    return anchor


def _files(path: Path, raw: Any) -> tuple[tuple[str, ...], int]:
    """`[files]`: the protocols allowed for files people supply, and the size cap."""
    where = f"{path}: [files]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_settings(where, raw, _FILES_KEYS)
    protocols = raw.get("protocols", list(DEFAULT_FILE_PROTOCOLS))
    if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
        raise ConfigError(f"{where} protocols must be a list of fsspec protocol names, "
                          'e.g. ["file", "s3"]')
    for p in protocols:
        if not _PROTOCOL.fullmatch(p):
            raise ConfigError(f"{where}: `{p}` is not a protocol name (e.g. file, memory, s3)")
    max_mb = _number(where, "max_mb", raw.get("max_mb", DEFAULT_MAX_FILE_BYTES / 2**20), float)
    return tuple(dict.fromkeys(protocols)), max(1, int(max_mb * 2**20))
