"""'Did you mean' suggestions for misspelt names."""

from __future__ import annotations

import math
from difflib import get_close_matches

__all__ = ["MAX_DURATION_SECONDS", "did_you_mean", "parse_duration"]


def did_you_mean(name: str, candidates) -> str | None:
    """A `help:` text naming the closest candidate, or None."""
    cands = sorted(set(candidates))
    best = get_close_matches(name, cands, n=1, cutoff=0.6)
    if not best:
        lower = {c.lower(): c for c in cands}
        if name.lower() in lower:
            best = [lower[name.lower()]]
    return f"did you mean `{best[0]}`?" if best else None


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in a duration literal such as `48h`, `1h30m` or `500ms`."""
    import re

    total = 0.0
    try:
        for num, unit in re.findall(r"(\d+)(ms|s|m|h|d|w)", text):
            total += int(num) * _UNITS[unit]
    except (ValueError, OverflowError):  # more digits than Python converts, past any float
        return math.inf
    return total


MAX_DURATION_SECONDS = 10**10  # about 317 years: longer is a mistake (and past datetime's range)
