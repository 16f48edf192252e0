"""Plans: deterministic bytes, the content hash, snapshots, and what changes the hash.

Snapshots live in `tests/snapshots/`; run with FLOWC_UPDATE_SNAPSHOTS=1 to rewrite them, then
review the diff in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowc.compiler.api import compile_file
from flowc.compiler.plan import Plan, canonical_json

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).parent / "snapshots"
CLEAN_FLOWS = sorted(
    [p for p in (ROOT / "examples").rglob("*.flow") if "broken" not in p.parts]
    + [Path(__file__).parent / "cases" / "clean_everything.flow"]
)


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", CLEAN_FLOWS, ids=_rel)
def test_plan_snapshot(path: Path):
    result = compile_file(path)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    text = result.plan.to_json(pretty=True)  # indented, for readable diffs
    snap = SNAPSHOTS / (_rel(path).replace("/", "__") + ".json")
    if not snap.exists() and os.environ.get("CI"):
        pytest.fail(f"no snapshot {snap}: run the tests locally and commit it")
    if os.environ.get("FLOWC_UPDATE_SNAPSHOTS") or not snap.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        snap.write_text(text)
    assert text == snap.read_text(), f"plan changed; FLOWC_UPDATE_SNAPSHOTS=1 rewrites {snap}"


@pytest.mark.parametrize("path", CLEAN_FLOWS, ids=_rel)
def test_plan_round_trips_and_hash_is_canonical(path: Path):
    plan = compile_file(path).plan
    data = json.loads(plan.to_json())
    assert Plan.model_validate(data).to_json() == plan.to_json()
    body = {k: v for k, v in data.items() if k != "hash"}
    assert data["hash"] == hashlib.sha256(canonical_json(body).encode()).hexdigest()
    order = {n["id"]: n["position"] for n in data["nodes"]}
    for n in data["nodes"]:  # nodes come in a valid order: every producer before its readers
        for dep in n["deps"]:
            if dep["kind"] == "node":
                assert order[dep["name"]] < n["position"]


@pytest.mark.parametrize("path", CLEAN_FLOWS, ids=_rel)
def test_compact_json_is_the_hashed_data(path: Path):
    """What a run store keeps (`to_compact_json`, pydantic's encoder) parses to exactly the
    data the hash was computed from: `flowc audit verify` rehashes the stored text."""
    plan = compile_file(path).plan
    stored = json.loads(plan.to_compact_json())
    assert canonical_json(stored) == canonical_json(plan.to_data())
    body = {k: v for k, v in stored.items() if k != "hash"}
    assert stored["hash"] == plan.hash == hashlib.sha256(
        canonical_json(body).encode()).hexdigest()
    assert Plan.model_validate(stored) == plan


def test_same_input_same_bytes_from_another_process_and_folder(tmp_path):
    flow = Path(__file__).parent / "cases" / "clean_everything.flow"
    out = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "flowc", "compile", str(flow), "-o", str(out)],
                   check=True, cwd=tmp_path, capture_output=True)
    assert out.read_text() == compile_file(flow).plan.to_json()


def test_sop_change_changes_hash_and_nothing_else(tmp_path):
    src = Path(__file__).parent / "cases"
    work = tmp_path / "cases"
    shutil.copytree(src, work)
    flow = work / "clean_everything.flow"
    before = json.loads(compile_file(flow).plan.to_json())
    (work / "sops" / "guide.md").write_text("# Guide\nAnswer politely and briefly.\n")
    after = json.loads(compile_file(flow).plan.to_json())
    assert before["hash"] != after["hash"]
    diff = {k for k in before if before[k] != after[k]}
    assert diff == {"hash", "sops"}


def test_comment_change_changes_source_hash_only(tmp_path):
    flow = tmp_path / "f.flow"
    text = 'flow f version "1.0.0"\ninput x: str\noutput y: str = x\n'
    flow.write_text(text)
    a = json.loads(compile_file(flow).plan.to_json())
    flow.write_text(text + "// a comment\n")
    b = json.loads(compile_file(flow).plan.to_json())
    assert a["flow"]["source_sha256"] != b["flow"]["source_sha256"]
    assert {k for k in a if a[k] != b[k]} == {"flow", "hash"}


def test_one_shared_sop_change_changes_all_five_ecommerce_plans_and_nothing_else(tmp_path):
    work = tmp_path / "ecommerce"
    shutil.copytree(ROOT / "examples" / "ecommerce", work)
    flows = sorted(work.glob("*.flow"))
    assert len(flows) == 5
    before = {f.name: json.loads(compile_file(f).plan.to_json()) for f in flows}
    skills = {json.dumps(p["skills"], sort_keys=True) for p in before.values()}
    assert all("classify-ticket" in s for s in skills)  # one shared skill
    script = work / "sops" / "service_script.md"
    script.write_text(script.read_text() + "\nAlways give the ticket number.\n")
    after = {f.name: json.loads(compile_file(f).plan.to_json()) for f in flows}
    for name in before:
        assert before[name]["hash"] != after[name]["hash"], name
        expected = {"hash", "sops"} | ({"flows"} if before[name]["flows"] else set())
        # (a flow that calls another embeds its plan, which imports the same library)
        assert {k for k in before[name] if before[name][k] != after[name][k]} == expected
        changed = [d["name"] for b, a in zip(before[name]["sops"], after[name]["sops"],
                                             strict=True)
                   for d, e in zip(b["documents"], a["documents"], strict=True) if d != e]
        assert changed == ["service_script"]
