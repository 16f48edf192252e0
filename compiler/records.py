"""Small value classes for the syntax tree and the type system, cheap to define.

`dataclass` generates `__init__`, `__eq__`, `__repr__` and `__hash__` for every class by
compiling code at import time; for the ~70 classes of the syntax tree and the types that
costs more than a tenth of a `flowc check`. Here only `__init__` is generated (slotted,
through `dataclass`), and equality, hashing and repr are written once in `Record`, over the
fields that take part in comparison (spans do not).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Record", "record"]


class Record:
    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields)

    def __hash__(self):
        return hash((type(self).__name__, *(getattr(self, f) for f in self._fields)))

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


def record(cls):
    """Make `cls` (a subclass of `Record`) a slotted value class."""
    out = dataclass(slots=True, eq=False, repr=False)(cls)
    out._fields = tuple(n for n, f in out.__dataclass_fields__.items() if f.compare)
    return out
