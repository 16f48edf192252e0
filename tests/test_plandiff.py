"""The semantic diff of two plans (real flows, compiled) and the source diff of two file sets."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from flowc.compiler.api import compile_file
from flowc.compiler.plandiff import Change, FileDiff, semantic_diff, source_diff

ROOT = Path(__file__).resolve().parent.parent
RANK = {"danger": 0, "warning": 1, "info": 2}

BASE = '''flow demo version "1.0.0"
  "Pays a refund after a review."
policy approval: warning

import sop "sops/" as sops
use skill render_report @ 1.3.2

record Order { id: str, amount: float }

input order: Order
input note: str = "none"

node draft = llm {
  prompt "Write a note about order {order.id}: {note}"
  sops   [sops.refunds]
}
node doc = skill render_report(title: order.id, body: draft.text)
node fee: float = code python(amount: order.amount) """
  result = amount * 0.1
"""
node review = await human(
  to:      role("editor"),
  show:    [order.id, draft.text],
  edit:    { amount: float = order.amount },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
node pay = command `pay {order.id} {review.amount}`
  effect external
  retry 2
match review {
  approved | edited -> pay
  rejected -> stop
}
output receipt: str? = pay.stdout
output report = doc.summary
output fee_due = fee
'''

SOPS = {"sops/refunds.md": "# Refunds\nRefund damaged goods in full.\n",
        "sops/tone.md": "# Tone\nBe kind.\n"}


def compile_plan(folder: Path, text: str, files: dict[str, str] | None = None,
                 name: str = "demo.flow") -> dict:
    """The plan of `text` compiled as `folder/name` next to `files`; fails on errors."""
    for rel, body in {**SOPS, **(files or {})}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(body, encoding="utf-8")
    (folder / name).write_text(text, encoding="utf-8")
    result = compile_file(folder / name)
    errors = [d.message for d in result.diagnostics.items if d.severity == "error"]
    assert not errors and result.plan is not None, errors
    return json.loads(result.plan.to_json())


def assert_ordered(changes: list[Change]) -> None:
    ranks = [RANK[c.severity] for c in changes]
    assert ranks == sorted(ranks), [c.to_json() for c in changes]
    for c in changes:
        assert c.change in ("added", "removed", "changed")
        assert c.detail and "\n" not in c.detail


def diff(tmp_path: Path, new_text: str, old_text: str = BASE,
         old_files: dict | None = None, new_files: dict | None = None) -> list[Change]:
    old = compile_plan(tmp_path / "v1", old_text, old_files)
    new = compile_plan(tmp_path / "v2", new_text, new_files)
    changes = semantic_diff(old, new)
    assert_ordered(changes)
    assert changes == semantic_diff(copy.deepcopy(old), copy.deepcopy(new))  # deterministic
    return changes


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def find(changes: list[Change], area: str, subject: str) -> list[Change]:
    return [c for c in changes if c.area == area and c.subject == subject]


# --- identical plans ----------------------------------------------------------------------

def test_identical_plans_have_no_changes(tmp_path):
    assert diff(tmp_path, BASE) == []


def test_moved_lines_and_comments_are_not_changes(tmp_path):
    moved = edit(BASE, "policy approval: warning\n",
                 "policy approval: warning\n\n// a comment that moves every line down\n\n")
    old = compile_plan(tmp_path / "v1", BASE)
    new = compile_plan(tmp_path / "v2", moved)
    assert old["hash"] != new["hash"]  # the spans and source hash differ...
    assert semantic_diff(old, new) == []  # ...but nothing the plan does


def test_snapshots_against_themselves_and_each_other():
    plans = [json.loads(p.read_text()) for p in sorted((ROOT / "tests/snapshots").glob("*.json"))]
    assert len(plans) >= 5
    for a in plans:
        assert semantic_diff(a, copy.deepcopy(a)) == []
        for b in plans:
            assert_ordered(semantic_diff(a, b))


# --- effects ------------------------------------------------------------------------------

UNGATED_PAY = edit(edit(BASE, "node pay = command `pay {order.id} {review.amount}`",
                        "node pay = command `pay {order.id} {order.amount}`"),
                   "approved | edited -> pay", "approved | edited -> thanks")
UNGATED_PAY = edit(UNGATED_PAY, "match review {",
                   'node thanks = llm { prompt "Thank {review.reviewer}" }\n'
                   "output thanked = thanks.text\nmatch review {")


def test_effect_out_from_behind_its_gate_is_danger_and_first(tmp_path):
    new = edit(UNGATED_PAY, 'version "1.0.0"', 'version "1.1.0"')
    new = edit(new, "result = amount * 0.1", "result = amount * 0.2")
    changes = diff(tmp_path, new)
    first = changes[0]
    assert (first.area, first.subject, first.change, first.severity) == \
        ("effect", "pay", "changed", "danger")
    assert first.detail == "no longer behind a gate (was behind review)"
    assert [c.severity for c in changes].count("danger") == 1
    # the other changes are there too, after it
    assert find(changes, "flow", "version")[0].detail == "version 1.0.0 -> 1.1.0"
    assert "code changed" in find(changes, "node", "fee")[0].detail
    assert find(changes, "node", "thanks")[0].change == "added"


def test_reading_a_gate_inside_coalesce_is_not_being_behind_it(tmp_path):
    new = edit(UNGATED_PAY, "`pay {order.id} {order.amount}`",
               "`pay {order.id} {review.amount ?? order.amount}`")
    changes = diff(tmp_path, new)
    assert changes[0] == Change("effect", "pay", "changed",
                                "no longer behind a gate (was behind review)", "danger")
    [node] = find(changes, "node", "pay")
    assert "; reads only inside ??: review;" in node.detail


def test_effect_back_behind_a_gate_is_info(tmp_path):
    changes = diff(tmp_path, BASE, old_text=UNGATED_PAY)
    [c] = find(changes, "effect", "pay")
    assert c.severity == "info" and c.detail == "now behind review (was not behind any gate)"
    assert not [c for c in changes if c.severity == "danger"]


def test_new_ungated_effect_is_danger(tmp_path):
    new = BASE + "node notify = command `notify {order.id}`\n  effect external\n" \
        "output notified = notify.stdout\n"
    changes = diff(tmp_path, new)
    assert changes[0] == Change("effect", "notify", "added",
                                "new external effect, not behind any gate", "danger")
    assert not find(changes, "node", "notify")  # reported once, as an effect


def test_new_gated_effect_is_warning(tmp_path):
    new = BASE + "node archive = command `archive {order.id}`\n  after review.approved\n" \
        "  effect external\noutput archived = archive.stdout\n"
    changes = diff(tmp_path, new)
    [c] = find(changes, "effect", "archive")
    assert (c.change, c.severity, c.detail) == \
        ("added", "warning", "new external effect, behind review")
    assert not [c for c in changes if c.severity == "danger"]


def test_removed_effect_is_info(tmp_path):
    new = edit(BASE, "output receipt: str? = pay.stdout\n", "")
    new = edit(new, "node pay = command `pay {order.id} {review.amount}`\n  effect external\n"
               "  retry 2\n", "")
    new = edit(new, "approved | edited -> pay", "approved | edited -> stop")
    changes = diff(tmp_path, new)
    [c] = find(changes, "effect", "pay")
    assert (c.change, c.severity) == ("removed", "info")
    assert find(changes, "output", "receipt")[0].severity == "warning"


def test_node_that_becomes_an_effect(tmp_path):
    new = edit(BASE, "node fee: float = code python(amount: order.amount) \"\"\"\n"
               "  result = amount * 0.1\n\"\"\"\n",
               "node fee: float = code python(amount: order.amount) \"\"\"\n"
               "  result = amount * 0.1\n\"\"\"\n  effect external\n")
    [c] = find(diff(tmp_path, new), "effect", "fee")
    assert (c.change, c.severity) == ("changed", "danger")
    assert c.detail == "now has an external effect, not behind any gate"


# --- gates --------------------------------------------------------------------------------

def test_gate_routing_change(tmp_path):
    changes = diff(tmp_path, edit(BASE, 'to:      role("editor")', 'to:      role("finance")'))
    assert changes == [Change("gate", "review", "changed",
                              'routed to role("finance") (was role("editor"))', "warning")]


def test_gate_timeout_change(tmp_path):
    changes = diff(tmp_path, edit(BASE, "timeout: 48h -> reject", "timeout: 24h -> reject"))
    assert changes == [Change("gate", "review", "changed", "timeout 48h -> 24h", "warning")]


def test_gate_timeout_that_approves_an_effect_is_danger(tmp_path):
    changes = diff(tmp_path, edit(BASE, "timeout: 48h -> reject", "timeout: 48h -> approve"))
    assert changes == [Change("gate", "review", "changed", "timeout outcome reject -> approve: "
                              "approves when nobody decides", "danger")]


def test_gate_that_stops_pausing_always_is_danger(tmp_path):
    conditional = edit(BASE, "timeout: 48h -> reject,", "timeout: 48h -> reject,\n"
                       "  when:    order.amount > 100.0,")
    assert diff(tmp_path, conditional) == [Change(
        "gate", "review", "changed", "pauses only when order.amount > 100.0 (was always): "
        "approves on its own otherwise", "danger")]
    assert diff(tmp_path / "back", BASE, old_text=conditional) == [Change(
        "gate", "review", "changed", "now always pauses (was only when order.amount > 100.0)",
        "info")]


def test_gate_form_and_show_changes(tmp_path):
    new = edit(BASE, "edit:    { amount: float = order.amount },",
               'edit:    { amount: float = order.amount, memo: str = "ok" },')
    new = edit(new, "show:    [order.id, draft.text],", "show:    [order.amount, draft.text],")
    changes = diff(tmp_path, new)
    details = {c.detail: c.severity for c in find(changes, "gate", "review")}
    assert details == {"form field memo added (str)": "info",
                       "shows added: order.amount; removed: order.id": "info"}
    assert not find(changes, "node", "review")  # the gate's output type follows its form


GATE_V1 = '''flow approvals version "1.0.0"
policy approval: warning
input topic: str
node review = await human(to: role("x"), actions: [approve, reject], timeout: 1h -> reject)
node send = command `send {topic}`
  effect external
match review { approved -> send  rejected -> stop }
output sent = send.stdout
'''


def test_gate_actions_and_escalation(tmp_path):
    new = edit(GATE_V1, "actions: [approve, reject], timeout: 1h -> reject",
               'actions: [approve, edit, reject], edit: { note: str = topic }, '
               'escalate: 30m -> role("lead"), timeout: 1h -> reject')
    new = edit(new, "approved -> send", "approved | edited -> send")
    changes = diff(tmp_path, new, old_text=GATE_V1)
    details = [c.detail for c in find(changes, "gate", "review")]
    assert "actions approve, reject -> approve, edit, reject" in details
    assert 'escalation added: after 30m to role("lead")' in details
    assert "form field note added (str)" in details
    [node] = find(changes, "node", "send")
    assert "run conditions after review.approved -> after review.approved|edited" in node.detail


def test_gate_removed_and_its_effect_ungated(tmp_path):
    new = edit(GATE_V1, 'node review = await human(to: role("x"), actions: [approve, reject], '
               "timeout: 1h -> reject)\n", "")
    new = edit(new, "match review { approved -> send  rejected -> stop }\n", "")
    changes = diff(tmp_path, new, old_text=GATE_V1)
    assert changes[0] == Change("effect", "send", "changed",
                                "no longer behind a gate (was behind review)", "danger")
    assert Change("gate", "review", "removed", "gate removed", "warning") in changes


def test_gate_added_moves_the_effect_behind_both(tmp_path):
    new = edit(BASE, "match review {",
               'node cfo = await human(to: user("cfo"), actions: [approve, reject], '
               "timeout: 24h -> reject)\nmatch cfo { approved -> pay  rejected -> stop }\n"
               "match review {")
    changes = diff(tmp_path, new)
    assert Change("gate", "cfo", "added", 'gate added, routed to user("cfo")', "info") in changes
    [c] = find(changes, "effect", "pay")
    assert (c.severity, c.detail) == ("warning", "now behind cfo, review (was behind review)")


def test_ask_human_is_a_gate_change_but_not_an_approval(tmp_path):
    new = edit(BASE, "node pay = command `pay {order.id} {review.amount}`",
               'node size: int = ask human(to: user("ops"), question: "How big?", '
               "timeout: 1h -> fail)\n"
               "node pay = command `pay {order.id} {review.amount} {size}`")
    changes = diff(tmp_path, new)
    assert Change("gate", "size", "added", 'ask added, routed to user("ops")', "info") in changes
    assert not find(changes, "effect", "pay")  # still behind `review`, and only that


# --- nodes --------------------------------------------------------------------------------

def test_node_added_removed_and_changed(tmp_path):
    new = edit(BASE, "output fee_due = fee\n", "output fee_due = tax\n")
    new = edit(new, 'node fee: float = code python(amount: order.amount) """\n'
               "  result = amount * 0.1\n", 'node tax: float = code python(amount: order.amount)'
               ' """\n  result = amount * 0.2\n')
    new = edit(new, "  retry 2\n", "  retry 3\n  timeout 30s\n")
    new = edit(new, "prompt \"Write a note", "prompt \"Draft a note")
    changes = diff(tmp_path, new)
    assert Change("node", "fee", "removed", "code node removed", "info") in changes
    assert Change("node", "tax", "added", "code node added", "info") in changes
    [pay] = find(changes, "node", "pay")
    assert pay.detail == "retries 2 -> 3; timeout added"
    [draft] = find(changes, "node", "draft")
    assert draft.detail == 'prompt "Write a note about order {order.id}: {note}" -> ' \
        '"Draft a note about order {order.id}: {note}"'
    [out] = find(changes, "output", "fee_due")
    assert (out.detail, out.severity) == ("value fee -> tax", "info")


def test_node_kind_change_is_warning(tmp_path):
    new = edit(BASE, 'node fee: float = code python(amount: order.amount) """\n'
               '  result = amount * 0.1\n"""\n', "node fee = command `fee {order.amount}`\n")
    new = edit(new, "output fee_due = fee\n", "output fee_due = fee.stdout\n")
    [c] = find(diff(tmp_path, new), "node", "fee")
    assert c.severity == "warning" and c.detail.startswith("kind code -> command")


# --- inputs, outputs, types ---------------------------------------------------------------

def test_input_added_required_removed_and_retyped(tmp_path):
    new = edit(BASE, 'input note: str = "none"\n', "input note: int = 0\ninput region: str\n"
               "input channel: str = \"mail\"\n")
    new = edit(new, "{note}", "{note} {region} {channel}")
    changes = diff(tmp_path, new)
    assert Change("input", "region", "added", "required str: callers must pass it",
                  "warning") in changes
    assert Change("input", "channel", "added", "optional str", "info") in changes
    [note] = find(changes, "input", "note")
    assert note.severity == "warning"
    assert note.detail == 'type str -> int; default "none" -> 0'
    removed = diff(tmp_path / "r", edit(edit(BASE, 'input note: str = "none"\n', ""),
                                        ": {note}", ""))
    assert Change("input", "note", "removed", "callers that pass it are refused",
                  "warning") in removed


def test_output_type_change(tmp_path):
    changes = diff(tmp_path, edit(BASE, "output report = doc.summary",
                                  "output report = doc.report"))
    assert changes == [Change("output", "report", "changed",
                              "type str -> file<pdf>; value doc.summary -> doc.report", "warning")]


def test_record_field_added(tmp_path):
    new = edit(BASE, "record Order { id: str, amount: float }",
               'record Order { id: str, amount: float, currency: str = "EUR" }')
    changes = diff(tmp_path, new)
    [t] = find(changes, "type", "Order")
    assert t.detail == "fields added: currency (str)" and t.severity == "info"
    [i] = find(changes, "input", "order")  # the input of that type changed with it
    assert i.detail == "fields added: currency (str)" and i.severity == "warning"


# --- skills, SOPs, sub-flows, flow settings -----------------------------------------------

def test_skill_version_change(tmp_path):
    changes = diff(tmp_path, edit(BASE, "render_report @ 1.3.2", "render_report @ 1.4.0"))
    [c] = find(changes, "skill", "render_report")
    assert c.detail.startswith("version 1.3.2 -> 1.4.0; pin 1.3.2 -> 1.4.0; location "
                               "stdlib:render-report/1.3.2 -> stdlib:render-report/1.4.0")
    [doc] = find(changes, "node", "doc")  # 1.4.0 adds a field to its output
    assert doc.detail == "output fields added: pages (int)"
    assert c.severity == "info"


SKILL_MD = '''---
name: ledger
description: Books an entry in the ledger.
version: 1.0.0
inputs:
  entry: str
outputs:
  text: receipt
effects: [external]
entry: ledger book {entry}
---
# Ledger
'''
LEDGER = '''flow books version "1.0.0"
policy approval: off
use skill ledger @ ^1.0
input entry: str
node book = skill ledger(entry: entry)
output receipt = book.receipt
'''


def test_skill_content_changed_under_the_same_version(tmp_path):
    changes = diff(tmp_path, LEDGER, old_text=LEDGER,
                   old_files={"skills/ledger/SKILL.md": SKILL_MD},
                   new_files={"skills/ledger/SKILL.md": SKILL_MD + "Now books twice.\n"})
    assert changes == [Change("skill", "ledger", "changed", "same version, content hash changed",
                              "warning")]


def test_skill_effects_change_is_warning(tmp_path):
    quiet = SKILL_MD.replace("effects: [external]", "effects: []")
    changes = diff(tmp_path, LEDGER, old_text=LEDGER,
                   old_files={"skills/ledger/SKILL.md": quiet},
                   new_files={"skills/ledger/SKILL.md": SKILL_MD})
    assert changes[0] == Change("effect", "book", "changed",
                                "now has an external effect, not behind any gate", "danger")
    assert Change("skill", "ledger", "changed", 'effects [] -> ["external"]',
                  "warning") in changes


def test_sop_document_changed_and_added(tmp_path):
    changes = diff(tmp_path, BASE, new_files={"sops/refunds.md": "# Refunds\nHalf only.\n",
                                              "sops/vip.md": "# VIP\n"})
    assert changes == [
        Change("sop", "sops", "changed", "document sops/refunds.md content changed", "info"),
        Change("sop", "sops", "changed", "document sops/vip.md added", "info")]


CHILD = '''flow child version "1.0.0"
policy approval: warning
input topic: str
node review = await human(to: role("x"), actions: [approve, reject], timeout: 2h -> reject)
node send = command `send {topic}`
  effect external
match review { approved -> send  rejected -> stop }
output sent: str? = send.stdout
'''
PARENT = '''flow parent version "1.0.0"
use flow "child.flow" as child
input topic: str
node run = flow child(topic: topic)
output sent = run.sent
'''


def test_subflow_changes_are_prefixed_with_its_alias(tmp_path):
    ungated = edit(CHILD, "match review { approved -> send  rejected -> stop }",
                   "match review { approved | rejected -> stop }")
    ungated = edit(ungated, "timeout: 2h", "timeout: 4h")
    changes = diff(tmp_path, PARENT, old_text=PARENT, old_files={"child.flow": CHILD},
                   new_files={"child.flow": ungated})
    assert changes[0] == Change("effect", "child.send", "changed",
                                "no longer behind a gate (was behind review)", "danger")
    assert Change("gate", "child.review", "changed", "timeout 2h -> 4h", "warning") in changes


def test_trigger_added_and_policy_relaxed(tmp_path):
    new = edit(BASE, "policy approval: warning\n",
               'policy approval: off\non schedule "0 9 * * 1"\n')
    changes = diff(tmp_path, new)
    assert changes == [
        Change("trigger", 'schedule "0 9 * * 1"', "added", "starts runs on its own", "warning"),
        Change("policy", "approval", "changed", "approval warning -> off", "warning")]


# --- robustness ---------------------------------------------------------------------------

GARBAGE = [None, 0, 1.5, "x", [], {}, [1, None, "y"], {"a": None}, {"id": 3}, True]


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*prefix, i))


def _swap(data, path, value):
    """Put `value` at `path` in `data` (in place); returns what was there."""
    target = data
    for p in path[:-1]:
        target = target[p]
    old, target[path[-1]] = target[path[-1]], value
    return old


FUZZED = ["tests__cases__clean_everything", "examples__client_report__all_clients",
          "examples__ecommerce__complaint"]


@pytest.mark.parametrize("name", FUZZED)
def test_garbage_and_missing_keys_do_not_raise(name):
    plan = json.loads((ROOT / f"tests/snapshots/{name}.flow.json").read_text())
    for other in ({}, None, [], "plan", {"nodes": "x", "inputs": {"a": 1}, "flow": []},
                  {"nodes": [1, None, {"id": "a", "deps": "b", "control": [None, {"node": 5}]}]},
                  {"skills": [{"alias": "s", "effects": 3}], "sops": [{"alias": "t"}]},
                  {"flows": [{"alias": "f", "plan": "nope"}], "types": [1]}):
        assert_ordered(semantic_diff(plan, other))
        assert_ordered(semantic_diff(other, plan))
        assert semantic_diff(other, copy.deepcopy(other)) == []
    checked = 0
    broken = copy.deepcopy(plan)
    for path in list(_paths(plan))[1:]:
        for value in GARBAGE[:3] if len(path) > 3 else GARBAGE:
            was = _swap(broken, path, value)
            assert_ordered(semantic_diff(plan, broken))
            assert_ordered(semantic_diff(broken, plan))
            _swap(broken, path, was)
            checked += 1
    assert broken == plan and semantic_diff(plan, broken) == []
    assert checked > 1000


def test_garbage_changes_are_still_reported():
    plan = json.loads((ROOT / "tests/snapshots/examples__refund_approval__refund_approval.flow"
                       ".json").read_text())
    broken = copy.deepcopy(plan)
    broken["nodes"][0]["config"] = "garbage"
    broken["flow"]["triggers"] = "garbage"
    broken["nodes"][1]["config"]["timeout"] = "48h"
    changes = semantic_diff(plan, broken)
    assert Change("node", "proposal", "changed", "config changed", "info") in changes
    assert Change("trigger", "triggers", "changed", "triggers changed", "info") in changes
    assert Change("gate", "review", "changed", "timeout 48h -> none", "warning") in changes
    # a collection of an unexpected shape is compared whole
    assert semantic_diff({**plan, "nodes": "x"}, {**plan, "nodes": "y"}) == [
        Change("flow", "nodes", "changed", "nodes changed (not a list)", "info")]
    # an older plan without `ends` is the same as one with none
    old = {k: v for k, v in plan.items() if k != "ends"}
    assert semantic_diff(old, {**plan, "ends": []}) == []
    assert [c.subject for c in semantic_diff({**plan, "ends": []}, plan)] == ["ends"]


# --- source diff --------------------------------------------------------------------------

def test_source_diff_added_removed_changed_files():
    files = source_diff({"a.flow": "x\n", "same.md": "s\n", "gone.md": "g\n"},
                        {"a.flow": "y\n", "same.md": "s\n", "new.md": "n1\nn2\n"})
    assert [(f.path, f.change) for f in files] == \
        [("a.flow", "changed"), ("gone.md", "removed"), ("new.md", "added")]
    a, gone, new = files
    assert a.unified == ["--- a/a.flow", "+++ b/a.flow", "@@ -1 +1 @@", "-x", "+y"]
    assert a.rows == [("changed", 1, "x", 1, "y")]
    assert gone.rows == [("removed", 1, "g", None, None)]
    assert gone.unified[:2] == ["--- a/gone.md", "+++ /dev/null"]
    assert new.rows == [("added", None, None, 1, "n1"), ("added", None, None, 2, "n2")]
    assert new.unified[:2] == ["--- /dev/null", "+++ b/new.md"]
    data = json.loads(json.dumps([f.to_json() for f in files]))
    assert data[0] == {"path": "a.flow", "change": "changed", "unified": a.unified,
                       "rows": [["changed", 1, "x", 1, "y"]]}


def test_source_diff_rows_elide_unchanged_lines_beyond_the_context():
    old = "".join(f"line {i}\n" for i in range(1, 21))
    new = old.replace("line 10\n", "line ten\n").replace("line 20\n", "")
    [f] = source_diff({"f.flow": old}, {"f.flow": new}, context=2)
    assert f.rows == [
        ("skip", 1, None, 1, None),
        ("same", 8, "line 8", 8, "line 8"), ("same", 9, "line 9", 9, "line 9"),
        ("changed", 10, "line 10", 10, "line ten"),
        ("same", 11, "line 11", 11, "line 11"), ("same", 12, "line 12", 12, "line 12"),
        ("skip", 13, None, 13, None),
        ("same", 18, "line 18", 18, "line 18"), ("same", 19, "line 19", 19, "line 19"),
        ("removed", 20, "line 20", None, None)]
    assert "-line 10" in f.unified and "+line ten" in f.unified and "-line 20" in f.unified
    [wide] = source_diff({"f.flow": old}, {"f.flow": new}, context=50)
    assert not [r for r in wide.rows if r[0] == "skip"] and len(wide.rows) == 20
    [none] = source_diff({"f.flow": old}, {"f.flow": new}, context=0)
    assert [r[0] for r in none.rows] == ["skip", "changed", "skip", "removed"]


def test_source_diff_unequal_replacements_and_identical_sets():
    [f] = source_diff({"f": "a\nb\nc\nd\n"}, {"f": "a\nB\nd\n"})
    assert f.rows == [("same", 1, "a", 1, "a"), ("changed", 2, "b", 2, "B"),
                      ("removed", 3, "c", None, None), ("same", 4, "d", 3, "d")]
    assert source_diff({"f": "a\n"}, {"f": "a\n"}) == []
    [nl] = source_diff({"f": "a"}, {"f": "a\n"})  # only the final newline differs
    assert nl.change == "changed" and nl.rows == [("changed", 1, "a", 1, "a")]
    assert isinstance(nl, FileDiff)


@pytest.mark.parametrize("old,new", [(None, {"f": "a"}), ({"f": None}, {"f": b"a\n"}),
                                     ({"f": 3}, {})])
def test_source_diff_odd_inputs_do_not_raise(old, new):
    for f in source_diff(old, new):
        json.dumps(f.to_json())
