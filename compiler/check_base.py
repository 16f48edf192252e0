"""The checker's vocabulary: node properties, gate and ask arguments, options, built-in
functions, the expression context `_Ctx`, and the small pure helpers its passes share."""

from __future__ import annotations

import json
from pathlib import Path

from . import syntax as s
from . import types as t

REPLY = t.DeliverableT("Reply", (t.PartT("text", "text", t.STR),
                                 t.PartT("memory", "memory", t.MEMORY)))
COMMAND_RESULT = t.DeliverableT("CommandResult", (
    t.PartT("stdout", "text", t.STR), t.PartT("stderr", "field", t.STR),
    t.PartT("exit_code", "field", t.INT)))
GATE_OUTCOMES = {"approve": "approved", "edit": "edited", "reject": "rejected"}
EXTRACT_OUTCOMES = ("extracted", "fallback")
APPROVING = frozenset({"approved", "edited"})
MATCH_TERMINALS = {"stop", "fail"}

_PROPS = {
    "llm": {"prompt": "template", "system": "template", "context": "nodes", "sops": "sops",
            "model": "str", "temperature": "float", "max_tokens": "int"},
    "agent": {"goal": "template", "instructions": "template", "context": "nodes",
              "sops": "sops", "skills": "skills", "model": "str", "max_steps": "int",
              "temperature": "float", "max_tokens": "int"},
    "extract": {"from": "source", "fallback": "text", "instructions": "template",
                "model": "str"},
}
_REQUIRED_PROPS = {"llm": ("prompt",), "agent": ("goal",), "extract": ("from", "fallback")}
_GATE_ARGS = ("to", "show", "edit", "actions", "timeout", "escalate", "when", "title",
              "message")
_ASK_ARGS = ("to", "question", "timeout", "choices")
_OPTIONS = {
    "timeout": "duration", "retry": "int", "hosts": "strlist", "memory_limit": "str",
    "isolation": "str",
}
_SANDBOXED = {"code", "command", "skill"}
_RESERVED = {"true", "false", "null", "not", "and", "or", "in", "else"}
_BUILTINS = {
    # name: (arg count, result type or None for "same as arg")
    "len": 1, "lower": 1, "upper": 1, "trim": 1, "join": 2, "role": 1, "user": 1,
}


_SIGNATURES = {
    "len": "len(list_map_or_text)", "lower": "lower(text)", "upper": "upper(text)",
    "trim": "trim(text)", "join": 'join(list_of_text, ", ")', "role": 'role("name")',
    "user": 'user("name")',
}


def _ir_key(ir) -> str:
    """An expression's IR as text, to compare two expressions."""
    return json.dumps(ir, sort_keys=True)



class _Ctx:
    """Where an expression is being checked: which names it may use, and what it depends on."""

    __slots__ = ("allow_sop", "deps", "locals", "optional")

    def __init__(self, locals_: dict[str, t.Type] | None = None, allow_sop: bool = False):
        self.deps: dict[str, bool] = {}
        self.optional = 0
        self.locals = locals_ or {}
        self.allow_sop = allow_sop

    def add_dep(self, name: str) -> None:
        required = self.optional == 0
        self.deps[name] = self.deps.get(name, False) or required



def _is_semver(text: str) -> bool:
    import semantic_version

    try:
        semantic_version.Version(text)
        return True
    except ValueError:
        return False


def _display_path(path: Path) -> str:
    """A path as diagnostics show it: relative to the working folder when inside it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _kind_of(body) -> str:
    if isinstance(body, s.PropNode):
        return body.kind
    return {
        s.SkillCall: "skill", s.FlowCall: "flow", s.CodeNode: "code", s.CommandNode: "command",
        s.GateNode: "gate", s.AskNode: "ask", s.ForEach: "for_each",
    }[type(body)]


def _literal_type(e: s.Literal, want: t.Type | None) -> t.Type:
    if e.kind == "str":
        return t.STR
    return {"int": t.INT, "float": t.FLOAT, "bool": t.BOOL, "null": t.NULL,
            "duration": t.DURATION, "invalid": t.UNKNOWN}[e.kind]


def _join(tys: list[t.Type]) -> t.Type | None:
    out = tys[0]
    for ty in tys[1:]:
        if t.assignable(ty, out):
            continue
        if t.assignable(out, ty):
            out = ty
            continue
        return None
    return out


def _comparable(a: t.Type, b: t.Type) -> bool:
    a0, b0 = t.strip_optional(a), t.strip_optional(b)
    if isinstance(a, t.NullT) or isinstance(b, t.NullT):
        return True
    if isinstance(a0, t.EnumT) and isinstance(b0, t.EnumT):
        return bool(set(a0.variants) & set(b0.variants))
    if (isinstance(a0, t.EnumT) and b0 == t.STR) or (isinstance(b0, t.EnumT) and a0 == t.STR):
        return True
    return t.assignable(a0, b0) or t.assignable(b0, a0)


def _valid_host(h: str) -> bool:
    import re

    return bool(re.fullmatch(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                             r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?", h))


def _parse_size(text: str) -> int | None:
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*", text)
    if not m:
        return None
    mult = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000,
            "MB": 1000**2, "GB": 1000**3}[m.group(2)]
    return int(m.group(1)) * mult
