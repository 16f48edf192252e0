"""Benchmark `flowc skill test`: a skill's fixtures run in the sandbox, as a whole process.

`json-query` (a standard skill with four fixtures) is tested by `python -m flowc skill test`
ROUNDS times; the table gives the median and the spread. By default the fixtures share one
warm interpreter (target: under 2 s on a quiet 2-core machine); `--strict` (a fresh
interpreter for each fixture) is timed too where the checkout has it. Side by side with
another checkout (say main):

    python bench/sidebyside.py --base ../base --same-script skilltest.py --rounds 3

Usage: python bench/skilltest.py [--quick] [--rounds N] [--skill NAME]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _timing import positive_int

TARGET_S = 2.0


def _time(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "flowc", *argv], capture_output=True, text=True,
                       cwd=cwd, timeout=600)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"flowc {' '.join(argv)} failed:\n{r.stdout}{r.stderr}")
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two rounds (CI's short form)")
    ap.add_argument("--rounds", type=positive_int, default=None)
    ap.add_argument("--skill", default="json-query")
    args = ap.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
    cwd = Path.cwd()
    help_text = subprocess.run([sys.executable, "-m", "flowc", "skill", "test", "--help"],
                               capture_output=True, text=True, cwd=cwd).stdout
    modes = [("", [])] + ([(" --strict", ["--strict"])] if "--strict" in help_text else [])
    _time(["skill", "test", args.skill], cwd)  # assets primed, caches warm
    print(f"flowc skill test {args.skill}: whole process, medians of {rounds}\n")
    print(f"{'measure':<44} | {'median':>8} | {'min':>8} | {'max':>8} | status")
    print(f"{'-' * 45}|{'-' * 10}|{'-' * 10}|{'-' * 10}|-------")
    missed = False
    for label, extra in modes:
        xs = [_time(["skill", "test", args.skill, *extra], cwd) for _ in range(rounds)]
        med = statistics.median(xs)
        status = "info" if extra else ("PASS" if med <= TARGET_S else "MISS")
        missed |= status == "MISS"
        print(f"{'skill test ' + args.skill + label:<44} | {med:6.3f} s | {min(xs):6.3f} s |"
              f" {max(xs):6.3f} s | {status}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
