"""Repeated measurements, their table cells and option parsing, shared by the benchmarks."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

__all__ = ["Timing", "positive_int"]


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


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
