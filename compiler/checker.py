"""Name resolution and type checking: syntax tree to a typed, resolved `Program`.

Three passes over the declarations: types and imports first, then every node's output type
(inferred from its kind, its skill or its annotation, without looking at expressions), then
every expression, template, argument and clause. References may point forward: nothing in a
flow runs in textual order. Mistakes are collected as diagnostics; the checker always
finishes and returns what it could resolve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import syntax as s
from . import types as t
from .commandline import command_words, holes_after_backslash, mask_holes, validate_command_line
from .diagnostics import Diagnostics, Related
from .parser import INVALID_TYPE, parse_type_text
from .sops import SopLibrary, load_sop
from .source import Source, Span
from .suggest import did_you_mean, parse_duration

if TYPE_CHECKING:
    from .skills import SkillRegistry, SkillVersion

__all__ = ["Program", "NodeInfo", "InputInfo", "OutputInfo", "MatchInfo", "check_program",
           "ControlDep", "FlowLoader"]

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


@dataclass(slots=True)
class ControlDep:
    """`after node.outcome`, or a match arm: run only when `node` ends with `outcome`.

    `group` ties together arms of one match that target the same node: any one of them
    suffices (an OR); separate control deps must all hold (an AND).
    """

    node: str
    outcomes: tuple[str, ...]
    span: Span
    group: str | None = None
    values: tuple[str, ...] = ()   # for matches on an enum value: the variants that select
    subject: dict | None = None    # the matched expression's IR, for enum matches


@dataclass(slots=True)
class InputInfo:
    name: str
    type: t.Type
    default: dict | None
    decl: s.InputDecl


@dataclass(slots=True)
class OutputInfo:
    name: str
    type: t.Type
    value: dict
    deps: dict[str, bool]
    decl: s.OutputDecl


@dataclass(slots=True)
class NodeInfo:
    name: str
    decl: s.NodeDecl
    kind: str
    type: t.Type
    index: int
    outcomes: tuple[str, ...] = ()
    deps: dict[str, bool] = field(default_factory=dict)
    control: list[ControlDep] = field(default_factory=list)
    when: dict | None = None
    effect: str | None = None
    options: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    declared_type: bool = False
    effect_from: str | None = None   # a skill whose SKILL.md declares the effect

    @property
    def span(self) -> Span:
        return self.decl.name.span


@dataclass(slots=True)
class MatchInfo:
    decl: s.MatchDecl
    subject_node: str | None
    arms: list[tuple[tuple[str, ...], tuple[str, ...]]]
    subject: dict | None = None           # the matched expression's IR (enum matches)
    universe: tuple[str, ...] = ()        # every outcome or variant the subject can take


@dataclass(slots=True)
class SkillUse:
    decl: s.UseSkill
    version: SkillVersion | None
    inputs: dict[str, tuple[t.Type, bool]] = field(default_factory=dict)  # name -> (type, required)
    defaults: dict[str, object] = field(default_factory=dict)  # declared input defaults
    output: t.Type = t.UNKNOWN


@dataclass(slots=True)
class FlowUse:
    decl: s.UseFlow
    path: Path | None
    program: Program | None


@dataclass
class Program:
    """A checked flow: everything the graph builder and the planner need."""

    source: Source
    file: s.FlowFile
    base_dir: Path
    name: str = ""
    version: str | None = None
    description: str | None = None
    mode: str = "workflow"
    triggers: list[dict] = field(default_factory=list)
    policy: dict[str, str] = field(default_factory=lambda: {"approval": "error"})
    types: dict[str, t.Type] = field(default_factory=dict)
    type_spans: dict[str, Span] = field(default_factory=dict)
    inputs: dict[str, InputInfo] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    outputs: dict[str, OutputInfo] = field(default_factory=dict)
    sops: dict[str, SopLibrary] = field(default_factory=dict)
    sop_decls: dict[str, s.ImportSop] = field(default_factory=dict)
    skills: dict[str, SkillUse] = field(default_factory=dict)
    flows: dict[str, FlowUse] = field(default_factory=dict)
    matches: list[MatchInfo] = field(default_factory=list)
    used_imports: set[str] = field(default_factory=set)
    used_sop_entries: set[str] = field(default_factory=set)
    failed_imports: set[str] = field(default_factory=set)  # reported as broken already
    consumed: dict[str, set[str] | None] = field(default_factory=dict)  # None: whole value

    def consume(self, node: str, part: str | None) -> None:
        cur = self.consumed.get(node, set())
        if cur is None:
            return
        if part is None:
            self.consumed[node] = None
        else:
            cur.add(part)
            self.consumed[node] = cur


class FlowLoader:
    """Loads and checks flows imported with `use flow` (set by the driver in `api`)."""

    def load(self, path: Path, diagnostics: Diagnostics) -> Program | None:  # pragma: no cover
        raise NotImplementedError


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


class Checker:
    def __init__(self, source: Source, file: s.FlowFile, diags: Diagnostics, base_dir: Path,
                 registry: SkillRegistry, loader: FlowLoader | None):
        self.src = source
        self.file = file
        self.d = diags
        self.registry = registry
        self.loader = loader
        self.p = Program(source, file, base_dir)
        self.value_spans: dict[str, Span] = {}
        self._resolving: set[str] = set()
        self._type_decls: dict[str, s.RecordDecl | s.EnumDecl | s.DeliverableDecl] = {}
        self.failed_imports = self.p.failed_imports
        self._trigger_decls: list[s.TriggerDecl] = []

    # ---- helpers -----------------------------------------------------------------------------
    def err(self, code, span, message, **kw):
        self.d.add(code, self.src, span, message, **kw)

    def declared_here(self, span: Span, label: str = "declared here") -> tuple[Related, ...]:
        return (Related(self.src, span, label),)

    def _declare_value(self, name: s.Name) -> bool:
        if name.value in self.value_spans:
            imported = "skill" if name.value in self.p.skills else \
                "flow" if name.value in self.p.flows else None
            self.err("F0102", name.span, f"`{name.value}` is declared twice",
                     label="second declaration",
                     related=self.declared_here(self.value_spans[name.value], "first declared here"),
                     help=f"rename one of them, or import the {imported} under another name: "
                     f"`... as {name.value}_{imported}`" if imported else "rename one of them")
            return False
        if name.value in _RESERVED:
            self.err("F0102", name.span, f"`{name.value}` is a reserved word",
                     label="cannot be used as a name", help="choose another name")
            return False
        if name.value in MATCH_TERMINALS:
            self.err("F0102", name.span, f"`{name.value}` is reserved for match arms",
                     label="reserved name", help="choose another name")
        self.value_spans[name.value] = name.span
        return True

    # ---- pass 0: header, settings, types, imports ----------------------------------------------
    def run(self) -> Program:
        f = self.file
        if f.header is not None:
            self.p.name = f.header.name.value
            self.p.version = f.header.version.value if f.header.version else None
            if f.header.version is not None and not _is_semver(str(f.header.version.value)):
                self.err("F0211", f.header.version.span,
                         f"`{f.header.version.value}` is not a semver version",
                         help='write a version such as `"1.2.0"`')
            self.p.description = f.header.description.value if f.header.description else None
        for it in f.items:
            if isinstance(it, s.RecordDecl | s.EnumDecl | s.DeliverableDecl):
                if it.name.value in self._type_decls:
                    self.err("F0102", it.name.span, f"type `{it.name.value}` is declared twice",
                             label="second declaration",
                             related=self.declared_here(self._type_decls[it.name.value].name.span,
                                                        "first declared here"))
                elif it.name.value in t.PRIMITIVES or it.name.value in ("list", "map", "file"):
                    self.err("F0102", it.name.span,
                             f"`{it.name.value}` is a built-in type and cannot be redeclared",
                             label="built-in type name")
                else:
                    self._type_decls[it.name.value] = it
                    self.p.type_spans[it.name.value] = it.name.span
        for name in self._type_decls:
            self.named_type(name)
        seen_settings: dict[str, Span] = {}
        for it in f.items:
            key = {s.ModeDecl: "mode", s.PolicyDecl: "policy"}.get(type(it))
            if key == "policy":
                key = "policy " + it.name.value
            if key is not None:
                if key in seen_settings:
                    self.err("F0102", it.span, f"`{key}` is set twice",
                             related=self.declared_here(seen_settings[key], "first set here"),
                             help="keep one")
                    continue
                seen_settings[key] = it.span
            if isinstance(it, s.ModeDecl):
                self.check_mode(it)
            elif isinstance(it, s.TriggerDecl):
                self.check_trigger(it)
            elif isinstance(it, s.PolicyDecl):
                self.check_policy(it)
            elif isinstance(it, s.ImportSop):
                self.check_import_sop(it)
            elif isinstance(it, s.UseSkill):
                self.check_use_skill(it)
            elif isinstance(it, s.UseFlow):
                self.check_use_flow(it)
        # ---- pass 1: inputs and node types ----
        index = 0
        for it in f.items:
            if isinstance(it, s.InputDecl):
                if self._declare_value(it.name):
                    self.p.inputs[it.name.value] = InputInfo(
                        it.name.value, self.resolve_type(it.type), None, it)
            elif isinstance(it, s.NodeDecl):
                name = it.name.value
                # a node named like an import is F0102, but is checked as the node it is, so
                # that its uses raise no follow-on errors (an import is never a value)
                if self._declare_value(it.name) or (
                        (name in self.p.skills or name in self.p.flows)
                        and name not in self.p.nodes and name not in self.p.inputs):
                    info = self.node_shape(it, index)
                    self.p.nodes[name] = info
                index += 1
        self.check_triggers_against_inputs()
        for it in f.items:
            if isinstance(it, s.OutputDecl):
                self._declare_value(it.name)
        # ---- pass 2: expressions ----
        for inp in self.p.inputs.values():
            if inp.decl.default is not None:
                ctx = _Ctx()
                ty, ir = self.expr(inp.decl.default, ctx, inp.type)
                self.expect(ty, inp.type, inp.decl.default.span, "the default")
                if ctx.deps:
                    self.err("F0210", inp.decl.default.span,
                             "an input's default must be a constant",
                             label="refers to other values")
                inp.default = ir
        for it in f.items:
            if isinstance(it, s.NodeDecl) and self.p.nodes.get(it.name.value, None) is not None \
                    and self.p.nodes[it.name.value].decl is it:
                self.check_node(self.p.nodes[it.name.value])
            elif isinstance(it, s.MatchDecl):
                self.check_match(it)
            elif isinstance(it, s.OutputDecl):
                self.check_output(it)
        return self.p

    def check_mode(self, it: s.ModeDecl) -> None:
        if it.mode.value not in ("workflow", "chat"):
            self.err("F0211", it.mode.span, f"unknown mode `{it.mode.value}`",
                     label="not a mode", help=did_you_mean(it.mode.value, ("workflow", "chat"))
                     or "a flow's mode is `workflow` or `chat`")
        else:
            self.p.mode = it.mode.value

    def check_trigger(self, it: s.TriggerDecl) -> None:
        kind = it.kind.value
        if kind == "schedule":
            if not (isinstance(it.arg, s.Literal) and isinstance(it.arg.value, str)):
                self.err("F0211", it.arg.span, "a schedule is a cron string",
                         help='write `on schedule "0 9 1 * *"`')
                return
            fields_ = it.arg.value.split()
            if len(fields_) != 5:
                self.err("F0211", it.arg.span,
                         f"a cron schedule has 5 fields, this one has {len(fields_)}",
                         label="minute hour day-of-month month day-of-week")
                return
            self.p.triggers.append({"kind": "schedule", "cron": it.arg.value})
            self._trigger_decls.append(it)
        elif kind == "upload":
            if isinstance(it.arg, s.Literal):
                self.err("F0211", it.arg.span, "an upload trigger names a file type",
                         help="write `on upload file<csv>`")
                return
            ty = self.resolve_type(it.arg)
            if not isinstance(ty, t.FileT | t.UnknownT):
                self.err("F0204", it.arg.span, f"an upload is a file, not `{ty.describe()}`")
                return
            self.p.triggers.append({"kind": "upload", "schema": t.json_schema(ty)})
            self._trigger_decls.append(it)
        else:
            self.err("F0211", it.kind.span, f"unknown trigger `{kind}`", label="not a trigger",
                     help=did_you_mean(kind, ("schedule", "upload"))
                     or "triggers are `on schedule \"CRON\"` and `on upload file<KIND>`")

    def check_triggers_against_inputs(self) -> None:
        """An upload fills one file input; every other input then needs a default."""
        required = [i for i in self.p.inputs.values()
                    if i.decl.default is None and not t.is_optional(i.type)]
        for trig, decl in zip(self.p.triggers, self._trigger_decls, strict=True):
            if trig["kind"] == "upload":
                files = [i for i in required if isinstance(i.type, t.FileT)]
                others = [i for i in required if not isinstance(i.type, t.FileT)]
                if len(files) != 1 or others:
                    self.err("F0211", decl.span,
                             "an upload trigger fills exactly one file input, and every other "
                             "input needs a default", label="which input gets the upload?",
                             help="declare one required `input NAME: file<KIND>` and give the "
                             "rest defaults")

    def check_policy(self, it: s.PolicyDecl) -> None:
        if it.name.value != "approval":
            self.err("F0201", it.name.span, f"unknown policy `{it.name.value}`",
                     label="not a policy", help=did_you_mean(it.name.value, ("approval",))
                     or "the policy is `approval` (external effects need an approving gate)")
            return
        if it.level.value not in ("error", "warning", "off"):
            self.err("F0211", it.level.span, f"unknown policy level `{it.level.value}`",
                     help="a policy level is `error`, `warning` or `off`")
            return
        self.p.policy[it.name.value] = it.level.value

    def check_import_sop(self, it: s.ImportSop) -> None:
        alias = it.alias.value
        if not self._declare_value(it.alias):
            return
        path = (self.p.base_dir / str(it.path.value)).resolve()
        lib = load_sop(alias, path)
        if lib is None:
            self.failed_imports.add(alias)
            parent = path.parent
            near = []
            if parent.is_dir():
                near = [p.name for p in parent.iterdir()]
            self.err("F0103", it.path.span, f"SOP `{it.path.value}` does not exist",
                     label=f"no such file or folder under {self._rel(parent)}",
                     help=did_you_mean(path.name, near))
            return
        if lib.is_folder and not lib.entries:
            self.err("F0103", it.path.span, f"SOP folder `{it.path.value}` has no documents",
                     label="empty folder",
                     help="a folder import exposes each .md, .markdown, .txt or .rst file")
        self.p.sops[alias] = lib
        self.p.sop_decls[alias] = it

    def _rel(self, p: Path) -> str:
        import os

        if "://" in str(p):  # a registry URL stays as it is
            return str(p)

        from flowc.stdlib_skills import STDLIB_SKILLS_DIR

        if Path(p).resolve() == STDLIB_SKILLS_DIR.resolve():
            return "the standard library (stdlib_skills)"
        return Path(os.path.relpath(p, self.p.base_dir)).as_posix()

    def check_use_skill(self, it: s.UseSkill) -> None:
        from .skills import parse_version_spec

        local = it.local_name
        if not self._declare_value(local):
            return
        use = SkillUse(it, None)
        self.p.skills[local.value] = use
        self.failed_imports.add(local.value)  # until it resolves below
        try:
            spec = parse_version_spec(str(it.spec.value))
        except ValueError:
            self.err("F0107", it.spec.span, f"`{it.spec.value}` is not a version or range",
                     help="write a version such as `2.1.0`, or a range: `^1.3`, `~1.3.2`, "
                     "`>=1.2,<2`")
            return
        name = it.skill.value
        versions = self.registry.versions(name)
        if not versions:
            problems = self.registry.problems_for(name)
            if problems:
                for pr in problems:
                    self._skill_problem(pr, it.skill.span)
                return
            self.err("F0105", it.skill.span, f"no skill named `{name}` in any registry",
                     label="unknown skill",
                     help=did_you_mean(name, self.registry.names()),
                     notes=("registries searched: " + ", ".join(
                         self._rel(r) for r in self.registry.roots),))
            return
        sv = self.registry.resolve(name, spec)
        if sv is None:
            have = ", ".join(sorted(v.version for v in versions))
            self.err("F0106", it.spec.span,
                     f"no version of skill `{name}` satisfies `{it.spec.value}`",
                     label="nothing matches", help=f"available versions: {have}")
            return
        use.version = sv
        self.failed_imports.discard(local.value)
        self._skill_signature(use, sv, it)

    def _skill_problem(self, pr, at: Span) -> None:
        src = Source.from_file(pr.path)
        src.path = _display_path(pr.path)
        start = src.line_starts[min(pr.line, src.line_count) - 1]
        span = Span(start, start + len(src.line_text(pr.line)))
        self.d.add("F0108", src, span, pr.message, label="here",
                   related=(Related(self.src, at, "used here"),))

    def _skill_type(self, text, sv: SkillVersion, where: str) -> t.Type | None:
        src = Source(str(text), f"{sv.skill_md}#{where}")
        d = Diagnostics()
        node = parse_type_text(str(text), src, d)
        if node is None:
            return None
        return self.resolve_type(node, builtins_only=True, quiet=True)

    def _skill_signature(self, use: SkillUse, sv: SkillVersion, it: s.UseSkill) -> None:
        from .skills import SkillProblem

        bad = []
        for name, spec in sv.inputs.items():
            default = None
            if isinstance(spec, dict):
                default = spec.get("default")
                spec = spec.get("type", "json")
            text = str(spec).strip()
            optional = text.endswith("?") or default is not None
            ty = self._skill_type(text, sv, f"inputs.{name}")
            if ty is None:
                bad.append(f"input `{name}` has an invalid type `{text}`")
                continue
            use.inputs[name] = (ty, not optional)
            if default is not None:
                use.defaults[name] = default
        parts = []
        out = sv.outputs
        if "text" in out:
            parts.append(t.PartT(str(out["text"]), "text", t.STR))
        for kind, key in (("file", "files"), ("field", "fields")):
            entries = out.get(key) or {}
            if not isinstance(entries, dict):
                bad.append(f"`outputs.{key}` must map names to types")
                continue
            for pname, ptext in entries.items():
                ty = self._skill_type(ptext, sv, f"outputs.{key}.{pname}")
                if ty is None:
                    bad.append(f"output `{pname}` has an invalid type `{ptext}`")
                    continue
                parts.append(t.PartT(str(pname), kind, ty))
        if out.get("memory"):
            parts.append(t.PartT("memory", "memory", t.MEMORY))
        for msg in bad:
            self._skill_problem(SkillProblem(sv.skill_md, 1, msg), it.skill.span)
        use.output = t.DeliverableT(sv.name.replace("-", "_"), tuple(parts))

    def check_use_flow(self, it: s.UseFlow) -> None:
        if not self._declare_value(it.alias):
            return
        path = (self.p.base_dir / str(it.path.value)).resolve()
        use = FlowUse(it, path, None)
        self.p.flows[it.alias.value] = use
        self.failed_imports.add(it.alias.value)  # until it loads below
        if not path.is_file():
            near = [f.name for f in path.parent.glob("*.flow")] if path.parent.is_dir() else []
            self.err("F0109", it.path.span, f"flow `{it.path.value}` does not exist",
                     label="no such file", help=did_you_mean(path.name, near) or (
                         "the path is relative to this file's folder" + (
                             "; flows there: " + ", ".join(f"`{n}`" for n in sorted(near)[:5])
                             if near else "")))
            return
        if self.loader is None:
            return
        sub = Diagnostics()
        prog = self.loader.load(path, sub)
        if prog is None:
            msg = next((d.message for d in sub.items if d.code == "F0109"), None)
            self.err("F0109", it.path.span, msg or f"flow `{it.path.value}` cannot be imported",
                     label="imported here")
            return
        if sub.has_errors:
            self.err("F0109", it.path.span,
                     f"flow `{it.path.value}` has {sub.error_count} error(s)",
                     label="imported here", help=f"run `flowc check {self._rel(path)}`")
            self.d.extend(sub)
            return
        use.program = prog
        self.failed_imports.discard(it.alias.value)

    # ---- types ---------------------------------------------------------------------------------
    def named_type(self, name: str) -> t.Type | None:
        if name in self.p.types:
            return self.p.types[name]
        decl = self._type_decls.get(name)
        if decl is None:
            return None
        if name in self._resolving:
            self.err("F0110", decl.name.span, f"type `{name}` contains itself",
                     label="recursive type", help="use a list of ids, or `json`, to break the loop")
            return t.UNKNOWN
        self._resolving.add(name)
        try:
            if isinstance(decl, s.EnumDecl):
                ty = t.EnumT(name, self._variants(decl.variants))
            elif isinstance(decl, s.RecordDecl):
                fields_, defaults, values = self._fields(decl.fields)
                ty = t.RecordT(name, fields_, frozenset(defaults), values)
            else:
                ty = self._deliverable(decl)
        finally:
            self._resolving.discard(name)
        self.p.types[name] = ty
        return ty

    def _variants(self, names: tuple[s.Name, ...]) -> tuple[str, ...]:
        seen: dict[str, Span] = {}
        for n in names:
            if n.value in seen:
                self.err("F0102", n.span, f"enum variant `{n.value}` is listed twice",
                         related=self.declared_here(seen[n.value], "first listed here"))
            seen[n.value] = n.span
        return tuple(seen)

    def _fields(self, defs: tuple[s.FieldDef, ...]):
        out: list[tuple[str, t.Type]] = []
        defaults: list[str] = []
        values: list[tuple[str, object]] = []
        seen: dict[str, Span] = {}
        for fd in defs:
            if fd.name.value in seen:
                self.err("F0102", fd.name.span, f"field `{fd.name.value}` is declared twice",
                         related=self.declared_here(seen[fd.name.value], "first declared here"))
                continue
            seen[fd.name.value] = fd.name.span
            ty = self.resolve_type(fd.type)
            if fd.default is not None:
                defaults.append(fd.name.value)
                ctx = _Ctx()
                vty, ir = self.expr(fd.default, ctx, ty)
                self.expect(vty, ty, fd.default.span, "the default")
                if isinstance(ir, dict) and set(ir) == {"lit"}:
                    values.append((fd.name.value, ir["lit"]))
            out.append((fd.name.value, ty))
        return tuple(out), defaults, tuple(values)

    def _deliverable(self, decl: s.DeliverableDecl) -> t.DeliverableT:
        parts: list[t.PartT] = []
        seen: dict[str, Span] = {}

        def add(name: str, kind: str, ty: t.Type, span: Span):
            if name in seen:
                self.err("F0102", span, f"part `{name}` is declared twice in `{decl.name.value}`",
                         related=self.declared_here(seen[name], "first declared here"))
                return
            seen[name] = span
            parts.append(t.PartT(name, kind, ty))

        for part in decl.parts:
            if part.kind == "text":
                add(part.name.value, "text", t.STR, part.name.span)
            elif part.kind == "memory":
                add("memory", "memory", t.MEMORY, part.span)
            else:
                for fd in part.fields:
                    ty = self.resolve_type(fd.type)
                    if part.kind == "files":
                        inner = ty.elem if isinstance(ty, t.ListT) else ty
                        if not isinstance(inner, t.FileT | t.UnknownT):
                            self.err("F0204", fd.type.span,
                                     f"`files` holds files, not `{ty.describe()}`",
                                     help=f"move `{fd.name.value}` to `fields`, or make it `file<...>`")
                    if fd.default is not None:
                        self.err("F0211", fd.default.span, "deliverable parts take no default",
                                 label="remove this default")
                    add(fd.name.value, "file" if part.kind == "files" else "field", ty,
                        fd.name.span)
        return t.DeliverableT(decl.name.value, tuple(parts))

    def resolve_type(self, te, builtins_only: bool = False, quiet: bool = False) -> t.Type:
        if isinstance(te, s.OptionalType):
            inner = self.resolve_type(te.inner, builtins_only, quiet)
            return inner if isinstance(inner, t.OptionalT) else t.OptionalT(inner)
        if isinstance(te, s.EnumType):
            return t.EnumT(None, self._variants(te.variants) if not quiet else
                           tuple(dict.fromkeys(v.value for v in te.variants)))
        name = te.name.value
        if name == INVALID_TYPE:  # nested too deeply: F0006 said so
            return t.UNKNOWN
        arity = {"list": 1, "map": 1, "file": (0, 1)}
        if name in ("list", "map"):
            if len(te.args) != 1:
                if not quiet:
                    self.err("F0110", te.span, f"`{name}` takes one type argument",
                             help=f"write `{name}<str>`")
                return t.UNKNOWN
            inner = self.resolve_type(te.args[0], builtins_only, quiet)
            return t.ListT(inner) if name == "list" else t.MapT(inner)
        if name == "file":
            if len(te.args) > 1 or (te.args and (not isinstance(te.args[0], s.NamedType)
                                                 or te.args[0].args)):
                if not quiet:
                    self.err("F0110", te.span, "`file` takes one kind, such as `file<csv>`")
                return t.FileT(None)
            return t.FileT(te.args[0].name.value if te.args else None)
        if te.args:
            if not quiet:
                self.err("F0110", te.span, f"`{name}` takes no type arguments")
            return t.UNKNOWN
        if name in t.PRIMITIVES:
            return t.PRIMITIVES[name]
        if name in ("memory",):
            return t.MEMORY
        if not builtins_only:
            ty = self.named_type(name)
            if ty is not None:
                return ty
        if not quiet:
            cands = list(t.PRIMITIVES) + list(arity) + list(self._type_decls)
            self.err("F0110", te.name.span, f"unknown type `{name}`", label="not a type",
                     help=did_you_mean(name, cands))
        return t.UNKNOWN

    # ---- pass 1: node shapes -------------------------------------------------------------------
    def node_shape(self, decl: s.NodeDecl, index: int) -> NodeInfo:
        body = decl.body
        kind = _kind_of(body)
        declared = self.resolve_type(decl.type) if decl.type is not None else None
        info = NodeInfo(decl.name.value, decl, kind, t.UNKNOWN, index,
                        declared_type=declared is not None)
        info.type, info.outcomes = self.body_shape(body, declared, decl)
        return info

    def body_shape(self, body, declared, decl) -> tuple[t.Type, tuple[str, ...]]:
        if isinstance(body, s.PropNode):
            if body.kind == "extract":
                return self._extract_type(declared, decl), EXTRACT_OUTCOMES
            return (declared or REPLY), ()
        if isinstance(body, s.SkillCall):
            use = self.p.skills.get(body.skill.value)
            out = use.output if use is not None else t.UNKNOWN
            if declared is not None and use is not None and use.version is not None:
                if not t.assignable(out, declared):
                    self.err("F0204", decl.type.span,
                             f"skill `{body.skill.value}` delivers `{out.describe()}`, "
                             f"which does not fit `{declared.describe()}`",
                             label="declared type",
                             notes=(self._deliverable_note(out),))
                return declared, ()
            return out, ()
        if isinstance(body, s.FlowCall):
            use = self.p.flows.get(body.flow.value)
            out: t.Type = t.UNKNOWN
            if use is not None and use.program is not None:
                prog = use.program
                out = t.RecordT(prog.name, tuple((o.name, o.type) for o in prog.outputs.values()))
                if declared is not None and not t.assignable(out, declared):
                    self.err("F0204", decl.type.span,
                             f"flow `{body.flow.value}` returns `{out.describe()}`, which does "
                             f"not fit `{declared.describe()}`", label="declared type",
                             notes=("its outputs: " + ", ".join(
                                 f"{k}: {v.describe()}" for k, v in out.fields),))
            return declared or out, ()
        if isinstance(body, s.CodeNode | s.AskNode):
            if declared is None:
                what = "code" if isinstance(body, s.CodeNode) else "ask human"
                self.err("F0212", decl.name.span,
                         f"`{what}` node `{decl.name.value}` needs a declared type",
                         label="what does it produce?",
                         help=f"write `node {decl.name.value}: TYPE = ...`")
                return t.UNKNOWN, ()
            return declared, ()
        if isinstance(body, s.CommandNode):
            return declared or COMMAND_RESULT, ()
        if isinstance(body, s.GateNode):
            return self._gate_shape(body, decl)
        if isinstance(body, s.ForEach):
            inner_declared = None
            if declared is not None:
                if isinstance(declared, t.ListT):
                    inner_declared = declared.elem
                elif not isinstance(declared, t.UnknownT):
                    self.err("F0204", decl.type.span,
                             f"`for each` produces a list, not `{declared.describe()}`",
                             help=f"declare it as `list<{declared.describe()}>`")
            inner, _ = self.body_shape(body.body, inner_declared, decl)
            return t.ListT(inner), ()
        return t.UNKNOWN, ()

    def _deliverable_note(self, ty: t.Type) -> str:
        if isinstance(ty, t.DeliverableT):
            return "it delivers: " + ", ".join(f"{p.name}: {p.type.describe()}" for p in ty.parts)
        return f"it delivers {ty.describe()}"

    def _extract_type(self, declared, decl) -> t.Type:
        if declared is None:
            self.err("F0212", decl.name.span,
                     f"`extract` node `{decl.name.value}` needs a declared type",
                     label="which fields should it extract?",
                     help=f"write `node {decl.name.value}: RECORD = extract {{ ... }}`")
            return t.UNKNOWN
        base = t.strip_optional(declared)
        if isinstance(base, t.RecordT):
            fields_ = [(k, v if (k in base.defaults or t.is_optional(v)) else t.OptionalT(v))
                       for k, v in base.fields]
        elif isinstance(base, t.DeliverableT):
            fields_ = [(p.name, t.OptionalT(p.type) if p.kind == "field" else p.type)
                       for p in base.parts]
        elif isinstance(base, t.UnknownT):
            return t.UNKNOWN
        else:
            self.err("F0204", decl.type.span,
                     f"`extract` fills a record or deliverable, not `{declared.describe()}`")
            return t.UNKNOWN
        names = {k for k, _ in fields_}
        if "text" not in names:
            fields_.append(("text", t.STR))
        if "extracted" not in names:
            fields_.append(("extracted", t.BOOL))
        if isinstance(base, t.RecordT):
            return t.RecordT(base.describe(), tuple(fields_), base.defaults, base.default_values)
        return t.RecordT(base.describe(), tuple(fields_), frozenset())

    def _gate_shape(self, body: s.GateNode, decl) -> tuple[t.Type, tuple[str, ...]]:
        args = {a.name.value: a for a in body.args}
        fields_: list[tuple[str, t.Type]] = []
        edit = args.get("edit")
        if edit is not None and isinstance(edit.value, s.Form):
            for fd in edit.value.fields:
                if fd.name.value in ("outcome", "reason", "reviewer"):
                    self.err("F0102", fd.name.span,
                             f"`{fd.name.value}` is a gate's own field and cannot be edited",
                             help="rename the form field")
                    continue
                fields_.append((fd.name.value, self.resolve_type(fd.type)))
        actions = self._gate_actions(args)
        outcomes = tuple(GATE_OUTCOMES[a] for a in ("approve", "edit", "reject") if a in actions)
        timeout = args.get("timeout")
        if timeout is not None and isinstance(timeout.value, s.Arrow):
            r = timeout.value.right
            if isinstance(r, s.Ref) and len(r.parts) == 1 and r.parts[0].value in GATE_OUTCOMES:
                oc = GATE_OUTCOMES[r.parts[0].value]
                if oc not in outcomes and oc != "edited":
                    outcomes = (*outcomes, oc)
        outcomes = tuple(o for o in ("approved", "edited", "rejected") if o in outcomes)
        fields_ += [("outcome", t.EnumT(None, outcomes or ("approved",))),
                    ("reason", t.STR), ("reviewer", t.STR)]
        if decl.type is not None:
            self.err("F0211", decl.type.span, "a gate's type comes from its `edit:` form",
                     label="remove this type")
        return t.RecordT("Decision", tuple(fields_)), outcomes

    def _gate_actions(self, args) -> list[str]:
        a = args.get("actions")
        if a is None or not isinstance(a.value, s.ListExpr):
            return ["approve", "edit", "reject"] if "edit" in args else ["approve", "reject"]
        out = []
        for item in a.value.items:
            if isinstance(item, s.Ref) and len(item.parts) == 1:
                out.append(item.parts[0].value)
        return out

    # ---- pass 2: nodes -----------------------------------------------------------------------
    def check_node(self, info: NodeInfo) -> None:
        decl = info.decl
        ctx = _Ctx()
        self.check_body(info, decl.body, ctx, info.config)
        effects = info.config.get("effects") or info.config.get("body", {}).get("effects") or []
        if "external" in effects:
            # the skill says it acts on the outside world: the approval policy applies
            info.effect_from = info.config.get("skill") or info.config["body"].get("skill")
        allowed_options = dict(_OPTIONS)
        for cl in decl.clauses:
            if isinstance(cl, s.WhenClause):
                cctx = _Ctx()
                ty, ir = self.expr(cl.condition, cctx, t.BOOL)
                self.expect_bool(ty, cl.condition.span)
                info.when = ir
                for k, req in cctx.deps.items():
                    ctx.deps[k] = ctx.deps.get(k, False) or req
            elif isinstance(cl, s.AfterClause):
                for ref in cl.refs:
                    self.check_after(info, ref)
            elif isinstance(cl, s.EffectClause):
                if cl.kind.value != "external":
                    self.err("F0211", cl.kind.span, f"unknown effect `{cl.kind.value}`",
                             help=did_you_mean(cl.kind.value, ("external",))
                             or "the effect kind is `external`")
                info.effect = cl.kind.value
            elif isinstance(cl, s.OptionClause):
                self.check_option(info, cl, allowed_options, ctx)
        if info.effect_from and info.effect is None:
            info.effect = "external"
        if info.name in ctx.deps:
            self.err("F0301", decl.name.span, f"node `{info.name}` uses its own result",
                     label="refers to itself")
            ctx.deps.pop(info.name)
        info.deps = ctx.deps

    def check_option(self, info: NodeInfo, cl: s.OptionClause, allowed, ctx) -> None:
        key = cl.key.value
        if key not in allowed:
            self.err("F0201", cl.key.span, f"unknown option `{key}` on node `{info.name}`",
                     label="not an option", help=did_you_mean(key, allowed)
                     or "options are: " + ", ".join(sorted(allowed)))
            return
        kind_here = info.kind
        if kind_here == "for_each":
            kind_here = _kind_of(info.decl.body.body)
        if key in ("hosts", "memory_limit", "isolation") and kind_here not in _SANDBOXED:
            self.err("F0201", cl.key.span, f"`{key}` applies only to sandboxed nodes",
                     label=f"`{kind_here}` nodes do not run in the sandbox",
                     help="use it on `code`, `command` or `skill` nodes")
            return
        if key == "timeout" and kind_here in ("gate", "ask"):
            self.err("F0201", cl.key.span, "a person's timeout is the `timeout:` argument",
                     help="write `timeout: 48h -> ...` inside `await human(...)` or "
                     "`ask human(...)`")
            return
        value = cl.value
        if isinstance(value, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", value.span, f"`{key}` takes a single value")
            return
        kind = allowed[key]
        if kind == "duration":
            if not (isinstance(value, s.Literal) and value.kind == "duration"):
                self.err("F0204", value.span, f"`{key}` takes a duration such as `30s`")
                return
            info.options[key] = parse_duration(str(value.value))
        elif kind == "int":
            if not (isinstance(value, s.Literal) and value.kind == "int") or value.value < 0:
                self.err("F0211", value.span, f"`{key}` takes a whole number (0 or more)")
                return
            info.options[key] = value.value
        elif kind == "strlist":
            if not (isinstance(value, s.ListExpr) and all(
                    isinstance(i, s.Literal) and i.kind == "str" for i in value.items)):
                self.err("F0204", value.span, f"`{key}` takes a list of host names",
                         help='write `hosts ["api.example.com"]`')
                return
            hosts = [str(i.value) for i in value.items]
            for i, h in zip(value.items, hosts, strict=True):
                if not _valid_host(h):
                    self.err("F0211", i.span, f"`{h}` is not a host name",
                             help="give a host such as `api.example.com` (no scheme, no path)")
            info.options[key] = hosts
        else:
            if not (isinstance(value, s.Literal) and value.kind == "str"):
                self.err("F0204", value.span, f"`{key}` takes a string")
                return
            v = str(value.value)
            if key == "isolation" and v not in ("strict", "run"):
                self.err("F0211", value.span, f"unknown isolation `{v}`",
                         help="isolation is `strict` (a fresh interpreter) or `run` "
                         "(one interpreter for the whole run)")
                return
            if key == "memory_limit" and _parse_size(v) is None:
                self.err("F0211", value.span, f"`{v}` is not a size",
                         help='write a size such as "256MiB" or "1GiB"')
                return
            info.options[key] = _parse_size(v) if key == "memory_limit" else v

    def check_after(self, info: NodeInfo, ref: s.Ref) -> None:
        target = ref.parts[0].value
        node = self.p.nodes.get(target)
        if node is None:
            self.unknown_name(ref.parts[0], "node")
            return
        if len(ref.parts) == 1:
            info.control.append(ControlDep(target, (), ref.span))
            return
        oc = ref.parts[1]
        if len(ref.parts) > 2 or oc.value not in node.outcomes:
            possible = node.outcomes
            if possible:
                help_ = did_you_mean(oc.value, possible) or \
                    f"`{target}` ends with one of: " + ", ".join(possible)
            else:
                help_ = f"`{target}` has no outcomes; write `after {target}` to wait for it"
            if oc.value in ("approved", "edited", "rejected") and node.kind == "gate":
                action = {v: k for k, v in GATE_OUTCOMES.items()}[oc.value]
                help_ = f"add `{action}` to the gate's `actions:`"
            self.err("F0308", oc.span, f"`{target}` has no outcome `{oc.value}`",
                     label="unknown outcome", help=help_)
            return
        info.control.append(ControlDep(target, (oc.value,), ref.span))

    _BODY_CHECKS = {
        s.PropNode: "check_props", s.SkillCall: "check_skill_call",
        s.FlowCall: "check_flow_call", s.CodeNode: "check_code", s.CommandNode: "check_command",
        s.GateNode: "check_gate", s.AskNode: "check_ask", s.ForEach: "check_for_each",
    }

    def check_body(self, info: NodeInfo, body, ctx: _Ctx, config: dict) -> None:
        """Check a node's body with the checker for its kind."""
        getattr(self, self._BODY_CHECKS[type(body)])(info, body, ctx, config)

    def check_props(self, info, body: s.PropNode, ctx: _Ctx, config: dict) -> None:
        schema = _PROPS[body.kind]
        seen: dict[str, Span] = {}
        for prop in body.props:
            key = prop.key.value
            if key in seen:
                self.err("F0102", prop.key.span, f"`{key}` is given twice",
                         related=self.declared_here(seen[key], "first given here"))
                continue
            seen[key] = prop.key.span
            kind = schema.get(key)
            if kind is None:
                self.err("F0201", prop.key.span, f"`{body.kind}` nodes have no property `{key}`",
                         label="unknown property", help=did_you_mean(key, schema)
                         or "properties: " + ", ".join(schema))
                continue
            config[key] = self.prop_value(kind, prop.value, ctx, key)
            if key == "model" and isinstance(config[key], str):
                self.check_model_alias(config[key], prop.value.span)
        for req in _REQUIRED_PROPS[body.kind]:
            if req not in seen:
                self.err("F0202", body.span if body.span.end - body.span.start < 200 else
                         Span(body.span.start, body.span.start + len(body.kind)),
                         f"`{body.kind}` node `{info.name}` has no `{req}`",
                         label=f"`{req}` is required", help=f"add `{req} ...` to the block")
        if body.kind == "extract" and "from" in config:
            pass

    def check_model_alias(self, alias: str, span: Span) -> None:
        """F0112: the alias must be one flowc.toml configures (when one applies)."""
        if not hasattr(self, "_models"):
            from flowc.config import ConfigError, load_config

            try:
                cfg = load_config(self.p.base_dir)
            except ConfigError:  # a broken flowc.toml is reported where it is read
                cfg = None
            self._models = (cfg.models, cfg.path) if cfg is not None and cfg.models else None
        if self._models is None or alias in self._models[0]:
            return
        models, path = self._models
        self.err("F0112", span, f"no model `{alias}` in {self._rel(path)}",
                 label="unknown model",
                 help=did_you_mean(alias, models) or "models: " + ", ".join(sorted(models)))

    def prop_value(self, kind: str, value, ctx: _Ctx, key: str):
        if isinstance(value, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", value.span, f"`{key}` takes a single value")
            return None
        if kind == "template":
            return self.template(value, ctx, key)
        if kind in ("str", "float", "int"):
            want = {"str": t.STR, "float": t.FLOAT, "int": t.INT}[kind]
            if not isinstance(value, s.Literal):
                self.err("F0204", value.span, f"`{key}` takes a constant {kind}",
                         label="not a constant")
                return None
            ty, ir = self.expr(value, ctx, want)
            self.expect(ty, want, value.span, f"`{key}`")
            return value.value
        if kind == "text":
            sub = _Ctx(ctx.locals)
            sub.optional = 1
            ty, ir = self.expr(value, sub, t.STR)
            for k in sub.deps:
                ctx.deps.setdefault(k, False)
            if not t.renderable(ty):
                self.err("F0204", value.span, f"`{key}` must be text, not `{ty.describe()}`")
            return ir
        if kind == "source":
            ty, ir = self.expr(value, ctx, None)
            if not isinstance(value, s.Ref) or value.parts[0].value not in self.p.nodes:
                self.err("F0210", value.span, f"`{key}` names a node, or a part of one",
                         help="write `from draft.memory` or `from draft`")
            return ir
        items = value.items if isinstance(value, s.ListExpr) else (value,)
        out = []
        for item in items:
            if kind == "nodes":
                ty, ir = self.expr(item, ctx, None)
                if not isinstance(item, s.Ref) or item.parts[0].value not in self.p.nodes | \
                        self.p.inputs:
                    self.err("F0210", item.span, "`context` lists nodes, inputs or their parts",
                             label="not a node or input")
                out.append(ir)
            elif kind == "sops":
                out.append(self.sop_ref(item))
            elif kind == "skills":
                out.append(self.skill_ref(item))
        return out

    def sop_ref(self, item) -> str | None:
        if not isinstance(item, s.Ref):
            self.err("F0210", item.span, "`sops` lists imported SOPs",
                     help="write `sops [compliance, reporting.monthly]`")
            return None
        alias = item.parts[0].value
        lib = self.p.sops.get(alias)
        if lib is None:
            if alias in self.failed_imports:
                return None
            if alias in self.p.nodes or alias in self.p.inputs or alias in self.p.skills:
                what = ("a node" if alias in self.p.nodes else
                        "an input" if alias in self.p.inputs else "a skill")
                where = ("`skills [...]`" if alias in self.p.skills else "`context [...]`")
                self.err("F0210", item.span, f"`{alias}` is not an SOP",
                         label=f"`{alias}` is {what}",
                         help=f"`sops [...]` lists documents imported with `import sop`; "
                         f"put {what} in {where}")
            elif alias not in self.p.sop_decls:
                self.unknown_name(item.parts[0], "sop")
            return None
        self.p.used_imports.add(alias)
        entry = ".".join(p.value for p in item.parts[1:])
        if not entry:
            self.p.used_sop_entries.update(f"{alias}.{e}" if e else alias for e in lib.entries)
            return alias
        if not lib.is_folder:
            self.err("F0104", item.parts[1].span,
                     f"`{alias}` is a single document and has no entry `{entry}`",
                     help=f"write `{alias}`")
            return None
        if entry not in lib.entries:
            self.err("F0104", Span(item.parts[1].span.start, item.span.end),
                     f"SOP folder `{alias}` has no entry `{entry}`", label="no such document",
                     help=did_you_mean(entry, lib.entries) or
                     "entries: " + ", ".join(lib.entry_names()))
            return None
        self.p.used_sop_entries.add(f"{alias}.{entry}")
        return f"{alias}.{entry}"

    def skill_ref(self, item) -> str | None:
        if not (isinstance(item, s.Ref) and len(item.parts) == 1):
            self.err("F0210", item.span, "`skills` lists skills imported with `use skill`")
            return None
        name = item.parts[0].value
        if name not in self.p.skills:
            if name in self.value_spans:
                self.err("F0210", item.span, f"`{name}` is not a skill",
                         help=f"import it with `use skill {name} @ VERSION`")
            else:
                self.unknown_name(item.parts[0], "skill")
            return None
        self.p.used_imports.add(name)
        return name

    def check_args(self, args: tuple[s.Arg, ...], params: dict[str, tuple[t.Type, bool]],
                   ctx: _Ctx, what: str, call_span: Span) -> dict:
        out = {}
        for a in args:
            if a.name.value in out:
                self.err("F0102", a.name.span, f"argument `{a.name.value}` is given twice")
                continue
            if a.name.value not in params:
                self.err("F0201", a.name.span, f"{what} has no input `{a.name.value}`",
                         label="unknown argument", help=did_you_mean(a.name.value, params)
                         or ("inputs: " + ", ".join(params) if params else "it takes no inputs"))
                self.expr_value(a.value, ctx, None)
                continue
            want, _ = params[a.name.value]
            ty, ir = self.expr_value(a.value, ctx, want)
            self.expect(ty, want, a.value.span, f"input `{a.name.value}`")
            out[a.name.value] = ir
        missing = [k for k, (_, req) in params.items() if req and k not in out]
        if missing:
            self.err("F0202", call_span, f"{what} is missing input(s): " +
                     ", ".join(f"`{m}`" for m in missing), label="not all inputs given",
                     help="add " + ", ".join(f"`{m}: ...`" for m in missing))
        return out

    def check_skill_call(self, info, body: s.SkillCall, ctx, config) -> None:
        use = self._call_target(body.skill, body.args, self.p.skills, "skill", ctx, config)
        if use is not None and use.version is not None:
            config["args"] = self.check_args(body.args, use.inputs, ctx,
                                             f"skill `{body.skill.value}`", body.span)
        else:
            self._check_loose_args(body.args, ctx)

    def check_flow_call(self, info, body: s.FlowCall, ctx, config) -> None:
        use = self._call_target(body.flow, body.args, self.p.flows, "flow", ctx, config)
        if use is not None and use.program is not None:
            params = {k: (v.type, v.decl.default is None and not t.is_optional(v.type))
                      for k, v in use.program.inputs.items()}
            config["args"] = self.check_args(body.args, params, ctx,
                                             f"flow `{body.flow.value}`", body.span)
        else:
            self._check_loose_args(body.args, ctx)

    def _call_target(self, name: s.Name, args, table: dict, kind: str, ctx, config):
        """The import a skill or flow call names, marked used; None (reported) if unknown."""
        use = table.get(name.value)
        if use is None:
            self.unknown_name(name, kind)
            return None
        self.p.used_imports.add(name.value)
        config[kind] = name.value
        if kind == "skill" and use.version is not None and use.version.effects:
            config["effects"] = [str(e) for e in use.version.effects]
        return use

    def _check_loose_args(self, args, ctx) -> None:
        """Check the argument expressions of a call whose signature is unknown."""
        for a in args:
            self.expr_value(a.value, ctx, None)

    def check_code(self, info, body: s.CodeNode, ctx, config) -> None:
        lang = body.language.value
        if lang not in ("python", "javascript"):
            self.err("F0211", body.language.span, f"unknown language `{lang}`",
                     help=did_you_mean(lang, ("python", "javascript"))
                     or "code runs as `python` or `javascript`")
        config["language"] = lang
        args = {}
        for a in body.args:
            if a.name.value in args:
                self.err("F0102", a.name.span, f"argument `{a.name.value}` is given twice")
                continue
            ty, ir = self.expr_value(a.value, ctx, None)
            args[a.name.value] = {"value": ir, "schema": t.json_schema(ty)}
        config["args"] = args
        config["source"] = body.source
        if not body.source.strip():
            self.err("F0211", body.source_span, "the code block is empty")
        elif lang == "python":
            try:
                import ast

                # the sandbox runs code as a coroutine: top-level `await` is allowed
                compile(body.source, f"{info.name}.py", "exec", dont_inherit=True,
                        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            except SyntaxError as e:
                self.err("F0211", self._code_span(body.source_span, e.lineno, e.offset),
                         f"Python syntax error in node `{info.name}`: {e.msg}",
                         label="this does not compile",
                         related=(Related(self.src, Span(body.source_span.start,
                                                         body.source_span.start + 3),
                                          "in this code"),))

    def _code_span(self, code: Span, lineno: int | None, offset: int | None) -> Span:
        """Where line `lineno`, column `offset` (1-based, as Python counts them in the
        dedented code) of a code block stands in the file; the whole block if unknown."""
        text = self.src.text
        body_start = code.start + 3
        body = text[body_start:code.end - 3]
        first = 1 if body.startswith("\n") else 2 if body.startswith("\r\n") else 0
        lines = body[first:].split("\n")
        if not lineno or lineno > len(lines):
            return code
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
        cut = min(indents) if indents else 0
        line_start = body_start + first + sum(len(ln) + 1 for ln in lines[:lineno - 1])
        raw = lines[lineno - 1]
        col = min(cut + max((offset or 1) - 1, 0), max(len(raw) - 1, 0))
        return Span(line_start + col, line_start + max(len(raw.rstrip()), col + 1))

    def check_command(self, info, body: s.CommandNode, ctx, config) -> None:
        line = body.line
        raw = line.raw[1:-1]
        for p in validate_command_line(mask_holes(raw)):
            start = line.span.start + 1 + p.offset
            self.err("F0209", Span(start, start + p.length), p.message, label="here",
                     help=p.help)
        for k in holes_after_backslash(line.pieces):
            hole = line.pieces[k]
            self.err("F0209", Span(hole.span.start - 2, hole.span.end),  # from the `\\`
                     "a backslash before a hole escapes the value's first character",
                     label="escapes the value",
                     help="remove the backslash: a value is quoted for you, wherever it stands")
        config["line"] = self.template(line, ctx, "the command line")
        called = command_words(mask_holes(raw))
        for alias, use in self.p.skills.items():  # a line that calls a skill's entry uses it
            entry = getattr(use.version, "entry", None) if use.version else None
            if entry and entry.split()[0] in called:
                self.p.used_imports.add(alias)
        if body.stdin is not None:
            ty, ir = self.expr(body.stdin, ctx, None)
            if not t.renderable(ty):
                self.err("F0205", body.stdin.span,
                         f"standard input must be text or a file, not `{ty.describe()}`",
                         help="name a text part or a file")
            config["stdin"] = ir

    def check_gate(self, info, body: s.GateNode, ctx, config) -> None:
        args: dict[str, s.Arg] = {}
        for a in body.args:
            key = a.name.value
            if key in args:
                self.err("F0102", a.name.span, f"`{key}` is given twice")
                continue
            if key not in _GATE_ARGS:
                self.err("F0201", a.name.span, f"a gate has no argument `{key}`",
                         label="unknown argument", help=did_you_mean(key, _GATE_ARGS)
                         or "arguments: " + ", ".join(_GATE_ARGS))
                continue
            args[key] = a
        if "to" not in args:
            self.err("F0202", body.span.__class__(body.span.start, body.span.start + 5),
                     f"gate `{info.name}` does not say who decides",
                     label="no `to:`", help='add `to: role("compliance")` or `to: user("...")`')
        else:
            config["to"] = self.principals(args["to"].value, ctx)
        if "show" in args:
            v = args["show"].value
            items = v.items if isinstance(v, s.ListExpr) else (v,)
            config["show"] = [self.expr_value(i, ctx, None)[1] for i in items]
            # what the person sees each value as: the expression as written (`payment.iban`)
            config["show_labels"] = [" ".join(self.src.text[i.span.start:i.span.end].split())
                                     for i in items]
        for key in ("title", "message"):
            if key in args:
                config[key] = self.template(args[key].value, ctx, f"`{key}`")
        if "when" in args:
            wctx = _Ctx(ctx.locals)
            ty, ir = self.expr_value(args["when"].value, wctx, t.BOOL)
            self.expect_bool(ty, args["when"].value.span)
            for k, req in wctx.deps.items():
                ctx.deps[k] = ctx.deps.get(k, False) or req
            config["pause_when"] = ir
        form = []
        if "edit" in args:
            v = args["edit"].value
            if not isinstance(v, s.Form):
                self.err("F0204", v.span, "`edit:` takes a form: `{ field: type = prefill }`")
            else:
                for fd in v.fields:
                    fty = self.resolve_type(fd.type)
                    entry = {"name": fd.name.value, "schema": t.json_schema(fty)}
                    if fd.default is not None:
                        pty, pir = self.expr(fd.default, ctx, fty)
                        self.expect(pty, fty, fd.default.span, f"the prefill of `{fd.name.value}`")
                        entry["prefill"] = pir
                    form.append(entry)
        config["form"] = form
        actions = self._gate_actions(args)
        if "actions" in args:
            v = args["actions"].value
            if not isinstance(v, s.ListExpr) or not v.items:
                self.err("F0204", v.span, "`actions:` lists approve, edit and/or reject")
            else:
                seen = set()
                for item in v.items:
                    nm = item.parts[0].value if isinstance(item, s.Ref) and len(item.parts) == 1 \
                        else None
                    if nm not in GATE_OUTCOMES:
                        self.err("F0211", item.span, "unknown gate action" +
                                 (f" `{nm}`" if nm else ""),
                                 help=(did_you_mean(nm, GATE_OUTCOMES) if nm else None)
                                 or "actions are `approve`, `edit` and `reject`")
                    elif nm in seen:
                        self.err("F0102", item.span, f"action `{nm}` is listed twice")
                    seen.add(nm)
        if "edit" in actions and "edit" not in args:
            self.err("F0202", args["actions"].value.span,
                     "the `edit` action needs an `edit:` form", label="edit what?",
                     help="add `edit: { body: str = draft.body }`")
        if "edit" in args and "edit" not in actions and "actions" in args:
            self.err("F0211", args["edit"].name.span,
                     "the gate has an `edit:` form but no `edit` action",
                     help="add `edit` to `actions:`")
        config["actions"] = [a for a in actions if a in GATE_OUTCOMES]
        if "timeout" not in args:
            self.err("F0304", Span(body.span.start, body.span.start + 5),
                     f"gate `{info.name}` has no timeout and can wait forever",
                     label="no `timeout:`", help="add `timeout: 48h -> reject`")
        else:
            config["timeout"] = self.gate_timeout(args["timeout"].value, info, ctx)
        if "escalate" in args:
            steps = self.gate_escalation(args["escalate"].value, args.get("timeout"),
                                         config.get("timeout"), config.get("to", []), ctx)
            if steps:
                config["escalate"] = steps

    def gate_escalation(self, v, timeout_arg, timeout, to, ctx) -> list[dict]:
        """`escalate: DURATION -> TARGET` or a list of those steps: when nobody has decided that
        long after the gate opened, TARGET (people, as in `to:`) may decide too."""
        example = 'write `escalate: 8h -> role("lead")` or `escalate: [8h -> role("lead"), ' \
            '24h -> user("cfo@example.com")]`'
        if isinstance(v, s.Arrow):
            items: tuple = (v,)
        elif isinstance(v, s.ArrowList):
            items = v.items
        else:
            self.err("F0204", v.span, "`escalate:` takes `DURATION -> TARGET` or a list of them",
                     label="not an escalation", help=example)
            return []
        steps: list[dict] = []
        ok = True
        seen: dict = {_ir_key(ir): None for ir in to if ir is not None}  # key -> its step
        prev: s.Arrow | None = None
        prev_secs = None
        for step in items:
            left = step.left
            if not (isinstance(left, s.Literal) and left.kind == "duration"):
                self.err("F0204", left.span, "an escalation step starts with a duration",
                         label="not a duration", help=example)
                self._principals(step.right, ctx, "`escalate:`")
                ok = False
                continue
            secs = parse_duration(str(left.value))
            if secs <= 0:
                self.err("F0211", left.span, "an escalation after no time at all",
                         label="escalates at once",
                         help="name these people in `to:` instead")
                ok = False
            elif prev_secs is not None and secs == prev_secs:
                people = ", ".join(self._source_items(prev.right) + self._source_items(step.right))
                self.err("F0102", left.span, f"two escalation steps at {left.value}",
                         label="same time as the step before",
                         related=self.declared_here(prev.left.span, "first step at this time"),
                         help=f"make them one step: `{left.value} -> [{people}]`")
                ok = False
            elif prev_secs is not None and secs < prev_secs:
                self.err("F0211", left.span,
                         f"escalation steps must come later and later: {left.value} is not "
                         f"after {prev.left.value}",
                         label="earlier than the step before",
                         related=self.declared_here(prev.left.span, "the step before"),
                         help="list the steps in the order they happen")
                ok = False
            elif timeout is not None and secs >= timeout["seconds"]:
                t_left = timeout_arg.value.left
                self.err("F0211", left.span,
                         f"this escalation at {left.value} could never happen: the gate times "
                         f"out at {t_left.value}",
                         label="at or after the timeout",
                         related=self.declared_here(t_left.span, "the gate's timeout"),
                         help="escalate earlier, or give the timeout a longer duration")
                ok = False
            targets, fine = self._principals(step.right, ctx, "`escalate:`")
            if fine and not targets:
                self.err("F0204", step.right.span, "an escalation step names nobody",
                         label="an empty list", help=example)
                fine = False
            ok = ok and fine
            if fine:
                for item, ir in zip(step.right.items if isinstance(step.right, s.ListExpr)
                                    else (step.right,), targets, strict=True):
                    if ir is None:
                        continue
                    key = _ir_key(ir)
                    if key in seen:
                        shown = self.src.text[item.span.start:item.span.end]
                        where = "earlier in this step" if seen[key] == step else \
                            "in `to:`" if seen[key] is None else \
                            f"in the step at {seen[key].left.value}"
                        self.err("F0102", item.span,
                                 f"`{shown}` is named twice: it may decide already ({where})",
                                 label="named again", help="drop it from this step")
                        ok = False
                    seen[key] = step
            if secs > (prev_secs or 0):
                prev, prev_secs = step, secs
            steps.append({"seconds": secs, "to": targets})
        return steps if ok else []

    def _source_items(self, v) -> list[str]:
        """The source text of a value's items (of a list), or of the value."""
        return [self.src.text[i.span.start:i.span.end]
                for i in (v.items if isinstance(v, s.ListExpr) else (v,))]

    def gate_timeout(self, v, info, ctx) -> dict | None:
        if not isinstance(v, s.Arrow) or not (isinstance(v.left, s.Literal)
                                              and v.left.kind == "duration"):
            self.err("F0204", v.span, "`timeout:` takes `DURATION -> OUTCOME`",
                     help="write `timeout: 48h -> reject`")
            return None
        secs = parse_duration(str(v.left.value))
        r = v.right
        name = r.parts[0].value if isinstance(r, s.Ref) and len(r.parts) == 1 else None
        if info.kind == "gate":
            if name not in ("approve", "reject", "fail"):
                self.err("F0211", r.span, "a gate's timeout ends in `approve`, `reject` or `fail`",
                         label="not an outcome",
                         help=('escalation is an argument of its own, before the timeout: '
                               '`escalate: 24h -> role("lead")`' if name == "escalate" else
                               did_you_mean(name, ("approve", "reject", "fail")) if name
                               else None))
                return None
            return {"seconds": secs, "then": name}
        # ask human: fail, or a default value of the asked type
        if name == "fail":
            return {"seconds": secs, "then": "fail"}
        ty, ir = self.expr(r, ctx, info.type)
        self.expect(ty, info.type, r.span, "the timeout's default")
        return {"seconds": secs, "then": "default", "default": ir}

    def principals(self, v, ctx, what: str = "`to:`") -> list:
        """The IR of people: `role(...)`, `user(...)` or a list of them."""
        return self._principals(v, ctx, what)[0]

    def _principals(self, v, ctx, what: str) -> tuple[list, bool]:
        """(the IR of each person, whether every one is a person: reported if not)."""
        help_ = 'write `role("compliance")` or `user("ana@example.com")`'
        if isinstance(v, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", v.span, f"{what} names people", label="not people", help=help_)
            return [], False
        items = v.items if isinstance(v, s.ListExpr) else (v,)
        out = []
        ok = True
        for item in items:
            ty, ir = self.expr(item, ctx, t.PRINCIPAL)
            if not isinstance(ty, t.PrincipalT | t.UnknownT):
                self.err("F0204", item.span, f"{what} names people, not `{ty.describe()}`",
                         help=help_)
                ok = False
            out.append(ir)
        return out, ok

    def check_ask(self, info, body: s.AskNode, ctx, config) -> None:
        args: dict[str, s.Arg] = {}
        for a in body.args:
            key = a.name.value
            if key not in _ASK_ARGS:
                self.err("F0201", a.name.span, f"`ask human` has no argument `{key}`",
                         label="unknown argument", help=(
                             "only a gate (`await human`) escalates; a question ends at its "
                             "`timeout:`" if key == "escalate" else None)
                         or did_you_mean(key, _ASK_ARGS) or "arguments: " + ", ".join(_ASK_ARGS))
                continue
            if key in args:
                self.err("F0102", a.name.span, f"`{key}` is given twice")
                continue
            args[key] = a
        if "to" in args:
            config["to"] = self.principals(args["to"].value, ctx)
        else:
            self.err("F0202", Span(body.span.start, body.span.start + 3),
                     f"`ask human` node `{info.name}` does not say whom to ask",
                     label="no `to:`", help='add `to: role("...")` or `to: user("...")`')
        if "question" in args:
            config["question"] = self.template(args["question"].value, ctx, "`question`")
        else:
            self.err("F0202", Span(body.span.start, body.span.start + 3),
                     f"`ask human` node `{info.name}` has no `question:`",
                     label="ask what?", help='add `question: "Which office are you in?"`')
        if "choices" in args:
            ty, ir = self.expr_value(args["choices"].value, ctx, t.ListT(info.type))
            self.expect(ty, t.ListT(info.type), args["choices"].value.span, "`choices`")
            config["choices"] = ir
        config["schema"] = t.json_schema(info.type)
        if "timeout" in args:
            config["timeout"] = self.gate_timeout(args["timeout"].value, info, ctx)
        else:
            self.err("F0304", Span(body.span.start, body.span.start + 3),
                     f"`ask human` node `{info.name}` has no timeout and can wait forever",
                     label="no `timeout:`", help="add `timeout: 24h -> fail`")

    def check_for_each(self, info, body: s.ForEach, ctx, config) -> None:
        ty, ir = self.expr(body.iterable, ctx, None)
        elem: t.Type = t.UNKNOWN
        if isinstance(t.strip_optional(ty), t.ListT):
            elem = t.strip_optional(ty).elem
        elif not isinstance(ty, t.UnknownT):
            self.err("F0204", body.iterable.span, f"`for each` goes over a list, not "
                     f"`{ty.describe()}`", label="not a list")
        config["var"] = body.var.value
        config["over"] = ir
        if body.concurrency is not None:
            c = body.concurrency
            if not (isinstance(c, s.Literal) and c.kind == "int" and c.value >= 1):
                self.err("F0211", c.span, "`concurrency` takes a whole number of at least 1")
            else:
                config["concurrency"] = c.value
        else:
            config["concurrency"] = 1
        if body.var.value in self.value_spans:
            self.err("F0102", body.var.span,
                     f"loop variable `{body.var.value}` hides the declaration of the same name",
                     related=self.declared_here(self.value_spans[body.var.value]),
                     help="choose another name for the loop variable")
        inner_ctx = _Ctx({**ctx.locals, body.var.value: elem})
        inner_ctx.deps = ctx.deps
        inner_kind = _kind_of(body.body)
        inner = NodeInfo(info.name, info.decl, inner_kind,
                         info.type.elem if isinstance(info.type, t.ListT) else t.UNKNOWN,
                         info.index)
        if isinstance(body.body, s.GateNode | s.PropNode):
            inner.outcomes = info.outcomes
        sub: dict = {"kind": inner_kind}
        self.check_body(inner, body.body, inner_ctx, sub)
        config["body"] = sub

    # ---- match ---------------------------------------------------------------------------------
    def check_match(self, m: s.MatchDecl) -> None:
        subj = m.subject
        gid = f"match@{m.span.start}"
        node = None
        if isinstance(subj, s.Ref) and len(subj.parts) == 1 and subj.parts[0].value in \
                self.p.nodes and self.p.nodes[subj.parts[0].value].outcomes:
            node = self.p.nodes[subj.parts[0].value]
            universe = node.outcomes
            subject_ir = None
            deps: dict[str, bool] = {node.name: True}
            what = f"`{node.name}`'s outcomes"
        else:
            ctx = _Ctx()
            ty, subject_ir = self.expr(subj, ctx, None)
            base = t.strip_optional(ty)
            if isinstance(base, t.EnumT):
                universe = base.variants
                what = f"`{base.describe()}`"
            elif isinstance(base, t.UnknownT):
                universe = ()
                what = "the value"
            else:
                self.err("F0204", subj.span,
                         f"`match` works on a gate or extract node, or an enum value, not "
                         f"`{ty.describe()}`", label="cannot match on this")
                return
            deps = ctx.deps
        info = MatchInfo(m, node.name if node else None, [], subject_ir, tuple(universe))
        seen: dict[str, Span] = {}
        has_else = False
        per_target: dict[str, list[str]] = {}
        for arm in m.arms:
            pats = []
            for pat in arm.patterns:
                pv = pat.value
                if pv == "else":
                    has_else = True
                    pats.append("else")
                    continue
                if universe and pv not in universe:
                    code = "F0308" if node else "F0208"
                    self.err(code, pat.span, f"{what} have no `{pv}`" if node else
                             f"{what} has no variant `{pv}`",
                             label="cannot happen", help=did_you_mean(pv, universe)
                             or "possible: " + ", ".join(universe))
                    continue
                if pv in seen:
                    self.err("F0310", pat.span, f"`{pv}` is matched twice",
                             related=self.declared_here(seen[pv], "first matched here"),
                             label="matched again", help=f"remove `{pv}` from one of the arms")
                    continue
                seen[pv] = pat.span
                pats.append(pv)
            targets = []
            for tgt in arm.targets:
                tv = tgt.value
                if tv in MATCH_TERMINALS:
                    targets.append(tv)
                    continue
                if tv not in self.p.nodes:
                    self.unknown_name(tgt, "node")
                    continue
                if node is not None and tv == node.name:
                    self.err("F0301", tgt.span, f"`{tv}` cannot follow its own outcome")
                    continue
                targets.append(tv)
                per_target.setdefault(tv, []).extend(pats)
            info.arms.append((tuple(pats), tuple(targets)))
        covered = set(seen)
        if universe and not has_else and covered != set(universe):
            missing = [u for u in universe if u not in covered]
            self.err("F0309", m.subject.span, "`match` does not cover " +
                     ", ".join(f"`{x}`" for x in missing), label="not exhaustive",
                     help="add an arm for " + ", ".join(f"`{x}`" for x in missing) +
                     ", or an `else ->` arm")
        for tv, pats in per_target.items():
            tinfo = self.p.nodes[tv]
            if "else" in pats:
                pats = list(dict.fromkeys([*(p for p in pats if p != "else"),
                                           *(u for u in universe if u not in covered)]))
            if node is not None:
                tinfo.control.append(ControlDep(node.name, tuple(pats), m.span, gid))
            else:
                for dep, req in deps.items():
                    tinfo.deps[dep] = tinfo.deps.get(dep, False) or req
                tinfo.control.append(ControlDep("", (), m.span, gid, tuple(pats), subject_ir))
        self.p.matches.append(info)

    # ---- outputs -------------------------------------------------------------------------------
    def check_output(self, o: s.OutputDecl) -> None:
        ctx = _Ctx()
        want = self.resolve_type(o.type) if o.type is not None else None
        ty, ir = self.expr(o.value, ctx, want)
        if want is not None:
            self.expect(ty, want, o.value.span, f"output `{o.name.value}`")
        self.p.outputs[o.name.value] = OutputInfo(o.name.value, want or ty, ir, ctx.deps, o)

    # ---- expressions -------------------------------------------------------------------------
    def expect(self, got: t.Type, want: t.Type, span: Span, what: str) -> None:
        if t.assignable(got, want):
            return
        if t.is_optional(got) and t.assignable(t.strip_optional(got), want):
            self.err("F0213", span, f"{what} may be missing here (`{got.describe()}`)",
                     label="may be null", help="give a default with `?? VALUE`")
            return
        self.err("F0204", span, f"{what} should be `{want.describe()}`, found `{got.describe()}`",
                 label=f"this is `{got.describe()}`")

    def expect_bool(self, got: t.Type, span: Span) -> None:
        if got in (t.BOOL, t.UNKNOWN, t.JSON):
            return
        if t.strip_optional(got) == t.BOOL:
            self.err("F0213", span, "the condition may be missing",
                     label="may be null", help="write `(... ?? false)`")
            return
        self.err("F0207", span, f"a condition must be `bool`, found `{got.describe()}`",
                 label="not a condition", help="compare it, e.g. `x == ...` or `len(x) > 0`")

    def expr_value(self, v, ctx: _Ctx, want: t.Type | None):
        if isinstance(v, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", v.span, "a single value is expected here")
            return t.UNKNOWN, None
        return self.expr(v, ctx, want)

    def template(self, v, ctx: _Ctx, what: str):
        if isinstance(v, s.Literal) and v.kind == "str":
            return {"template": [v.value]}
        if isinstance(v, s.Template):
            parts = []
            for piece in v.pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                    continue
                sctx_sop = ctx.allow_sop
                ctx.allow_sop = True
                ty, ir = self.expr(piece.expr, ctx, None)
                ctx.allow_sop = sctx_sop
                if not t.renderable(ty):
                    names = t.member_names(ty)
                    shown = self.src.text[piece.expr.span.start:piece.expr.span.end]
                    self.err("F0205", piece.expr.span,
                             f"`{shown}` is `{ty.describe()}` and has no text form",
                             label="cannot go into text",
                             help=("name one of its parts: " + ", ".join(
                                 f"`{shown}.{n}`" for n in names[:5]))
                             if names else None)
                parts.append(ir)
            return {"template": parts}
        ty, ir = self.expr_value(v, ctx, t.STR)
        if not isinstance(ty, t.UnknownT):
            self.err("F0204", v.span, f"{what} is text: write it as a string",
                     label=f"this is `{ty.describe()}`", help='use "...{value}..."')
        return ir

    def unknown_name(self, n: s.Name, kind: str = "value") -> None:
        pool = {
            "node": self.p.nodes.keys(),
            "skill": self.p.skills.keys(),
            "flow": self.p.flows.keys(),
            "sop": self.p.sops.keys(),
        }.get(kind, self.value_spans.keys())
        word = {"node": "node", "skill": "skill", "flow": "flow",
                "sop": "SOP"}.get(kind, "name")
        help_ = did_you_mean(n.value, pool)
        if help_ is None and kind == "skill":
            help_ = f"import it with `use skill {n.value} @ VERSION`"
        if help_ is None and kind == "flow":
            help_ = f'import it with `use flow "{n.value}.flow" as {n.value}`'
        self.err("F0101", n.span, f"unknown {word} `{n.value}`", label=f"no such {word}",
                 help=help_)

    def expr(self, e, ctx: _Ctx, want: t.Type | None) -> tuple[t.Type, dict | None]:
        if isinstance(e, s.Literal):
            return _literal_type(e, want), {"lit": e.value} if e.kind != "duration" else \
                {"lit": parse_duration(str(e.value)), "duration": e.value}
        if isinstance(e, s.Ref):
            return self.ref(e, ctx, want)
        if isinstance(e, s.Template):
            return t.STR, self.template(e, ctx, "text")
        if isinstance(e, s.ListExpr):
            elem_want = want.elem if isinstance(want, t.ListT) else None
            irs, tys = [], []
            for item in e.items:
                ty, ir = self.expr(item, ctx, elem_want)
                irs.append(ir)
                tys.append(ty)
            elem = _join(tys) if tys else (elem_want or t.UNKNOWN)
            if elem is None:
                self.err("F0204", e.span, "a list's items must share one type",
                         label="mixed types: " + ", ".join(sorted({x.describe() for x in tys})))
                elem = t.UNKNOWN
            return t.ListT(elem), {"list": irs}
        if isinstance(e, s.BinOp):
            return self.binop(e, ctx, want)
        if isinstance(e, s.Chain):
            return self.chain(e, ctx, want)
        if isinstance(e, s.UnaryOp):
            ty, ir = self.expr(e.operand, ctx, t.BOOL if e.op == "not" else None)
            if e.op == "not":
                self.expect_bool(ty, e.operand.span)
                return t.BOOL, {"op": "not", "args": [ir]}
            if ty not in (t.INT, t.FLOAT, t.UNKNOWN, t.JSON):
                self.err("F0206", e.span, f"`-` does not apply to `{ty.describe()}`")
                return t.UNKNOWN, None
            return ty, {"op": "neg", "args": [ir]}
        if isinstance(e, s.Call):
            return self.call(e, ctx)
        if isinstance(e, s.Index):
            ty, ir = self.expr(e.target, ctx, None)
            ity, iir = self.expr(e.index, ctx, None)
            base = t.strip_optional(ty)
            if isinstance(base, t.ListT):
                self.expect(ity, t.INT, e.index.span, "a list index")
                return t.OptionalT(base.elem) if not t.is_optional(base.elem) else base.elem, \
                    {"op": "index", "args": [ir, iir]}
            if isinstance(base, t.MapT):
                self.expect(ity, t.STR, e.index.span, "a map key")
                return t.OptionalT(base.value), {"op": "index", "args": [ir, iir]}
            if not isinstance(base, t.UnknownT) and base != t.JSON:
                self.err("F0206", e.span, f"`[...]` does not apply to `{ty.describe()}`")
            return t.UNKNOWN if base != t.JSON else t.JSON, {"op": "index", "args": [ir, iir]}
        if isinstance(e, s.Attr):
            ty, ir = self.expr(e.target, ctx, None)
            mt = t.member(ty, e.name.value)
            if mt is None:
                self.no_member(ty, e.name, e.target.span)
                return t.UNKNOWN, None
            return mt, {"op": "attr", "args": [ir, e.name.value]}
        return t.UNKNOWN, None  # pragma: no cover - every expression kind is handled above

    def ref(self, e: s.Ref, ctx: _Ctx, want: t.Type | None) -> tuple[t.Type, dict | None]:
        head = e.parts[0]
        name = head.value
        rest = e.parts[1:]
        root_kind = None
        if name in ctx.locals:
            ty = ctx.locals[name]
            ir: dict = {"var": name, "path": []}
        elif name in self.p.inputs:
            ty = self.p.inputs[name].type
            ir = {"input": name, "path": []}
            ctx.add_dep(name)
        elif name in self.p.nodes:
            node = self.p.nodes[name]
            ty = node.type
            ir = {"node": name, "path": []}
            ctx.add_dep(name)
            root_kind = "node"
            self.p.consume(name, rest[0].value if rest else None)
        elif name in self.p.sops:
            if not ctx.allow_sop:
                self.err("F0210", e.span, f"`{name}` is an SOP and has no value here",
                         help="SOPs go in `sops [...]` or in a template hole")
                return t.UNKNOWN, None
            entry = self.sop_ref(e)
            return (t.SOP if entry else t.UNKNOWN), {"sop": entry}
        elif name in self._type_decls and isinstance(self.p.types.get(name), t.EnumT) and rest:
            ety = self.p.types[name]
            v = rest[0]
            if v.value not in ety.variants:
                self.err("F0208", v.span, f"enum `{name}` has no variant `{v.value}`",
                         label="unknown variant", help=did_you_mean(v.value, ety.variants))
                return t.UNKNOWN, None
            return ety, {"lit": v.value}
        else:
            base = t.strip_optional(want) if want is not None else None
            if isinstance(base, t.EnumT) and not rest:
                if name in base.variants:
                    return base, {"lit": name}
                self.err("F0208", head.span, f"`{base.describe()}` has no variant `{name}`",
                         label="unknown variant", help=did_you_mean(name, base.variants)
                         or "variants: " + ", ".join(base.variants))
                return t.UNKNOWN, None
            if name in self.p.skills or name in self.p.flows:
                self.err("F0210", head.span, f"`{name}` is an import, not a value",
                         help=f"call it in a node: `node x = skill {name}(...)`"
                         if name in self.p.skills else f"call it: `flow {name}(...)`")
                return t.UNKNOWN, None
            pool = list(self.value_spans) + list(ctx.locals)
            self.err("F0101", head.span, f"unknown name `{name}`", label="not declared",
                     help=did_you_mean(name, pool))
            return t.UNKNOWN, None
        path = ir["path"]
        for i, part in enumerate(rest):
            mt = t.member(ty, part.value)
            if mt is None:
                # a gate's or extract's outcome written as a value: `review.approved`
                if root_kind == "node" and i == 0 and part.value in self.p.nodes[name].outcomes:
                    self.err("F0210", part.span,
                             f"`{name}.{part.value}` is an outcome, not a value",
                             help=f"use `after {name}.{part.value}`, or compare "
                             f"`{name}.outcome == {part.value}`")
                    return t.UNKNOWN, None
                self.no_member(ty, part, Span(head.span.start, e.parts[i].span.end))
                return t.UNKNOWN, None
            ty = mt
            path.append(part.value)
        return ty, ir

    def no_member(self, ty: t.Type, part: s.Name, owner_span: Span) -> None:
        names = t.member_names(ty)
        related = ()
        base = t.strip_optional(ty)
        tname = getattr(base, "name", None)
        if isinstance(tname, str) and tname in self.p.type_spans:
            related = self.declared_here(self.p.type_spans[tname])
        owner = self.src.text[owner_span.start:owner_span.end]
        if isinstance(base, t.DeliverableT):
            kind = f"deliverable `{base.describe()}`"
        elif isinstance(base, t.RecordT):
            kind = f"`{base.describe()}`"
        else:
            kind = f"`{ty.describe()}`"
        self.err("F0203", part.span, f"`{owner}` has no field `{part.value}`",
                 label=f"not a field of {kind}", related=related,
                 help=did_you_mean(part.value, names) or
                 ("fields: " + ", ".join(f"`{n}`" for n in names) if names else
                  f"{kind} has no fields"))

    def binop(self, e: s.BinOp, ctx: _Ctx, want) -> tuple[t.Type, dict | None]:
        lt, lir = self._left_operand(e.op, e.left, e.right, ctx, want)
        ty, rir = self._apply(e.op, lt, e.right, e.span, ctx, want)
        return ty, {"op": e.op, "args": [lir, rir]}

    def chain(self, e: s.Chain, ctx: _Ctx, want) -> tuple[t.Type, dict | None]:
        """`a + b - c ...`: typed from the left, one operator at a time, as `(a + b) - c`;
        its IR is one flat `fold` (`{"op": "fold", "args": [a, "+", b, "-", c]}`)."""
        first = e.operands[0]
        ty, ir = self._left_operand(e.ops[0], first, e.operands[1], ctx, want)
        args = [ir]
        for op, right in zip(e.ops, e.operands[1:], strict=True):
            span = Span(first.span.start, right.span.end)
            ty, rir = self._apply(op, ty, right, span, ctx, want)
            args += [op, rir]
        return ty, {"op": "fold", "args": args}

    def _left_operand(self, op, left, right, ctx, want) -> tuple[t.Type, dict | None]:
        if op == "??":
            ctx.optional += 1
            out = self.expr(left, ctx, want)
            ctx.optional -= 1
            return out
        if op in ("and", "or"):
            lt, lir = self.expr(left, ctx, t.BOOL)
            self.expect_bool(lt, left.span)
            return lt, lir
        # operands that are bare names may be enum variants of the other side
        return self._operand(left, right, ctx)

    def _apply(self, op, lt, right, span: Span, ctx: _Ctx, want) -> tuple[t.Type, dict | None]:
        """The type of `left op right` with the left side already typed (`lt`), and the
        right side's IR."""
        if op == "??":
            ctx.optional += 1
            rt, rir = self.expr(right, ctx, t.strip_optional(lt) if want is None else want)
            ctx.optional -= 1
            if not (t.assignable(rt, t.strip_optional(lt)) or t.assignable(
                    t.strip_optional(lt), t.strip_optional(rt)) or isinstance(lt, t.NullT)):
                self.err("F0204", right.span, f"the default is `{rt.describe()}` but the value "
                         f"is `{t.strip_optional(lt).describe()}`")
            return rt, rir
        if op in ("and", "or"):
            rt, rir = self.expr(right, ctx, t.BOOL)
            self.expect_bool(rt, right.span)
            return t.BOOL, rir
        if op == "in" and isinstance(right, s.ListExpr) and isinstance(
                t.strip_optional(lt), t.EnumT):
            rt, rir = self.expr(right, ctx, t.ListT(t.strip_optional(lt)))
        else:
            rt, rir = self._operand(right, None, ctx, lt)
        return self._result(op, lt, rt, right.span, span), rir

    def _result(self, op, lt, rt, right_span: Span, span: Span) -> t.Type:
        """The type of `lt op rt` for a comparison, `in` or arithmetic, reported at `span`."""
        if op in ("==", "!="):
            if not (_comparable(lt, rt)):
                self.err("F0206", span, f"`{lt.describe()}` and `{rt.describe()}` are never "
                         "equal", label="different types")
            return t.BOOL
        if op == "in":
            base = t.strip_optional(rt)
            if isinstance(base, t.ListT):
                if not _comparable(lt, base.elem):
                    self.err("F0206", span, f"`{lt.describe()}` is never in "
                             f"`{rt.describe()}`")
            elif base == t.STR:
                if t.strip_optional(lt) not in (t.STR, t.UNKNOWN):
                    self.err("F0206", span, f"`in` a string needs a string, not "
                             f"`{lt.describe()}`")
            elif isinstance(base, t.MapT):
                pass
            elif not isinstance(base, t.UnknownT) and base != t.JSON:
                self.err("F0206", right_span, f"`in` needs a list, map or string, not "
                         f"`{rt.describe()}`")
            return t.BOOL
        numeric = (t.INT, t.FLOAT)
        lb, rb = lt, rt
        if any(isinstance(x, t.UnknownT) or x == t.JSON for x in (lb, rb)):
            return (t.BOOL if op in ("<", "<=", ">", ">=") else t.UNKNOWN)
        if op in ("<", "<=", ">", ">="):
            ok = (lb in numeric and rb in numeric) or (lb == rb and lb in (t.STR, t.DATE,
                                                                            t.DURATION))
            if not ok:
                self.err("F0206", span, f"`{op}` cannot compare `{lt.describe()}` with "
                         f"`{rt.describe()}`", label="not comparable",
                         help="give both sides a default with `??`"
                         if t.is_optional(lt) or t.is_optional(rt) else
                         f"`{op}` compares two numbers, two `str`, two `date` or two "
                         "`duration`s: write both sides as the same kind")
            return t.BOOL
        if op == "+" and lb == rb == t.STR:
            return t.STR
        if op == "+" and isinstance(lb, t.ListT) and lb == rb:
            return lb
        if lb in numeric and rb in numeric:
            if op == "/":
                return t.FLOAT
            return (t.FLOAT if t.FLOAT in (lb, rb) else t.INT)
        self.err("F0206", span, f"`{op}` does not apply to `{lt.describe()}` and "
                 f"`{rt.describe()}`", label="no such operation",
                 help="give the missing value a default with `??`"
                 if t.is_optional(lt) or t.is_optional(rt) else None)
        return t.UNKNOWN

    def _operand(self, e, other, ctx, other_type=None):
        if isinstance(e, s.Ref) and len(e.parts) == 1 and self._is_free(e.parts[0].value, ctx):
            if other_type is None:
                # type the other side first, then this bare name as one of its variants
                saved = len(self.d.items), dict(ctx.deps)
                ot, _ = self.expr(other, _Ctx(ctx.locals), None)
                del self.d.items[saved[0]:]
                if isinstance(t.strip_optional(ot), t.UnknownT) or ot == t.JSON:
                    return t.UNKNOWN, {"lit": e.parts[0].value}
                return self.expr(e, ctx, ot)
            if isinstance(t.strip_optional(other_type), t.UnknownT) or other_type == t.JSON:
                return t.UNKNOWN, {"lit": e.parts[0].value}
            return self.expr(e, ctx, other_type)
        return self.expr(e, ctx, other_type if other_type is not None and isinstance(
            t.strip_optional(other_type), t.EnumT) else None)

    def _is_free(self, name: str, ctx: _Ctx) -> bool:
        return name not in ctx.locals and name not in self.value_spans and \
            name not in self._type_decls

    def call(self, e: s.Call, ctx: _Ctx) -> tuple[t.Type, dict | None]:
        fn = e.func.value
        if fn not in _BUILTINS:
            self.err("F0101", e.func.span, f"unknown function `{fn}`", label="no such function",
                     help=did_you_mean(fn, _BUILTINS) or "functions: " + ", ".join(_BUILTINS))
            for a in e.args:
                self.expr(a, ctx, None)
            return t.UNKNOWN, None
        if len(e.args) != _BUILTINS[fn]:
            self.err("F0214", e.span, f"`{fn}` takes {_BUILTINS[fn]} argument(s), "
                     f"got {len(e.args)}", label="wrong number of arguments",
                     help=f"write `{_SIGNATURES.get(fn, fn + '(...)')}`")
            return t.UNKNOWN, None
        args = [self.expr(a, ctx, None) for a in e.args]
        ir = {"call": fn, "args": [a[1] for a in args]}
        a0 = args[0][0]
        if fn in ("role", "user"):
            self.expect(a0, t.STR, e.args[0].span, f"`{fn}(...)`")
            return t.PRINCIPAL, ir
        if fn == "len":
            base = t.strip_optional(a0)
            if not (isinstance(base, t.ListT | t.MapT | t.UnknownT) or base in (t.STR, t.JSON)):
                self.err("F0206", e.args[0].span, f"`len` needs a list, map or string, not "
                         f"`{a0.describe()}`")
            return t.INT, ir
        if fn == "join":
            self.expect(a0, t.ListT(t.STR), e.args[0].span, "`join`'s list")
            self.expect(args[1][0], t.STR, e.args[1].span, "`join`'s separator")
            return t.STR, ir
        self.expect(a0, t.STR, e.args[0].span, f"`{fn}(...)`")
        return t.STR, ir


# ---- small helpers ----------------------------------------------------------------------------


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


def check_program(source: Source, file: s.FlowFile, diags: Diagnostics, base_dir: Path,
                  registry: SkillRegistry, loader: FlowLoader | None = None) -> Program:
    """Resolve and type-check a parsed flow."""
    return Checker(source, file, diags, base_dir, registry, loader).run()
