"""Example flows and every model-calling node kind against a real model (the `live` marker).

Each test runs the flow through the CLI with its model calls recorded, decides the gates as
the offline tests do (tests/test_examples_offline.py), prints its wall time and tokens, then
replays the recording in a fresh store and checks the replay reproduces every exchange byte
for byte.
"""

from __future__ import annotations

import re

import pytest
from live_harness import SCRIPTS, LiveCli, replay_reproduces, report

pytestmark = pytest.mark.live


def _both(tmp_path, flow, script) -> tuple[LiveCli, LiveCli]:
    """`script(cli)` live (recorded), then again replaying that recording."""
    live = LiveCli(tmp_path / "live", flow)
    script(live)
    replayed = LiveCli(tmp_path / "replay", flow, replay=live.recording())
    script(replayed)
    return live, replayed


def test_support_router(tmp_path):
    live, replayed = _both(tmp_path, *SCRIPTS["support_router"])
    run = live.main_run()
    report("support_router", live, run.status)
    assert run.status in ("succeeded", "paused"), run.error   # paused: the people desk's task
    assert run.status == "paused" or run.outputs["answer"]
    replay_reproduces(live, replayed)


def test_shipping_inquiry_extract(tmp_path):
    live, replayed = _both(tmp_path, *SCRIPTS["shipping_inquiry"])
    run = live.main_run()
    from contextlib import closing

    from flowc.runtime.store import SQLiteStore
    with closing(SQLiteStore(live.store)) as store:
        parcel = next(n for n in store.node_results(run.id) if n.node_id == "parcel")
    report("shipping_inquiry", live, f"{run.status}, parcel {parcel.outcome}")
    replay_reproduces(live, replayed)
    assert run.status == "succeeded", run.error
    assert parcel.outcome == "extracted"   # the fields, not the fallback text


def test_complaint_agent_and_gate(tmp_path):
    live, replayed = _both(tmp_path, *SCRIPTS["complaint"])
    run = live.main_run()
    report("complaint", live, run.status if run.status != "failed" else f"failed: {run.error}")
    replay_reproduces(live, replayed)
    assert run.status == "succeeded", run.error
    assert run.outputs["decision"] in ("approved", None)


def test_client_report_succeeds_or_names_the_models_failure(tmp_path):
    live, replayed = _both(tmp_path, *SCRIPTS["client_report"])
    run = live.main_run()
    report("client_report", live, run.status if run.status != "failed" else f"failed: {run.error}")
    replay_reproduces(live, replayed)
    if run.status != "succeeded":
        assert run.status == "failed"
        # the model's own failure, not a symptom: never a made-up field of a cut tool call
        assert "_invalid_json" not in run.error, run.error
        assert re.search(r"finish|max_tokens|cut off|tool call|not JSON|step", run.error), \
            run.error


# ---- one flow per node kind that calls a model ------------------------------------------

LLM = '''flow live_llm version "1.0.0"
record Verdict { mood: enum { happy, unhappy }, refund: bool }
input message: str
node verdict: Verdict = llm {
  prompt      "Is this customer happy or unhappy, and do they ask for a refund? {message}"
  temperature 0.0
}
node answer = llm { prompt "Reply in one sentence to: {message}" }
output mood = verdict.mood
output refund = verdict.refund
output reply = answer.text
'''

EXTRACT = '''flow live_extract version "1.0.0"
record Invoice { number: str, total: float, currency: str }
input email: str
node read = llm { prompt "Read this invoice e-mail and say what it bills: {email}" }
node invoice: Invoice = extract {
  from     read.memory
  fallback read.text
}
output extracted = invoice.extracted
'''

AGENT = '''flow live_agent version "1.0.0"
deliverable Note {
  text body
  fields { priority: enum { low, high } }
}
input message: str
node note: Note = agent {
  goal      "Write a short reply to this customer message and set its priority: {message}"
  max_steps 4
}
output priority = note.priority
output body = note.body
'''

MESSAGE = "My blender arrived broken and I want my money back. Order A-1001."


def _kind(tmp_path, name: str, text: str, *inputs: str) -> tuple[LiveCli, object]:
    flow = tmp_path / f"{name}.flow"
    flow.write_text(text)
    live, replayed = _both(tmp_path, flow, lambda c: c.run(*inputs))
    run = live.main_run()
    report(name, live, run.status if run.status != "failed" else f"failed: {run.error}")
    replay_reproduces(live, replayed)
    return live, run


def test_llm_node(tmp_path):
    _, run = _kind(tmp_path, "llm_node", LLM, f"message={MESSAGE}")
    assert run.status == "succeeded", run.error
    assert run.outputs["mood"] in ("happy", "unhappy") and run.outputs["reply"]


def test_extract_node(tmp_path):
    _, run = _kind(tmp_path, "extract_node", EXTRACT,
                   "email=Invoice INV-2291 from Acme GmbH: total EUR 349.00, due 30 June.")
    assert run.status == "succeeded", run.error
    assert run.outputs["extracted"] is True


def test_agent_node(tmp_path):
    _, run = _kind(tmp_path, "agent_node", AGENT, f"message={MESSAGE}")
    assert run.status == "succeeded", run.error
    assert run.outputs["priority"] in ("low", "high") and run.outputs["body"]
