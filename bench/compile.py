"""Benchmark flowc's compile speed against CPython's `compile()` and a LangGraph build.

What is measured, and why:

* In process, for generated chains of N nodes (default N = 100, 1000, 10000), where each
  node's prompt references the previous node's text:
    - flowc: check + compile of the `.flow` text through `flowc_compile` below (falls back
      to parse only while `flowc.compiler.api.compile_source` does not exist yet);
    - CPython: `compile(src, "<chain>", "exec")` of a Python module of the same shape (one
      statement per node, an f-string with the attribute reference), as the yardstick for
      what "fast enough to run on every save" means for a language front end;
    - LangGraph: building and compiling the same chain as a `StateGraph`, the nearest
      hand-written alternative to a compiled flow (import time excluded).
  Targets: the 10k-node flow compiles within 10x of CPython's `compile()`, and flowc scales
  linearly (time at 10k / time at 1k at most 12).
* As whole processes: `python -m flowc check EXAMPLE` against `python -c "import lark,
  networkx"` (the import floor flowc cannot go below), alternating the two commands.
  Target: ratio at most 1.5, i.e. the CLI's start-up is dominated by its dependencies.

* The plan file, for the generated 10k-node chain (`--plan-size`): its bytes per node as
  `flowc compile` writes it (canonical compact JSON) against the indented, sorted form the
  standard library wrote before, and the time to write each, side by side. Target: at most
  600 bytes per node.
* Peak memory of a whole `flowc compile` of a 50k-node chain (`--memory-nodes`), read from
  the child's rusage, beside `flowc check` of the same file (the compile's own floor: parse
  and check). Target: at most 500 MB.

Each in-process measurement is repeated and reported as the median with the min-max spread.
The garbage collector stays enabled (it is part of what a user pays), but a collection is
run before each timed call and results are released after the timer stops.

Usage: python bench/compile.py [--quick] [--sizes 100,1000,10000] [--repeat N]
                               [--process-repeat N] [--example PATH] [--plan-size N]
                               [--memory-nodes N] [--markdown PATH] [--strict]

`--markdown PATH` also writes the results as a markdown table (bench/results/compile.md is
the one the README shows; `python scripts/figures.py` pastes it).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypedDict

# --------------------------------------------------------------------------------------
# The flowc entry points under test (kept together so they are easy to update).
# --------------------------------------------------------------------------------------


def flowc_compile(text: str, path: str):
    """Check and compile `text` with flowc's in-process API."""
    from flowc.compiler.api import compile_source

    result = compile_source(text, path)
    assert not result.diagnostics.has_errors, result.diagnostics.sorted()[:3]
    assert result.plan is not None
    return result


def flowc_parse_only(text: str, path: str):
    """Fallback while `compile_source` does not exist: parse only."""
    from flowc.compiler.diagnostics import Diagnostics
    from flowc.compiler.parser import parse
    from flowc.compiler.source import Source

    diagnostics = Diagnostics()
    result = parse(Source(text, path), diagnostics)
    assert not diagnostics.has_errors, diagnostics.sorted()[:3]
    return result


def select_flowc_runner() -> tuple[Callable[[str, str], object], str | None]:
    """The flowc function to time, and a note when it is the parse-only fallback."""
    try:
        from flowc.compiler.api import compile_source  # noqa: F401
    except ImportError as exc:
        note = "(parse only: compile_source not available)"
        if getattr(exc, "name", None) not in ("flowc.compiler.api", None):
            note += f" [import failed: {exc}]"
        return flowc_parse_only, note
    return flowc_compile, None


# --------------------------------------------------------------------------------------
# Settings and results
# --------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXAMPLE = REPO_ROOT / "examples" / "client_report" / "client_report.flow"
DEFAULT_SIZES = (100, 1000, 10000)
QUICK_SIZES = (100, 1000)
PLAN_BYTES_TARGET = 600.0
PEAK_MB_TARGET = 500.0
DEFAULT_PLAN_SIZE, QUICK_PLAN_SIZE = 10000, 1000
DEFAULT_MEMORY_NODES, QUICK_MEMORY_NODES = 50000, 2000
CPYTHON_RATIO_TARGET = 10.0
LINEARITY_TARGET = 12.0
PROCESS_RATIO_TARGET = 1.5
PROCESS_TIMEOUT_S = 300


from _timing import Timing, positive_int  # noqa: E402  (bench/ is the script folder)


@dataclass(frozen=True)
class SizeRow:
    size: int
    flowc: Timing
    cpython: Timing
    langgraph: Timing | None  # None when langgraph is not installed


@dataclass(frozen=True)
class ProcessResult:
    flowc: Timing | None  # None when `python -m flowc` could not run
    baseline: Timing | None
    example: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    name: str
    value: str
    status: str  # "PASS", "MISS" or "N/A"


# --------------------------------------------------------------------------------------
# Source generators
# --------------------------------------------------------------------------------------


def chain_flow_source(n: int) -> str:
    """A `.flow` chain of `n` llm nodes, each prompting with the previous node's text."""
    lines = [
        f'flow chain_{n} version "1.0.0"',
        '  "Generated benchmark chain."',
        "",
        "input topic: str",
        "",
        "node n0 = llm {",
        '  prompt "Start on {topic}."',
        "}",
    ]
    for i in range(1, n):
        lines += [f"node n{i} = llm {{", f'  prompt "Continue from {{n{i - 1}.text}}."', "}"]
    lines += ["", f"output result: str = n{n - 1}.text", ""]
    return "\n".join(lines)


def chain_python_source(n: int) -> str:
    """The same chain as a Python module: one statement per node."""
    lines = ["topic = input_value", 'n0 = llm(prompt=f"Start on {topic}.")']
    for i in range(1, n):
        lines.append(f'n{i} = llm(prompt=f"Continue from {{n{i - 1}.text}}.")')
    lines += [f"result = n{n - 1}.text", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# In-process measurements
# --------------------------------------------------------------------------------------


def time_call(fn: Callable[[], object], repeat: int) -> Timing:
    """Time `fn()` `repeat` times; collection before, release of the result after the timer."""
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        del result
        samples.append(elapsed)
    return Timing(tuple(samples))


class ChainState(TypedDict):
    topic: str
    text: str


def _langgraph_step(i: int) -> Callable[[ChainState], dict]:
    def step(state: ChainState) -> dict:
        return {"text": f"n{i}: {state['text']}"}

    return step


def load_langgraph():
    """`(StateGraph, START, END)`, or None when langgraph is not importable."""
    try:
        from langgraph.graph import END, START, StateGraph
    except ImportError:
        return None
    return StateGraph, START, END


def langgraph_build_and_compile(langgraph, n: int):
    """Build the `n`-node chain as a StateGraph and compile it."""
    state_graph, start, end = langgraph
    graph = state_graph(ChainState)
    for i in range(n):
        graph.add_node(f"n{i}", _langgraph_step(i))
    graph.add_edge(start, "n0")
    for i in range(1, n):
        graph.add_edge(f"n{i - 1}", f"n{i}")
    graph.add_edge(f"n{n - 1}", end)
    return graph.compile()


def measure_sizes(sizes, repeat: int, flowc_runner, langgraph) -> list[SizeRow]:
    # warm up once: the parser tables (and LangGraph's lazy imports) load on first use
    flowc_runner(chain_flow_source(3), "warmup.flow")
    if langgraph is not None:
        langgraph_build_and_compile(langgraph, 3)

    rows = []
    for n in sizes:
        flow_text = chain_flow_source(n)
        py_text = chain_python_source(n)
        path = f"chain_{n}.flow"
        flowc_t = time_call(partial(flowc_runner, flow_text, path), repeat)
        cpython_t = time_call(partial(compile, py_text, "<chain>", "exec"), repeat)
        lg_t = None
        if langgraph is not None:
            lg_t = time_call(partial(langgraph_build_and_compile, langgraph, n), repeat)
        rows.append(SizeRow(n, flowc_t, cpython_t, lg_t))
        print(f"  measured size {n}", flush=True)
    return rows


# --------------------------------------------------------------------------------------
# Whole-process measurement
# --------------------------------------------------------------------------------------


def _run_timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=PROCESS_TIMEOUT_S
    )
    return time.perf_counter() - start, proc


def _flowc_cli_problem(proc: subprocess.CompletedProcess) -> str | None:
    """Why this `python -m flowc check` run cannot be used, or None if it can.

    Exit 0 is a clean check and exit 1 a check that found errors; but exit 1 is also what
    Python returns when `flowc.__main__` is missing or crashes, so look at stderr too.
    """
    if proc.returncode == 0:
        return None
    crashed = "Traceback (most recent call last)" in proc.stderr or "No module named" in (
        proc.stderr
    )
    if proc.returncode == 1 and not crashed:
        return None
    return f"`python -m flowc check` exited {proc.returncode}:\n{proc.stderr.strip()}"


def measure_processes(example: Path | None, repeat: int, fallback_text: str) -> ProcessResult:
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="flowc-bench-") as tmp:
        if example is None or not example.is_file():
            missing = "none given" if example is None else str(example)
            example = Path(tmp) / "chain_100.flow"
            example.write_text(fallback_text, encoding="utf-8")
            notes.append(f"example not found ({missing}); using a generated 100-node flow")
        example_label = str(example)
        flowc_cmd = [sys.executable, "-m", "flowc", "check", str(example)]
        base_cmd = [sys.executable, "-c", "import lark, networkx"]

        # Byte-compile flowc first, as `pip install` does for any package: the shell here may
        # set PYTHONDONTWRITEBYTECODE, and the baseline's packages are compiled already.
        repo = Path(__file__).resolve().parent.parent
        subprocess.run([sys.executable, "-m", "compileall", "-q", "flowc", "compiler",
                        "grammar"], cwd=repo, capture_output=True, check=False)
        # untimed probe runs: fill the OS file cache and check both commands work
        _, probe = _run_timed(flowc_cmd)
        problem = _flowc_cli_problem(probe)
        _, base_probe = _run_timed(base_cmd)
        base_problem = None
        if base_probe.returncode != 0:
            base_problem = f"baseline exited {base_probe.returncode}:\n{base_probe.stderr.strip()}"
        if problem is None and probe.returncode == 1:
            notes.append("`flowc check` reported errors in the example (exit 1); timing kept")

        flowc_samples: list[float] = []
        base_samples: list[float] = []
        for _ in range(repeat):
            if problem is None:
                elapsed, proc = _run_timed(flowc_cmd)
                problem = _flowc_cli_problem(proc)
                flowc_samples.append(elapsed)
            if base_problem is None:
                elapsed, proc = _run_timed(base_cmd)
                if proc.returncode != 0:
                    base_problem = f"baseline exited {proc.returncode}:\n{proc.stderr.strip()}"
                base_samples.append(elapsed)

    for p in (problem, base_problem):
        if p is not None:
            notes.append(p)
    return ProcessResult(
        flowc=Timing(tuple(flowc_samples)) if problem is None else None,
        baseline=Timing(tuple(base_samples)) if base_problem is None else None,
        example=example_label,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class PlanResult:
    nodes: int
    compact_bytes: int  # the plan file flowc writes
    indented_bytes: int  # the file json.dumps(indent=2, sort_keys=True) wrote before
    compact_write: Timing  # seconds to produce the file's bytes
    indented_write: Timing


def _indented_stdlib(plan) -> bytes:
    import json

    return (json.dumps(plan.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True,
                       ensure_ascii=False) + "\n").encode("utf-8")


def measure_plan(n: int, repeat: int) -> PlanResult:
    plan = flowc_compile(chain_flow_source(n), f"chain_{n}.flow").plan
    compact = plan.to_json_bytes()
    indented = _indented_stdlib(plan)
    # the same data either way, and the file is the canonical form the hash is taken over
    import json

    assert json.loads(compact) == json.loads(indented)
    return PlanResult(n, len(compact), len(indented),
                      time_call(plan.to_json_bytes, repeat),
                      time_call(partial(_indented_stdlib, plan), repeat))


@dataclass(frozen=True)
class MemoryResult:
    nodes: int
    compile_mb: float | None  # peak resident memory of `flowc compile`
    check_mb: float | None  # of `flowc check`, the same file
    problem: str | None


# the child reports its own high-water mark: a fork's rusage would count this process's
# memory, which the child held until its exec
_PEAK_WRAPPER = (
    "import sys\n"
    "from flowc.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "sys.stderr.write(f'\\nflowc-bench-peak-kib {hwm}\\n')\n"
    "sys.exit(rc)\n")


def _peak_mb(args: list[str]) -> tuple[float | None, str | None]:
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *args], cwd=REPO_ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=PROCESS_TIMEOUT_S * 4)
    peak = [line.split()[1] for line in proc.stderr.splitlines()
            if line.startswith("flowc-bench-peak-kib ")]
    if proc.returncode != 0 or not peak:
        return None, f"flowc {args[0]} exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
    return int(peak[0]) / 1024, None


def measure_memory(n: int) -> MemoryResult:
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / f"chain_{n}.flow"
        flow.write_text(chain_flow_source(n), encoding="utf-8")
        plan = Path(tmp) / "plan.json"
        compile_mb, problem = _peak_mb(["compile", str(flow), "-o", str(plan)])
        check_mb, check_problem = _peak_mb(["check", str(flow)])
    return MemoryResult(n, compile_mb, check_mb, problem or check_problem)


def print_plan_table(pr: PlanResult, mr: MemoryResult | None) -> None:
    print()
    print(f"Plan file of the {pr.nodes}-node chain")
    print(f"  canonical compact (flowc compile)  {pr.compact_bytes / pr.nodes:7.1f} bytes/node  "
          f"written in {pr.compact_write.cell()} s")
    print(f"  indented, stdlib json (before)     {pr.indented_bytes / pr.nodes:7.1f} bytes/node  "
          f"written in {pr.indented_write.cell()} s")
    print(f"  ratio compact/indented             size {pr.compact_bytes / pr.indented_bytes:.2f}x"
          f", write time {_fmt_ratio(_ratio(pr.compact_write, pr.indented_write))}")
    if mr is None:
        return
    print()
    print(f"Peak resident memory of one process, the {mr.nodes}-node chain")
    if mr.problem:
        print(f"  unavailable: {mr.problem}")
        return
    print(f"  flowc compile   {mr.compile_mb:8.1f} MB")
    print(f"  flowc check     {mr.check_mb:8.1f} MB  (parse and check: the compile's floor)")
    print(f"  ratio           {mr.compile_mb / mr.check_mb:8.2f}x")


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _ratio(a: Timing | None, b: Timing | None) -> float | None:
    if a is None or b is None or b.median <= 0:
        return None
    return a.median / b.median


def _fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def print_size_table(rows: list[SizeRow], flowc_note: str | None) -> None:
    headers = (
        "size",
        "flowc check+compile (s)",
        "CPython compile() (s)",
        "ratio flowc/CPython",
        "LangGraph build+compile (s)",
        "ratio flowc/LangGraph",
    )
    table = [headers]
    for r in rows:
        lg_cell = r.langgraph.cell() if r.langgraph is not None else "langgraph not installed"
        table.append(
            (
                str(r.size),
                r.flowc.cell(),
                r.cpython.cell(),
                _fmt_ratio(_ratio(r.flowc, r.cpython)),
                lg_cell,
                _fmt_ratio(_ratio(r.flowc, r.langgraph)),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    print()
    print("In-process compile time, median [min-max], seconds")
    if flowc_note:
        print(f"flowc column: {flowc_note}")
    for k, row in enumerate(table):
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def print_process_table(pr: ProcessResult) -> None:
    print()
    print(f"Whole process, median [min-max], seconds (example: {pr.example})")
    for note in pr.notes:
        print(f"  note: {note}")
    flowc_cell = pr.flowc.cell() if pr.flowc else "unavailable"
    base_cell = pr.baseline.cell() if pr.baseline else "unavailable"
    print(f"  python -m flowc check EXAMPLE     {flowc_cell}")
    print(f"  python -c 'import lark, networkx' {base_cell}")
    print(f"  ratio                             {_fmt_ratio(_ratio(pr.flowc, pr.baseline))}")


def _status(value: float | None, target: float) -> str:
    if value is None:
        return "N/A"
    return "PASS" if value <= target else "MISS"


def evaluate_targets(rows: list[SizeRow], pr: ProcessResult | None,
                     plan: PlanResult | None = None,
                     memory: MemoryResult | None = None) -> list[Verdict]:
    by_size = {r.size: r for r in rows}
    big, mid = by_size.get(10000), by_size.get(1000)

    cpy = _ratio(big.flowc, big.cpython) if big else None
    cpy_text = _fmt_ratio(cpy) if big else "not measured (10000 not in sizes)"

    lin = _ratio(big.flowc, mid.flowc) if big and mid else None
    lin_text = _fmt_ratio(lin) if lin is not None else "not measured (needs sizes 1000 and 10000)"

    verdicts = [
        Verdict(
            f"10k-node flow vs CPython compile() (<= {CPYTHON_RATIO_TARGET:g}x)",
            cpy_text,
            _status(cpy, CPYTHON_RATIO_TARGET),
        ),
        Verdict(
            f"linearity flowc 10k / 1k (<= {LINEARITY_TARGET:g})",
            lin_text,
            _status(lin, LINEARITY_TARGET),
        ),
    ]
    if pr is not None:
        proc = _ratio(pr.flowc, pr.baseline)
        verdicts.append(
            Verdict(
                f"flowc check process vs import lark, networkx (<= {PROCESS_RATIO_TARGET:g}x)",
                _fmt_ratio(proc) if proc is not None else "unavailable",
                _status(proc, PROCESS_RATIO_TARGET),
            )
        )
    if plan is not None:
        per_node = plan.compact_bytes / plan.nodes
        verdicts.append(Verdict(
            f"plan file of the {plan.nodes}-node chain (<= {PLAN_BYTES_TARGET:g} bytes/node)",
            f"{per_node:.1f} bytes/node", _status(per_node, PLAN_BYTES_TARGET)))
    if memory is not None:
        mb = memory.compile_mb
        verdicts.append(Verdict(
            f"peak memory, flowc compile of {memory.nodes} nodes (<= {PEAK_MB_TARGET:g} MB)",
            f"{mb:.1f} MB" if mb is not None else "unavailable", _status(mb, PEAK_MB_TARGET)))
    return verdicts


def print_verdicts(verdicts: list[Verdict], rows: list[SizeRow]) -> None:
    print()
    print("Targets")
    width = max(len(v.name) for v in verdicts)
    for v in verdicts:
        print(f"  {v.status:<4}  {v.name.ljust(width)}  {v.value}")
    # informational: growth per 10x step between the measured sizes
    steps = [
        f"{b.size}/{a.size}: {b.flowc.median / a.flowc.median:.2f}"
        for a, b in itertools.pairwise(rows)
        if a.flowc.median > 0
    ]
    if steps:
        print(f"  info  flowc growth between sizes: {', '.join(steps)}")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        msg = f"not a comma-separated list of integers: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="sizes 100,1000 and 3 repeats (unless --sizes/--repeat are given)",
    )
    ap.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="comma-separated chain sizes (default 100,1000,10000)",
    )
    ap.add_argument(
        "--repeat",
        type=positive_int,
        default=None,
        help="in-process repeats per measurement (default 5, quick 3)",
    )
    ap.add_argument(
        "--process-repeat",
        type=positive_int,
        default=None,
        help="whole-process repeats per command (default 7, quick 3)",
    )
    ap.add_argument(
        "--example",
        type=Path,
        default=DEFAULT_EXAMPLE,
        help="small .flow file for the whole-process check "
        "(default examples/client_report/client_report.flow)",
    )
    ap.add_argument("--no-process", action="store_true", help="skip the whole-process measurement")
    ap.add_argument("--plan-size", type=positive_int, default=None,
                    help="nodes of the chain whose plan file is measured (default 10000, "
                    "quick 1000)")
    ap.add_argument("--memory-nodes", type=int, default=None,
                    help="nodes of the chain whose compile's peak memory is measured "
                    "(default 50000, quick 2000; 0 skips)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--markdown", metavar="PATH", default=None,
                    help="also write the results as markdown to PATH")
    args = ap.parse_args(argv)
    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.process_repeat is None:
        args.process_repeat = 3 if args.quick else 7
    if args.plan_size is None:
        args.plan_size = QUICK_PLAN_SIZE if args.quick else DEFAULT_PLAN_SIZE
    if args.memory_nodes is None:
        args.memory_nodes = QUICK_MEMORY_NODES if args.quick else DEFAULT_MEMORY_NODES
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flowc_runner, flowc_note = select_flowc_runner()
    langgraph = load_langgraph()

    print(
        f"flowc compile benchmark: sizes {', '.join(map(str, args.sizes))}, "
        f"{args.repeat} repeats, Python {sys.version.split()[0]}"
    )
    if flowc_note:
        print(flowc_note)
    if langgraph is None:
        print("langgraph not installed: LangGraph column skipped")

    rows = measure_sizes(args.sizes, args.repeat, flowc_runner, langgraph)
    print_size_table(rows, flowc_note)

    pr = None
    if not args.no_process:
        pr = measure_processes(args.example, args.process_repeat, chain_flow_source(100))
        print_process_table(pr)

    plan = measure_plan(args.plan_size, args.repeat)
    memory = measure_memory(args.memory_nodes) if args.memory_nodes > 0 else None
    print_plan_table(plan, memory)

    verdicts = evaluate_targets(rows, pr, plan, memory)
    print_verdicts(verdicts, rows)
    if flowc_note:
        print(f"\nNote: flowc figures are {flowc_note}")

    if args.markdown:
        from _figures import write_markdown

        write_markdown(args.markdown, __file__, argv,
                       markdown(rows, pr, plan, memory, verdicts, args.repeat))
    if args.strict and any(v.status == "MISS" for v in verdicts):
        return 1
    return 0


def markdown(rows: list[SizeRow], pr: ProcessResult | None, plan: PlanResult,
             memory: MemoryResult | None, verdicts: list[Verdict], repeat: int) -> str:
    from _figures import markdown_table

    def secs(t: Timing | None) -> str:
        return "n/a" if t is None else f"{t.median:.3f} s [{min(t.samples):.3f}-{max(t.samples):.3f}]"

    status = {v.name: v.status for v in verdicts}
    by_size = {r.size: r for r in rows}
    table = []
    big, mid = by_size.get(10000), by_size.get(1000)
    if big:
        table.append(["10,000-node flow, check + compile in process", secs(big.flowc),
                      f"CPython `compile()` {secs(big.cpython)}",
                      _fmt_ratio(_ratio(big.flowc, big.cpython)),
                      f"<= {CPYTHON_RATIO_TARGET:g}x", _verdict_of(status, "CPython")])
        if big.langgraph is not None:
            table.append(["same, against LangGraph build + compile", secs(big.flowc),
                          f"LangGraph {secs(big.langgraph)}",
                          _fmt_ratio(_ratio(big.flowc, big.langgraph)), "", "info"])
        if mid:
            table.append(["cost growth 1k -> 10k nodes", "", "",
                          _fmt_ratio(_ratio(big.flowc, mid.flowc)),
                          f"<= {LINEARITY_TARGET:g}x", _verdict_of(status, "linearity")])
    if pr is not None:
        table.append(["`flowc check` of an example, whole process", secs(pr.flowc),
                      f"`import lark, networkx` {secs(pr.baseline)}",
                      _fmt_ratio(_ratio(pr.flowc, pr.baseline)),
                      f"<= {PROCESS_RATIO_TARGET:g}x", _verdict_of(status, "process")])
    table.append([f"plan file of the {plan.nodes:,}-node chain, bytes per node",
                  f"{plan.compact_bytes / plan.nodes:.0f} (canonical, compact)",
                  f"{plan.indented_bytes / plan.nodes:.0f} (indented, stdlib `json`, before)",
                  f"{plan.compact_bytes / plan.indented_bytes:.2f}x",
                  f"<= {PLAN_BYTES_TARGET:g}", _verdict_of(status, "plan file")])
    table.append(["writing that plan file", secs(plan.compact_write),
                  secs(plan.indented_write),
                  _fmt_ratio(_ratio(plan.compact_write, plan.indented_write)), "", "info"])
    if memory is not None and memory.compile_mb is not None:
        table.append([f"peak memory, `flowc compile` of a {memory.nodes:,}-node chain",
                      f"{memory.compile_mb:.0f} MB",
                      f"`flowc check` of it {memory.check_mb:.0f} MB",
                      f"{memory.compile_mb / memory.check_mb:.2f}x",
                      f"<= {PEAK_MB_TARGET:g} MB", _verdict_of(status, "peak memory")])
    return (markdown_table(["measure", "flowc", "baseline", "ratio", "target", "status"], table)
            + f"\n\nMedians [min-max] of {repeat} repeats.")


def _verdict_of(status: dict[str, str], word: str) -> str:
    return next((v for k, v in status.items() if word in k), "n/a")


if __name__ == "__main__":
    sys.exit(main())
