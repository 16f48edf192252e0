"""The flows a server offers: every `.flow` file under the folders it was given, compiled once
at start (a flow with errors is listed with them, never started), each with its project folder
(for its flowc.toml, skills and models) and its triggers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Catalog", "FlowEntry"]


@dataclass
class FlowEntry:
    name: str
    path: Path
    base_dir: Path
    plan: Any = None  # compiler.plan.Plan, None when the flow has errors
    errors: list[str] = field(default_factory=list)
    version: dict | None = None  # the flow version this entry runs ({number, status}), if any

    @property
    def mode(self) -> str:
        return self.plan.flow.mode if self.plan else "workflow"

    @property
    def triggers(self) -> list[dict]:
        return list(self.plan.flow.triggers) if self.plan else []

    def upload_input(self) -> str | None:
        """The file input an `on upload` trigger fills: the one input whose schema is a file."""
        if not self.plan or not any(t.get("kind") == "upload" for t in self.triggers):
            return None
        from flowc.runtime.validate import is_file_schema

        for spec in self.plan.inputs:
            if is_file_schema(spec.schema_):
                return spec.name
        return None


class Catalog:
    def __init__(self, folders: list[Path]):
        self.entries: dict[str, FlowEntry] = {}
        self.problems: list[str] = []
        for folder in folders:
            self._load(Path(folder))

    def _load(self, folder: Path) -> None:
        from flowc.compiler.api import compile_file
        from flowc.compiler.discovery import find_flow_files

        if folder.is_file():
            files = [folder]
        else:
            files = find_flow_files(folder)
        for path in files:
            path = path.resolve()
            try:
                result = compile_file(path)
            except Exception as e:  # a flow that cannot even be read: listed as such
                self.problems.append(f"{path}: {e}")
                continue
            errors = [f"{path.name}:{d.start.line}:{d.start.column}: {d.code} {d.message}"
                      for d in result.diagnostics.items if d.severity == "error"]
            plan = result.plan if not errors else None
            name = plan.flow.name if plan else path.stem
            if name in self.entries:  # two flows of one name: the first stays, say so
                self.problems.append(f"{path}: a flow named `{name}` is already served from "
                                     f"{self.entries[name].path}")
                continue
            self.entries[name] = FlowEntry(name, path, path.parent, plan, errors)

    def get(self, name: str) -> FlowEntry | None:
        return self.entries.get(name)

    def runnable(self) -> list[FlowEntry]:
        return [e for e in self.entries.values() if e.plan is not None]

    def by_plan_hash(self, plan_hash: str) -> FlowEntry | None:
        return next((e for e in self.entries.values() if e.plan and e.plan.hash == plan_hash),
                    None)
