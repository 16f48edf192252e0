"""Repeated measurements, their table cells and option parsing, shared by the benchmarks."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
from dataclasses import dataclass

__all__ = ["Timing", "cpu_seconds", "positive_int", "spawned_together"]


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of its children, live or reaped. A child
    counts in the sum over live children until it is reaped, then in RUSAGE_CHILDREN with the
    same total, so a difference of two readings is exact whatever ended in between."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[1]) == me:  # fields from the state on: ppid, ..., utime at 11
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def spawned_together(target, arg_tuples: list[tuple]) -> list:
    """Start one spawned process per `arg_tuples` entry, calling `target(*args, go, conn)`;
    each sends "ready" on `conn` once warmed, waits for `go`, then sends its result. All
    start together; returns their results in order."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    go = ctx.Event()
    pipes, procs = [], []
    for args in arg_tuples:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=target, args=(*args, go, child))
        p.start()
        pipes.append(parent)
        procs.append(p)
    for parent in pipes:
        assert parent.recv() == "ready"
    go.set()
    results = [parent.recv() for parent in pipes]
    for p in procs:
        p.join()
    return results


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
