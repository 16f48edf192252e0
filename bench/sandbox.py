"""Benchmark flowc's sandbox (Pyodide in Deno) against a plain Python subprocess and a cold Pyodide.

What is measured, and the targets:

1. A trivial execution (`result = 1`) in a reused interpreter (`pool.session()`), end to end
   from Python: p50 <= 5 ms and p99 <= 20 ms. Baselines in the same run: a plain
   `python -c pass` subprocess and `python -I -S -c pass`, per call.
2. A fresh isolated interpreter ready from the memory snapshot: `SandboxProcess(assets)`
   construction until the host says ready, median <= 0.8 s. Baseline: a cold Pyodide load,
   i.e. a fresh `deno run` of a small script (written to a temp dir at run time) that calls
   `loadPyodide()` without the snapshot and runs `1+1`, timed as a whole process.
3. Acquiring from a warm pool (`pool.acquire()` with the pool full): median <= 10 ms.
4. Resident memory of one idle sandbox (`SandboxProcess.idle_rss` at ready, and VmRSS from
   /proc/PID/status a second later): the largest <= 250 MB (10^6 bytes).
5. langchain-sandbox side by side. It starts Deno and loads Pyodide on every `execute`. Its
   wheel (fetched from PyPI with `pip download --no-deps` into a temp dir and inspected at run
   time) ships only a Python wrapper: the Deno program it runs is a `jsr:` package and it
   loads micropip from a CDN, neither reachable here. When its program is not runnable, the
   row measures the equivalent of what it does per call: a fresh Deno process that loads
   Pyodide cold and runs the code (measure 2's cold baseline, per call; without micropip, so
   a lower bound of its cost). flowc's strict `pool.run()` per call (the pool refilled
   between calls, untimed, so the figure is the per-call cost with a warm pool) and a session
   run are compared with it as ratios.

6. Throughput of strict runs (`print(1)`, a fresh interpreter each) under steady arrival
   rates (1, 2, 5 and 10 per second by default, `--rates`), each for `--arrival-seconds`,
   from a full, warmed pool of `--pool-size`: runs are started at their arrival times on
   their own threads, whatever is still running; a run's latency is from its arrival to its
   result. The CPU reported is everything this process and its sandboxes spent from the
   first arrival until the pool is full and warmed again: the warm-up of the spares that
   replaced the used ones is counted in, not left to after the clock stops. Targets on
   2 cores: 10 runs per second achieved with p99 <= 150 ms.

Ratios are flowc / baseline: below 1 means flowc is faster. Every figure is a median with the
min-max spread (p50/p99 where the target asks for them). Measurements that start processes
run one at a time, with the pool either absent or full and idle, so the background refill
never competes for the CPU with what is being timed.

Usage: python bench/sandbox.py [--quick] [--strict] [--session-runs N] [--repeat N]
                               [--cold-repeat N] [--baseline-repeat N] [--no-download]
                               [--rates 1,2,5,10] [--arrival-seconds S] [--pool-size N]
                               [--markdown PATH]

`--markdown PATH` also writes the results table as markdown (bench/results/sandbox.md is the
one the README shows; `python scripts/figures.py` pastes it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _timing import cpu_seconds, positive_int

SESSION_P50_TARGET_S = 0.005
SESSION_P99_TARGET_S = 0.020
FRESH_START_TARGET_S = 0.8
ACQUIRE_TARGET_S = 0.010
IDLE_RSS_TARGET_BYTES = 250 * 10**6
PROCESS_TIMEOUT_S = 180
POOL_FILL_TIMEOUT_S = 60
TRIVIAL_CODE = "result = 1"
LANGCHAIN_SANDBOX_PACKAGE = "langchain-sandbox"
DEFAULT_RATES, QUICK_RATES = (1.0, 2.0, 5.0, 10.0), (1.0, 10.0)
THROUGHPUT_TARGET_PER_S = 10.0
THROUGHPUT_P99_TARGET_S = 0.150
PRINT_CODE = "print(1)"


# --------------------------------------------------------------------------------------
# Samples and formatting
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity (seconds, or bytes for memory)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile: the smallest value with at least p% of samples at or below."""
        ordered = sorted(self.values)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s:.2f} s"


def fmt_time_cell(t: Samples | None, *, p99: bool = False) -> str:
    """`median [min-max] (n=N)`, or `p50 X, p99 Y [min-max] (n=N)`."""
    if t is None:
        return "n/a"
    spread = f"[{fmt_seconds(t.low)}-{fmt_seconds(t.high)}] (n={len(t.values)})"
    if p99:
        return f"p50 {fmt_seconds(t.percentile(50))}, p99 {fmt_seconds(t.percentile(99))} {spread}"
    return f"{fmt_seconds(t.median)} {spread}"


def fmt_mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def fmt_ratio(flowc: float | None, baseline: float | None) -> str:
    if flowc is None or baseline is None or baseline <= 0 or flowc <= 0:
        return "n/a"
    r = flowc / baseline
    if r < 1:
        faster = 1 / r
        return f"{r:#.2g}x ({faster:.0f}x faster)" if faster >= 10 else \
            f"{r:#.2g}x ({faster:.1f}x faster)"
    return f"{r:.2f}x"


def time_calls(fn: Callable[[], object], repeat: int,
               between: Callable[[], object] | None = None) -> Samples:
    """Time `fn()` `repeat` times with perf_counter; `between()` runs untimed before each."""
    values = []
    for _ in range(repeat):
        if between is not None:
            between()
        start = time.perf_counter()
        fn()
        values.append(time.perf_counter() - start)
    return Samples(tuple(values))


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    flowc: str
    baseline: str
    ratio: str
    target: str
    status: str  # PASS, MISS, info or n/a


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "MISS"  # flowc's own figure could not be measured: the target is not shown met
    return "PASS" if value <= target else "MISS"


# --------------------------------------------------------------------------------------
# Baselines: plain Python subprocesses, and a cold Pyodide load in a fresh Deno
# --------------------------------------------------------------------------------------


def run_checked(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                expect: str | None = None) -> None:
    """Run a command to completion; raise RuntimeError unless it exits 0 (and prints `expect`)."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=PROCESS_TIMEOUT_S, check=False)
    if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
        detail = (proc.stderr or proc.stdout).strip()[-400:]
        raise RuntimeError(f"`{' '.join(cmd[:3])} ...` exited {proc.returncode}: {detail}")


def measure_python_subprocess(args: Sequence[str], repeat: int) -> Samples:
    """Per-call wall time of `sys.executable ARGS` (one untimed warm-up first)."""
    cmd = [sys.executable, *args]
    cwd = tempfile.gettempdir()
    run_checked(cmd, cwd=cwd)
    return time_calls(lambda: run_checked(cmd, cwd=cwd), repeat)


COLD_PYODIDE_SCRIPT = """\
// Written by bench/sandbox.py: load Pyodide without a snapshot, as a per-call sandbox does.
const {{ loadPyodide }} = await import({module_url});
const py = await loadPyodide({{ indexURL: {index_url} }});
console.log(JSON.stringify({{ result: py.runPython("1+1") }}));
"""


def cold_pyodide_command(assets, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """A fresh `deno run` that loads Pyodide cold and runs `1+1`; the script goes in `tmp`."""
    pyodide_dir = Path(assets.pyodide_dir)
    script = tmp / "cold_pyodide.mjs"
    script.write_text(COLD_PYODIDE_SCRIPT.format(
        module_url=json.dumps((pyodide_dir / "pyodide.mjs").as_uri()),
        index_url=json.dumps(str(pyodide_dir) + "/"),
    ), encoding="utf-8")
    cmd = [str(assets.deno), "run", "--no-prompt", "--quiet", "--unstable-detect-cjs",
           "--cached-only", f"--allow-read={pyodide_dir},{tmp}", str(script)]
    env = {"DENO_DIR": str(assets.deno_dir), "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}
    return cmd, env


def measure_cold_pyodide(assets, repeat: int) -> Samples:
    """Whole-process time of a fresh Deno + cold Pyodide load + `1+1` (one untimed warm-up)."""
    with tempfile.TemporaryDirectory(prefix="flowc-bench-cold-") as tmp:
        cmd, env = cold_pyodide_command(assets, Path(tmp))

        def once() -> None:
            run_checked(cmd, env=env, cwd=tmp, expect='"result":2')

        once()
        return time_calls(once, repeat)


# --------------------------------------------------------------------------------------
# langchain-sandbox: fetch the wheel, look for a Deno program that can run offline
# --------------------------------------------------------------------------------------


@dataclass
class LangchainProbe:
    """What was found about langchain-sandbox, and why it can or cannot run here."""

    source: str = ""
    deno_program: str | None = None        # the specifier its wrapper runs (`jsr:...`)
    runnable_command: list[str] | None = None
    reasons: list[str] = field(default_factory=list)


def _wheel_from_pypi(tmp: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "--dest", str(tmp), LANGCHAIN_SANDBOX_PACKAGE]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
                          check=False)
    wheels = sorted(tmp.glob("langchain_sandbox-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(f"`pip download --no-deps {LANGCHAIN_SANDBOX_PACKAGE}` failed: "
                           f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return wheels[-1]


def probe_langchain_sandbox(assets, download: bool) -> LangchainProbe:
    """Inspect langchain-sandbox as published; try its Deno program from the Deno cache only."""
    probe = LangchainProbe()
    if not download:
        probe.reasons.append("not inspected (--no-download)")
        return probe
    with tempfile.TemporaryDirectory(prefix="flowc-bench-lcs-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            wheel = _wheel_from_pypi(tmp)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            probe.reasons.append(str(exc))
            return probe
        probe.source = wheel.name
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            wrapper = next((n for n in names if n.endswith("/pyodide.py")), None)
            text = zf.read(wrapper).decode("utf-8", "replace") if wrapper else ""
    programs = [n for n in names if n.endswith((".ts", ".js", ".mjs", ".tsx"))]
    found = re.search(r'PKG_NAME\s*=\s*["\']([^"\']+)["\']', text)
    probe.deno_program = found.group(1) if found else None
    if programs:
        probe.reasons.append(f"the wheel ships Deno files ({', '.join(programs[:3])}), which "
                             "this benchmark does not know how to run")
        return probe
    probe.reasons.append(f"{wheel.name} holds only a Python wrapper "
                         f"({', '.join(n for n in names if n.endswith('.py'))}): no Deno program")
    if probe.deno_program is None:
        probe.reasons.append("its wrapper names no Deno program (PKG_NAME not found)")
        return probe
    probe.reasons.append(f"the wrapper runs `deno run ... {probe.deno_program} -c CODE` per call, "
                         "a package fetched from jsr.io, which is unreachable here (and it "
                         "loads micropip from a CDN)")
    # The same command as its wrapper, but offline: it could only run from a Deno cache.
    with tempfile.TemporaryDirectory(prefix="flowc-bench-lcs-run-") as run_dir:
        cmd = [str(assets.deno), "run", "--cached-only", "--no-prompt",
               "--allow-read=node_modules", "--allow-write=node_modules",
               "--node-modules-dir=auto", probe.deno_program, "-c", "1+1"]
        env = {"HOME": str(Path.home()), "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}
        if os.environ.get("DENO_DIR"):
            env["DENO_DIR"] = os.environ["DENO_DIR"]
        try:
            run_checked(cmd, env=env, cwd=run_dir)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            first = str(exc).strip().splitlines()[0][:400]
            probe.reasons.append(f"offline from the Deno cache it fails: {first}")
        else:
            probe.runnable_command = cmd
    return probe


def measure_langchain_cached(probe: LangchainProbe, repeat: int) -> Samples:
    """Per-call time of langchain-sandbox's own Deno program, when the Deno cache has it."""
    assert probe.runnable_command is not None
    cmd = probe.runnable_command
    env = {"HOME": str(Path.home()), "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}
    if os.environ.get("DENO_DIR"):
        env["DENO_DIR"] = os.environ["DENO_DIR"]
    with tempfile.TemporaryDirectory(prefix="flowc-bench-lcs-run-") as run_dir:
        return time_calls(lambda: run_checked(cmd, env=env, cwd=run_dir), repeat)


# --------------------------------------------------------------------------------------
# flowc's sandbox
# --------------------------------------------------------------------------------------


def vm_rss(pid: int) -> int:
    """VmRSS of a process in bytes (0 when it cannot be read)."""
    from flowc.runtime.sandbox.process import resident_bytes

    return resident_bytes(pid)


def measure_fresh_starts(assets, repeat: int) -> tuple[Samples, Samples]:
    """`SandboxProcess(assets)` until ready, timed from outside and as reported (`ready_seconds`).

    One untimed start first (it fills the file cache); every process is killed at once.
    """
    from flowc.runtime.sandbox.process import SandboxProcess

    SandboxProcess(assets).kill()
    outside, reported = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = SandboxProcess(assets)
        outside.append(time.perf_counter() - start)
        reported.append(proc.ready_seconds)
        proc.kill()
    return Samples(tuple(outside)), Samples(tuple(reported))


def measure_idle_rss(assets, count: int, settle_s: float = 1.0) -> tuple[Samples, Samples]:
    """`idle_rss` at ready of `count` sandboxes, and their VmRSS `settle_s` seconds later."""
    from flowc.runtime.sandbox.process import SandboxProcess

    procs = []
    try:
        for _ in range(count):
            procs.append(SandboxProcess(assets))
        time.sleep(settle_s)
        later = [vm_rss(p.proc.pid) for p in procs]
        at_ready = [p.idle_rss for p in procs]
    finally:
        for p in procs:
            p.kill()
    if not all(later) or not all(at_ready):
        raise RuntimeError("could not read the resident memory of a sandbox from /proc")
    return Samples(tuple(float(x) for x in at_ready)), Samples(tuple(float(x) for x in later))


def wait_pool_full(pool) -> None:
    """Wait for the pool to fill; when it does not, say why a sandbox fails to start."""
    if pool.wait_ready(timeout=POOL_FILL_TIMEOUT_S):
        return
    from flowc.runtime.sandbox.process import SandboxCrashed, SandboxProcess

    why = "no error starting one directly"
    try:
        SandboxProcess(pool.assets, start_timeout=POOL_FILL_TIMEOUT_S).kill()
    except SandboxCrashed as exc:
        why = str(exc).strip()[-400:]
    if not pool.assets.snapshot.is_file():
        why += (f" (the snapshot {pool.assets.snapshot.name} is gone: was host.mjs changed and "
                "the snapshot rebuilt while this ran?)")
    raise RuntimeError(f"the pool did not fill up within {POOL_FILL_TIMEOUT_S} s: {why}")


def measure_warm_acquire(pool, repeat: int) -> Samples:
    """`pool.acquire()` with the pool full; the acquired process is killed, the pool refilled."""
    values = []
    for _ in range(repeat):
        wait_pool_full(pool)
        start = time.perf_counter()
        proc = pool.acquire()
        values.append(time.perf_counter() - start)
        proc.kill()
    wait_pool_full(pool)
    return Samples(tuple(values))


def _check_trivial(result) -> None:
    if not result.ok or result.value != 1:
        raise RuntimeError(f"`{TRIVIAL_CODE}` failed in the sandbox: {result.error_kind}: "
                           f"{result.error}")


def measure_session_runs(pool, runs: int, limits, warmup_s: float = 1.0) -> Samples:
    """`session.run("result = 1")` in one reused interpreter, end to end from Python.

    Warmed up for `warmup_s` first (at least 20 runs): the first few hundred runs of a new
    interpreter are 2-4x slower than the rest (V8 tiers up the host and Pyodide's code), and a
    p50 taken across that change swung between 0.9 and 2.5 ms from one run to the next."""
    with pool.session() as session:
        start, n = time.perf_counter(), 0
        while n < 20 or time.perf_counter() - start < warmup_s:
            _check_trivial(session.run(TRIVIAL_CODE, limits=limits))
            n += 1
        wait_pool_full(pool)  # the pool's refill is not part of a run
        results = []

        def once() -> None:
            results.append(session.run(TRIVIAL_CODE, limits=limits))

        samples = time_calls(once, runs)
    for r in results:
        _check_trivial(r)
    return samples


def measure_strict_runs(pool, repeat: int, limits, refill: bool) -> Samples:
    """`pool.run("result = 1")` per call: a fresh interpreter each time, killed afterwards.

    With `refill`, the pool is full before each call (waited for untimed): the per-call cost
    with a warm pool. Without it, calls follow back to back and wait for the refill.
    """
    results = []

    def once() -> None:
        results.append(pool.run(TRIVIAL_CODE, limits=limits))

    wait_pool_full(pool)
    samples = time_calls(once, repeat, between=(lambda: wait_pool_full(pool)) if refill else None)
    for r in results:
        _check_trivial(r)
    return samples


@dataclass(frozen=True)
class ArrivalRow:
    rate: float  # offered runs per second
    bounded: bool  # False: the pool's bound on strict runs at once lifted (the old way)
    runs: int
    failed: int
    latency: Samples  # arrival to result, seconds
    achieved: float  # runs per second, first arrival to last result (or to the last arrival)
    cpu_per_run: float  # seconds: host and sandboxes, warm-ups of the replacements included
    cpu_cores: float  # that CPU over the window until the pool was warm again, in cores


def measure_arrivals(assets, rate: float, seconds: float, pool_size: int,
                     limits, max_running: int | None = None) -> ArrivalRow:
    from flowc.runtime.sandbox import SandboxPool

    pool = SandboxPool(size=pool_size, assets=assets, max_running=max_running)
    try:
        wait_pool_full(pool)
        if not pool.wait_ready(timeout=POOL_FILL_TIMEOUT_S * 2, warmed=True):
            raise RuntimeError("the pool's spares did not finish their warm-up")
        n = max(1, round(rate * seconds))
        latencies: list[float | None] = [None] * n
        failures: list[str] = []
        done_at: list[float] = []
        lock = threading.Lock()

        def one(i: int, due: float) -> None:
            r = pool.run(PRINT_CODE, limits=limits)
            end = time.perf_counter()
            with lock:
                latencies[i] = end - due
                done_at.append(end)
                if not r.ok or r.stdout.strip() != "1":
                    failures.append(f"{r.error_kind}: {r.error}")

        cpu0 = cpu_seconds()
        t0 = time.perf_counter()
        threads = []
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t = threading.Thread(target=one, args=(i, due), daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(PROCESS_TIMEOUT_S)
        if any(t.is_alive() for t in threads):
            raise RuntimeError(f"a run at {rate:g}/s did not return within {PROCESS_TIMEOUT_S} s")
        last = max(done_at)
        # the spares used are replaced and warmed: their CPU belongs to these runs
        if not pool.wait_ready(timeout=POOL_FILL_TIMEOUT_S * 2, warmed=True):
            raise RuntimeError("the pool did not refill and warm after the runs")
        cpu = cpu_seconds() - cpu0
        window = time.perf_counter() - t0
    finally:
        pool.close()
    if failures:
        raise RuntimeError(f"{len(failures)} of {n} runs failed at {rate:g}/s: {failures[0]}")
    return ArrivalRow(rate, max_running is None, n, len(failures), Samples(tuple(latencies)),  # type: ignore[arg-type]
                      n / max(last - t0, (n - 1) / rate, 1e-9), cpu / n, cpu / window)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


@dataclass
class Settings:
    session_runs: int
    repeat: int
    cold_repeat: int
    baseline_repeat: int
    pool_size: int
    download: bool
    rates: tuple[float, ...] = DEFAULT_RATES
    arrival_seconds: float = 10.0


@dataclass
class Figures:
    """Everything measured; a figure is None when its measurement failed (see `problems`)."""

    session: Samples | None = None
    python_plain: Samples | None = None
    python_isolated: Samples | None = None
    fresh_outside: Samples | None = None
    fresh_reported: Samples | None = None
    cold: Samples | None = None
    acquire: Samples | None = None
    rss_ready: Samples | None = None
    rss_later: Samples | None = None
    strict_warm: Samples | None = None
    strict_back_to_back: Samples | None = None
    langchain_cached: Samples | None = None
    arrivals: list[ArrivalRow] = field(default_factory=list)
    probe: LangchainProbe = field(default_factory=LangchainProbe)
    problems: list[str] = field(default_factory=list)


def attempt(figures: Figures, what: str, fn: Callable[[], object]):
    """Run one measurement; on failure note it and return None, so the others still run."""
    print(f"  measuring: {what}", flush=True)
    try:
        return fn()
    except Exception as exc:  # a benchmark reports every failure and carries on
        figures.problems.append(f"{what}: {type(exc).__name__}: {exc}")
        return None


def run_measurements(assets, s: Settings) -> Figures:
    from flowc.runtime.sandbox import Limits, SandboxPool

    f = Figures()
    limits = Limits(timeout=10)
    f.probe = attempt(f, "langchain-sandbox (pip download, inspect)",
                      lambda: probe_langchain_sandbox(assets, s.download)) or LangchainProbe()

    # Without a pool: nothing else starts processes while these are timed.
    fresh = attempt(f, f"fresh interpreter from the snapshot x{s.repeat}",
                    lambda: measure_fresh_starts(assets, s.repeat))
    if fresh:
        f.fresh_outside, f.fresh_reported = fresh
    rss = attempt(f, f"idle RSS of {min(s.repeat, 4)} sandboxes",
                  lambda: measure_idle_rss(assets, min(s.repeat, 4)))
    if rss:
        f.rss_ready, f.rss_later = rss
    f.cold = attempt(f, f"cold Pyodide in a fresh Deno x{s.cold_repeat}",
                     lambda: measure_cold_pyodide(assets, s.cold_repeat))
    if f.probe.runnable_command:
        f.langchain_cached = attempt(f, f"langchain-sandbox from the Deno cache x{s.cold_repeat}",
                                     lambda: measure_langchain_cached(f.probe, s.cold_repeat))

    pool = attempt(f, f"pool of {s.pool_size} filling up", lambda: SandboxPool(size=s.pool_size,
                                                                                 assets=assets))
    if pool is None:
        return f
    try:
        if attempt(f, "pool full", lambda: wait_pool_full(pool) or True) is None:
            return f
        f.acquire = attempt(f, f"warm-pool acquire x{s.repeat * 2}",
                            lambda: measure_warm_acquire(pool, s.repeat * 2))
        # The pool is full and idle while the Python baselines run.
        f.python_plain = attempt(f, f"python -c pass x{s.baseline_repeat}",
                                 lambda: measure_python_subprocess(["-c", "pass"],
                                                                   s.baseline_repeat))
        f.python_isolated = attempt(f, f"python -I -S -c pass x{s.baseline_repeat}",
                                    lambda: measure_python_subprocess(["-I", "-S", "-c", "pass"],
                                                                      s.baseline_repeat))
        f.session = attempt(f, f"session run x{s.session_runs}",
                            lambda: measure_session_runs(pool, s.session_runs, limits))
        f.strict_warm = attempt(f, f"strict run, pool refilled between calls x{s.repeat * 2}",
                                lambda: measure_strict_runs(pool, s.repeat * 2, limits, True))
        f.strict_back_to_back = attempt(
            f, f"strict run, back to back x{s.repeat * 2}",
            lambda: measure_strict_runs(pool, s.repeat * 2, limits, False))
    finally:
        pool.close()
    # each rate with its own pool, full and warmed at its start: one process at a time
    for rate in s.rates:
        row = attempt(f, f"strict print(1) arriving at {rate:g}/s for {s.arrival_seconds:g} s",
                      lambda rate=rate: measure_arrivals(assets, rate, s.arrival_seconds,
                                                         s.pool_size, limits))
        if row is not None:
            f.arrivals.append(row)
    if s.rates:  # the highest rate again, side by side, as before the bound: one Deno per run
        top = max(s.rates)
        row = attempt(f, f"the same at {top:g}/s without the bound on runs at once",
                      lambda: measure_arrivals(assets, top, s.arrival_seconds, s.pool_size,
                                               limits, max_running=1024))
        if row is not None:
            f.arrivals.append(row)
    return f


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _med(t: Samples | None) -> float | None:
    return None if t is None else t.median


def _pct(t: Samples | None, p: float) -> float | None:
    return None if t is None else t.percentile(p)


def build_rows(f: Figures) -> list[Row]:
    rows = []
    plain = f"python -c pass: {fmt_time_cell(f.python_plain, p99=True)}"
    rows.append(Row("1. session run `result = 1`, p50", fmt_time_cell(f.session, p99=True),
                    plain, fmt_ratio(_pct(f.session, 50), _pct(f.python_plain, 50)),
                    f"p50 <= {fmt_seconds(SESSION_P50_TARGET_S)}",
                    verdict(_pct(f.session, 50), SESSION_P50_TARGET_S)))
    rows.append(Row("1. session run `result = 1`, p99", "(same samples)", "(same samples)",
                    fmt_ratio(_pct(f.session, 99), _pct(f.python_plain, 99)),
                    f"p99 <= {fmt_seconds(SESSION_P99_TARGET_S)}",
                    verdict(_pct(f.session, 99), SESSION_P99_TARGET_S)))
    rows.append(Row("1. session run vs python -I -S -c pass", "(same samples)",
                    f"python -I -S -c pass: {fmt_time_cell(f.python_isolated, p99=True)}",
                    fmt_ratio(_pct(f.session, 50), _pct(f.python_isolated, 50)), "-", "info"))

    rows.append(Row("2. fresh interpreter from snapshot", fmt_time_cell(f.fresh_outside),
                    f"cold Pyodide, fresh deno run: {fmt_time_cell(f.cold)}",
                    fmt_ratio(_med(f.fresh_outside), _med(f.cold)),
                    f"median <= {fmt_seconds(FRESH_START_TARGET_S)}",
                    verdict(_med(f.fresh_outside), FRESH_START_TARGET_S)))
    rows.append(Row("2. (as reported: ready_seconds)", fmt_time_cell(f.fresh_reported), "-", "-",
                    "-", "info"))

    rows.append(Row("3. warm-pool acquire", fmt_time_cell(f.acquire), "-", "-",
                    f"median <= {fmt_seconds(ACQUIRE_TARGET_S)}",
                    verdict(_med(f.acquire), ACQUIRE_TARGET_S)))

    worst_rss = None
    if f.rss_ready and f.rss_later:
        worst_rss = max(f.rss_ready.high, f.rss_later.high)
        rss_cell = (f"at ready {fmt_mb(f.rss_ready.median)} [{fmt_mb(f.rss_ready.low)}-"
                    f"{fmt_mb(f.rss_ready.high)}], +1 s {fmt_mb(f.rss_later.median)} "
                    f"[{fmt_mb(f.rss_later.low)}-{fmt_mb(f.rss_later.high)}] "
                    f"(n={len(f.rss_ready.values)})")
    else:
        rss_cell = "n/a"
    rows.append(Row("4. RSS per idle sandbox", rss_cell, "-", "-",
                    f"max <= {fmt_mb(IDLE_RSS_TARGET_BYTES)}",
                    verdict(worst_rss, IDLE_RSS_TARGET_BYTES)))

    if f.langchain_cached is not None:
        lcs_label, lcs = "langchain-sandbox (its Deno program, from the cache)", f.langchain_cached
    else:
        lcs_label = "langchain-sandbox equivalent (fresh Deno + cold Pyodide per call)"
        lcs = f.cold
    lcs_cell = f"{lcs_label}: {fmt_time_cell(lcs)}"
    rows.append(Row("5. strict run per call, warm pool", fmt_time_cell(f.strict_warm), lcs_cell,
                    fmt_ratio(_med(f.strict_warm), _med(lcs)), "-", "info"))
    rows.append(Row("5. session run per call", fmt_time_cell(f.session), "(same baseline)",
                    fmt_ratio(_med(f.session), _med(lcs)), "-", "info"))
    rows.append(Row("5. strict run back to back (no waiting)",
                    fmt_time_cell(f.strict_back_to_back), "(same baseline)",
                    fmt_ratio(_med(f.strict_back_to_back), _med(lcs)), "-", "info"))
    if f.strict_back_to_back is not None:
        rows.append(Row("6. strict runs back to back, runs/s",
                        f"{1 / f.strict_back_to_back.median:.2f} runs/s", "-", "-", "-", "info"))
    for a in f.arrivals:
        met = a.achieved >= a.rate * 0.95 and a.latency.percentile(99) <= THROUGHPUT_P99_TARGET_S
        target = "-"
        status = "info"
        if a.rate >= THROUGHPUT_TARGET_PER_S and a.bounded:
            target = (f">= {THROUGHPUT_TARGET_PER_S:g}/s, p99 <= "
                      f"{fmt_seconds(THROUGHPUT_P99_TARGET_S)}")
            status = "PASS" if met else "MISS"
        rows.append(Row(
            f"6. strict print(1) arriving at {a.rate:g}/s"
            + ("" if a.bounded else ", no bound on runs at once (before)"),
            f"{a.achieved:.2f} runs/s done, latency {fmt_time_cell(a.latency, p99=True)}; "
            f"CPU {a.cpu_per_run:.2f} s/run with warm-up ({a.cpu_cores:.2f} cores)",
            "-", "-", target, status))
    return rows


def print_table(rows: list[Row]) -> None:
    headers = Row("measure", "flowc", "baseline", "flowc/baseline", "target", "status")
    cols = ("measure", "flowc", "baseline", "ratio", "target", "status")
    table = [[getattr(r, c) for c in cols] for r in [headers, *rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    for k, line in enumerate(table):
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        if k == 0:
            print("-+-".join("-" * w for w in widths))


def print_langchain_note(f: Figures) -> None:
    probe = f.probe
    print()
    print("langchain-sandbox:")
    if probe.source:
        print(f"  inspected: {probe.source} (pip download --no-deps, temp dir, not kept)")
    for reason in probe.reasons:
        print(f"  - {reason}")
    if f.langchain_cached is not None:
        print("  measured: its own Deno program, run from the Deno cache, per call")
    else:
        print("  measured instead: the equivalent of what it does per call, a fresh `deno run` "
              "that loads Pyodide without a snapshot and runs the code (measure 2's cold "
              "baseline, per call; without micropip, so a lower bound of its cost)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        session_runs=args.session_runs or (100 if args.quick else 300),
        repeat=args.repeat or (5 if args.quick else 15),
        cold_repeat=args.cold_repeat or (2 if args.quick else 5),
        baseline_repeat=args.baseline_repeat or (10 if args.quick else 30),
        pool_size=args.pool_size,
        download=not args.no_download,
        rates=args.rates if args.rates is not None else (QUICK_RATES if args.quick else DEFAULT_RATES),
        arrival_seconds=args.arrival_seconds or (2.0 if args.quick else 10.0),
    )
    try:
        from flowc.runtime.sandbox import SandboxSetupError, ensure_assets
    except ImportError as exc:
        print(f"flowc is not importable from {sys.executable}: {exc} "
              "(install it: pip install -e .)")
        return 1 if args.strict else 0

    print(f"flowc sandbox benchmark{' (quick)' if args.quick else ''}: "
          f"{settings.session_runs} session runs, {settings.repeat} process repeats, "
          f"{settings.cold_repeat} cold loads, {settings.baseline_repeat} Python subprocesses, "
          f"pool size {settings.pool_size}; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    start = time.perf_counter()
    try:
        assets = ensure_assets()
    except SandboxSetupError as exc:
        print(f"the sandbox cannot start here: {exc}")
        return 1 if args.strict else 0
    print(f"  assets ready in {time.perf_counter() - start:.1f} s "
          f"(deno {assets.deno}, pyodide {assets.pyodide_dir})")

    figures = run_measurements(assets, settings)

    rows = build_rows(figures)
    print()
    print("Results: median [min-max] (n=samples); ratio = flowc / baseline, lower is better")
    print_table(rows)
    print_langchain_note(figures)
    if figures.problems:
        print()
        print("Problems:")
        for p in figures.problems:
            print(f"  - {p}")
    missed = [r.measure for r in rows if r.status == "MISS"]
    if args.markdown:
        from _figures import markdown_table, write_markdown

        write_markdown(args.markdown, __file__, argv, markdown_table(
            ["measure", "flowc", "baseline", "flowc/baseline", "target", "status"],
            [[r.measure, r.flowc, r.baseline, r.ratio, r.target, r.status] for r in rows]))
    print()
    print(f"targets: {sum(r.status == 'PASS' for r in rows)} met, {len(missed)} missed"
          + (f" ({'; '.join(missed)})" if missed else "")
          + f"; total {time.perf_counter() - start:.1f} s")
    return 1 if args.strict and missed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer repeats (100 session runs, 5 process repeats, 2 cold loads)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--session-runs", type=positive_int, default=None,
                    help="timed session runs (default 300, quick 100)")
    ap.add_argument("--repeat", type=positive_int, default=None,
                    help="fresh starts; twice this for acquires and strict runs "
                    "(default 15, quick 5)")
    ap.add_argument("--cold-repeat", type=positive_int, default=None,
                    help="cold Pyodide loads (default 5, quick 2)")
    ap.add_argument("--baseline-repeat", type=positive_int, default=None,
                    help="Python subprocess runs per baseline (default 30, quick 10)")
    ap.add_argument("--pool-size", type=positive_int, default=2, help="sandbox pool size (default 2)")
    ap.add_argument("--no-download", action="store_true",
                    help="do not fetch langchain-sandbox's wheel from PyPI to inspect it")
    ap.add_argument("--rates", type=_rates, default=None,
                    help="arrival rates of strict runs, per second (default 1,2,5,10; "
                    "quick 1,10; 'none' skips)")
    ap.add_argument("--markdown", metavar="PATH", default=None,
                    help="also write the results table as markdown to PATH")
    ap.add_argument("--arrival-seconds", type=float, default=None,
                    help="how long each arrival rate lasts (default 10, quick 2)")
    return ap.parse_args(argv)


def _rates(text: str) -> tuple[float, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        rates = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or any(not (0 < r <= 1000) for r in rates):
        raise argparse.ArgumentTypeError("rates are numbers of runs per second, 0 to 1000")
    return rates


if __name__ == "__main__":
    sys.exit(main())
