"""What a spare sandbox's warm-up buys, and what it costs: each part with and without.

A spare sandbox waiting in the pool runs warm-up steps (runtime/sandbox/warm.py): it imports
the shell, builds a CSV of R rows, runs N rounds of shell pipelines over it (so that V8 compiles
the interpreter's WebAssembly functions those paths touch) and touches M MiB of memory. This
measures, for each setting, side by side in one run: the commands benchmark's pipeline
(bench/commands.py: a 10 MB CSV, `cat | grep | cut | sort | uniq -c`) in a fresh sandbox per
call from a pool of one spare, its wall time per call, and the CPU per call counted from a full,
warmed pool until the spare that replaced the last call's sandbox is warmed again (this process
and every sandbox, live or reaped): the warm-up each call causes is part of its cost.

Settings: no warm-up; the shell imported only; one round over 10,000 rows with and without the
memory touch (one round over 10,000 rows with the touch is the default); four rounds over
30,000 rows with the touch (the default before issue 21).

Usage: python bench/warmup.py [--quick] [--repeat N] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import Timing, cpu_seconds, positive_int

# (label, rounds, rows, touch MiB, warm at all)
SETTINGS = [
    ("no warm-up", 0, 0, 0, False),
    ("the shell imported, the data built, no rounds", 0, 10_000, 0, True),
    ("1 round over 10,000 rows, no memory touch", 1, 10_000, 0, True),
    ("1 round over 10,000 rows, 96 MiB touched (default)", 1, 10_000, 96, True),
    ("4 rounds over 30,000 rows, 96 MiB touched (before)", 4, 30_000, 96, True),
]


def measure(setting, data: Path, repeat: int) -> tuple[Timing, float]:
    """(wall ms per call, CPU s per call with the warm-up) for one warm-up setting."""
    import commands as bench

    import flowc.runtime.sandbox.warm as warm
    from flowc.runtime.sandbox import Limits, SandboxPool

    _, rounds, rows, touch, on = setting
    real = warm.warm_steps
    warm.warm_steps = lambda rounds_=None, touch_mb=None: real(rounds=rounds, rows=rows,
                                                                touch_mb=touch)
    try:
        inputs = {"data.csv": str(data)}
        limits = Limits(timeout=bench.SANDBOX_TIMEOUT_S, memory_mb=bench.SANDBOX_MEMORY_MB)
        code = bench.engine_code(bench.PIPELINE)
        pool = SandboxPool(size=1, memory_mb=bench.SANDBOX_MEMORY_MB, warm=on)
        try:
            bench.sandbox_run(pool, code, inputs, limits)  # untimed: the page cache, imports
            bench.wait_full(pool)
            cpu0 = cpu_seconds()
            walls = [bench.sandbox_run(pool, code, inputs, limits)[0] for _ in range(repeat)]
            bench.wait_full(pool)
            return Timing(tuple(walls)), (cpu_seconds() - cpu0) / repeat
        finally:
            pool.close()
    finally:
        warm.warm_steps = real


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 2 MB file, 3 calls a setting")
    ap.add_argument("--repeat", type=positive_int, default=None, help="calls a setting")
    ap.add_argument("--markdown", metavar="PATH", default=None,
                    help="also write the table to PATH (bench/results/warmup.md)")
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 5)
    import commands as bench

    with tempfile.TemporaryDirectory(prefix="flowc-bench-warmup-") as tmp:
        data = Path(tmp) / "data.csv"
        bench.write_csv(data, (2 if args.quick else 10) * 10**6)
        host = statistics.median(bench.host_run(bench.PIPELINE, Path(tmp))[0]
                                 for _ in range(repeat))
        rows = []
        for setting in SETTINGS:
            wall, cpu = measure(setting, data, repeat)
            rows.append([setting[0], wall.cell(0) + " ms", f"{wall.median / host:.1f}x",
                         f"{cpu * 1000:.0f} ms"])
            print(f"  measured: {setting[0]}", file=sys.stderr, flush=True)
    headers = ["warm-up of a spare", "wall per call, median [min-max]", "vs host bash",
               "CPU per call, warm-up included"]
    width = [max(len(str(r[k])) for r in [headers, *rows]) for k in range(4)]
    for r in [headers, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, width, strict=True)))
    print(f"host bash: {host:.1f} ms per run; {repeat} calls a setting")
    if args.markdown:
        from _figures import markdown_table, write_markdown

        write_markdown(args.markdown, __file__, argv, markdown_table(headers, rows)
                       + f"\n\nHost bash: {host:.1f} ms per run; {repeat} calls a setting, "
                       "a fresh sandbox per call from a pool of one spare.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
