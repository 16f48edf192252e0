"""Plans as canonical JSON: one definition of the bytes a plan hash is computed over, written
fast by orjson and held to the standard library's bytes; compact plan files, `--pretty` for
people; numbers a plan cannot carry refused at compile time."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc.compiler.api import compile_file, compile_source
from flowc.compiler.plan import Plan, canonical_bytes, canonical_json, load_data, plan_hash

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*/*.flow") if "broken" not in p.parts)


def _defined(value) -> bytes:
    """The definition: what plans have always been hashed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


_scalars = (st.none() | st.booleans()
            | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.floats(min_value=1e-12, max_value=1e-3)  # where orjson writes otherwise
            | st.floats(min_value=1e14, max_value=1e23)
            | st.sampled_from([1e-5, 1e-7, 5e-324, 1e16, 1e22, -0.0, 1.7976931348623157e308,
                               2**63, 2**64, -(2**63) - 1])
            | st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
            | st.sampled_from(["1e-7", "\u2028\u2029", "\x00\x1f\x7f", "😀é", "\ue000",
                               "\U00010000", '"\\/']))
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6),
                      inner, max_size=5),
    max_leaves=30)


@settings(max_examples=600, deadline=None)
@given(_json)
def test_canonical_bytes_are_the_defined_bytes(value):
    assert canonical_bytes(value) == _defined(value)
    assert canonical_json(value) == _defined(value).decode("utf-8")


def test_every_exponent_and_sign_writes_the_defined_bytes():
    values = [m * 10.0 ** e for e in range(-320, 309) for m in (1.0, 1.25, 9.999999999999)]
    values = [v for v in values if math.isfinite(v)]
    values += [-v for v in values]
    assert canonical_bytes(values) == _defined(values)
    for v in values[::7]:
        assert canonical_bytes(v) == _defined(v), v


def test_keys_sort_by_code_point_across_planes():
    # UTF-16 would put U+10000 before U+E000; code points (and UTF-8 bytes) put it after
    value = {"\U00010000": 1, "\ue000": 2, "a": 3, "é": 4, "": 5}
    assert canonical_bytes(value) == _defined(value)
    assert list(json.loads(canonical_bytes(value))) == ["", "a", "é", "\ue000", "\U00010000"]


def test_pinned_bytes_hold_across_encoder_versions():
    # fixed values whose canonical bytes are written out here: an encoder (orjson or the
    # standard library) that changes what it writes fails this before it changes a plan hash
    value = {"z": [1, -0.0, 0.1, 1e-05, 1e-7, 1e16, 1e22, 2**64, 5e-324, True, None],
             "a": {"é": "\u2028\x01\n\t\"\\", "😀": "", "\ue000": 1.5}, "m": 123456789.123}
    expected = ('{"a":{"é":"\u2028\\u0001\\n\\t\\"\\\\","\ue000":1.5,"😀":""},"m":123456789.123,'
                '"z":[1,-0.0,0.1,1e-05,1e-07,1e+16,1e+22,18446744073709551616,5e-324,true,'
                'null]}').encode("utf-8")
    assert canonical_bytes(value) == expected
    assert hashlib.sha256(canonical_bytes(value)).hexdigest() == hashlib.sha256(expected).hexdigest()


def test_stored_text_with_a_number_json_cannot_hold_is_refused_not_hashed_as_null():
    # orjson writes NaN as null: neither the canonical bytes nor text read back to check a
    # hash may hold one (or a number past the largest float, which reads as an infinity)
    for bad in (math.nan, math.inf, -math.inf, {"x": [math.nan]}):
        with pytest.raises(ValueError):
            canonical_bytes(bad)
    for bad in ('{"x":NaN}', '{"x":Infinity}', '{"x":-Infinity}', b'[NaN]', '[1e999]',
                '{"x":-1E400}'):
        with pytest.raises(ValueError):
            load_data(bad)
    assert load_data('{"x":null,"y":100000000000000000000000}') == {"x": None, "y": 10**23}


@pytest.mark.parametrize("flow", EXAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_plan_file_is_the_canonical_json_and_pretty_is_the_same_data(flow):
    plan = compile_file(flow).plan
    text = plan.to_json()
    assert text.endswith("\n") and "\n" not in text[:-1]
    data = json.loads(text)
    assert text[:-1].encode("utf-8") == _defined(data)  # the whole file is canonical
    assert plan_hash(data) == plan.hash
    assert hashlib.sha256(_defined({k: v for k, v in data.items() if k != "hash"})
                          ).hexdigest() == plan.hash
    pretty = plan.to_json(pretty=True)
    assert pretty.startswith("{\n  ") and json.loads(pretty) == data
    assert Plan.model_validate_json(text).to_json() == text
    assert Plan.model_validate_json(pretty).hash == plan.hash
    assert plan.to_data() == plan.model_dump(mode="json", by_alias=True)


def _flow(hole: str, output: str = "n0.text", out_type: str = "str") -> str:
    return (f'flow nums version "1.0.0"\n\ninput topic: str\n\nnode n0 = llm {{\n'
            f'  prompt "On {{topic}} {{{hole}}}."\n}}\n\noutput result: {out_type} = {output}\n')


def test_long_integers_and_short_exponents_survive_the_round_trip():
    text = _flow("100000000000000000000000 + 0.00001")
    result = compile_source(text, "nums.flow")
    assert not result.diagnostics.has_errors
    plan = result.plan
    data = plan.to_data()
    assert "100000000000000000000000" in plan.to_json()  # not read back as a float
    assert "1e-05" in plan.to_json()
    assert data == plan.model_dump(mode="json", by_alias=True)
    again = Plan.model_validate_json(plan.to_json())
    assert again.hash == plan.hash and plan_hash(again.to_data()) == plan.hash
    assert Plan.model_validate_json(plan.to_json(pretty=True)).to_json() == plan.to_json()


@pytest.mark.parametrize("where", ["hole", "output"])
def test_a_float_literal_past_the_largest_float_is_an_error_at_its_place(where):
    big = "1" + "0" * 400 + ".5"
    text = _flow(big) if where == "hole" else _flow("topic", output=big, out_type="float")
    result = compile_source(text, "nums.flow")
    errors = [d for d in result.diagnostics.sorted() if d.severity == "error"]
    assert [d.code for d in errors] == ["F0211"], errors
    line, col = (6, text.splitlines()[5].index(big) + 1) if where == "hole" else \
        (9, text.splitlines()[8].index(big) + 1)
    d = errors[0].to_dict()
    assert (d["line"], d["column"]) == (line, col), d
    assert "too large" in errors[0].message


def test_compile_cli_writes_compact_by_default_and_indented_with_pretty(tmp_path):
    flow = EXAMPLES[0]
    compact, pretty = tmp_path / "plan.json", tmp_path / "pretty.json"
    for out, extra in ((compact, []), (pretty, ["--pretty"])):
        r = subprocess.run([sys.executable, "-m", "flowc", "compile", str(flow), "-o", str(out),
                            *extra], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert compact.read_text().count("\n") == 1
    assert pretty.read_text().count("\n") > 10
    assert json.loads(compact.read_text()) == json.loads(pretty.read_text())
    assert compact.read_text() == compile_file(flow).plan.to_json()
