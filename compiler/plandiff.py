"""What changed between two versions of a flow: a semantic diff of their plans and a source
diff of their files, for `flowc diff` and the side-by-side diff page.

`semantic_diff(old, new)` compares two plans (their JSON data) and lists `Change`s, the
dangerous ones first: `danger` (an external effect that can now run without a person's
approval, or a gate guarding one that now approves on its own: at its timeout, or when its
`when:` is false), `warning`
(a change a reviewer must look at: who approves and how, what callers pass and get back,
what a skill does, when the flow starts on its own) and `info` (the rest). Source
positions, `hash`, `compiler`, `source_sha256`, execution-order indexes and the offsets in
`match` group names take no part: a moved line is not a change.

A node is behind a gate when a node of kind `gate` (`await human`) is among its ancestors
through node `deps` and `control` conditions; a dep read only inside `??` proves nothing
and does not count. `ask human` is not an approval: it asks for a value and has no approve
or reject outcome (the compiler's effect policy, F0307, counts only gates too, with a
stricter dominance check). A `for_each` body is one config, not nested nodes. A sub-flow is
diffed on its own, its subjects prefixed with its alias: a gate in front of the calling node
does not count for the sub-flow's effects.

The diff never raises on plans of an unexpected shape (older compilers, hand-made files): a
missing key is empty, and a value that is not the dict or list expected is compared whole.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Change", "FileDiff", "semantic_diff", "source_diff"]

_RANK = {"danger": 0, "warning": 1, "info": 2}
_SHAPES = {"flow": dict, "policy": dict, "types": dict, "nodes": list, "inputs": list,
           "outputs": list, "skills": list, "sops": list, "flows": list, "ends": list}
_GATES = ("gate", "ask")
_APPROVAL = {"off": 0, "warning": 1, "error": 2}
_NODE_SKIP = ("id", "span", "position", "source_index", "effect", "config", "options")
_GATE_KEYS = ("to", "actions", "timeout", "escalate", "pause_when", "form", "show", "title",
              "message", "question", "choices", "schema", "show_labels")
_LABELS = {"source": "code", "line": "command line", "args": "arguments", "over": "list",
           "from": "extracted from", "when": "condition", "control": "run conditions",
           "retry": "retries", "sops": "SOPs", "max_steps": "max steps",
           "max_tokens": "max tokens", "memory_limit": "memory limit"}


@dataclass(frozen=True)
class Change:
    area: str
    subject: str
    change: str
    detail: str
    severity: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FileDiff:
    """One file that differs: its unified diff lines and side-by-side rows (kind, old line
    number, old text, new line number, new text); a `skip` row stands for elided unchanged
    lines and carries only the numbers of the first of them."""

    path: str
    change: str
    unified: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"path": self.path, "change": self.change, "unified": list(self.unified),
                "rows": [list(r) for r in self.rows]}


# --- shapes and text ------------------------------------------------------------------------

def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list:
    return x if isinstance(x, list) else []


def _keyed(items: Any, key: str | None) -> dict[str, Any]:
    """A list of dicts by `key`; a dict is taken as keyed already. Other items are left out."""
    if isinstance(items, dict):
        return {str(k): v for k, v in items.items()}
    return {str(i[key]): i for i in _l(items) if isinstance(i, dict) and key in i}


def _pairs(a: Any, b: Any, key: str | None = None):
    """(name, "added" | "removed" | "changed", old item, new item) for each item of two keyed
    lists (or dicts) that differs, in the old order and then the new; the items as dicts."""
    ka, kb = _keyed(a, key), _keyed(b, key)
    for k in [*ka, *(k for k in kb if k not in ka)]:
        if k not in kb or k not in ka or ka[k] != kb[k]:
            yield k, ("removed" if k not in kb else "added" if k not in ka else "changed"), \
                _d(ka.get(k)), _d(kb.get(k))


def _unspanned(items: Any) -> Any:
    return [{k: v for k, v in i.items() if k != "span"} if isinstance(i, dict) else i
            for i in items] if isinstance(items, list) else items


def _compact(x: Any, n: int = 80) -> str:
    s = " ".join(json.dumps(x, sort_keys=True, ensure_ascii=False, default=str).split())
    return s if len(s) <= n else s[:n - 1] + "…"


def _text(ir: Any) -> str:
    """An expression IR as flow-like text: `role("x")`, `draft.text`, `"Hi {name}"`."""
    if isinstance(ir, list):
        return "[" + ", ".join(map(_text, ir)) + "]"
    if not isinstance(ir, dict):
        return _compact(ir)
    if "lit" in ir:
        return _compact(ir["lit"])
    for k in ("input", "node", "var"):
        if k in ir:
            return ".".join(str(p) for p in [ir[k], *_l(ir.get("path"))])
    if "sop" in ir:
        return str(ir["sop"])
    if "call" in ir:
        return f"{ir['call']}({', '.join(map(_text, _l(ir.get('args'))))})"
    if "list" in ir:
        return _text(_l(ir["list"]))
    if "template" in ir:
        return '"' + "".join(p if isinstance(p, str) else "{" + _text(p) + "}"
                             for p in _l(ir["template"])) + '"'
    args = _l(ir.get("args"))
    if ir.get("op") == "fold":
        return " ".join(a if isinstance(a, str) else _text(a) for a in args)
    if "op" in ir:
        return f"{ir['op']} {_text(args[0])}" if len(args) == 1 else \
            f" {ir['op']} ".join(map(_text, args))
    return _compact(ir)


def _dur(x: Any) -> str:
    if not isinstance(x, int | float) or isinstance(x, bool) or (
            isinstance(x, float) and not math.isfinite(x)):
        return _compact(x)
    for unit, size in (("h", 3600), ("m", 60)):
        if x >= size and x % size == 0:
            return f"{int(x // size)}{unit}"
    return f"{x:g}s"


def _value(key: str, x: Any) -> str:
    if key == "timeout":
        return _dur(x)
    if key == "memory_limit" and isinstance(x, int) and not isinstance(x, bool) and x > 0:
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if x % size == 0:
                return f"{x // size}{unit}"
    return x if isinstance(x, str) else _text(x)


def _type(s: Any) -> str:
    """A JSON Schema as flow type text: `str`, `list<Order>`, `file<csv>`, `float?`."""
    if not isinstance(s, dict):
        return _compact(s)
    if "x-flowc-file" in s:
        return f"file<{s['x-flowc-file']}>"
    if alts := _l(s.get("anyOf")):
        rest = [a for a in alts if _d(a).get("type") != "null"]
        return " | ".join(map(_type, rest)) + ("?" if len(rest) < len(alts) else "")
    if s.get("title"):
        return str(s["title"])
    if "enum" in s:
        return "enum[" + ", ".join(map(str, _l(s["enum"]))) + "]"
    ty = s.get("type")
    if ty == "array":
        return f"list<{_type(s.get('items'))}>"
    if ty == "object" and isinstance(s.get("properties"), dict):
        return "{" + ", ".join(f"{k}: {_type(v)}" for k, v in s["properties"].items()) + "}"
    names = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"}
    return names.get(ty, ty) if isinstance(ty, str) else _compact(s)


def _schema_delta(a: Any, b: Any) -> str:
    """How a schema changed, in words; empty when it did not."""
    if a == b:
        return ""
    if _type(a) != _type(b):
        return f"type {_type(a)} -> {_type(b)}"
    sa, sb = _d(a), _d(b)
    if _l(sa.get("anyOf")) and len(_l(sa["anyOf"])) == len(_l(sb.get("anyOf"))):
        return "; ".join(filter(None, map(_schema_delta, sa["anyOf"], sb["anyOf"]))) \
            or "schema changed"
    pa, pb = _d(sa.get("properties")), _d(sb.get("properties"))
    ra, rb = ({str(r) for r in _l(s.get("required")) if isinstance(r, str)} for s in (sa, sb))
    ea, eb = _l(sa.get("enum")), _l(sb.get("enum"))
    parts = [f"{label}: {', '.join(map(str, items))}" for label, items in (
        ("fields added", [f"{k} ({_type(pb[k])})" for k in pb if k not in pa]),
        ("fields removed", [k for k in pa if k not in pb]),
        ("field types changed", [f"{k} {_type(pa[k])} -> {_type(pb[k])}" for k in pb
                                 if k in pa and _type(pa[k]) != _type(pb[k])]),
        ("now required", sorted((rb - ra) & set(pa))),
        ("now optional", sorted((ra - rb) & set(pb))),
        ("values added", [x for x in eb if x not in ea]),
        ("values removed", [x for x in ea if x not in eb])) if items]
    return "; ".join(parts) or "schema changed"


# --- effects and gates ----------------------------------------------------------------------

def _refs(ir: Any) -> set[str]:
    """The nodes an expression IR reads."""
    if isinstance(ir, list):
        return set().union(*map(_refs, ir))
    if not isinstance(ir, dict):
        return set()
    return ({ir["node"]} if isinstance(ir.get("node"), str) else set()).union(
        *map(_refs, ir.values()))


def _gates_behind(nodes: dict[str, dict]) -> dict[str, set[str]]:
    """Each node's ancestor gates (kind `gate`), through required node deps and control."""
    parents = {}
    for nid, n in nodes.items():
        ps = {str(d.get("name")) for d in map(_d, _l(n.get("deps")))
              if d.get("kind", "node") == "node" and d.get("required", True) is not False}
        for c in map(_d, _l(n.get("control"))):
            ps |= _refs(c.get("subject")) | ({str(c["node"])} if c.get("node") else set())
        parents[nid] = ps & set(nodes)
    out = {}
    for nid in nodes:
        seen, stack = set(), list(parents[nid])
        while stack:
            if (p := stack.pop()) not in seen:
                seen.add(p)
                stack.extend(parents[p])
        out[nid] = {p for p in seen - {nid} if nodes[p].get("kind") == "gate"}
    return out


def _effects(on: dict, nn: dict) -> list[Change]:
    og, ng = _gates_behind(on), _gates_behind(nn)
    out = []
    for nid in [*on, *(k for k in nn if k not in on)]:
        a, b = on.get(nid, {}).get("effect"), nn.get(nid, {}).get("effect")
        ga, gb = ", ".join(sorted(og.get(nid, ()))), ", ".join(sorted(ng.get(nid, ())))
        if a is None and b is not None:
            new = nid not in on
            out.append(Change("effect", nid, "added" if new else "changed",
                              (f"new {b} effect" if new else f"now has an {b} effect") +
                              (f", behind {gb}" if gb else ", not behind any gate"),
                              "warning" if gb else "danger"))
        elif a is not None and b is None:
            gone = nid not in nn
            out.append(Change("effect", nid, "removed" if gone else "changed", f"{a} effect "
                              "removed" if gone else f"no longer has an {a} effect", "info"))
        elif a is not None:
            kind = "" if a == b else f"; effect {a} -> {b}"
            if ga and not gb:
                out.append(Change("effect", nid, "changed", f"no longer behind a gate (was "
                                  f"behind {ga}){kind}", "danger"))
            elif ga != gb:
                out.append(Change("effect", nid, "changed", f"now behind {gb} (was " + (
                    f"behind {ga}" if ga else "not behind any gate") + f"){kind}",
                    "warning" if ga else "info"))
            elif kind:
                out.append(Change("effect", nid, "changed", kind[2:], "warning"))
    return out


def _people(x: Any) -> str:
    return ", ".join(map(_text, x)) if isinstance(x, list) else _text(x)


def _words(x: Any) -> str:
    return ", ".join(map(str, x)) if isinstance(x, list) else _text(x)


def _gate_changes(nid: str, a: dict, b: dict, guards_effect: bool) -> list[Change]:
    ca, cb = _d(a.get("config")), _d(b.get("config"))
    out = []

    def add(detail: str, severity: str = "warning") -> None:
        out.append(Change("gate", nid, "changed", detail, severity))

    def then(t: dict) -> str:
        return "none" if not t else f"default {_text(t.get('default'))}" \
            if t.get("then") == "default" else str(t.get("then"))

    def steps(v: Any) -> str:
        return "; ".join(f"after {_dur(_d(s).get('seconds'))} to {_people(_d(s).get('to'))}"
                         for s in _l(v)) or "none"

    def shown(c: dict) -> list[str]:
        items, labels = _l(c.get("show")), _l(c.get("show_labels"))
        return list(map(str, labels)) if len(labels) == len(items) else list(map(_text, items))

    for key in _GATE_KEYS[:-1]:
        x, y = ca.get(key), cb.get(key)
        if x == y:
            continue
        count = len(out)
        if key == "to":
            add(f"routed to {_people(y)} (was {_people(x)})")
        elif key == "actions":
            add(f"actions {_words(x)} -> {_words(y)}")
        elif key == "timeout":
            ta, tb = _d(x), _d(y)
            if ta.get("seconds") != tb.get("seconds"):
                add(f"timeout {_dur(ta.get('seconds')) if ta else 'none'} -> "
                    f"{_dur(tb.get('seconds')) if tb else 'none'}")
            if then(ta) != then(tb):
                approves = tb.get("then") == "approve"
                add(f"timeout outcome {then(ta)} -> {then(tb)}" +
                    (": approves when nobody decides" if approves else ""),
                    "danger" if approves and guards_effect else "warning")
        elif key == "escalate":
            add(f"escalation {steps(x)} -> {steps(y)}" if x and y else
                f"escalation added: {steps(y)}" if y else f"escalation removed (was {steps(x)})")
        elif key == "pause_when" and y is None:
            add(f"now always pauses (was only when {_text(x)})", "info")
        elif key == "pause_when":  # a gate that does not pause ends `approved` at once
            add(f"pauses only when {_text(y)} (was " + (f"when {_text(x)})" if x is not None
                else "always): approves on its own otherwise"),
                "danger" if x is None and guards_effect else "warning")
        elif key == "form":
            for f, what, fa, fb in _pairs(x, y, "name"):
                delta = _schema_delta(fa.get("schema"), fb.get("schema"))
                add(f"form field {f} " + (f"added ({_type(fb.get('schema'))})" if what == "added"
                                          else what if what == "removed" else
                                          delta or "prefill changed"), "info")
        elif key == "show":
            sa, sb = shown(ca), shown(cb)
            parts = [f"{w}: {', '.join(v)}" for w, v in (
                ("added", [s for s in sb if s not in sa]),
                ("removed", [s for s in sa if s not in sb])) if v]
            add("shows " + ("; ".join(parts) or "the same items in another order"), "info")
        else:
            add(f"{key} {_text(x)} -> {_text(y)}" if x is not None and y is not None
                else f"{key} {'added' if x is None else 'removed'}", "info")
        if len(out) == count:  # values of another shape: compared whole
            add(f"{key} changed")
    return out


# --- nodes ----------------------------------------------------------------------------------

def _control(c: Any) -> str:
    c = _d(c)
    if c.get("node") is not None:
        return f"after {c['node']}.{'|'.join(map(str, _l(c.get('outcomes'))))}"
    return f"when {_text(c.get('subject'))} is {'|'.join(map(str, _l(c.get('values'))))}"


def _delta(key: str, a: Any, b: Any) -> str:
    """One changed aspect of a node, in words."""
    label = _LABELS.get(key, key)
    if key == "output_schema":
        return "output " + _schema_delta(a, b)
    if key == "deps":
        na, nb = ({str(_d(d).get("name")) for d in _l(v)} for v in (a, b))
        oa, ob = ({str(d.get("name")) for d in map(_d, _l(v)) if d.get("required") is False}
                  for v in (a, b))
        words = [f"{w} {', '.join(sorted(ns))}" for w, ns in (
            ("reads", nb - na), ("no longer reads", na - nb),
            ("reads only inside ??:", (ob - oa) & na), ("now requires", (oa - ob) & nb)) if ns]
        return "; ".join(words) or "deps changed"
    if key == "control":
        a, b = (", ".join(_control(c) for c in _l(v)) or "always" for v in (a, b))
    if a is None or b is None:
        return f"{label} {'added' if a is None else 'removed'}"
    ta, tb = _value(key, a), _value(key, b)
    if all(len(t) <= 60 and "\n" not in t for t in (ta, tb)):
        return f"{label} {ta} -> {tb}"
    return f"{label} changed"


def _deltas(a: Any, b: Any, skip: tuple = (), what: str = "config") -> list[str]:
    """The changed keys of two dicts (of a `for_each` body, inside it), in words."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [f"{what} changed"]
    out = []
    for k in [*a, *(k for k in b if k not in a)]:
        if k not in skip and a.get(k) != b.get(k):
            body = k == "body" and isinstance(a.get(k), dict) and isinstance(b.get(k), dict)
            out += ["body " + x for x in _deltas(a[k], b[k])] if body \
                else [_delta(k, a.get(k), b.get(k))]
    return out


def _node(n: dict) -> dict:
    """A node with its control groups named by order of appearance: the compiler names a
    group after the source offset of its `match` (`match@1144`), which moves with the text."""
    if not isinstance(n.get("control"), list):
        return n
    names: dict[str, str] = {}
    return {**n, "control": [
        {**c, "group": names.setdefault(c["group"], f"group {len(names) + 1}")}
        if isinstance(c, dict) and isinstance(c.get("group"), str) else c
        for c in n["control"]]}


def _nodes(old: dict, new: dict) -> list[Change]:
    on, nn = ({k: _node(v) for k, v in _keyed(p.get("nodes"), "id").items()
               if isinstance(v, dict)} for p in (old, new))
    out = _effects(on, nn)
    guards = set().union(*(g for n, g in _gates_behind(nn).items() if nn[n].get("effect")))
    for nid in [*on, *(k for k in nn if k not in on)]:
        a, b = on.get(nid, {}), nn.get(nid, {})
        ga, gb = a.get("kind") in _GATES, b.get("kind") in _GATES
        if ga and not gb:
            out.append(Change("gate", nid, "removed", f"{a.get('kind')} removed", "warning"))
        elif gb and not ga:
            out.append(Change("gate", nid, "added", f"{b.get('kind')} added, routed to "
                              f"{_people(_d(b.get('config')).get('to'))}", "info"))
        elif ga and gb:
            out += _gate_changes(nid, a, b, nid in guards)
        if nid not in on or nid not in nn:
            n, what = (a, "removed") if nid not in nn else (b, "added")
            if not (n.get("kind") in _GATES or n.get("effect")):  # reported above
                out.append(Change("node", nid, what, f"{n.get('kind')} node {what}", "info"))
            continue
        gates = ga and gb  # a gate's outcomes and output follow its actions and form
        parts = _deltas(a, b, (*_NODE_SKIP, *(("outcomes", "output_schema") if gates else ())))
        parts += _deltas(a.get("config"), b.get("config"), _GATE_KEYS if gates else ())
        parts += _deltas(a.get("options"), b.get("options"), what="options")
        oa, ob = _d(a.get("options")), _d(b.get("options"))
        wider = {str(h) for h in _l(ob.get("hosts"))} - {str(h) for h in _l(oa.get("hosts"))}
        risky = a.get("kind") != b.get("kind") or wider or oa.get("isolation") != ob.get(
            "isolation")
        if parts:
            out.append(Change("node", nid, "changed", "; ".join(parts),
                              "warning" if risky else "info"))
    return out


# --- inputs, outputs, types, skills, imports, the flow --------------------------------------

def _io(old: dict, new: dict) -> list[Change]:
    out = []
    for name, what, a, b in _pairs(old.get("inputs"), new.get("inputs"), "name"):
        req = b.get("required") is True
        if what != "changed":
            out.append(Change("input", name, what, "callers that pass it are refused"
                              if what == "removed" else f"{'required' if req else 'optional'} "
                              f"{_type(b.get('schema'))}" + (": callers must pass it" * req),
                              "warning" if what == "removed" or req else "info"))
            continue
        parts = [_schema_delta(a.get("schema"), b.get("schema"))]
        if a.get("required") != b.get("required"):
            parts.append("now required" if req else "now optional")
        if a.get("default") != b.get("default"):
            parts.append(f"default {_text(a.get('default'))} -> {_text(b.get('default'))}")
        out.append(Change("input", name, what, "; ".join(filter(None, parts)) or "changed",
                          "warning" if parts[0] or (req and a.get("required") is not True)
                          else "info"))
    for name, what, a, b in _pairs(_unspanned(old.get("outputs")),
                                   _unspanned(new.get("outputs")), "name"):
        if what != "changed":
            out.append(Change("output", name, what, "callers reading it get nothing" if what ==
                              "removed" else _type(b.get("schema")),
                              "warning" if what == "removed" else "info"))
            continue
        parts = [_schema_delta(a.get("schema"), b.get("schema"))]
        if a.get("value") != b.get("value"):
            parts.append(f"value {_text(a.get('value'))} -> {_text(b.get('value'))}")
        out.append(Change("output", name, what, "; ".join(filter(None, parts)) or "changed",
                          "warning" if parts[0] else "info"))
    return out


def _types(old: dict, new: dict) -> list[Change]:
    def shape(s: dict) -> str:
        props = _d(s.get("properties"))
        return "fields " + ", ".join(f"{k} ({_type(v)})" for k, v in props.items()) if props \
            else _type({k: v for k, v in s.items() if k != "title"})

    return [Change("type", name, what, _schema_delta(a, b) if what == "changed" else
                   shape(b) if what == "added" else "type removed", "info")
            for name, what, a, b in _pairs(_d(old.get("types")), _d(new.get("types")))]


def _skills(old: dict, new: dict) -> list[Change]:
    out = []
    for alias, what, a, b in _pairs(old.get("skills"), new.get("skills"), "alias"):
        if what != "changed":
            s = a or b
            external = what == "added" and "external" in _l(s.get("effects"))
            out.append(Change("skill", alias, what, f"{s.get('name')} {s.get('version')}" +
                              ", with an external effect" * external,
                              "warning" if external else "info"))
            continue
        parts, severity = [], "info"
        if a.get("name") != b.get("name"):
            parts.append(f"now skill {b.get('name')} (was {a.get('name')})")
            severity = "warning"
        if a.get("version") != b.get("version"):
            parts.append(f"version {a.get('version')} -> {b.get('version')}")
        elif a.get("sha256") != b.get("sha256"):
            parts.append("same version, content hash changed")
            severity = "warning"
        parts += [f"{label} {a.get(k)} -> {b.get(k)}" for k, label in
                  (("requested", "pin"), ("location", "location")) if a.get(k) != b.get(k)]
        parts += [f"{k} changed" for k in ("inputs", "output", "entry", "description")
                  if a.get(k) != b.get(k)]
        effects = a.get("effects") != b.get("effects")
        if parts or not effects:
            out.append(Change("skill", alias, what, "; ".join(parts) or "changed", severity))
        if effects:
            out.append(Change("skill", alias, what, f"effects {_text(a.get('effects'))} -> "
                              f"{_text(b.get('effects'))}", "warning"))
    return out


def _imports(old: dict, new: dict, depth: int) -> list[Change]:
    """SOP imports with their documents; sub-flows, diffed recursively."""
    out = []
    for area, key in (("sop", "sops"), ("subflow", "flows")):
        for alias, what, a, b in _pairs(old.get(key), new.get(key), "alias"):
            if what != "changed":
                out.append(Change(area, alias, what, "no longer " * bool(a) +
                                  f"imports {(a or b).get('path')}", "info"))
                continue
            if a.get("path") != b.get("path"):
                out.append(Change(area, alias, what, f"path {a.get('path')} -> "
                                  f"{b.get('path')}", "info"))
            if area == "subflow" and depth < 20:
                out += [Change(c.area, f"{alias}.{c.subject}", c.change, c.detail, c.severity)
                        for c in _diff(_d(a.get("plan")), _d(b.get("plan")), depth + 1)]
            elif area == "sop":
                docs = list(_pairs(a.get("documents"), b.get("documents"), "path"))
                out += [Change(area, alias, what, f"document {p} " + (
                    w if w != "changed" else "content changed"
                    if x.get("sha256") != y.get("sha256") else "changed"), "info")
                    for p, w, x, y in docs]
                if not docs and a.get("documents") != b.get("documents"):
                    out.append(Change(area, alias, what, "documents changed", "info"))
    return out


def _trigger(t: Any) -> str:
    t = _d(t) or {"value": t}
    if t.get("kind") == "schedule":
        return f'schedule "{t.get("cron")}"'
    if t.get("kind") == "upload":
        return f"upload {_type(t.get('schema'))}"
    return f"{t.get('kind', 'trigger')} {_compact({k: v for k, v in t.items() if k != 'kind'})}"


def _flow(old: dict, new: dict) -> list[Change]:
    fa, fb = _d(old.get("flow")), _d(new.get("flow"))
    out = [Change("flow", key, "changed", _delta(key, fa.get(key), fb.get(key)),
                  "warning" if key == "mode" else "info")
           for key in ("name", "version", "mode", "description") if fa.get(key) != fb.get(key)]
    ta, tb = ([_trigger(t) for t in _l(f.get("triggers"))] for f in (fa, fb))
    out += [Change("trigger", t, "added", "starts runs on its own", "warning")
            for t in tb if t not in ta]
    out += [Change("trigger", t, "removed", "no longer starts runs", "info")
            for t in ta if t not in tb]
    if fa.get("triggers") != fb.get("triggers") and not (
            isinstance(fa.get("triggers"), list) and isinstance(fb.get("triggers"), list)):
        out.append(Change("trigger", "triggers", "changed", "triggers changed", "info"))
    pa, pb = _d(old.get("policy")), _d(new.get("policy"))
    for key, what, _, _ in _pairs(pa, pb):
        looser = key == "approval" and _APPROVAL.get(str(pb.get(key)), 2) < _APPROVAL.get(
            str(pa.get(key)), 2)
        out.append(Change("policy", key, what, f"{key} {_value(key, pa.get(key, 'unset'))} "
                          f"-> {_value(key, pb.get(key, 'unset'))}",
                          "warning" if looser else "info"))
    if _unspanned(old.get("ends") or []) != _unspanned(new.get("ends") or []):
        out.append(Change("flow", "ends", "changed", "where the run stops or fails changed",
                          "info"))
    return out


def _diff(old: dict, new: dict, depth: int) -> list[Change]:
    odd = [Change("flow", k, "changed", f"{k} changed (not a {t.__name__})", "info")
           for k, t in _SHAPES.items() for x, y in [(old.get(k), new.get(k))]
           if x != y and not (isinstance(x, t | None) and isinstance(y, t | None))]
    return [*_flow(old, new), *_nodes(old, new), *_io(old, new), *_types(old, new),
            *_skills(old, new), *_imports(old, new, depth), *odd]


def semantic_diff(old: dict, new: dict) -> list[Change]:
    """The changes from plan `old` to plan `new`: danger first, then warning, then info,
    each in a fixed order (the flow, effects and gates with the nodes, inputs and outputs,
    types, skills, imports)."""
    return sorted(_diff(_d(old), _d(new), 0), key=lambda c: _RANK.get(c.severity, 3))


# --- sources --------------------------------------------------------------------------------

def _lines(text: Any) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.splitlines(keepends=True) if isinstance(text, str) else []


def _rows(a: list[str], b: list[str], context: int) -> list[tuple]:
    rows: list[tuple] = []
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            n, head, tail = i2 - i1, context if k else 0, context if k < len(ops) - 1 else 0
            keep = set(range(n)) if head + tail >= n else {*range(head), *range(n - tail, n)}
            for x in range(n):
                if x in keep:
                    rows.append(("same", i1 + x + 1, a[i1 + x].rstrip("\r\n"),
                                 j1 + x + 1, b[j1 + x].rstrip("\r\n")))
                elif x == 0 or x - 1 in keep:
                    rows.append(("skip", i1 + x + 1, None, j1 + x + 1, None))
            continue
        for x in range(max(i2 - i1, j2 - j1)):
            old = (i1 + x + 1, a[i1 + x].rstrip("\r\n")) if i1 + x < i2 else (None, None)
            new = (j1 + x + 1, b[j1 + x].rstrip("\r\n")) if j1 + x < j2 else (None, None)
            rows.append(("changed" if old[0] and new[0] else "removed" if old[0] else "added",
                         *old, *new))
    return rows


def source_diff(old_files: dict[str, str], new_files: dict[str, str],
                context: int = 3) -> list[FileDiff]:
    """Each file that differs, by path, with its unified and side-by-side views; `context`
    unchanged lines are kept around each change."""
    old_files, new_files = _d(old_files), _d(new_files)
    context = max(0, context) if isinstance(context, int) else 3
    out = []
    for path in sorted(set(old_files) | set(new_files), key=str):
        a, b = old_files.get(path), new_files.get(path)
        if a == b:
            continue
        change = "added" if path not in old_files else "removed" if path not in new_files \
            else "changed"
        la, lb = _lines(a), _lines(b)
        unified = [line.rstrip("\r\n") for line in difflib.unified_diff(
            la, lb, "/dev/null" if change == "added" else f"a/{path}",
            "/dev/null" if change == "removed" else f"b/{path}", n=context)]
        out.append(FileDiff(str(path), change, unified, _rows(la, lb, context)))
    return out
