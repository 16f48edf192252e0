"""Checker pass 2 for the nodes that wait for a person: `gate` (approval, edits, timeouts,
escalation) and `ask human`."""

from __future__ import annotations

from . import syntax as s
from . import types as t
from .check_base import (
    _ASK_ARGS,
    _GATE_ARGS,
    GATE_OUTCOMES,
    _Ctx,
    _ir_key,
)
from .source import Span
from .suggest import did_you_mean, parse_duration

__all__ = ["GateChecks"]


class GateChecks:
    """Checks gates and asks: principals, actions, timeouts and escalation chains."""

    def check_gate(self, info, body: s.GateNode, ctx, config) -> None:
        args: dict[str, s.Arg] = {}
        for a in body.args:
            key = a.name.value
            if key in args:
                self.err("F0102", a.name.span, f"`{key}` is given twice")
                continue
            if key not in _GATE_ARGS:
                self.err("F0201", a.name.span, f"a gate has no argument `{key}`",
                         label="unknown argument", help=did_you_mean(key, _GATE_ARGS)
                         or "arguments: " + ", ".join(_GATE_ARGS))
                continue
            args[key] = a
        if "to" not in args:
            self.err("F0202", body.span.__class__(body.span.start, body.span.start + 5),
                     f"gate `{info.name}` does not say who decides",
                     label="no `to:`", help='add `to: role("compliance")` or `to: user("...")`')
        else:
            config["to"] = self.principals(args["to"].value, ctx)
        if "show" in args:
            v = args["show"].value
            items = v.items if isinstance(v, s.ListExpr) else (v,)
            config["show"] = [self.expr_value(i, ctx, None)[1] for i in items]
            # what the person sees each value as: the expression as written (`payment.iban`)
            config["show_labels"] = [" ".join(self.src.text[i.span.start:i.span.end].split())
                                     for i in items]
        for key in ("title", "message"):
            if key in args:
                config[key] = self.template(args[key].value, ctx, f"`{key}`")
        if "when" in args:
            wctx = _Ctx(ctx.locals)
            ty, ir = self.expr_value(args["when"].value, wctx, t.BOOL)
            self.expect_bool(ty, args["when"].value.span)
            for k, req in wctx.deps.items():
                ctx.deps[k] = ctx.deps.get(k, False) or req
            config["pause_when"] = ir
        form = []
        if "edit" in args:
            v = args["edit"].value
            if not isinstance(v, s.Form):
                self.err("F0204", v.span, "`edit:` takes a form: `{ field: type = prefill }`")
            else:
                for fd in v.fields:
                    fty = self.resolve_type(fd.type)
                    entry = {"name": fd.name.value, "schema": t.json_schema(fty)}
                    if fd.default is not None:
                        pty, pir = self.expr(fd.default, ctx, fty)
                        self.expect(pty, fty, fd.default.span, f"the prefill of `{fd.name.value}`")
                        entry["prefill"] = pir
                    form.append(entry)
        config["form"] = form
        actions = self._gate_actions(args)
        if "actions" in args:
            v = args["actions"].value
            if not isinstance(v, s.ListExpr) or not v.items:
                self.err("F0204", v.span, "`actions:` lists approve, edit and/or reject")
            else:
                seen = set()
                for item in v.items:
                    nm = item.parts[0].value if isinstance(item, s.Ref) and len(item.parts) == 1 \
                        else None
                    if nm not in GATE_OUTCOMES:
                        self.err("F0211", item.span, "unknown gate action" +
                                 (f" `{nm}`" if nm else ""),
                                 help=(did_you_mean(nm, GATE_OUTCOMES) if nm else None)
                                 or "actions are `approve`, `edit` and `reject`")
                    elif nm in seen:
                        self.err("F0102", item.span, f"action `{nm}` is listed twice")
                    seen.add(nm)
        if "edit" in actions and "edit" not in args:
            self.err("F0202", args["actions"].value.span,
                     "the `edit` action needs an `edit:` form", label="edit what?",
                     help="add `edit: { body: str = draft.body }`")
        if "edit" in args and "edit" not in actions and "actions" in args:
            self.err("F0211", args["edit"].name.span,
                     "the gate has an `edit:` form but no `edit` action",
                     help="add `edit` to `actions:`")
        config["actions"] = [a for a in actions if a in GATE_OUTCOMES]
        if "timeout" not in args:
            self.err("F0304", Span(body.span.start, body.span.start + 5),
                     f"gate `{info.name}` has no timeout and can wait forever",
                     label="no `timeout:`", help="add `timeout: 48h -> reject`")
        else:
            config["timeout"] = self.gate_timeout(args["timeout"].value, info, ctx)
        if "escalate" in args:
            steps = self.gate_escalation(args["escalate"].value, args.get("timeout"),
                                         config.get("timeout"), config.get("to", []), ctx)
            if steps:
                config["escalate"] = steps

    def gate_escalation(self, v, timeout_arg, timeout, to, ctx) -> list[dict]:
        """`escalate: DURATION -> TARGET` or a list of those steps: when nobody has decided that
        long after the gate opened, TARGET (people, as in `to:`) may decide too."""
        example = 'write `escalate: 8h -> role("lead")` or `escalate: [8h -> role("lead"), ' \
            '24h -> user("cfo@example.com")]`'
        if isinstance(v, s.Arrow):
            items: tuple = (v,)
        elif isinstance(v, s.ArrowList):
            items = v.items
        else:
            self.err("F0204", v.span, "`escalate:` takes `DURATION -> TARGET` or a list of them",
                     label="not an escalation", help=example)
            return []
        steps: list[dict] = []
        ok = True
        seen: dict = {_ir_key(ir): None for ir in to if ir is not None}  # key -> its step
        prev: s.Arrow | None = None
        prev_secs = None
        for step in items:
            left = step.left
            if not (isinstance(left, s.Literal) and left.kind == "duration"):
                self.err("F0204", left.span, "an escalation step starts with a duration",
                         label="not a duration", help=example)
                self._principals(step.right, ctx, "`escalate:`")
                ok = False
                continue
            secs = parse_duration(str(left.value))
            if secs <= 0:
                self.err("F0211", left.span, "an escalation after no time at all",
                         label="escalates at once",
                         help="name these people in `to:` instead")
                ok = False
            elif prev_secs is not None and secs == prev_secs:
                people = ", ".join(self._source_items(prev.right) + self._source_items(step.right))
                self.err("F0102", left.span, f"two escalation steps at {left.value}",
                         label="same time as the step before",
                         related=self.declared_here(prev.left.span, "first step at this time"),
                         help=f"make them one step: `{left.value} -> [{people}]`")
                ok = False
            elif prev_secs is not None and secs < prev_secs:
                self.err("F0211", left.span,
                         f"escalation steps must come later and later: {left.value} is not "
                         f"after {prev.left.value}",
                         label="earlier than the step before",
                         related=self.declared_here(prev.left.span, "the step before"),
                         help="list the steps in the order they happen")
                ok = False
            elif timeout is not None and secs >= timeout["seconds"]:
                t_left = timeout_arg.value.left
                self.err("F0211", left.span,
                         f"this escalation at {left.value} could never happen: the gate times "
                         f"out at {t_left.value}",
                         label="at or after the timeout",
                         related=self.declared_here(t_left.span, "the gate's timeout"),
                         help="escalate earlier, or give the timeout a longer duration")
                ok = False
            targets, fine = self._principals(step.right, ctx, "`escalate:`")
            if fine and not targets:
                self.err("F0204", step.right.span, "an escalation step names nobody",
                         label="an empty list", help=example)
                fine = False
            ok = ok and fine
            if fine:
                for item, ir in zip(step.right.items if isinstance(step.right, s.ListExpr)
                                    else (step.right,), targets, strict=True):
                    if ir is None:
                        continue
                    key = _ir_key(ir)
                    if key in seen:
                        shown = self.src.text[item.span.start:item.span.end]
                        where = "earlier in this step" if seen[key] == step else \
                            "in `to:`" if seen[key] is None else \
                            f"in the step at {seen[key].left.value}"
                        self.err("F0102", item.span,
                                 f"`{shown}` is named twice: it may decide already ({where})",
                                 label="named again", help="drop it from this step")
                        ok = False
                    seen[key] = step
            if secs > (prev_secs or 0):
                prev, prev_secs = step, secs
            steps.append({"seconds": secs, "to": targets})
        return steps if ok else []

    def _source_items(self, v) -> list[str]:
        """The source text of a value's items (of a list), or of the value."""
        return [self.src.text[i.span.start:i.span.end]
                for i in (v.items if isinstance(v, s.ListExpr) else (v,))]

    def gate_timeout(self, v, info, ctx) -> dict | None:
        if not isinstance(v, s.Arrow) or not (isinstance(v.left, s.Literal)
                                              and v.left.kind == "duration"):
            self.err("F0204", v.span, "`timeout:` takes `DURATION -> OUTCOME`",
                     help="write `timeout: 48h -> reject`")
            return None
        secs = parse_duration(str(v.left.value))
        r = v.right
        name = r.parts[0].value if isinstance(r, s.Ref) and len(r.parts) == 1 else None
        if info.kind == "gate":
            if name not in ("approve", "reject", "fail"):
                self.err("F0211", r.span, "a gate's timeout ends in `approve`, `reject` or `fail`",
                         label="not an outcome",
                         help=('escalation is an argument of its own, before the timeout: '
                               '`escalate: 24h -> role("lead")`' if name == "escalate" else
                               did_you_mean(name, ("approve", "reject", "fail")) if name
                               else None))
                return None
            return {"seconds": secs, "then": name}
        # ask human: fail, or a default value of the asked type
        if name == "fail":
            return {"seconds": secs, "then": "fail"}
        ty, ir = self.expr(r, ctx, info.type)
        self.expect(ty, info.type, r.span, "the timeout's default")
        return {"seconds": secs, "then": "default", "default": ir}

    def principals(self, v, ctx, what: str = "`to:`") -> list:
        """The IR of people: `role(...)`, `user(...)` or a list of them."""
        return self._principals(v, ctx, what)[0]

    def _principals(self, v, ctx, what: str) -> tuple[list, bool]:
        """(the IR of each person, whether every one is a person: reported if not)."""
        help_ = 'write `role("compliance")` or `user("ana@example.com")`'
        if isinstance(v, s.Arrow | s.ArrowList | s.Form):
            self.err("F0204", v.span, f"{what} names people", label="not people", help=help_)
            return [], False
        items = v.items if isinstance(v, s.ListExpr) else (v,)
        out = []
        ok = True
        for item in items:
            ty, ir = self.expr(item, ctx, t.PRINCIPAL)
            if not isinstance(ty, t.PrincipalT | t.UnknownT):
                self.err("F0204", item.span, f"{what} names people, not `{ty.describe()}`",
                         help=help_)
                ok = False
            out.append(ir)
        return out, ok

    def check_ask(self, info, body: s.AskNode, ctx, config) -> None:
        args: dict[str, s.Arg] = {}
        for a in body.args:
            key = a.name.value
            if key not in _ASK_ARGS:
                self.err("F0201", a.name.span, f"`ask human` has no argument `{key}`",
                         label="unknown argument", help=(
                             "only a gate (`await human`) escalates; a question ends at its "
                             "`timeout:`" if key == "escalate" else None)
                         or did_you_mean(key, _ASK_ARGS) or "arguments: " + ", ".join(_ASK_ARGS))
                continue
            if key in args:
                self.err("F0102", a.name.span, f"`{key}` is given twice")
                continue
            args[key] = a
        if "to" in args:
            config["to"] = self.principals(args["to"].value, ctx)
        else:
            self.err("F0202", Span(body.span.start, body.span.start + 3),
                     f"`ask human` node `{info.name}` does not say whom to ask",
                     label="no `to:`", help='add `to: role("...")` or `to: user("...")`')
        if "question" in args:
            config["question"] = self.template(args["question"].value, ctx, "`question`")
        else:
            self.err("F0202", Span(body.span.start, body.span.start + 3),
                     f"`ask human` node `{info.name}` has no `question:`",
                     label="ask what?", help='add `question: "Which office are you in?"`')
        if "choices" in args:
            ty, ir = self.expr_value(args["choices"].value, ctx, t.ListT(info.type))
            self.expect(ty, t.ListT(info.type), args["choices"].value.span, "`choices`")
            config["choices"] = ir
        config["schema"] = t.json_schema(info.type)
        if "timeout" in args:
            config["timeout"] = self.gate_timeout(args["timeout"].value, info, ctx)
        else:
            self.err("F0304", Span(body.span.start, body.span.start + 3),
                     f"`ask human` node `{info.name}` has no timeout and can wait forever",
                     label="no `timeout:`", help="add `timeout: 24h -> fail`")

