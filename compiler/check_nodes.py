"""Checker pass 2 for nodes: options, `after`, properties, skill and flow calls, code,
commands and `for each` bodies."""

from __future__ import annotations

from . import syntax as s
from . import types as t
from .check_base import (
    _OPTIONS,
    _PROPS,
    _REQUIRED_PROPS,
    _SANDBOXED,
    GATE_OUTCOMES,
    _Ctx,
    _kind_of,
    _parse_size,
    _valid_host,
)
from .commandline import command_words, holes_after_backslash, mask_holes, validate_command_line
from .diagnostics import Related
from .program import (
    ControlDep,
    NodeInfo,
)
from .source import Span
from .suggest import did_you_mean, parse_duration

__all__ = ["NodeChecks"]


class NodeChecks:
    """Checks each node's body and clauses; records its config, deps and effect."""

    def check_node(self, info: NodeInfo) -> None:
        decl = info.decl
        ctx = _Ctx()
        self.check_body(info, decl.body, ctx, info.config)
        effects = info.config.get("effects") or info.config.get("body", {}).get("effects") or []
        if "external" in effects:
            # the skill says it acts on the outside world: the approval policy applies
            info.effect_from = info.config.get("skill") or info.config["body"].get("skill")
        allowed_options = dict(_OPTIONS)
        for cl in decl.clauses:
            if isinstance(cl, s.WhenClause):
                cctx = _Ctx()
                ty, ir = self.expr(cl.condition, cctx, t.BOOL)
                self.expect_bool(ty, cl.condition.span)
                info.when = ir
                for k, req in cctx.deps.items():
                    ctx.deps[k] = ctx.deps.get(k, False) or req
            elif isinstance(cl, s.AfterClause):
                for ref in cl.refs:
                    self.check_after(info, ref)
            elif isinstance(cl, s.EffectClause):
                if cl.kind.value != "external":
                    self.err("F0211", cl.kind.span, f"unknown effect `{cl.kind.value}`",
                             help=did_you_mean(cl.kind.value, ("external",))
                             or "the effect kind is `external`")
                info.effect = cl.kind.value
            elif isinstance(cl, s.OptionClause):
                self.check_option(info, cl, allowed_options, ctx)
        if info.effect_from and info.effect is None:
            info.effect = "external"
        if info.name in ctx.deps:
            self.err("F0301", decl.name.span, f"node `{info.name}` uses its own result",
                     label="refers to itself")
            ctx.deps.pop(info.name)
        info.deps = ctx.deps

    def check_option(self, info: NodeInfo, cl: s.OptionClause, allowed, ctx) -> None:
        key = cl.key.value
        if key not in allowed:
            self.err("F0201", cl.key.span, f"unknown option `{key}` on node `{info.name}`",
                     label="not an option", help=did_you_mean(key, allowed)
                     or "options are: " + ", ".join(sorted(allowed)))
            return
        kind_here = info.kind
        if kind_here == "for_each":
            kind_here = _kind_of(info.decl.body.body)
        if key in ("hosts", "memory_limit", "isolation") and kind_here not in _SANDBOXED:
            self.err("F0201", cl.key.span, f"`{key}` applies only to sandboxed nodes",
                     label=f"`{kind_here}` nodes do not run in the sandbox",
                     help="use it on `code`, `command` or `skill` nodes")
            return
        if key == "timeout" and kind_here in ("gate", "ask"):
            self.err("F0201", cl.key.span, "a person's timeout is the `timeout:` argument",
                     help="write `timeout: 48h -> ...` inside `await human(...)` or "
                     "`ask human(...)`")
            return
        value = cl.value
        if isinstance(value, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", value.span, f"`{key}` takes a single value")
            return
        kind = allowed[key]
        if kind == "duration":
            if not (isinstance(value, s.Literal) and value.kind == "duration"):
                self.err("F0204", value.span, f"`{key}` takes a duration such as `30s`")
                return
            info.options[key] = parse_duration(str(value.value))
        elif kind == "int":
            if not (isinstance(value, s.Literal) and value.kind == "int") or value.value < 0:
                self.err("F0211", value.span, f"`{key}` takes a whole number (0 or more)")
                return
            info.options[key] = value.value
        elif kind == "strlist":
            if not (isinstance(value, s.ListExpr) and all(
                    isinstance(i, s.Literal) and i.kind == "str" for i in value.items)):
                self.err("F0204", value.span, f"`{key}` takes a list of host names",
                         help='write `hosts ["api.example.com"]`')
                return
            hosts = [str(i.value) for i in value.items]
            for i, h in zip(value.items, hosts, strict=True):
                if not _valid_host(h):
                    self.err("F0211", i.span, f"`{h}` is not a host name",
                             help="give a host such as `api.example.com` (no scheme, no path)")
            info.options[key] = hosts
        else:
            if not (isinstance(value, s.Literal) and value.kind == "str"):
                self.err("F0204", value.span, f"`{key}` takes a string")
                return
            v = str(value.value)
            if key == "isolation" and v not in ("strict", "run"):
                self.err("F0211", value.span, f"unknown isolation `{v}`",
                         help="isolation is `strict` (a fresh interpreter) or `run` "
                         "(one interpreter for the whole run)")
                return
            if key == "memory_limit" and _parse_size(v) is None:
                self.err("F0211", value.span, f"`{v}` is not a size",
                         help='write a size such as "256MiB" or "1GiB"')
                return
            info.options[key] = _parse_size(v) if key == "memory_limit" else v

    def check_after(self, info: NodeInfo, ref: s.Ref) -> None:
        target = ref.parts[0].value
        node = self.p.nodes.get(target)
        if node is None:
            self.unknown_name(ref.parts[0], "node")
            return
        if len(ref.parts) == 1:
            info.control.append(ControlDep(target, (), ref.span))
            return
        oc = ref.parts[1]
        if len(ref.parts) > 2 or oc.value not in node.outcomes:
            possible = node.outcomes
            if possible:
                help_ = did_you_mean(oc.value, possible) or \
                    f"`{target}` ends with one of: " + ", ".join(possible)
            else:
                help_ = f"`{target}` has no outcomes; write `after {target}` to wait for it"
            if oc.value in ("approved", "edited", "rejected") and node.kind == "gate":
                action = {v: k for k, v in GATE_OUTCOMES.items()}[oc.value]
                help_ = f"add `{action}` to the gate's `actions:`"
            self.err("F0308", oc.span, f"`{target}` has no outcome `{oc.value}`",
                     label="unknown outcome", help=help_)
            return
        info.control.append(ControlDep(target, (oc.value,), ref.span))

    _BODY_CHECKS = {
        s.PropNode: "check_props", s.SkillCall: "check_skill_call",
        s.FlowCall: "check_flow_call", s.CodeNode: "check_code", s.CommandNode: "check_command",
        s.GateNode: "check_gate", s.AskNode: "check_ask", s.ForEach: "check_for_each",
    }

    def check_body(self, info: NodeInfo, body, ctx: _Ctx, config: dict) -> None:
        """Check a node's body with the checker for its kind."""
        getattr(self, self._BODY_CHECKS[type(body)])(info, body, ctx, config)

    def check_props(self, info, body: s.PropNode, ctx: _Ctx, config: dict) -> None:
        schema = _PROPS[body.kind]
        seen: dict[str, Span] = {}
        for prop in body.props:
            key = prop.key.value
            if key in seen:
                self.err("F0102", prop.key.span, f"`{key}` is given twice",
                         related=self.declared_here(seen[key], "first given here"))
                continue
            seen[key] = prop.key.span
            kind = schema.get(key)
            if kind is None:
                self.err("F0201", prop.key.span, f"`{body.kind}` nodes have no property `{key}`",
                         label="unknown property", help=did_you_mean(key, schema)
                         or "properties: " + ", ".join(schema))
                continue
            config[key] = self.prop_value(kind, prop.value, ctx, key)
            if key == "model" and isinstance(config[key], str):
                self.check_model_alias(config[key], prop.value.span)
        for req in _REQUIRED_PROPS[body.kind]:
            if req not in seen:
                self.err("F0202", body.span if body.span.end - body.span.start < 200 else
                         Span(body.span.start, body.span.start + len(body.kind)),
                         f"`{body.kind}` node `{info.name}` has no `{req}`",
                         label=f"`{req}` is required", help=f"add `{req} ...` to the block")
        if body.kind == "extract" and "from" in config:
            pass

    def check_model_alias(self, alias: str, span: Span) -> None:
        """F0112: the alias must be one flowc.toml configures (when one applies)."""
        if not hasattr(self, "_models"):
            from flowc.config import ConfigError, load_config

            try:
                cfg = load_config(self.p.base_dir)
            except ConfigError:  # a broken flowc.toml is reported where it is read
                cfg = None
            self._models = (cfg.models, cfg.path) if cfg is not None and cfg.models else None
        if self._models is None or alias in self._models[0]:
            return
        models, path = self._models
        self.err("F0112", span, f"no model `{alias}` in {self._rel(path)}",
                 label="unknown model",
                 help=did_you_mean(alias, models) or "models: " + ", ".join(sorted(models)))

    def prop_value(self, kind: str, value, ctx: _Ctx, key: str):
        if isinstance(value, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", value.span, f"`{key}` takes a single value")
            return None
        if kind == "template":
            return self.template(value, ctx, key)
        if kind in ("str", "float", "int"):
            want = {"str": t.STR, "float": t.FLOAT, "int": t.INT}[kind]
            if not isinstance(value, s.Literal):
                self.err("F0204", value.span, f"`{key}` takes a constant {kind}",
                         label="not a constant")
                return None
            ty, ir = self.expr(value, ctx, want)
            self.expect(ty, want, value.span, f"`{key}`")
            return value.value
        if kind == "text":
            sub = _Ctx(ctx.locals)
            sub.optional = 1
            ty, ir = self.expr(value, sub, t.STR)
            for k in sub.deps:
                ctx.deps.setdefault(k, False)
            if not t.renderable(ty):
                self.err("F0204", value.span, f"`{key}` must be text, not `{ty.describe()}`")
            return ir
        if kind == "source":
            ty, ir = self.expr(value, ctx, None)
            if not isinstance(value, s.Ref) or value.parts[0].value not in self.p.nodes:
                self.err("F0210", value.span, f"`{key}` names a node, or a part of one",
                         help="write `from draft.memory` or `from draft`")
            return ir
        items = value.items if isinstance(value, s.ListExpr) else (value,)
        out = []
        for item in items:
            if kind == "nodes":
                ty, ir = self.expr(item, ctx, None)
                if not isinstance(item, s.Ref) or item.parts[0].value not in self.p.nodes | \
                        self.p.inputs:
                    self.err("F0210", item.span, "`context` lists nodes, inputs or their parts",
                             label="not a node or input")
                out.append(ir)
            elif kind == "sops":
                out.append(self.sop_ref(item))
            elif kind == "skills":
                out.append(self.skill_ref(item))
        return out

    def sop_ref(self, item) -> str | None:
        if not isinstance(item, s.Ref):
            self.err("F0210", item.span, "`sops` lists imported SOPs",
                     help="write `sops [compliance, reporting.monthly]`")
            return None
        alias = item.parts[0].value
        lib = self.p.sops.get(alias)
        if lib is None:
            if alias in self.failed_imports:
                return None
            if alias in self.p.nodes or alias in self.p.inputs or alias in self.p.skills:
                what = ("a node" if alias in self.p.nodes else
                        "an input" if alias in self.p.inputs else "a skill")
                where = ("`skills [...]`" if alias in self.p.skills else "`context [...]`")
                self.err("F0210", item.span, f"`{alias}` is not an SOP",
                         label=f"`{alias}` is {what}",
                         help=f"`sops [...]` lists documents imported with `import sop`; "
                         f"put {what} in {where}")
            elif alias not in self.p.sop_decls:
                self.unknown_name(item.parts[0], "sop")
            return None
        self.p.used_imports.add(alias)
        entry = ".".join(p.value for p in item.parts[1:])
        if not entry:
            self.p.used_sop_entries.update(f"{alias}.{e}" if e else alias for e in lib.entries)
            return alias
        if not lib.is_folder:
            self.err("F0104", item.parts[1].span,
                     f"`{alias}` is a single document and has no entry `{entry}`",
                     help=f"write `{alias}`")
            return None
        if entry not in lib.entries:
            self.err("F0104", Span(item.parts[1].span.start, item.span.end),
                     f"SOP folder `{alias}` has no entry `{entry}`", label="no such document",
                     help=did_you_mean(entry, lib.entries) or
                     "entries: " + ", ".join(lib.entry_names()))
            return None
        self.p.used_sop_entries.add(f"{alias}.{entry}")
        return f"{alias}.{entry}"

    def skill_ref(self, item) -> str | None:
        if not (isinstance(item, s.Ref) and len(item.parts) == 1):
            self.err("F0210", item.span, "`skills` lists skills imported with `use skill`")
            return None
        name = item.parts[0].value
        if name not in self.p.skills:
            if name in self.value_spans:
                self.err("F0210", item.span, f"`{name}` is not a skill",
                         help=f"import it with `use skill {name} @ VERSION`")
            else:
                self.unknown_name(item.parts[0], "skill")
            return None
        self.p.used_imports.add(name)
        return name

    def check_args(self, args: tuple[s.Arg, ...], params: dict[str, tuple[t.Type, bool]],
                   ctx: _Ctx, what: str, call_span: Span) -> dict:
        out = {}
        for a in args:
            if a.name.value in out:
                self.err("F0102", a.name.span, f"argument `{a.name.value}` is given twice")
                continue
            if a.name.value not in params:
                self.err("F0201", a.name.span, f"{what} has no input `{a.name.value}`",
                         label="unknown argument", help=did_you_mean(a.name.value, params)
                         or ("inputs: " + ", ".join(params) if params else "it takes no inputs"))
                self.expr_value(a.value, ctx, None)
                continue
            want, _ = params[a.name.value]
            ty, ir = self.expr_value(a.value, ctx, want)
            self.expect(ty, want, a.value.span, f"input `{a.name.value}`")
            out[a.name.value] = ir
        missing = [k for k, (_, req) in params.items() if req and k not in out]
        if missing:
            self.err("F0202", call_span, f"{what} is missing input(s): " +
                     ", ".join(f"`{m}`" for m in missing), label="not all inputs given",
                     help="add " + ", ".join(f"`{m}: ...`" for m in missing))
        return out

    def check_skill_call(self, info, body: s.SkillCall, ctx, config) -> None:
        use = self._call_target(body.skill, body.args, self.p.skills, "skill", ctx, config)
        if use is not None and use.version is not None:
            config["args"] = self.check_args(body.args, use.inputs, ctx,
                                             f"skill `{body.skill.value}`", body.span)
        else:
            self._check_loose_args(body.args, ctx)

    def check_flow_call(self, info, body: s.FlowCall, ctx, config) -> None:
        use = self._call_target(body.flow, body.args, self.p.flows, "flow", ctx, config)
        if use is not None and use.program is not None:
            params = {k: (v.type, v.decl.default is None and not t.is_optional(v.type))
                      for k, v in use.program.inputs.items()}
            config["args"] = self.check_args(body.args, params, ctx,
                                             f"flow `{body.flow.value}`", body.span)
        else:
            self._check_loose_args(body.args, ctx)

    def _call_target(self, name: s.Name, args, table: dict, kind: str, ctx, config):
        """The import a skill or flow call names, marked used; None (reported) if unknown."""
        use = table.get(name.value)
        if use is None:
            self.unknown_name(name, kind)
            return None
        self.p.used_imports.add(name.value)
        config[kind] = name.value
        if kind == "skill" and use.version is not None and use.version.effects:
            config["effects"] = [str(e) for e in use.version.effects]
        return use

    def _check_loose_args(self, args, ctx) -> None:
        """Check the argument expressions of a call whose signature is unknown."""
        for a in args:
            self.expr_value(a.value, ctx, None)

    def check_code(self, info, body: s.CodeNode, ctx, config) -> None:
        lang = body.language.value
        if lang not in ("python", "javascript"):
            self.err("F0211", body.language.span, f"unknown language `{lang}`",
                     help=did_you_mean(lang, ("python", "javascript"))
                     or "code runs as `python` or `javascript`")
        config["language"] = lang
        args = {}
        for a in body.args:
            if a.name.value in args:
                self.err("F0102", a.name.span, f"argument `{a.name.value}` is given twice")
                continue
            ty, ir = self.expr_value(a.value, ctx, None)
            args[a.name.value] = {"value": ir, "schema": t.json_schema(ty)}
        config["args"] = args
        config["source"] = body.source
        if not body.source.strip():
            self.err("F0211", body.source_span, "the code block is empty")
        elif lang == "python":
            try:
                import ast

                # the sandbox runs code as a coroutine: top-level `await` is allowed
                compile(body.source, f"{info.name}.py", "exec", dont_inherit=True,
                        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            except SyntaxError as e:
                self.err("F0211", self._code_span(body.source_span, e.lineno, e.offset),
                         f"Python syntax error in node `{info.name}`: {e.msg}",
                         label="this does not compile",
                         related=(Related(self.src, Span(body.source_span.start,
                                                         body.source_span.start + 3),
                                          "in this code"),))

    def _code_span(self, code: Span, lineno: int | None, offset: int | None) -> Span:
        """Where line `lineno`, column `offset` (1-based, as Python counts them in the
        dedented code) of a code block stands in the file; the whole block if unknown."""
        text = self.src.text
        body_start = code.start + 3
        body = text[body_start:code.end - 3]
        first = 1 if body.startswith("\n") else 2 if body.startswith("\r\n") else 0
        lines = body[first:].split("\n")
        if not lineno or lineno > len(lines):
            return code
        indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
        cut = min(indents) if indents else 0
        line_start = body_start + first + sum(len(ln) + 1 for ln in lines[:lineno - 1])
        raw = lines[lineno - 1]
        col = min(cut + max((offset or 1) - 1, 0), max(len(raw) - 1, 0))
        return Span(line_start + col, line_start + max(len(raw.rstrip()), col + 1))

    def check_command(self, info, body: s.CommandNode, ctx, config) -> None:
        line = body.line
        raw = line.raw[1:-1]
        for p in validate_command_line(mask_holes(raw)):
            start = line.span.start + 1 + p.offset
            self.err("F0209", Span(start, start + p.length), p.message, label="here",
                     help=p.help)
        for k in holes_after_backslash(line.pieces):
            hole = line.pieces[k]
            self.err("F0209", Span(hole.span.start - 2, hole.span.end),  # from the `\\`
                     "a backslash before a hole escapes the value's first character",
                     label="escapes the value",
                     help="remove the backslash: a value is quoted for you, wherever it stands")
        config["line"] = self.template(line, ctx, "the command line")
        called = command_words(mask_holes(raw))
        for alias, use in self.p.skills.items():  # a line that calls a skill's entry uses it
            entry = getattr(use.version, "entry", None) if use.version else None
            if entry and entry.split()[0] in called:
                self.p.used_imports.add(alias)
        if body.stdin is not None:
            ty, ir = self.expr(body.stdin, ctx, None)
            if not t.renderable(ty):
                self.err("F0205", body.stdin.span,
                         f"standard input must be text or a file, not `{ty.describe()}`",
                         help="name a text part or a file")
            config["stdin"] = ir

    def check_for_each(self, info, body: s.ForEach, ctx, config) -> None:
        ty, ir = self.expr(body.iterable, ctx, None)
        elem: t.Type = t.UNKNOWN
        if isinstance(t.strip_optional(ty), t.ListT):
            elem = t.strip_optional(ty).elem
        elif not isinstance(ty, t.UnknownT):
            self.err("F0204", body.iterable.span, f"`for each` goes over a list, not "
                     f"`{ty.describe()}`", label="not a list")
        config["var"] = body.var.value
        config["over"] = ir
        if body.concurrency is not None:
            c = body.concurrency
            if not (isinstance(c, s.Literal) and c.kind == "int" and c.value >= 1):
                self.err("F0211", c.span, "`concurrency` takes a whole number of at least 1")
            else:
                config["concurrency"] = c.value
        else:
            config["concurrency"] = 1
        if body.var.value in self.value_spans:
            self.err("F0102", body.var.span,
                     f"loop variable `{body.var.value}` hides the declaration of the same name",
                     related=self.declared_here(self.value_spans[body.var.value]),
                     help="choose another name for the loop variable")
        inner_ctx = _Ctx({**ctx.locals, body.var.value: elem})
        inner_ctx.deps = ctx.deps
        inner_kind = _kind_of(body.body)
        inner = NodeInfo(info.name, info.decl, inner_kind,
                         info.type.elem if isinstance(info.type, t.ListT) else t.UNKNOWN,
                         info.index)
        if isinstance(body.body, s.GateNode | s.PropNode):
            inner.outcomes = info.outcomes
        sub: dict = {"kind": inner_kind}
        self.check_body(inner, body.body, inner_ctx, sub)
        config["body"] = sub

