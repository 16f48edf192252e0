"""The warm-up steps a spare sandbox runs while it waits in the pool.

V8 compiles Pyodide's WebAssembly lazily, one function at a time on its first call, so the
first code a fresh process runs pays for compiling the parts of the interpreter it touches
(the parser and compiler, the regex engine, sorting, bytes methods, JSON). These steps touch
them with flowc's own fixed code and data, in a namespace that is thrown away: no user code
or data is ever involved, and a real request stops them (see host.mjs, `warmUp`).
"""

from __future__ import annotations

import json

__all__ = ["warm_steps"]

_CSV = """
import random as _r
_rng = _r.Random(7)
_rows = ["id,region,product,units,revenue"]
for _i in range({rows}):
    _rows.append(f"{_i},{_rng.choice(['emea','amer','apac'])},p-{_rng.randint(1, 20):02d},"
                 f"{_rng.randint(1, 50)},{_rng.uniform(5, 900):.2f}")
_data = "\\n".join(_rows) + "\\n"
"""

_LINES = [
    "cat | grep emea | cut -d , -f 3,4 | sort | uniq -c",
    "cat | grep -v amer | cut -d, -f2 | sort -r | uniq | head -n 3",
    "cat | grep -i -c APAC",
    "cat | grep -E 'emea|apac' | cut -d , -f 2-3,5 | sort -t , -k 2,2 | head -n 5",
    "cat | grep -n -w amer | tail -n 2",
    "cat | sort -n | tail -5 | wc -l",
    "echo '{\"a\": [1, 2, {\"b\": \"x\"}]}' | jq -c '.a[2]'",
    "ls /bin",
]


def warm_steps(rounds: int = 1, touch_mb: int = 96, rows: int = 10_000) -> list[str]:
    """Small steps (each a few ms to a few tens of ms in a fresh interpreter).

    How far to go was measured (bench/commands.py's pipeline over 10 MB, a fresh sandbox per
    call, CPU counted until the replacing spare is warmed): no warm-up, 454 ms a call and
    0.93 s of CPU; one round over 10,000 rows with the memory touch, 186-212 ms and 1.5-1.7 s;
    four rounds over 30,000 rows (before), 173-191 ms and 3.1-3.2 s. The rounds past the first
    and the larger data bought about 10% of a call's time for twice its CPU.

    The last one grows the interpreter's memory by `touch_mb` MiB (the pool's `touch_mb`:
    by default 3/8 of its memory limit, at most 96 MiB) and frees it: the pages are then mapped and zeroed already, and the allocator reuses them, so
    the code that runs next does not pay the page faults of a first touch (a 10 MB input
    ran 20% faster in the commands benchmark)."""
    steps = ["from flowc_shell import run_line", _CSV.replace("{rows}", str(int(rows)))]
    for _ in range(rounds):
        steps += [f"run_line({json.dumps(line)}, _data, {{}})" for line in _LINES]
    if touch_mb > 0:
        steps.append(f"_touched = bytearray({int(touch_mb)} << 20)\ndel _touched")
    steps.append("import json as _j\n_j.loads(_j.dumps({'k': [1.5, 'x', None, True]} ))\n"
                 "compile('def f(a, *b, **c):\\n    return [x for x in b if x]\\n', 'w', 'exec')")
    return steps
