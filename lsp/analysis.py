"""Checking open documents: the compiler's pipeline over an incrementally parsed tree.

The pipeline is the one `flowc check` runs (parse, check, graph rules, and the lock check of
`flowc check --locked` for a flow that its folder's `flow.lock` records), so the diagnostics
are the same. What the server adds:

* the parse is incremental (`incremental.IncrementalParser`);
* skill registries and imported flows stay cached between checks, and are dropped when a
  file they were read from changes on disk (a stat of each, per check);
* when the file has syntax errors, `flowc check` stops after the parse; the server still
  checks the declarations that parsed, to answer hover and completion, but publishes only
  the syntax errors, as `flowc check` would.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from flowc.compiler.api import Compiler
from flowc.compiler.diagnostics import Diagnostic, Diagnostics
from flowc.compiler.source import Source

from .incremental import IncrementalParser

if TYPE_CHECKING:
    from flowc.compiler import syntax as s
    from flowc.compiler.checker import Program
    from flowc.compiler.skills import SkillRegistry

    from .documents import Document
    from .symbols import SymbolIndex

__all__ = ["Analysis", "Analyzer"]


@dataclass
class Analysis:
    """One checked version of one document."""

    uri: str
    version: int
    source: Source
    file: s.FlowFile
    base_dir: Path
    diagnostics: list[Diagnostic]
    program: Program | None
    registry: SkillRegistry | None
    syntax_errors: bool
    _index: SymbolIndex | None = field(default=None, repr=False)

    @property
    def index(self) -> SymbolIndex:
        if self._index is None:
            from .symbols import build_index

            self._index = build_index(self)
        return self._index


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class Analyzer:
    """Checks documents, keeping what can be kept between checks."""

    def __init__(self, skill_dirs: list[Path] | None = None, locked: str | bool = "auto",
                 root: Path | None = None):
        self.skill_dirs = list(skill_dirs or [])
        self.locked = locked
        self.root = root
        self.compiler = Compiler(self.skill_dirs, locked=self.locked)
        self._parsers: dict[str, IncrementalParser] = {}
        self._watched: dict[Path, tuple[int, int] | None] = {}
        self.checks = 0

    # ---- caches ------------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget cached registries and imported flows (something changed on disk)."""
        self.compiler = Compiler(self.skill_dirs, locked=self.locked)
        self._watched = {}

    def _refresh(self) -> None:
        if any(_stamp(p) != st for p, st in self._watched.items()):
            self.invalidate()

    def _watch(self, paths) -> None:
        for p in paths:
            if p not in self._watched:
                self._watched[p] = _stamp(p)

    def forget(self, uri: str) -> None:
        self._parsers.pop(uri, None)

    def parser_stats(self, uri: str):
        p = self._parsers.get(uri)
        return p.stats if p else None

    # ---- checking ----------------------------------------------------------------------------
    def base_dir(self, doc: Document) -> Path:
        if doc.path is not None:
            return doc.path.parent
        return self.root or Path.cwd()

    def analyze(self, doc: Document) -> Analysis:
        from flowc.compiler.api import FlowLoader, check_lock
        from flowc.compiler.checker import check_program
        from flowc.compiler.graph import build_graph

        self._refresh()
        self.checks += 1
        source = Source(doc.text, doc.display_path)
        base_dir = self.base_dir(doc)
        diags = Diagnostics()
        parser = self._parsers.setdefault(doc.uri, IncrementalParser())
        enabled = gc.isenabled()
        gc.disable()  # as the compiler does: collections in a check only cost time
        try:
            parsed = parser.parse(source, diags)
            registry = self.compiler.registry_for(base_dir)
            loader = FlowLoader(self.compiler)
            syntax_errors = diags.has_errors
            # With syntax errors the published diagnostics are the parse's (as `flowc check`);
            # the declarations that parsed are still checked, quietly, for hover and completion.
            sink = Diagnostics() if syntax_errors else diags
            program = check_program(source, parsed.file, sink, base_dir.resolve(), registry,
                                    loader)
            if not syntax_errors:
                build_graph(program, diags)
                if self._lock_applies(doc):
                    check_lock(Path(source.path), program, diags)
        finally:
            if enabled:
                gc.enable()
        self._watch_inputs(doc, program, registry, loader.loaded)
        return Analysis(doc.uri, doc.version, source, parsed.file, base_dir, diags.sorted(),
                        program, registry, syntax_errors)

    def _lock_applies(self, doc: Document) -> bool:
        # the rule `flowc check` follows, with the same default ("auto")
        from flowc.compiler.lockfile import lock_applies

        return doc.path is not None and lock_applies(doc.path, self.locked)

    def _watch_inputs(self, doc, program, registry, loaded) -> None:
        paths: list[Path] = [Path(r) for r in registry.roots]
        for use in program.skills.values():
            if use.version is not None:
                paths += [use.version.folder.parent, use.version.skill_md]
        stack = list(loaded.items())
        while stack:
            path, res = stack.pop()
            paths.append(Path(path))
            stack.extend(res.subflows.items())
        self._watch(paths)
