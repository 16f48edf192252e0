"""F0213 for outputs: an output that reads a node a run may skip may be missing.

Inside the flow a skipped node skips its readers, so nothing reads a missing value; an
output has no reader to skip, so it must say that it may be missing (`T?`) or give a
default with `??`.
"""

from __future__ import annotations

from .. import types as t


def check_conditional_outputs(fg, program, diags) -> None:
    for name, out in program.outputs.items():
        skipped = sorted(d for d, req in out.deps.items() if req and d in fg.conditional)
        if not skipped or t.is_optional(out.type) or out.decl.type is None:
            continue
        diags.add("F0213", program.source, out.decl.value.span,
                  f"output `{name}` may be missing: `{skipped[0]}` does not run in every run",
                  label="may be skipped",
                  help=f"declare it `{out.type.describe()}?`, or give a default with `?? VALUE`")
