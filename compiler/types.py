"""The type system: the types of values that cross edges, assignability, and JSON Schema."""

from __future__ import annotations

from .records import Record, record

__all__ = [
    "Type", "Prim", "ListT", "MapT", "OptionalT", "EnumT", "RecordT", "FileT", "PartT",
    "DeliverableT", "UnknownT", "MemoryT", "PrincipalT", "SopT", "NullT",
    "STR", "INT", "FLOAT", "BOOL", "DATE", "DURATION", "JSON", "UNKNOWN", "MEMORY",
    "PRINCIPAL", "SOP", "NULL", "PRIMITIVES", "assignable", "member", "member_names",
    "renderable", "strip_optional", "json_schema", "is_optional",
]


class Type(Record):
    __slots__ = ()

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@record
class Prim(Type):
    name: str

    def describe(self) -> str:
        return self.name


@record
class UnknownT(Type):
    """The type of something that already failed to check: compatible with everything."""

    def describe(self) -> str:
        return "unknown"


@record
class NullT(Type):
    def describe(self) -> str:
        return "null"


@record
class MemoryT(Type):
    """A memory snapshot: the working context an agent or model node leaves behind."""

    def describe(self) -> str:
        return "memory"


@record
class PrincipalT(Type):
    """Who a gate goes to: `role("...")` or `user("...")`."""

    def describe(self) -> str:
        return "principal"


@record
class SopT(Type):
    """An SOP document or a folder of them."""

    def describe(self) -> str:
        return "sop"


@record
class ListT(Type):
    elem: Type

    def describe(self) -> str:
        return f"list<{self.elem.describe()}>"


@record
class MapT(Type):
    value: Type

    def describe(self) -> str:
        return f"map<{self.value.describe()}>"


@record
class OptionalT(Type):
    inner: Type

    def describe(self) -> str:
        return f"{self.inner.describe()}?"


@record
class EnumT(Type):
    name: str | None
    variants: tuple[str, ...]

    def describe(self) -> str:
        return self.name or "enum { " + ", ".join(self.variants) + " }"


@record
class FileT(Type):
    kind: str | None = None

    def describe(self) -> str:
        return f"file<{self.kind}>" if self.kind else "file"


@record
class RecordT(Type):
    name: str | None
    fields: tuple[tuple[str, Type], ...]
    defaults: frozenset[str] = frozenset()
    # constant defaults' values (`currency: str = "EUR"`), put into the JSON Schema so the
    # runtime can fill a field a producer left out
    default_values: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        if self.name:
            return self.name
        return "{ " + ", ".join(f"{k}: {t.describe()}" for k, t in self.fields) + " }"

    def field(self, name: str) -> Type | None:
        for k, t in self.fields:
            if k == name:
                return t
        return None


@record
class PartT(Record):
    """One part of a deliverable: kind is text, file, field or memory."""

    name: str
    kind: str
    type: Type


@record
class DeliverableT(Type):
    name: str | None
    parts: tuple[PartT, ...]

    def describe(self) -> str:
        return self.name or "deliverable"

    def part(self, name: str) -> PartT | None:
        for p in self.parts:
            if p.name == name:
                return p
        return None


STR, INT, FLOAT, BOOL = Prim("str"), Prim("int"), Prim("float"), Prim("bool")
DATE, DURATION, JSON = Prim("date"), Prim("duration"), Prim("json")
UNKNOWN, MEMORY, PRINCIPAL, SOP, NULL = UnknownT(), MemoryT(), PrincipalT(), SopT(), NullT()
PRIMITIVES = {t.name: t for t in (STR, INT, FLOAT, BOOL, DATE, DURATION, JSON)}
FILE_MEMBERS = {"path": STR, "name": STR, "size": INT, "sha256": STR}


def is_optional(t: Type) -> bool:
    return isinstance(t, OptionalT | NullT)


def strip_optional(t: Type) -> Type:
    return t.inner if isinstance(t, OptionalT) else t


def assignable(src: Type, dst: Type) -> bool:
    """Whether a value of type `src` may be used where `dst` is required."""
    if src == dst or isinstance(src, UnknownT) or isinstance(dst, UnknownT):
        return True
    if dst == JSON or src == JSON:
        return True
    if isinstance(dst, OptionalT):
        return isinstance(src, NullT) or assignable(strip_optional(src), dst.inner)
    if isinstance(src, OptionalT | NullT):
        return False
    if src == INT and dst == FLOAT:
        return True
    if isinstance(src, EnumT) and dst == STR:
        return True
    if isinstance(src, EnumT) and isinstance(dst, EnumT):
        return set(src.variants) <= set(dst.variants) and (
            src.name is None or dst.name is None or src.name == dst.name
        )
    if isinstance(src, ListT) and isinstance(dst, ListT):
        return assignable(src.elem, dst.elem)
    if isinstance(src, MapT) and isinstance(dst, MapT):
        return assignable(src.value, dst.value)
    if isinstance(src, FileT) and isinstance(dst, FileT):
        return dst.kind is None or src.kind is None or src.kind == dst.kind
    if isinstance(src, RecordT | DeliverableT) and isinstance(dst, RecordT):
        if src.name is not None and src.name == dst.name:
            return True
        return all(
            (st := member(src, k)) is not None and assignable(st, t)
            for k, t in dst.fields
            if k not in dst.defaults
        )
    if isinstance(src, DeliverableT) and isinstance(dst, DeliverableT):
        if src.name is not None and src.name == dst.name:
            return True
        return all(
            (sp := src.part(p.name)) is not None and assignable(sp.type, p.type)
            for p in dst.parts
        )
    return False


def member(t: Type, name: str) -> Type | None:
    """The type of `value.name` for a value of type `t`, or None when it has no such member."""
    if isinstance(t, UnknownT) or t == JSON:
        return t
    if isinstance(t, OptionalT):
        inner = member(t.inner, name)
        return None if inner is None else (inner if is_optional(inner) else OptionalT(inner))
    if isinstance(t, RecordT):
        return t.field(name)
    if isinstance(t, DeliverableT):
        p = t.part(name)
        return p.type if p else None
    if isinstance(t, FileT):
        return FILE_MEMBERS.get(name)
    return None


def member_names(t: Type) -> list[str]:
    t = strip_optional(t)
    if isinstance(t, RecordT):
        return [k for k, _ in t.fields]
    if isinstance(t, DeliverableT):
        return [p.name for p in t.parts]
    if isinstance(t, FileT):
        return list(FILE_MEMBERS)
    return []


def renderable(t: Type) -> bool:
    """Whether a value of type `t` has a text form for a template hole."""
    t = strip_optional(t)
    if isinstance(t, Prim | EnumT | FileT | UnknownT | SopT | NullT):
        return True
    if isinstance(t, ListT):
        return renderable(t.elem)
    return False


def json_schema(t: Type) -> dict:
    """A JSON Schema (2020-12 vocabulary) for values of type `t`."""
    if isinstance(t, Prim):
        return {
            "str": {"type": "string"},
            "int": {"type": "integer"},
            "float": {"type": "number"},
            "bool": {"type": "boolean"},
            "date": {"type": "string", "format": "date"},
            "duration": {"type": "string", "format": "duration"},
            "json": {},
        }[t.name]
    if isinstance(t, OptionalT):
        return {"anyOf": [json_schema(t.inner), {"type": "null"}]}
    if isinstance(t, NullT):
        return {"type": "null"}
    if isinstance(t, ListT):
        return {"type": "array", "items": json_schema(t.elem)}
    if isinstance(t, MapT):
        return {"type": "object", "additionalProperties": json_schema(t.value)}
    if isinstance(t, EnumT):
        out: dict = {"type": "string", "enum": list(t.variants)}
        if t.name:
            out["title"] = t.name
        return out
    if isinstance(t, FileT):
        out = {"type": "object", "x-flowc-file": t.kind or "*",
               "properties": {"path": {"type": "string"}, "name": {"type": "string"},
                              "sha256": {"type": "string"}, "size": {"type": "integer"}},
               "required": ["path"]}
        return out
    if isinstance(t, RecordT):
        out = {
            "type": "object",
            "properties": {k: json_schema(v) for k, v in t.fields},
            "required": [k for k, v in t.fields if k not in t.defaults and not is_optional(v)],
            "additionalProperties": False,
        }
        for k, value in t.default_values:
            out["properties"][k] = {**out["properties"][k], "default": value}
        if t.name:
            out["title"] = t.name
        return out
    if isinstance(t, DeliverableT):
        out = {
            "type": "object",
            "x-flowc-deliverable": {p.name: p.kind for p in t.parts},
            "properties": {p.name: json_schema(p.type) for p in t.parts},
            "required": [p.name for p in t.parts if not is_optional(p.type)],
            "additionalProperties": False,
        }
        if t.name:
            out["title"] = t.name
        return out
    if isinstance(t, MemoryT):
        return {"type": "object", "x-flowc-memory": True}
    if isinstance(t, PrincipalT):
        return {"type": "object", "properties": {"kind": {"enum": ["role", "user"]},
                                                 "name": {"type": "string"}}}
    if isinstance(t, SopT):
        return {"type": "string", "x-flowc-sop": True}
    return {}
