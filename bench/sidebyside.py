"""Two checkouts of flowc, one benchmark script, side by side: what a change cost.

Runs `bench/SCRIPT` from a baseline checkout (say, main before a change, with its own
`.venv`) and from this one, alternately, ROUNDS times each (A B B A A B ...: a machine that
gets busier or quieter during the run weighs on both alike), and prints, for each row of the
script's results table, the median of each side's medians and their ratio (this / baseline;
above 1 means this checkout is slower).

    git worktree add ../base main && (cd ../base && python -m venv .venv &&
        .venv/bin/pip install -e '.[test,bench]')
    python bench/sidebyside.py --base ../base sandbox.py --rounds 3 -- --no-download
    python bench/sidebyside.py --base ../base commands.py --rounds 5

Only rows whose first figure has a unit (us, ms, s, MB, x) are compared; the first number
of the row's flowc (or sandbox) cell is the one taken (a median, or a p50).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "MB": 1e6, "x": 1.0}
_FIG = re.compile(r"(?:p50\s+)?(-?\d+(?:\.\d+)?)\s*(us|ms|s|MB|x)\b")


units: dict[str, str] = {}


def _rows(text: str) -> dict[str, float]:
    """measure -> its first figure (in base units) from the results table of a bench run."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if "|" in line:  # bench/sandbox.py: `measure | flowc | baseline | ...`
            cells = [c.strip() for c in line.split("|")]
            name, cell = cells[0], cells[1] if len(cells) > 1 else ""
        else:  # bench/commands.py: columns separated by two or more spaces
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) < 2:
                continue
            name, cell = cells[0], cells[1]
        m = _FIG.search(cell)
        unit = re.search(r"\((us|ms|s)\)$", name)  # bench/runtime.py: the unit in the name
        if not m and unit and re.fullmatch(r"-?\d+(?:\.\d+)?(?: \[.*\])?", cell):
            m = re.match(r"(-?\d+(?:\.\d+)?) .*?(us|ms|s)$", cell + " " + unit.group(1))
        if not m or not name or name.startswith(("measure", "-")):
            continue
        if name not in out:
            out[name] = float(m.group(1)) * _UNITS[m.group(2)]
            units[name] = "MB" if m.group(2) == "MB" else "x" if m.group(2) == "x" else "s"
    return out


def _run(tree: Path, script: str, args: list[str], script_tree: Path | None = None
         ) -> dict[str, float]:
    python = tree / ".venv" / "bin" / "python"
    r = subprocess.run([str(python), str((script_tree or tree) / "bench" / script), *args],
                       cwd=tree,
                       capture_output=True, text=True, timeout=3600)
    if r.returncode not in (0, 1):  # 1: a target missed, still a measurement
        sys.exit(f"{tree}: bench/{script} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return _rows(r.stdout)


def _fmt(v: float, unit: str) -> str:
    if unit == "MB":
        return f"{v / 1e6:.3g} MB"
    if unit == "x":
        return f"{v:.3g}x"
    if v >= 1:
        return f"{v:.3g} s"
    if v >= 1e-3:
        return f"{v * 1e3:.3g} ms"
    return f"{v * 1e6:.3g} us"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the baseline checkout")
    ap.add_argument("script", help="a script in bench/, e.g. sandbox.py")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--same-script", action="store_true",
                    help="run this checkout's bench script on both sides (each with its own "
                    "flowc): a benchmark's own fix then weighs on both alike")
    argv = sys.argv[1:] if argv is None else argv
    rest: list[str] = []
    if "--" in argv:  # what follows `--` is the script's own
        rest = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    a = ap.parse_args(argv)
    a.args = rest
    trees = {"baseline": a.base.resolve(), "this": HERE}
    got: dict[str, dict[str, list[float]]] = {"baseline": {}, "this": {}}
    for i in range(a.rounds):
        order = ("baseline", "this") if i % 2 == 0 else ("this", "baseline")
        for side in order:
            print(f"round {i + 1}/{a.rounds}: {side} ({trees[side]})", flush=True)
            for name, v in _run(trees[side], a.script, a.args,
                                HERE if a.same_script else None).items():
                got[side].setdefault(name, []).append(v)
    print()
    print(f"bench/{a.script} {' '.join(a.args)}: medians of {a.rounds} runs each, "
          "ratio = this / baseline (above 1: this is slower)")
    width = max((len(n) for n in got["this"]), default=10)
    print(f"{'measure':<{width}}  {'baseline':>12}  {'this':>12}  ratio")
    for name, values in got["this"].items():
        base = got["baseline"].get(name)
        if not base:
            continue
        b, t = statistics.median(base), statistics.median(values)
        ratio = f"{t / b:.3f}x" if b > 0 else "-"
        print(f"{name:<{width}}  {_fmt(b, units[name]):>12}  {_fmt(t, units[name]):>12}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
