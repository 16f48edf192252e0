"""F0306: imported SOPs, skills and flows that nothing uses."""

from __future__ import annotations


def check_unused_imports(fg, program, diags) -> None:
    for table, word in ((program.sop_decls, "SOP"), (program.skills, "skill"),
                        (program.flows, "flow")):
        for alias, item in table.items():
            if alias in program.used_imports or alias in program.failed_imports:
                continue
            decl = getattr(item, "decl", item)
            diags.add("F0306", program.source, decl.span, f"{word} `{alias}` is imported but "
                      "never used", label="unused import", help="remove the import")
