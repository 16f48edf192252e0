"""The plan: the only thing the runtime takes from the compiler (pydantic models, JSON).

A plan is self-contained and deterministic: the same flow text, SOPs and skills always give
the byte-identical plan, and `hash` is the sha256 of its canonical JSON (sorted keys, no
whitespace, the `hash` field left out). Expressions appear as a small JSON IR:
`{"lit": v}`, `{"input": n, "path": [...]}`, `{"node": n, "path": [...]}`,
`{"var": n, "path": [...]}`, `{"sop": "alias.entry"}`, `{"template": [str | expr, ...]}`,
`{"list": [...]}`, `{"op": OP, "args": [...]}`, `{"call": FN, "args": [...]}`. A chain of
three or more operands of one operator strength is one flat
`{"op": "fold", "args": [a, "+", b, "-", c]}`, read from the left.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PLAN_FORMAT", "SourceSpan", "SopDocument", "SopImport", "SkillPin", "FlowImport",
    "InputSpec", "OutputSpec", "Dependency", "ControlCondition", "PlanNode", "RunEnd", "FlowMeta",
    "Plan", "canonical_json", "plan_hash",
]

PLAN_FORMAT = "flowc.plan/1"

NodeKind = Literal["llm", "agent", "extract", "skill", "flow", "code", "command", "gate", "ask",
                   "for_each"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpan(_Model):
    """Where in the `.flow` file a node came from, so a run-time failure can cite the line."""

    line: int
    column: int
    end_line: int
    end_column: int


class SopDocument(_Model):
    name: str = Field(description="dotted entry name within the import; empty for a file import")
    path: str = Field(description="path relative to the flow file's folder")
    sha256: str
    size: int


class SopImport(_Model):
    alias: str
    path: str
    folder: bool
    documents: list[SopDocument]


class SkillPin(_Model):
    alias: str
    name: str
    requested: str = Field(description="the pin or range as written")
    version: str = Field(description="the resolved version")
    sha256: str = Field(description="content hash of the skill's folder")
    location: str = Field(description="`stdlib:NAME/...` or a path relative to the flow file")
    description: str
    inputs: dict[str, dict[str, Any]]
    output: dict[str, Any]
    effects: list[str]
    entry: str | None


class FlowImport(_Model):
    alias: str
    path: str
    plan: Plan


class InputSpec(_Model):
    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    required: bool
    default: Any = None


class OutputSpec(_Model):
    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    value: Any
    span: SourceSpan


class Dependency(_Model):
    name: str
    kind: Literal["input", "node"]
    required: bool = Field(description="false when only read inside `??`: a skipped producer "
                           "does not skip this node")


class ControlCondition(_Model):
    """Run only when `node` ended with one of `outcomes` (or, for an enum match, when
    `subject` evaluates to one of `values`). Conditions with the same `group` are
    alternatives; distinct groups must all hold."""

    node: str | None = None
    outcomes: list[str] = []
    group: str | None = None
    values: list[str] = []
    subject: Any = None


class RunEnd(_Model):
    """A `match` arm that ends the run: `stop` (the run ends, done) or `fail` (it fails).
    It applies when `node` ends with one of `outcomes`, or when `subject` evaluates to one
    of `values` (a match on an enum value)."""

    action: Literal["stop", "fail"]
    node: str | None = None
    outcomes: list[str] = []
    values: list[str] = []
    subject: Any = None
    span: SourceSpan


class PlanNode(_Model):
    id: str
    kind: NodeKind
    position: int = Field(description="index in the plan's execution order")
    source_index: int = Field(description="index among the nodes in the source file")
    span: SourceSpan
    deps: list[Dependency]
    control: list[ControlCondition]
    when: Any = None
    effect: str | None = None
    outcomes: list[str]
    options: dict[str, Any]
    config: dict[str, Any] = Field(description=(
        "kind-specific settings, expressions as IR. A gate's: `to` (people: role()/user() "
        "calls), `show`, `title`, `message`, `form`, `actions`, `pause_when`, `timeout` "
        "({seconds, then: approve|reject|fail}) and, when it escalates, `escalate`: its "
        "steps in rising order, each {seconds after the gate opened, to: [people]}, every "
        "one before the timeout"))
    output_schema: dict[str, Any]


class FlowMeta(_Model):
    name: str
    version: str | None
    description: str | None
    mode: str
    triggers: list[dict[str, Any]]
    source: str = Field(description="the flow file's name")
    source_sha256: str


class Plan(_Model):
    format: Literal["flowc.plan/1"] = PLAN_FORMAT
    compiler: str
    flow: FlowMeta
    policy: dict[str, str]
    types: dict[str, dict[str, Any]]
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    sops: list[SopImport]
    skills: list[SkillPin]
    flows: list[FlowImport]
    nodes: list[PlanNode]
    ends: list[RunEnd] = []
    hash: str = Field(default="", description="sha256 of the canonical JSON without this field")

    def to_data(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """The plan file's text: indented, keys sorted, one trailing newline."""
        return json.dumps(self.to_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_compact_json(self) -> str:
        """The same data as `to_data()`, as compact JSON in field order: what a run store
        keeps. Written by pydantic's own encoder (a 1000-node plan in ~10 ms, where the
        indented, sorted `to_json` takes ~20 times longer); it parses to the data `hash` was
        computed from, so `plan_hash(json.loads(text)) == hash`."""
        return self.model_dump_json(by_alias=True)


FlowImport.model_rebuild()


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_hash(data: dict) -> str:
    body = {k: v for k, v in data.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
