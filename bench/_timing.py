"""Repeated measurements and their table cells, shared by the benchmarks in this folder."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

__all__ = ["Timing"]


@dataclass(frozen=True)
class Timing:
    """Repeated measurements of one quantity (in the unit it is shown in)."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def cell(self, digits: int = 4) -> str:
        """`median [min-max]`."""
        lo, hi = min(self.samples), max(self.samples)
        return f"{self.median:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"
