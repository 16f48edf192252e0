"""What a model endpoint supports, found with tiny requests, and where the finding is kept.

`probe(config, provider)` asks four things (each a request of a few tokens): does a
`json_schema` response format give an answer that fits; does `tool_choice: "required"` bring a
tool call; is the object form of `tool_choice` accepted; is `parallel_tool_calls` accepted
(the last two only for OpenAI-compatible endpoints). It returns a `Probe`: the findings and the
choices flowc makes from them (`structured_output`, `agent_steps`, `parallel_tool_calls`).

`flowc models check ALIAS --save` keeps a probe in `.flowc/models.json` beside flowc.toml,
keyed by alias and fingerprinted by provider, base URL and model, so a changed configuration
ignores a stale probe (`saved_choice`). A model's "auto" settings read it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowc.config import ModelConfig

from .base import Message, ModelRequest, ModelRequestError, ToolSpec

__all__ = ["Probe", "describe", "fingerprint", "probe", "probe_path", "save_probe", "saved_choice"]

_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string",
                                                       "enum": ["yes", "no"]}},
           "required": ["answer"], "additionalProperties": False}
_TOOL = ToolSpec("get_weather", "The weather in a city.",
                 {"type": "object", "properties": {"city": {"type": "string"}},
                  "required": ["city"], "additionalProperties": False})
_ASK = [Message("user", "What is the weather in Paris? Use the tool.")]


@dataclass
class Probe:
    """One endpoint's findings (name -> (ok, detail)) and the choices made from them."""

    alias: str
    fingerprint: str
    findings: dict[str, tuple[bool | None, str]] = field(default_factory=dict)

    @property
    def choices(self) -> dict[str, Any]:
        f = self.findings
        return {"structured_output": "json_schema" if f["json_schema"][0] else "none",
                "agent_steps": "tools" if f["tool_required"][0] else "json",
                "parallel_tool_calls": f.get("parallel_tool_calls", (True, ""))[0] is not False}

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "checked_at": int(time.time()),
                "findings": {k: {"ok": ok, "detail": d} for k, (ok, d) in self.findings.items()},
                "choices": self.choices}


def fingerprint(config: ModelConfig) -> str:
    """The provider, base URL and model a probe was made against."""
    text = "\n".join((config.provider, config.base_url, config.model))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:160]


def probe(config: ModelConfig, provider: Any) -> Probe:
    """Probe the endpoint of `config` with `provider` (see the module docstring). A failure
    that is no refusal (the server is down, the key is wrong) raises the `ModelError`."""
    out = Probe(config.alias, fingerprint(config))
    small = {"temperature": 0, "max_tokens": 32}
    r = provider.complete(config, ModelRequest(
        [Message("user", "Is the sky blue on a clear day? Answer yes or no.")],
        response_schema=_SCHEMA, schema_name="answer", **small))
    try:
        fits = json.loads(r.text).get("answer") in ("yes", "no")
    except (ValueError, AttributeError):
        fits = False
    out.findings["json_schema"] = (fits, "the answer fits the schema" if fits else
                                   f"the answer does not fit: {r.text[:60]!r}")
    try:
        r = provider.complete(config, ModelRequest(_ASK, tools=[_TOOL], tool_choice="required",
                                                   **small))
        called = bool(r.tool_calls)
        out.findings["tool_required"] = (called, "a tool call came back" if called else
                                         f"text instead of a call: {r.text[:60]!r}")
    except ModelRequestError as e:
        out.findings["tool_required"] = (False, f"refused: {_short(e)}")
    if config.provider == "openai":
        out.findings["tool_choice_object"] = _accepted(provider, config, {
            "tool_choice": {"type": "function", "function": {"name": _TOOL.name}}})
        out.findings["parallel_tool_calls"] = _accepted(provider, config,
                                                        {"parallel_tool_calls": False})
    return out


def _accepted(provider: Any, config: ModelConfig, extra: dict[str, Any]) -> tuple[bool, str]:
    """Whether a tool request with the body keys `extra` is accepted (not answered 4xx)."""
    request = ModelRequest(_ASK, tools=[_TOOL], temperature=0, max_tokens=16)
    body, _ = provider.build_payload(config, request)
    body.update(extra)
    try:
        provider.transport.post(config, provider.url(config), provider.headers(config), body)
    except ModelRequestError as e:
        return False, f"refused: {_short(e)}"
    return True, "accepted"


def probe_path(root: Path) -> Path:
    return root / ".flowc" / "models.json"


def save_probe(root: Path, found: Probe) -> Path:
    """Keep `found` in `.flowc/models.json` under `root` (other aliases' probes stay)."""
    path = probe_path(root)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    data[found.alias] = found.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


_CACHE: dict[tuple[str, int], dict] = {}


def saved_choice(root: Path | None, config: ModelConfig, name: str) -> Any:
    """The saved probe's choice `name` for `config` (None: no probe, or a stale one)."""
    if root is None:
        return None
    path = probe_path(root)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    data = _CACHE.get((str(path), stamp))
    if data is None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        _CACHE[(str(path), stamp)] = data = data if isinstance(data, dict) else {}
    entry = data.get(config.alias)
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(config):
        return None
    return (entry.get("choices") or {}).get(name)


def describe(found: Probe) -> list[str]:
    """The findings and choices as lines of a table."""
    names = {"json_schema": "json_schema response_format fits",
             "tool_required": 'tool_choice "required" brings a call',
             "tool_choice_object": "tool_choice object form accepted",
             "parallel_tool_calls": "parallel_tool_calls accepted"}
    lines = [f"{names[k]:<40} {'yes' if ok else 'no':<4} {d}"
             for k, (ok, d) in found.findings.items()]
    lines.append("")
    lines += [f"{k} = {json.dumps(v)}" for k, v in found.choices.items()]
    return lines



