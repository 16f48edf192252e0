"""Name resolution and type checking: syntax tree to a typed, resolved `Program`.

Three passes over the declarations: types and imports first, then every node's output type
(inferred from its kind, its skill or its annotation, without looking at expressions), then
every expression, template, argument and clause. References may point forward: nothing in a
flow runs in textual order. Mistakes are collected as diagnostics; the checker always
finishes and returns what it could resolve.

This module holds the passes (`Checker.run`), matches and outputs; each concern's checks live
beside it: `check_decls` (settings, imports), `check_types` (types, node shapes), `check_nodes`
(node bodies and clauses), `check_gates` (gates, asks), `check_exprs` (expressions,
templates); `check_base` holds the shared tables and helpers, `program` the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import syntax as s
from . import types as t

# some names only re-exported: the checker's tables and the program's parts stay importable here
from .check_base import (  # noqa: F401
    _ASK_ARGS,
    _GATE_ARGS,
    _OPTIONS,
    _PROPS,
    _REQUIRED_PROPS,
    _RESERVED,
    APPROVING,
    COMMAND_RESULT,
    EXTRACT_OUTCOMES,
    GATE_OUTCOMES,
    MATCH_TERMINALS,
    REPLY,
    _Ctx,
    _is_semver,
)
from .check_decls import DeclarationChecks
from .check_exprs import ExpressionChecks
from .check_gates import GateChecks
from .check_nodes import NodeChecks
from .check_types import TypeShapes
from .diagnostics import Diagnostics, Related
from .program import (  # noqa: F401
    ControlDep,
    FlowLoader,
    FlowUse,
    InputInfo,
    MatchInfo,
    NodeInfo,
    OutputInfo,
    Program,
    SkillUse,
)
from .source import Source, Span
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .skills import SkillRegistry

__all__ = ["Program", "NodeInfo", "InputInfo", "OutputInfo", "MatchInfo", "check_program",
           "ControlDep", "FlowLoader"]


class Checker(DeclarationChecks, TypeShapes, NodeChecks, GateChecks, ExpressionChecks):
    """One flow's checker: the passes in `run`, each concern's checks in its own module.

    The parts (`DeclarationChecks`, `TypeShapes`, `NodeChecks`, `GateChecks`,
    `ExpressionChecks`) share this object's state (`p`, the program being built; `d`, the
    diagnostics; `src`; `registry`; `loader`) and call one another through `self`.
    """

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



def check_program(source: Source, file: s.FlowFile, diags: Diagnostics, base_dir: Path,
                  registry: SkillRegistry, loader: FlowLoader | None = None) -> Program:
    """Resolve and type-check a parsed flow."""
    return Checker(source, file, diags, base_dir, registry, loader).run()
