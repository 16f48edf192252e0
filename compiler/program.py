"""The checked program: the typed, resolved flow the checker builds for the graph builder
and the planner (nodes, inputs, outputs, matches, imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import syntax as s
from . import types as t
from .diagnostics import Diagnostics
from .sops import SopLibrary
from .source import Source, Span

if TYPE_CHECKING:
    from .skills import SkillVersion

__all__ = ["ControlDep", "FlowLoader", "FlowUse", "InputInfo", "MatchInfo", "NodeInfo",
           "OutputInfo", "Program", "SkillUse"]


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

