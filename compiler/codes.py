"""The registry of diagnostic codes: each code's default severity, title and explanation.

Codes are stable: a code, once published, keeps its meaning. `docs/diagnostics.md` is
generated from this table plus one example flow per code in `docs/diagnostics/` (by
`scripts/gen_diagnostics_doc.py`), and `flowc explain CODE` prints the explanation.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Code", "CODES", "INTERNAL_ERROR"]


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    severity: str
    title: str
    explanation: str


_TABLE = [
    # ---- syntax ------------------------------------------------------------------------------
    ("F0001", "error", "syntax error",
     "The text does not follow the grammar at this point. The message says what was found and "
     "what the grammar expected there. Parsing resumes at the next top-level declaration, so "
     "later syntax errors are reported in the same run."),
    ("F0002", "error", "unexpected character",
     "A character that cannot start any token of the language, such as `$` or `;` outside a "
     "string or a command line."),
    ("F0003", "error", "unexpected end of file",
     "The file ends in the middle of a construct, usually an unclosed `{`, `(` or `[`."),
    ("F0004", "error", "invalid template",
     "A string's `{...}` hole holds a reference such as `{client.name}` or an expression such "
     "as `{len(items)}`; an unclosed `{` or a hole that is not an expression is refused. Write "
     "`{{` and `}}` for literal braces."),
    ("F0005", "error", "invalid string escape",
     "Only `\\n`, `\\t`, `\\r`, `\\\\`, `\\\"` and `\\'` are escapes in strings."),
    ("F0006", "error", "expression nested too deeply",
     "Expressions may nest at most 64 levels deep: brackets, calls, `not` and unary `-`, and "
     "operands of operators of different strengths each add a level. A chain of one operator "
     "strength (`a + b - c + ...`, `x and y and z`) is one level however long. Give an inner "
     "part a name of its own (an input, or a `code` node that computes it), or drop nesting "
     "that does nothing, such as `- -x` or `[[x]]` where `[x]` was meant."),
    # ---- names -------------------------------------------------------------------------------
    ("F0101", "error", "unknown name",
     "A reference names nothing declared in the flow: no input, node, import, type or enum "
     "variant has that name. The help suggests the closest declared name."),
    ("F0102", "error", "duplicate name",
     "Two declarations share one name. Inputs, nodes, outputs and import aliases share one "
     "namespace; records, enums and deliverables share another."),
    ("F0103", "error", "SOP file or folder not found",
     "`import sop` names a path, relative to the flow file, that does not exist."),
    ("F0104", "error", "unknown SOP entry",
     "A folder import exposes each file as an entry named after the file's stem; the entry "
     "named here is not in the folder."),
    ("F0105", "error", "unknown skill",
     "`use skill` names a skill found in no registry (`stdlib_skills/` or the project's "
     "`skills/`)."),
    ("F0106", "error", "no skill version satisfies the requirement",
     "The skill exists, but none of its versions matches the pin or range."),
    ("F0107", "error", "invalid version or range",
     "Versions are semver (`2.1.0`); ranges are `^1.3`, `~1.3.2`, `>=1.2,<2` or `*`."),
    ("F0108", "error", "invalid skill definition",
     "A skill's `SKILL.md` lacks YAML frontmatter, or its name, version, inputs or outputs are "
     "malformed; or a skill registry that `flowc.toml` configures cannot be read (an unknown "
     "protocol, an unreachable URL, a missing folder, a malformed flowc.toml)."),
    ("F0109", "error", "flow import cannot be used",
     "`use flow` names a file that does not exist, does not compile, or imports the importing "
     "flow again (a cycle of flows)."),
    ("F0110", "error", "unknown type",
     "A type name is neither built in (`str int float bool date duration json memory list map "
     "file`) "
     "nor a record, enum or deliverable declared in the flow."),
    ("F0111", "error", "skill lock is stale",
     "`flowc check --locked` compares what each `use skill` resolves today with the flow's "
     "entry in `flow.lock`: a range that now resolves to another version, a skill whose "
     "content changed since it was locked (a different sha256: tampering, or a changed shared "
     "skill), or a flow with no entry. Review the change, then run `flowc lock FILE`."),
    ("F0112", "error", "unknown model",
     "A node's `model` names an alias that the project's `flowc.toml` does not configure. "
     "Flows name models by alias so that endpoints and keys stay out of them: add a "
     "`[models.ALIAS]` table to flowc.toml, or use one of its aliases. Checked only when a "
     "flowc.toml with a `[models]` section applies to the flow."),
    # ---- types and properties ------------------------------------------------------------------
    ("F0201", "error", "unknown property, argument or option",
     "A node block, call or clause uses a key that this kind of node does not take."),
    ("F0202", "error", "missing required property or argument",
     "A node lacks something it cannot run without, such as an `llm` node's `prompt` or a "
     "skill's required input."),
    ("F0203", "error", "no such field or part",
     "A reference follows a name that the value's type does not declare: a deliverable part, a "
     "record field or a gate field."),
    ("F0204", "error", "type mismatch",
     "A value's type does not match what the place it is used requires."),
    ("F0205", "error", "value cannot be put into text",
     "A template hole must name a value that has a text form: a scalar, an enum, a file (its "
     "path) or a list of those. Name one part of a deliverable or record instead."),
    ("F0206", "error", "operator does not apply to these types",
     "The operator is not defined for the operand types, e.g. `<` between a string and a number."),
    ("F0207", "error", "condition is not a boolean",
     "`when` conditions and gate `when:` arguments must be `bool` expressions."),
    ("F0208", "error", "unknown enum variant",
     "The name is compared with or matched against an enum that has no such variant."),
    ("F0209", "error", "invalid command line",
     "A `command` node holds one POSIX-style command line: words, quotes, pipes `|`, `$(...)` and "
     "redirections to relative paths. Lists (`;`, `&&`, `||`), background jobs (`&`), "
     "unbalanced quotes or parentheses, and redirections to absolute paths are refused."),
    ("F0210", "error", "wrong kind of reference",
     "The reference resolves, but to the wrong kind of thing, e.g. a node where a SOP is "
     "required in `sops [...]`."),
    ("F0211", "error", "invalid value",
     "A setting has a value outside what it accepts, e.g. a negative concurrency or an unknown "
     "language."),
    ("F0212", "error", "node needs a declared type",
     "Nodes whose output shape the compiler cannot infer (`code`, `ask human`) must declare it: "
     "`node name: Type = ...`."),
    ("F0213", "error", "value may be missing",
     "An optional value (`T?`, or a field of an `extract` node) is used where a value is "
     "required. Supply a default with `??`."),
    ("F0214", "error", "wrong number of arguments",
     "A built-in function is called with the wrong number of arguments."),
    # ---- graph -------------------------------------------------------------------------------
    ("F0301", "error", "cycle in the flow",
     "Nodes depend on each other in a circle, so none of them can start. Break the cycle, or use "
     "`for each` or a flow call for repetition."),
    ("F0302", "error", "node can never run",
     "No path from the flow's start reaches this node: it waits for an outcome that cannot "
     "happen (an action the gate does not offer) or for a node that can never run."),
    ("F0303", "error", "gate outcome not handled",
     "A gate offers an action whose outcome no node waits for (`after gate.outcome`) and no "
     "`match` arm covers. Handle it, or end the run with `match gate { rejected -> stop }`."),
    ("F0304", "warning", "gate without a timeout",
     "A gate with no `timeout:` can wait forever. Give it `timeout: 48h -> reject`."),
    ("F0305", "warning", "deliverable part never consumed",
     "A part of a node's declared deliverable is read by no node, template or output. Either "
     "use it downstream or drop it from the deliverable."),
    ("F0306", "warning", "unused import",
     "An imported SOP, skill or flow is never used."),
    ("F0307", "error", "external effect not approved",
     "A node with `effect external` can run on a path that passes no approving gate outcome "
     "(`approved` or `edited`). The check uses dominance in the flow's graph: every way the "
     "node can be reached must pass an approval. `policy approval: warning` or `off` relaxes "
     "it per flow."),
    ("F0308", "error", "unknown outcome",
     "`after` and `match` name outcomes: a gate's `approved`, `edited`, `rejected`; an "
     "`extract` node's `extracted`, `fallback`."),
    ("F0309", "error", "match is not exhaustive",
     "A `match` must cover every variant or outcome, or end with an `else` arm."),
    ("F0310", "error", "duplicate match pattern",
     "A pattern appears in more than one arm of the same `match`."),
    ("F0311", "warning", "node result never used",
     "A node that has no external effect produces a result nothing reads."),
    # ---- internal ----------------------------------------------------------------------------
    ("F9999", "error", "internal compiler error",
     "A bug in flowc, not in your flow. Please report it with the flow that triggered it."),
]

CODES: dict[str, Code] = {row[0]: Code(*row) for row in _TABLE}
INTERNAL_ERROR = "F9999"
