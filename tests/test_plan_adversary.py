"""Adversarial checks of the plan's canonical encoding and of the audit's plan check, written
by a reviewer who did not write the code. Each test below the breaks line failed when written,
and was fixed since; the others record guarantees that held.

The breaks found: a non-finite float reaches a plan (a duration literal whose
parts add past the largest float; a skill's YAML default `.nan`), is written and hashed as
`null`, so the compiled plan and the plan read back from its file differ but have one hash;
`load_data` takes `1e999` (an infinity) and the plan hash counts it as null, so `audit verify`
misses a stored plan edited that way; a YAML `!!set` default makes the plan hash depend on
PYTHONHASHSEED; a duration with too many digits crashes the compiler."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from flowc.compiler.api import compile_file, compile_source
from flowc.compiler.plan import Plan, canonical_bytes, load_data, plan_hash

ROOT = Path(__file__).resolve().parents[1]


def _defined(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _flow(hole: str) -> str:
    return (f'flow nums version "1.0.0"\n\ninput topic: str\n\nnode n0 = llm {{\n'
            f'  prompt "On {{topic}} {{{hole}}}."\n}}\n\noutput result: str = n0.text\n')


def _non_finite(value) -> list:
    """Every float in `value` that is NaN or infinite."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _non_finite(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _non_finite(v)]
    return []


# --- breaks (each failed when written) -----------------------------------------

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"x": [math.inf]}])
def test_canonical_bytes_refuses_what_the_definition_refuses(value):
    # the definition (allow_nan=False) raises ValueError; orjson writes null instead
    with pytest.raises(ValueError):
        _defined(value)
    with pytest.raises(ValueError):
        canonical_bytes(value)


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400", "9.9e308"])
def test_stored_plan_with_an_overflowing_number_where_null_was_does_not_keep_its_hash(number):
    plan = compile_source(_flow("topic"), "nums.flow").plan
    text = plan.to_compact_json()
    assert '"when":null' in text
    edited = text.replace('"when":null', f'"when":{number}', 1)
    assert json.loads(edited)["nodes"][0]["when"] != json.loads(text)["nodes"][0]["when"]
    try:
        h = plan_hash(load_data(edited))
    except ValueError:
        return  # refused: the audit reports the plan as changed
    assert h != plan.hash, f"`{number}` read as an infinity, hashed as null"


def test_audit_verify_finds_a_stored_plan_whose_null_was_made_1e999(tmp_path):
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    flow = '''flow audited version "1.0.0"
input amount: float
node review = await human(
  to: role("lead"),
  show: [amount],
  actions: [approve, reject],
  timeout: 48h -> reject,
)
output decision: str = review.outcome
'''
    plan = compile_source(flow, "t.flow", base_dir=ROOT).plan
    db = tmp_path / "runs.db"
    store = SQLiteStore(str(db))
    with Engine(store) as engine:
        run = engine.start(plan, {"amount": 250.0})
    assert store.verify_audit(run.id).ok
    store.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("""UPDATE plans SET json = replace(json, '"when":null', '"when":1e999')""")
    conn.close()
    store = SQLiteStore(str(db))
    try:
        assert json.loads(store.get_plan(run.plan_hash))["nodes"][0]["when"] == math.inf
        v = store.verify_audit(run.id)
    finally:
        store.close()
    assert not v.ok and "plan" in " ".join(v.problems), "a changed plan verified intact"


def test_a_duration_past_the_largest_float_is_an_error_not_a_null_in_the_plan():
    part = "17" + "0" * 307 + "s"  # 1.7e308 seconds, twice: the sum is an infinity
    result = compile_source(_flow(part + part), "nums.flow")
    errors = [d for d in result.diagnostics.items if d.severity == "error"]
    if result.plan is not None:
        # what happens now: the compiled plan holds inf, its file (and hash) null
        assert not _non_finite(result.plan.model_dump()), "a plan holds an infinity"
    assert errors


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_duration_with_too_many_digits_is_a_diagnostic_not_a_crash(digits):
    text = _flow("1" + "0" * digits + "s")
    result = compile_source(text, "nums.flow")  # OverflowError / ValueError now
    assert result.plan is None
    assert any(d.severity == "error" for d in result.diagnostics.items)


_SKILL = '''---
name: ledger
description: Books an entry in the ledger.
version: 1.0.0
inputs:
  entry: str
  extra: {{type: {type}, default: {default}}}
outputs:
  text: receipt
effects: []
entry: ledger book {{entry}}
---
# Ledger
'''
_LEDGER = '''flow books version "1.0.0"
policy approval: off
use skill ledger @ ^1.0
input entry: str
node book = skill ledger(entry: entry)
output receipt = book.receipt
'''


def _ledger(folder: Path, type_: str, default: str) -> Path:
    (folder / "skills" / "ledger").mkdir(parents=True)
    (folder / "skills" / "ledger" / "SKILL.md").write_text(
        _SKILL.format(type=type_, default=default), encoding="utf-8")
    (folder / "demo.flow").write_text(_LEDGER, encoding="utf-8")
    return folder / "demo.flow"


def _refusal(result) -> str:
    assert result.plan is None, "compiled"
    return " ".join(d.message for d in result.diagnostics.items)


@pytest.mark.parametrize("default", [".nan", ".inf", "1.0e+400"])
def test_a_skill_default_that_is_not_a_json_number_does_not_reach_the_plan(tmp_path, default):
    # was: compiled, the plan holding nan/inf in memory, null in its file and hash
    result = compile_file(_ledger(tmp_path, "float", default))
    assert "input `extra` has a default that is not JSON data" in _refusal(result)


@pytest.mark.parametrize("default", ["!!set {alpha, beta, gamma, delta, epsilon}",
                                     "2024-01-01", "{1: a, '1': b}", "!!binary aGVsbG8="])
def test_a_skill_default_that_is_not_json_data_is_refused(tmp_path, default):
    # was: a set hashed in PYTHONHASHSEED's order (three seeds, three plan hashes); a date,
    # bytes or a number key made the plan in memory differ from the data it was hashed from
    result = compile_file(_ledger(tmp_path, "json", default))
    assert "not JSON data" in _refusal(result)


def test_a_json_skill_default_gives_the_same_plan_hash_in_every_process(tmp_path):
    flow = _ledger(tmp_path, "json", "{b: [1, 2.5, x], a: {c: null}}")
    code = ("import sys; from flowc.compiler.api import compile_file; "
            "print(compile_file(sys.argv[1]).plan.hash)")
    hashes = set()
    for seed in ("1", "2", "3"):
        r = subprocess.run([sys.executable, "-c", code, str(flow)], capture_output=True,
                           text=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                           timeout=120)
        assert r.returncode == 0, r.stderr
        hashes.add(r.stdout.strip())
    assert len(hashes) == 1, f"one flow, one skill, {len(hashes)} plan hashes"


# --- guarantees that held ------------------------------------------------------------------

def test_odd_values_and_a_sub_flow_encode_a_node_at_a_time_as_whole(tmp_path):
    (tmp_path / "child.flow").write_text(
        'flow child version "1.0.0"\ninput x: int\nnode n = llm {\n'
        '  prompt "\x01\x1f\x7f\u2028 é😀\U0010ffff \\t\\" {x} {0.00001} {1.0e-320} '
        '{18446744073709551616} {-9223372036854775809} {1.0e22}"\n}\n'
        'output y: str = n.text\n', encoding="utf-8")
    parent = ('flow parent version "1.0.0"\nuse flow "child.flow" as child\n'
              'node c = flow child(x: 123456789012345678901234567890)\n'
              'output y: str? = c.y\noutput z: float = -0.0\n')
    result = compile_source(parent, str(tmp_path / "parent.flow"), base_dir=tmp_path)
    plan = result.plan
    assert plan is not None, [d.message for d in result.diagnostics.items]
    assert plan.flows
    data = plan.to_data()
    assert data == plan.model_dump(mode="json", by_alias=True)
    assert plan.canonical(with_hash=True) == _defined(data)
    assert plan.canonical(with_hash=False) == _defined(
        {k: v for k, v in data.items() if k != "hash"})
    assert plan.hash == plan.canonical_sha256() == plan_hash(data)
    sub = plan.flows[0].plan
    assert sub.canonical(with_hash=True) == _defined(sub.to_data())
    text, pretty = plan.to_json(), plan.to_json(pretty=True)
    assert json.loads(text) == json.loads(pretty)
    for t in (text, pretty):
        again = Plan.model_validate_json(t)
        assert again.canonical_sha256() == plan.hash and again.to_json() == text


def test_a_float_literal_past_the_largest_float_in_a_long_string_is_f0211_at_its_place():
    big = "1" + "0" * 400 + ".5"
    text = ('flow nums version "1.0.0"\n\ninput topic: str\n\nnode n0 = llm {\n'
            f'  prompt """On {{topic}}\nsecond é😀 {{[1.0, {big}]}} x\n"""\n}}\n\n'
            'output result: str = n0.text\n')
    result = compile_source(text, "nums.flow")
    errors = [d.to_dict() for d in result.diagnostics.sorted() if d.severity == "error"]
    assert result.plan is None
    assert [(e["code"], e["line"], e["column"]) for e in errors] == \
        [("F0211", 7, text.splitlines()[6].index(big) + 1)]
