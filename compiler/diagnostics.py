"""Diagnostics: what a stage reports about a user's mistake, and where.

Stages never raise for a user mistake; they call `Diagnostics.add` (or the severity
helpers) and carry on. The same `Diagnostic` object feeds every output format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codes import CODES
from .source import Source, Span

__all__ = ["Related", "Diagnostic", "Diagnostics", "ERROR", "WARNING", "INFO"]

ERROR = "error"
WARNING = "warning"
INFO = "info"
_SEVERITY_RANK = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True, slots=True)
class Related:
    """A secondary location, drawn with `---` and a short label."""

    source: Source
    span: Span
    label: str


@dataclass(slots=True)
class Diagnostic:
    code: str
    severity: str
    message: str
    source: Source
    span: Span
    label: str = ""
    help: str | None = None
    notes: tuple[str, ...] = ()
    related: tuple[Related, ...] = ()

    @property
    def start(self):
        return self.source.position(self.span.start)

    @property
    def end(self):
        return self.source.position(max(self.span.end, self.span.start))

    def sort_key(self):
        return (self.source.path, self.span.start, _SEVERITY_RANK[self.severity], self.code)

    def to_dict(self) -> dict:
        s, e = self.start, self.end
        out = {
            "path": self.source.path,
            "line": s.line,
            "column": s.column,
            "end_line": e.line,
            "end_column": e.column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
        if self.help:
            out["help"] = self.help
        if self.notes:
            out["notes"] = list(self.notes)
        if self.related:  # the secondary locations the text draws with `---`
            out["related"] = []
            for r in self.related:
                rs, re_ = r.source.position(r.span.start), r.source.position(
                    max(r.span.end, r.span.start))
                out["related"].append({"path": r.source.path, "line": rs.line,
                                       "column": rs.column, "end_line": re_.line,
                                       "end_column": re_.column, "message": r.label})
        return out


@dataclass
class Diagnostics:
    """Collects diagnostics for one compilation; caps how many are kept per source."""

    limit: int = 200
    items: list[Diagnostic] = field(default_factory=list)
    dropped: int = 0

    def add(
        self,
        code: str,
        source: Source,
        span: Span,
        message: str,
        *,
        label: str = "",
        help: str | None = None,
        notes: tuple[str, ...] = (),
        related: tuple[Related, ...] = (),
        severity: str | None = None,
    ) -> Diagnostic | None:
        sev = severity or CODES[code].severity
        if len(self.items) >= self.limit:
            self.dropped += 1
            return None
        d = Diagnostic(code, sev, message, source, span, label, help, notes, related)
        self.items.append(d)
        return d

    @property
    def has_errors(self) -> bool:
        return any(d.severity == ERROR for d in self.items)

    @property
    def error_count(self) -> int:
        return sum(1 for d in self.items if d.severity == ERROR)

    @property
    def warning_count(self) -> int:
        return sum(1 for d in self.items if d.severity == WARNING)

    def sorted(self) -> list[Diagnostic]:
        seen = set()
        out = []
        for d in sorted(self.items, key=Diagnostic.sort_key):
            key = (d.source.path, d.span, d.code, d.message)
            if key not in seen:
                seen.add(key)
                out.append(d)
        return out

    def extend(self, other: Diagnostics) -> None:
        self.items.extend(other.items)
        self.dropped += other.dropped
