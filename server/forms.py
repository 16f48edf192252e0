"""Gate forms and `ask` answers in the browser: the inputs a review page shows for a task's
form, the typed values read back from what the browser posts, and what a reviewer changed.

A gate task's form is `{"fields": [{"name", "schema"}], "values": {name: prefill}, ...}`; an
`ask` task's is `{"schema", "choices"?, "question"?}`. The schemas are those the compiler emits
for flowc types (compiler/types.py `json_schema`): text, whole numbers, numbers, true/false,
enums, optional types (`anyOf` with null), lists, records, maps, `json`, files.

Text from the browser is read by the CLI's rules (`flowc resume --edit NAME=VALUE`,
flowc/runtime_cli.py `_typed_value`): the value in its type, then `field_problem` (JSON only,
at most `max_bytes`) and `schema_errors` after `apply_defaults`, so a value the page accepts is
one the engine accepts. Two differences, on purpose: `@PATH` is never read as a local file (the
server's files are not the reviewer's), and a file cannot be named or replaced from the page:
a field that is a file is shown read-only, and inside a record or list a file must stay one of
the files the form already holds (the engine would read a new one by its path).

What a form posts, field by field (`parse_form`):
- a field absent from the post keeps its prefill (it is not in the returned values), except a
  checkbox (a `bool` field), which a browser leaves out when it is unticked: absent is false;
- an empty input is `null` for an optional field, and an error for a required number, enum or
  JSON field (an empty text is a text: ""); `null` also reads as `null` for an optional field
  that is not text;
- text from a textarea has its line ends as `\\n` (browsers send `\\r\\n`);
- with `prefill`, an input whose text is the prefill's text gives the prefill itself (so a
  number, a record's key order, a file in a record are kept exactly as they were).

Nothing here raises for anything posted: problems come back as messages, one per field (under
`"_"`: fields the form does not have).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowc.runtime.validate import (
    MAX_FIELD_BYTES,
    apply_defaults,
    describe_schema,
    field_problem,
    is_file_schema,
    limit_text,
    schema_errors,
)

__all__ = ["Field", "Change", "form_fields", "parse_form", "changes", "answer_field",
           "parse_answer", "KINDS", "MAX_FIELDS", "MAX_OPTIONS"]

# The input kinds a template renders: text and textarea (text), number (`step` 1 or any),
# checkbox (bool), select (enum, optional bool, ask choices), json (a textarea holding JSON:
# lists, records, maps, `json`), file (read-only: the file's name)
KINDS = ("text", "textarea", "number", "checkbox", "select", "json", "file")
MAX_FIELDS = 200        # fields of one form that are shown and read (the rest are ignored)
MAX_OPTIONS = 500       # options of a select; more choices are typed instead
LONG_TEXT = 80          # a text prefill longer than this (or with a line break): a textarea
_SHOWN = 40             # characters of a posted text quoted back in a message
_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off", "")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_JSON_SLACK = 4          # a JSON input may be this many times the field limit, in blanks
_MAX_INT_DIGITS = 400   # a whole number of at most 1024 bits (validate.MAX_INT_BITS) has 309


@dataclass(frozen=True)
class Field:
    """One input of a form, as a template renders it."""

    name: str                    # the field's name (posted as `f.NAME` by the review page)
    label: str                   # shown beside the input
    kind: str                    # one of KINDS
    required: bool               # the value may not be null (not an optional type)
    text: str                    # the input's text now (the prefill, or what was posted)
    prefill_text: str            # the prefill as text (what the page's live diff compares)
    attrs: dict[str, str]        # HTML validation attributes: required, step, pattern, ...
    options: tuple[tuple[str, str], ...] = ()   # a select's (value, label)s, in order
    help: str = ""               # the type in words (`whole number`, `list of text, as JSON`)
    readonly: bool = False       # shown, never posted (a file)
    schema: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Change:
    """A field whose value differs from its prefill."""

    field: str
    before: Any                  # the prefill (None when the form had none)
    after: Any
    before_text: str             # each on one line, at most 200 characters
    after_text: str
    diff: tuple[str, ...] = ()   # for multi-line text: unified diff lines (`-old`, `+new`)


class _Bad(Exception):
    """A posted value that cannot be taken: the message says why."""


@dataclass(frozen=True)
class _Spec:
    name: str
    schema: dict
    base: dict                   # the type an optional type holds (the schema itself if not)
    optional: bool
    kind: str
    has_files: bool              # a file somewhere inside (a record, a list of files)


# ---- what a schema is -------------------------------------------------------------------------

def _split_optional(schema: dict) -> tuple[dict, bool]:
    any_of = schema.get("anyOf")
    if isinstance(any_of, list):
        subs = [s for s in any_of if isinstance(s, dict)]
        rest = [s for s in subs if s.get("type") != "null"]
        optional = len(rest) < len(subs)
        if len(rest) == 1:
            return rest[0], optional
        return ({} if not rest else schema), optional
    return schema, False


def _holds_file(schema: Any, depth: int = 0) -> bool:
    if not isinstance(schema, dict) or depth > 60:
        return False
    if schema.get("x-flowc-file"):
        return True
    subs: list = []
    if isinstance(schema.get("anyOf"), list):
        subs += schema["anyOf"]
    if isinstance(schema.get("properties"), dict):
        subs += list(schema["properties"].values())
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            subs.append(schema[key])
    return any(_holds_file(s, depth + 1) for s in subs)


def _kind(base: dict, optional: bool, prefill: Any) -> str:
    if is_file_schema(base):
        return "file"
    if "enum" in base:
        return "select"
    t = base.get("type")
    if t == "string":
        long = isinstance(prefill, str) and ("\n" in prefill or len(prefill) > LONG_TEXT)
        return "textarea" if long or base.get("x-flowc-sop") else "text"
    if t in ("integer", "number"):
        return "number"
    if t == "boolean":
        return "select" if optional else "checkbox"
    return "json"


def _spec(name: str, schema: Any, prefill: Any = None) -> _Spec:
    schema = schema if isinstance(schema, dict) else {}
    base, optional = _split_optional(schema)
    kind = _kind(base, optional, prefill)
    return _Spec(name, schema, base, optional, kind, kind != "file" and _holds_file(base))


def _specs(schema_fields: Any, values: Mapping | None = None) -> list[_Spec]:
    """The form's fields: entries with a text name, the first of each name, at most
    MAX_FIELDS; anything else in the list is ignored."""
    out: list[_Spec] = []
    seen: set[str] = set()
    if not isinstance(schema_fields, Sequence) or isinstance(schema_fields, (str, bytes)):
        return out
    values = values if isinstance(values, Mapping) else {}
    for entry in schema_fields:
        if len(out) >= MAX_FIELDS:
            break
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name or name in seen:
            continue
        seen.add(name)
        out.append(_spec(name, entry.get("schema"), values.get(name)))
    return out


# ---- values as text ---------------------------------------------------------------------------

def _float_text(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))       # 60.0 shows as `60`, as a person writes it
    return repr(v)


def _json_text(value: Any, indent: int | None = 2) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, indent=indent,
                          separators=None if indent else (",", ":"))
    except (TypeError, ValueError, RecursionError):
        return _clean(repr(type(value).__name__), 100)


def _option_text(value: Any) -> str:
    """An enum variant or a choice as an option's value: text as it is, anything else JSON."""
    return value if isinstance(value, str) else _json_text(value, None)


def _text(value: Any, spec: _Spec) -> str:
    """A value as its input shows it (and as a posted input gives it back)."""
    if value is None:
        return ""
    kind = spec.kind
    if kind == "checkbox":
        return "true" if value is True else "false"
    if kind == "json":
        return _json_text(value)
    if kind == "file":
        if isinstance(value, Mapping):
            name = value.get("name") or value.get("path") or "file"
            return _clean(str(name), 200)
        return _clean(_json_text(value, None), 200)
    if kind == "select" and "enum" in spec.base:
        return _option_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:       # more digits than Python prints
            return _json_text(value, None)
    if isinstance(value, float):
        return _float_text(value)
    return _json_text(value)


def _clean(text: str, limit: int) -> str:
    """Text for a label or a message: no control or format characters, at most `limit`."""
    out = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text[:limit + 1])
    return out if len(out) <= limit else out[:limit - 1] + "…"


def _shown(text: str) -> str:
    text = _clean(text, 1000).replace("`", "'")
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _help(spec: _Spec) -> str:
    if spec.kind == "file":
        return "a file (it cannot be changed here)"
    want = describe_schema(spec.base) if spec.base else "any value"
    fmt = spec.base.get("format")
    if spec.base.get("type") == "string" and fmt in ("date", "duration"):
        want = "a date, YYYY-MM-DD" if fmt == "date" else "a duration"
    want = _clean(want, 300)
    if spec.kind == "json":
        want += ", written as JSON"
        if spec.has_files:
            want += " (the files in it stay as they are: they may be removed or reordered)"
    if spec.optional:
        want += "; leave it empty for none"
    return want


def _attrs(spec: _Spec, text: str, max_bytes: int | None) -> dict[str, str]:
    """HTML validation attributes that check what the server checks (a page may still be
    sent without them: the server checks again)."""
    kind, base = spec.kind, spec.base
    attrs: dict[str, str] = {}
    if kind == "file" or kind == "checkbox":
        return attrs
    if not spec.optional and (kind in ("number", "json") or
                              (kind == "select" and spec.base.get("type") != "boolean")):
        attrs["required"] = "required"
    if kind == "number":
        integer = base.get("type") == "integer"
        attrs["step"] = "1" if integer else "any"
        attrs["inputmode"] = "numeric" if integer else "decimal"
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if isinstance(base.get(key), (int, float)) and not isinstance(base[key], bool):
                attrs[attr] = _float_text(float(base[key])) if isinstance(base[key], float) \
                    else str(base[key])
    if kind in ("text", "textarea", "json") and max_bytes:
        # a UTF-16 unit is at least one byte of the value's UTF-8 JSON: never stricter
        attrs["maxlength"] = str(_max_chars(spec, max_bytes))
    if kind == "text" and base.get("format") == "date":
        attrs["placeholder"] = "YYYY-MM-DD"
        if not text or _DATE.fullmatch(text):   # never blocks a prefill that is written so
            attrs["pattern"] = _DATE.pattern
    if kind == "json":
        attrs["spellcheck"] = "false"
        attrs["rows"] = str(min(20, max(3, text.count("\n") + 2)))
    if kind == "textarea":
        attrs["rows"] = str(min(20, max(3, text.count("\n") + 2)))
    return attrs


def _options(spec: _Spec, choices: Sequence | None = None) -> tuple[tuple[str, str], ...]:
    if choices is not None:
        values = list(choices)[:MAX_OPTIONS]
    elif "enum" in spec.base and isinstance(spec.base["enum"], list):
        values = spec.base["enum"][:MAX_OPTIONS]
    elif spec.base.get("type") == "boolean":
        values = [True, False]
    else:
        return ()
    out = [(_option_text(v), _clean(_option_text(v), 200)) for v in values]
    if spec.optional:
        out.insert(0, ("", "— none —"))
    return tuple(out)


def _field(spec: _Spec, value: Any, has_value: bool, posted: Any, max_bytes: int | None,
           *, label: str | None = None, choices: Sequence | None = None,
           kind: str | None = None) -> Field:
    prefill_text = _text(value, spec) if has_value else ""
    text = prefill_text
    if posted is not None and spec.kind != "file":
        if isinstance(posted, (list, tuple)):
            posted = posted[-1] if posted else ""
        text = posted if isinstance(posted, str) else ""
        if spec.kind == "checkbox":
            text = "true" if text.strip().lower() in _TRUE else "false"
    kind = kind or spec.kind
    spec_for_attrs = spec if kind == spec.kind else _Spec(
        spec.name, spec.schema, spec.base, spec.optional, kind, spec.has_files)
    return Field(
        name=spec.name, label=label or _clean(spec.name.replace("_", " "), 100), kind=kind,
        required=not spec.optional, text=text, prefill_text=prefill_text,
        attrs=_attrs(spec_for_attrs, text, max_bytes),
        options=_options(spec, choices) if kind == "select" else (),
        help=_help(spec), readonly=kind == "file", schema=spec.schema)


# ---- a gate's form ----------------------------------------------------------------------------

def form_fields(schema_fields: Any, values: Mapping | None = None,
                posted: Mapping[str, Any] | None = None, *,
                max_bytes: int | None = MAX_FIELD_BYTES) -> list[Field]:
    """The inputs of a gate's form (`form["fields"]`), in order, filled from `values` (the
    prefill, `form["values"]`); `posted` (what a rejected post held, by field name) replaces
    an input's text, while `prefill_text` stays the prefill's."""
    values = values if isinstance(values, Mapping) else {}
    posted = posted if isinstance(posted, Mapping) else {}
    return [_field(s, values.get(s.name), s.name in values, posted.get(s.name), max_bytes)
            for s in _specs(schema_fields, values)]


def parse_form(schema_fields: Any, posted: Mapping[str, str | list[str]], *,
               max_bytes: int | None = MAX_FIELD_BYTES, prefill: Mapping | None = None,
               ) -> tuple[dict, dict[str, str]]:
    """The typed values of a posted gate form (by field name, without the `f.` prefix) and
    the problems, by field name (`"_"`: fields the form does not have). See the module's
    docstring for absent and empty fields. Never raises for what is posted."""
    specs = _specs(schema_fields, prefill)
    prefill = prefill if isinstance(prefill, Mapping) else {}
    posted = posted if isinstance(posted, Mapping) else {}
    values: dict = {}
    errors: dict[str, str] = {}
    names = {s.name for s in specs}
    unknown = [k for k in posted if k not in names]
    if unknown:
        shown = ", ".join(f"`{_shown(str(k))}`" for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        fields = ", ".join(f"`{_shown(s.name)}`" for s in specs[:20]) or "none"
        errors["_"] = (f"the form has no field {shown}{more} (its fields: {fields})")
    for spec in specs:
        name = spec.name
        if name not in posted:
            if spec.kind == "checkbox":
                values[name] = False
            continue
        try:
            values[name] = _read(spec, posted[name], max_bytes, prefill, name in prefill)
        except _Bad as e:
            errors[name] = str(e)
    return values, errors


def _read(spec: _Spec, raw: Any, max_bytes: int | None, prefill: Mapping,
          has_prefill: bool) -> Any:
    who = f"`{_shown(spec.name)}`"
    if spec.kind == "file":
        raise _Bad(f"{who} is a file: a file cannot be changed in the browser")
    text = _one_text(raw, spec, who, max_bytes)
    if has_prefill and _same_text(text, _text(prefill.get(spec.name), spec), spec):
        return prefill.get(spec.name)  # unchanged: the prefill exactly
    value = _coerce(text, spec, who)
    return _checked(value, spec, who, max_bytes, prefill.get(spec.name))


def _one_text(raw: Any, spec: _Spec, who: str, max_bytes: int | None) -> str:
    if isinstance(raw, (list, tuple)):
        if spec.kind == "checkbox" and 0 < len(raw) <= 4:
            raw = raw[-1]    # a hidden `false` then the box's `true`: the last one counts
        else:
            raise _Bad(f"{who} was sent {len(raw)} times; it takes one value")
    if not isinstance(raw, str):
        raise _Bad(f"{who} takes text, not {_shown(type(raw).__name__)}")
    if max_bytes is not None and len(raw) > _max_chars(spec, max_bytes):
        raise _Bad(f"{who} is more than {limit_text(max_bytes)}; a field may hold at most "
                   f"{limit_text(max_bytes)} ([values] max_field_kb in flowc.toml)")
    return raw


def _max_chars(spec: _Spec, max_bytes: int) -> int:
    """The longest text a field's input may send: the field limit (a character is at least a
    byte of the value's JSON), for JSON room for its indentation too (the value itself is
    then held to the limit)."""
    return max_bytes * _JSON_SLACK if spec.kind == "json" else max_bytes


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def _same_text(posted: str, prefill_text: str, spec: _Spec) -> bool:
    """The posted text is the prefill's (blanks around a number or JSON do not count)."""
    if _lines(posted) == _lines(prefill_text):
        return True
    return spec.kind in ("number", "json") and posted.strip() == prefill_text.strip()


def _coerce(text: str, spec: _Spec, who: str) -> Any:
    """Posted text in the field's type, by the CLI's rules (validate.coerce_text) but never
    reading a file: `@...` is text like any other."""
    base, kind = spec.base, spec.kind
    want = _clean(describe_schema(spec.schema), 200) if spec.schema else "any value"
    text = _lines(text)
    t = base.get("type")
    is_text = t == "string" and "enum" not in base
    if "enum" in base and isinstance(base["enum"], list) and text in base["enum"]:
        is_text = True           # a variant called `null` is that variant
    if spec.optional and (text == "" or (text.strip() == "null" and not is_text)):
        return None
    shown = _shown(text)
    if kind == "checkbox" or (t == "boolean" and "enum" not in base):
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE and (low or kind == "checkbox"):
            return False
        if not low:
            raise _Bad(f"{who} needs a value: {want}")
        raise _Bad(f"{who} is true or false, not `{shown}`")
    if "enum" in base:
        variants = base["enum"] if isinstance(base["enum"], list) else []
        for v in variants:
            if _option_text(v) == text:
                return v
        if not text:
            raise _Bad(f"{who} needs a value: {want}")
        raise _Bad(f"{who} is {want}, not `{shown}`")
    if is_text:
        return text
    if t in ("integer", "number"):
        s = text.strip()
        if not s:
            raise _Bad(f"{who} needs a value: {_article(want)}{want}")
        if t == "integer":
            if _INT.fullmatch(s) and len(s) <= _MAX_INT_DIGITS:
                return int(s)
            raise _Bad(f"{who} is a {want}, not `{shown}`")
        if not _FLOAT.fullmatch(s) or len(s) > _MAX_INT_DIGITS:
            raise _Bad(f"{who} is a {want}, not `{shown}`")
        value = float(s)
        if not math.isfinite(value):
            raise _Bad(f"{who} is not a finite number (`{shown}`)")
        return value
    if not text.strip():
        raise _Bad(f"{who} needs a value: {_article(want)}{want}, written as JSON")
    return _loads(text, who, want, shown)


def _article(what: str) -> str:
    return "an " if what[:1] in "aeiou" else "a "


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _loads(text: str, who: str, want: str, shown: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise _Bad(f"{who} is {_article(want)}{want} written as JSON; this JSON is nested too "
                   "deeply") from None
    except json.JSONDecodeError as e:
        raise _Bad(f"{who} is {_article(want)}{want} written as JSON, and `{shown}` is not JSON "
                   f"({e.msg} at character {e.pos + 1})") from None
    except ValueError as e:      # NaN, Infinity, a number with too many digits
        raise _Bad(f"{who} is {_article(want)}{want} written as JSON, and `{shown}` is not JSON "
                   f"({_clean(str(e), 80)})") from None


def _checked(value: Any, spec: _Spec, who: str, max_bytes: int | None, before: Any) -> Any:
    """The engine's checks: JSON of at most `max_bytes`, the declared defaults filled in,
    the type; files only those the form already held."""
    problem = field_problem(value, max_bytes)
    if problem:
        raise _Bad(f"{who} {problem}")
    try:
        value = apply_defaults(value, spec.schema)
        problems = schema_errors(value, spec.schema, _clean(spec.name, 60))
    except (KeyError, TypeError, AttributeError, RecursionError):
        raise _Bad(f"{who} cannot be checked: the form's type for it is not one flowc "
                   "writes") from None
    if problems:
        raise _Bad(problems[0])
    if spec.has_files:
        handles: list = []
        _collect_files(before, spec.schema, handles, 0)
        where = _stray_file(value, spec.schema, handles, _clean(spec.name, 60), 0)
        if where:
            raise _Bad(f"`{where}` is a file: a file cannot be named or replaced in the "
                       "browser (keep one of the files shown there, or leave it out where it "
                       "is optional)")
    return value


def _sub_for(value: Any, schema: dict) -> dict | None:
    """The branch of an `anyOf` a value takes (as the engine's _ingest picks it)."""
    for sub in schema.get("anyOf") or ():
        if isinstance(sub, dict) and ((sub.get("type") == "object" and isinstance(value, dict))
                                      or (sub.get("type") == "array" and
                                          isinstance(value, list))):
            return sub
    return None


def _children(value: Any, schema: dict):
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        for k, v in value.items():
            yield f".{k}", v, props.get(k, {})
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for k, v in value.items():
            yield f".{k}", v, schema["additionalProperties"]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            yield f"[{i}]", v, schema["items"]


def _collect_files(value: Any, schema: Any, out: list, depth: int) -> None:
    if value is None or not isinstance(schema, dict) or depth > 120:
        return
    if is_file_schema(schema):
        if isinstance(value, dict):
            out.append(value)
        return
    if "anyOf" in schema:
        sub = _sub_for(value, schema)
        if sub is not None:
            _collect_files(value, sub, out, depth + 1)
        return
    for _, v, sub in _children(value, schema):
        _collect_files(v, sub, out, depth + 1)


def _stray_file(value: Any, schema: Any, handles: list, path: str, depth: int) -> str | None:
    """Where `value` holds, at a file's place, anything but one of `handles`, or None."""
    if value is None or not isinstance(schema, dict) or depth > 120:
        return None
    if is_file_schema(schema):
        return None if any(value == h for h in handles) else path
    if "anyOf" in schema:
        sub = _sub_for(value, schema)
        return None if sub is None else _stray_file(value, sub, handles, path, depth + 1)
    for step, v, sub in _children(value, schema):
        where = _stray_file(v, sub, handles, path + _clean(step, 60), depth + 1)
        if where:
            return where
    return None


# ---- what changed -----------------------------------------------------------------------------

_DIFF_CHARS = 200_000
_DIFF_LINES = 400


def changes(prefill: Mapping | None, values: Mapping) -> list[Change]:
    """The values that differ from the prefill (a value with no prefill counts as changed),
    in the order of `values` (parse_form's: the form's); for a text of several lines, a line
    diff."""
    prefill = prefill if isinstance(prefill, Mapping) else {}
    out = []
    for name, after in values.items():
        before = prefill.get(name)
        if name in prefill and _same(before, after):
            continue
        out.append(Change(str(name), before, after, _one_line(before), _one_line(after),
                          _line_diff(before, after)))
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: true is not 1, 1 is 1.0."""
    try:
        if isinstance(a, bool) or isinstance(b, bool):
            return isinstance(a, bool) and isinstance(b, bool) and a == b
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
        return (type(a) in (int, float) and type(b) in (int, float) and a == b) or \
            (type(a) is type(b) and a == b)
    except RecursionError:
        return False


def _one_line(value: Any, limit: int = 200) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = _float_text(value)
    else:
        text = _json_text(value, None)
    text = text[:limit * 2].replace("\r\n", "\n").replace("\n", " ⏎ ")
    return _clean(text, limit)


def _line_diff(before: Any, after: Any) -> tuple[str, ...]:
    if not (isinstance(before, str) and isinstance(after, str)):
        return ()
    if "\n" not in before and "\n" not in after and len(before) + len(after) <= 400:
        return ()
    if len(before) + len(after) > _DIFF_CHARS:
        return ("(too long to compare line by line)",)
    a, b = before.splitlines(), after.splitlines()
    lines = list(difflib.unified_diff(a, b, "before", "after", n=2, lineterm=""))[2:]
    if len(lines) > _DIFF_LINES:
        lines = [*lines[:_DIFF_LINES], f"… ({len(lines) - _DIFF_LINES} more lines)"]
    return tuple(_clean(line, 2000) if line else line for line in lines)


# ---- an ask's answer --------------------------------------------------------------------------

def _choices(task_form: Mapping) -> list | None:
    choices = task_form.get("choices")
    return list(choices) if isinstance(choices, (list, tuple)) and choices else None


def answer_field(task_form: Mapping | None, posted: Any = None, *,
                 max_bytes: int | None = MAX_FIELD_BYTES) -> Field:
    """The input for an `ask` task's answer (named `answer`): a select of its `choices` (or
    of an enum's variants, or true/false), else an input of the answer's type. More than
    MAX_OPTIONS choices are typed (and checked against all of them)."""
    form = task_form if isinstance(task_form, Mapping) else {}
    spec = _spec("answer", form.get("schema"))
    choices = _choices(form)
    question = form.get("question")
    label = _clean(question, 300) if isinstance(question, str) and question.strip() \
        else "Answer"
    kind = None
    if choices is not None:
        kind = "select" if len(choices) <= MAX_OPTIONS else (
            "text" if spec.kind in ("select", "checkbox") else spec.kind)
    elif spec.kind == "checkbox":
        kind = "select"     # an answer is chosen, never left unticked by accident
    f = _field(spec, None, False, posted, max_bytes, label=label, choices=choices, kind=kind)
    if choices is not None and kind != "select":
        return Field(**{**f.__dict__, "help": f"{f.help}; one of {len(choices)} choices"})
    return f


def parse_answer(task_form: Mapping | None, posted: Any, *,
                 max_bytes: int | None = MAX_FIELD_BYTES) -> tuple[Any, str | None]:
    """The typed answer of an `ask` task and None, or None and what is wrong with it. With
    `choices`, the answer is one of them (an option's text, or a value equal to one)."""
    form = task_form if isinstance(task_form, Mapping) else {}
    spec = _spec("answer", form.get("schema"))
    if spec.kind == "checkbox":
        spec = _Spec(spec.name, spec.schema, spec.base, spec.optional, "select", False)
    choices = _choices(form)
    who = "the answer"
    try:
        if posted is None:
            raise _Bad("no answer was sent")
        if spec.kind == "file":
            raise _Bad("the answer is a file: a file cannot be given in the browser (answer "
                       "with `flowc resume TASK --answer @FILE`)")
        text = _one_text(posted, spec, who, max_bytes)
        if choices is not None:
            for c in choices:
                if _option_text(c) == text:
                    value = c
                    break
            else:
                value = _coerce(text, spec, who)
            value = _checked(value, spec, who, max_bytes, None)
            if not any(_same(value, c) for c in choices):
                shown = ", ".join(_clean(_option_text(c), 40) for c in choices[:10])
                more = f" and {len(choices) - 10} more" if len(choices) > 10 else ""
                raise _Bad(f"the answer must be one of: {shown}{more}")
            return value, None
        return _checked(_coerce(text, spec, who), spec, who, max_bytes, None), None
    except _Bad as e:
        return None, str(e)
