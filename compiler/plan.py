"""The plan: the only thing the runtime takes from the compiler (pydantic models, JSON).

A plan is self-contained and deterministic: the same flow text, SOPs and skills always give
the byte-identical plan, and `hash` is the sha256 of its canonical JSON (`canonical_bytes`:
sorted keys, no whitespace, the `hash` field left out). A plan file is the canonical JSON of
the whole plan (`hash` included) and a newline; `to_json(pretty=True)` indents it for people.
Expressions appear as a small JSON IR:
`{"lit": v}`, `{"input": n, "path": [...]}`, `{"node": n, "path": [...]}`,
`{"var": n, "path": [...]}`, `{"sop": "alias.entry"}`, `{"template": [str | expr, ...]}`,
`{"list": [...]}`, `{"op": OP, "args": [...]}`, `{"call": FN, "args": [...]}`. A chain of
three or more operands of one operator strength is one flat
`{"op": "fold", "args": [a, "+", b, "-", c]}`, read from the left.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PLAN_FORMAT", "SourceSpan", "SopDocument", "SopImport", "SkillPin", "FlowImport",
    "InputSpec", "OutputSpec", "Dependency", "ControlCondition", "PlanNode", "RunEnd", "FlowMeta",
    "Plan", "canonical_bytes", "canonical_json", "load_data", "plan_hash",
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
        """The plan as JSON data (what `hash` is computed from, with the hash itself). Read
        back from pydantic's own encoder, a third of the time `model_dump(mode="json")` takes
        for the same data (orjson reads an integer past 64 bits as a float: such text goes to
        the standard library)."""
        text = self.model_dump_json(by_alias=True)
        if _LONG_INTEGER.search(text):
            return json.loads(text)
        return orjson.loads(text)

    def to_json(self, *, pretty: bool = False) -> str:
        """The plan file's text and a newline: the canonical JSON (compact, keys sorted), or
        with `pretty` the same data indented for people. Both parse to `to_data()`."""
        return self.to_json_bytes(pretty=pretty).decode("utf-8")

    def to_json_bytes(self, *, pretty: bool = False) -> bytes:
        """`to_json()` in UTF-8."""
        return b"".join(self.json_parts(pretty=pretty))

    def json_parts(self, *, pretty: bool = False):
        """`to_json_bytes()` in pieces, to write a large plan without a copy of it whole."""
        if not pretty:
            yield from self._canonical_parts(True)
            yield b"\n"
            return
        data = self.to_data()
        try:
            yield orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
        except (orjson.JSONEncodeError, TypeError):  # an integer past 64 bits
            yield (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                   ).encode("utf-8")

    def canonical_sha256(self) -> str:
        """The sha256 of `canonical(with_hash=False)`: the plan's hash, computed from its
        fields, a node at a time."""
        h = hashlib.sha256()
        for part in self._canonical_parts(False):
            h.update(part)
        return h.hexdigest()

    def canonical(self, *, with_hash: bool) -> bytes:
        """`canonical_bytes(to_data())` (without `hash` unless `with_hash`), written a node
        at a time: the whole plan never exists as Python data, which for a 50k-node plan
        would be ~500 MB more at the peak of a compile."""
        return b"".join(self._canonical_parts(with_hash))

    def _canonical_parts(self, with_hash: bool):
        big = {"nodes", "flows"}
        small = self.model_dump(mode="json", by_alias=True,
                                exclude=big if with_hash else big | {"hash"})
        yield b"{"
        for i, key in enumerate(sorted([*small, *big])):
            yield (b"," if i else b"") + _canonical(key, check=False) + b":"
            if key == "nodes":
                yield b"["
                for j, node in enumerate(self.nodes):
                    yield (b"," if j else b"") + _canonical(
                        node.model_dump(mode="json", by_alias=True), check=False)
                yield b"]"
            elif key == "flows":
                yield b"["
                for j, f in enumerate(self.flows):  # keys in order: alias, path, plan
                    head = f.model_dump(mode="json", by_alias=True, exclude={"plan"})
                    yield (b"," if j else b"") + _canonical(head, check=False)[:-1]
                    yield b',"plan":'
                    yield from f.plan._canonical_parts(True)
                    yield b"}"
                yield b"]"
            else:
                yield _canonical(small[key], check=False)
        yield b"}"

    def to_compact_json(self) -> str:
        """The same data as `to_data()`, as compact JSON in field order: what a run store
        keeps. Written by pydantic's own encoder (a 1000-node plan in ~10 ms, where the
        indented, sorted `to_json` takes ~20 times longer); it parses to the data `hash` was
        computed from, so `plan_hash(json.loads(text)) == hash`."""
        return self.model_dump_json(by_alias=True)


FlowImport.model_rebuild()


# where orjson and the definition below part: a float between 1e-9 and 1e-4, which orjson
# writes `1e-7` or `0.00001` and the definition `1e-07` and `1e-05` (a sweep of every
# exponent found no other); either pattern, found anywhere, strings included, sends the value
# to the defining encoder, which is always right and only slower
_ORJSON_PARTS = re.compile(rb"[0-9]e-[0-9](?![0-9])|0\.0000")
_LONG_INTEGER = re.compile(r"[0-9]{19}")


def canonical_bytes(data: Any) -> bytes:
    """The canonical JSON of `data`, in UTF-8: what plan hashes are computed over.

    Defined independently of any encoder's version: objects with their keys sorted by code
    point, no whitespace, strings with every character as itself except `"`, `\\`, and the
    controls below U+0020 (`\\b \\f \\n \\r \\t`, others `\\u00XX`), integers in decimal,
    floats in Python's shortest round-trip form (`repr`), never NaN or an infinity (ValueError:
    the compiler refuses such numbers, and `load_data` refuses them in stored text): the bytes
    `json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes, as
    plans have always been hashed. orjson writes them several times faster, and is trusted
    only where its bytes read back to `data` itself and hold no float orjson writes otherwise
    (between 1e-9 and 1e-4): a NaN it wrote as null, an integer past 64 bits it reads back as a
    float, a tuple, a value it refuses, all go to the standard library, which is always right
    and only slower. tests/test_plan_encoding.py holds the two to the same bytes over
    generated values, and pins the bytes of a fixed set."""
    return _canonical(data, check=True)


def _canonical(data: Any, *, check: bool) -> bytes:
    """`canonical_bytes`; without `check` for data pydantic's JSON mode wrote (lists, never
    tuples; NaN and infinities already null), where the read-back costs 25 us a node for
    nothing: orjson's bytes and the regex decide."""
    try:
        out = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        out = None
    if out is None or _ORJSON_PARTS.search(out) or (check and orjson.loads(out) != data):
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    return out


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is past the largest float")
    return value


def load_data(text: str | bytes) -> Any:
    """Parse stored JSON (a plan read back to check its hash): strict, so that a `NaN`, an
    `Infinity` or a number past the largest float (`1e999`) put into the text is refused
    instead of hashed as something else."""
    return json.loads(text, parse_constant=_not_json, parse_float=_finite)


def canonical_json(data: Any) -> str:
    return canonical_bytes(data).decode("utf-8")


def plan_hash(data: dict) -> str:
    body = {k: v for k, v in data.items() if k != "hash"}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()
