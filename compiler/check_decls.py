"""Checker pass 0 for settings and imports: `mode`, `trigger`, `policy`, `import sop`,
`use skill` and `use flow`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import syntax as s
from . import types as t
from .check_base import (
    _display_path,
)
from .diagnostics import Diagnostics, Related
from .parser import parse_type_text
from .program import (
    FlowUse,
    SkillUse,
)
from .sops import load_sop
from .source import Source, Span
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .skills import SkillVersion


__all__ = ["DeclarationChecks"]


class DeclarationChecks:
    """Checks a flow's settings and imports, and records them on the program."""

    def check_mode(self, it: s.ModeDecl) -> None:
        if it.mode.value not in ("workflow", "chat"):
            self.err("F0211", it.mode.span, f"unknown mode `{it.mode.value}`",
                     label="not a mode", help=did_you_mean(it.mode.value, ("workflow", "chat"))
                     or "a flow's mode is `workflow` or `chat`")
        else:
            self.p.mode = it.mode.value

    def check_trigger(self, it: s.TriggerDecl) -> None:
        kind = it.kind.value
        if kind == "schedule":
            if not (isinstance(it.arg, s.Literal) and isinstance(it.arg.value, str)):
                self.err("F0211", it.arg.span, "a schedule is a cron string",
                         help='write `on schedule "0 9 1 * *"`')
                return
            fields_ = it.arg.value.split()
            if len(fields_) != 5:
                self.err("F0211", it.arg.span,
                         f"a cron schedule has 5 fields, this one has {len(fields_)}",
                         label="minute hour day-of-month month day-of-week")
                return
            self.p.triggers.append({"kind": "schedule", "cron": it.arg.value})
            self._trigger_decls.append(it)
        elif kind == "upload":
            if isinstance(it.arg, s.Literal):
                self.err("F0211", it.arg.span, "an upload trigger names a file type",
                         help="write `on upload file<csv>`")
                return
            ty = self.resolve_type(it.arg)
            if not isinstance(ty, t.FileT | t.UnknownT):
                self.err("F0204", it.arg.span, f"an upload is a file, not `{ty.describe()}`")
                return
            self.p.triggers.append({"kind": "upload", "schema": t.json_schema(ty)})
            self._trigger_decls.append(it)
        else:
            self.err("F0211", it.kind.span, f"unknown trigger `{kind}`", label="not a trigger",
                     help=did_you_mean(kind, ("schedule", "upload"))
                     or "triggers are `on schedule \"CRON\"` and `on upload file<KIND>`")

    def check_triggers_against_inputs(self) -> None:
        """An upload fills one file input; every other input then needs a default."""
        required = [i for i in self.p.inputs.values()
                    if i.decl.default is None and not t.is_optional(i.type)]
        for trig, decl in zip(self.p.triggers, self._trigger_decls, strict=True):
            if trig["kind"] == "upload":
                files = [i for i in required if isinstance(i.type, t.FileT)]
                others = [i for i in required if not isinstance(i.type, t.FileT)]
                if len(files) != 1 or others:
                    self.err("F0211", decl.span,
                             "an upload trigger fills exactly one file input, and every other "
                             "input needs a default", label="which input gets the upload?",
                             help="declare one required `input NAME: file<KIND>` and give the "
                             "rest defaults")

    def check_policy(self, it: s.PolicyDecl) -> None:
        if it.name.value != "approval":
            self.err("F0201", it.name.span, f"unknown policy `{it.name.value}`",
                     label="not a policy", help=did_you_mean(it.name.value, ("approval",))
                     or "the policy is `approval` (external effects need an approving gate)")
            return
        if it.level.value not in ("error", "warning", "off"):
            self.err("F0211", it.level.span, f"unknown policy level `{it.level.value}`",
                     help="a policy level is `error`, `warning` or `off`")
            return
        self.p.policy[it.name.value] = it.level.value

    def check_import_sop(self, it: s.ImportSop) -> None:
        alias = it.alias.value
        if not self._declare_value(it.alias):
            return
        path = (self.p.base_dir / str(it.path.value)).resolve()
        lib = load_sop(alias, path)
        if lib is None:
            self.failed_imports.add(alias)
            parent = path.parent
            near = []
            if parent.is_dir():
                near = [p.name for p in parent.iterdir()]
            self.err("F0103", it.path.span, f"SOP `{it.path.value}` does not exist",
                     label=f"no such file or folder under {self._rel(parent)}",
                     help=did_you_mean(path.name, near))
            return
        if lib.is_folder and not lib.entries:
            self.err("F0103", it.path.span, f"SOP folder `{it.path.value}` has no documents",
                     label="empty folder",
                     help="a folder import exposes each .md, .markdown, .txt or .rst file")
        self.p.sops[alias] = lib
        self.p.sop_decls[alias] = it

    def _rel(self, p: Path) -> str:
        import os

        if "://" in str(p):  # a registry URL stays as it is
            return str(p)

        from flowc.stdlib_skills import STDLIB_SKILLS_DIR

        if Path(p).resolve() == STDLIB_SKILLS_DIR.resolve():
            return "the standard library (stdlib_skills)"
        return Path(os.path.relpath(p, self.p.base_dir)).as_posix()

    def check_use_skill(self, it: s.UseSkill) -> None:
        from .skills import parse_version_spec

        local = it.local_name
        if not self._declare_value(local):
            return
        use = SkillUse(it, None)
        self.p.skills[local.value] = use
        self.failed_imports.add(local.value)  # until it resolves below
        try:
            spec = parse_version_spec(str(it.spec.value))
        except ValueError:
            self.err("F0107", it.spec.span, f"`{it.spec.value}` is not a version or range",
                     help="write a version such as `2.1.0`, or a range: `^1.3`, `~1.3.2`, "
                     "`>=1.2,<2`")
            return
        name = it.skill.value
        versions = self.registry.versions(name)
        if not versions:
            problems = self.registry.problems_for(name)
            if problems:
                for pr in problems:
                    self._skill_problem(pr, it.skill.span)
                return
            self.err("F0105", it.skill.span, f"no skill named `{name}` in any registry",
                     label="unknown skill",
                     help=did_you_mean(name, self.registry.names()),
                     notes=("registries searched: " + ", ".join(
                         self._rel(r) for r in self.registry.roots),))
            return
        sv = self.registry.resolve(name, spec)
        if sv is None:
            have = ", ".join(sorted(v.version for v in versions))
            self.err("F0106", it.spec.span,
                     f"no version of skill `{name}` satisfies `{it.spec.value}`",
                     label="nothing matches", help=f"available versions: {have}")
            return
        use.version = sv
        self.failed_imports.discard(local.value)
        self._skill_signature(use, sv, it)

    def _skill_problem(self, pr, at: Span) -> None:
        src = Source.from_file(pr.path)
        src.path = _display_path(pr.path)
        start = src.line_starts[min(pr.line, src.line_count) - 1]
        span = Span(start, start + len(src.line_text(pr.line)))
        self.d.add("F0108", src, span, pr.message, label="here",
                   related=(Related(self.src, at, "used here"),))

    def _skill_type(self, text, sv: SkillVersion, where: str) -> t.Type | None:
        src = Source(str(text), f"{sv.skill_md}#{where}")
        d = Diagnostics()
        node = parse_type_text(str(text), src, d)
        if node is None:
            return None
        return self.resolve_type(node, builtins_only=True, quiet=True)

    def _skill_signature(self, use: SkillUse, sv: SkillVersion, it: s.UseSkill) -> None:
        from .skills import SkillProblem

        bad = []
        for name, spec in sv.inputs.items():
            default = None
            if isinstance(spec, dict):
                default = spec.get("default")
                spec = spec.get("type", "json")
            text = str(spec).strip()
            optional = text.endswith("?") or default is not None
            ty = self._skill_type(text, sv, f"inputs.{name}")
            if ty is None:
                bad.append(f"input `{name}` has an invalid type `{text}`")
                continue
            if default is not None:
                from .jsonvalue import json_problem

                if (problem := json_problem(default)) is not None:
                    bad.append(f"input `{name}` has a default that is not JSON data: {problem}")
                    continue
            use.inputs[name] = (ty, not optional)
            if default is not None:
                use.defaults[name] = default
        parts = []
        out = sv.outputs
        if "text" in out:
            parts.append(t.PartT(str(out["text"]), "text", t.STR))
        for kind, key in (("file", "files"), ("field", "fields")):
            entries = out.get(key) or {}
            if not isinstance(entries, dict):
                bad.append(f"`outputs.{key}` must map names to types")
                continue
            for pname, ptext in entries.items():
                ty = self._skill_type(ptext, sv, f"outputs.{key}.{pname}")
                if ty is None:
                    bad.append(f"output `{pname}` has an invalid type `{ptext}`")
                    continue
                parts.append(t.PartT(str(pname), kind, ty))
        if out.get("memory"):
            parts.append(t.PartT("memory", "memory", t.MEMORY))
        for msg in bad:
            self._skill_problem(SkillProblem(sv.skill_md, 1, msg), it.skill.span)
        use.output = t.DeliverableT(sv.name.replace("-", "_"), tuple(parts))

    def check_use_flow(self, it: s.UseFlow) -> None:
        if not self._declare_value(it.alias):
            return
        path = (self.p.base_dir / str(it.path.value)).resolve()
        use = FlowUse(it, path, None)
        self.p.flows[it.alias.value] = use
        self.failed_imports.add(it.alias.value)  # until it loads below
        if not path.is_file():
            near = [f.name for f in path.parent.glob("*.flow")] if path.parent.is_dir() else []
            self.err("F0109", it.path.span, f"flow `{it.path.value}` does not exist",
                     label="no such file", help=did_you_mean(path.name, near) or (
                         "the path is relative to this file's folder" + (
                             "; flows there: " + ", ".join(f"`{n}`" for n in sorted(near)[:5])
                             if near else "")))
            return
        if self.loader is None:
            return
        sub = Diagnostics()
        prog = self.loader.load(path, sub)
        if prog is None:
            msg = next((d.message for d in sub.items if d.code == "F0109"), None)
            self.err("F0109", it.path.span, msg or f"flow `{it.path.value}` cannot be imported",
                     label="imported here")
            return
        if sub.has_errors:
            self.err("F0109", it.path.span,
                     f"flow `{it.path.value}` has {sub.error_count} error(s)",
                     label="imported here", help=f"run `flowc check {self._rel(path)}`")
            self.d.extend(sub)
            return
        use.program = prog
        self.failed_imports.discard(it.alias.value)

