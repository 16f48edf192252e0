"""F0213 for outputs: an output that reads a node a run may skip may be missing.

Inside the flow a skipped node skips its readers, so nothing reads a missing value; an
output has no reader to skip, so it must say that it may be missing (`T?`) or give a
default with `??` whose last alternative is always there.
"""

from __future__ import annotations

from .. import types as t


def may_be_missing(ir, conditional: set[str]) -> str | None:
    """The name of a skippable node that can leave this value missing, or None."""
    if not isinstance(ir, dict):
        return None
    if "node" in ir:
        return ir["node"] if ir["node"] in conditional else None
    op = ir.get("op")
    if op == "??" or (op == "fold" and ir["args"][1] == "??"):
        # missing only when every alternative may be missing
        alternatives = ir["args"][::2] if op == "fold" else ir["args"]
        found = [may_be_missing(a, conditional) for a in alternatives]
        return found[-1] if all(found) else None
    for arg in ir.get("args", []) + ir.get("list", []) + ir.get("template", []):
        found = may_be_missing(arg, conditional)
        if found:
            return found
    return None


def check_conditional_outputs(fg, program, diags) -> None:
    for name, out in program.outputs.items():
        if t.is_optional(out.type) or out.decl.type is None:
            continue
        skipped = may_be_missing(out.value, fg.conditional)
        if not skipped:
            continue
        diags.add("F0213", program.source, out.decl.value.span,
                  f"output `{name}` may be missing: `{skipped}` does not run in every run",
                  label="may be skipped",
                  help=f"declare it `{out.type.describe()}?`, or give a default with `?? VALUE`")
