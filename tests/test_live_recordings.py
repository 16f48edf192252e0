"""Recordings a real model made, replayed offline: `--replay` reproduces a real exchange.

`examples/*/recordings/*.live.jsonl` were recorded by the live tests (tests/live, the `live`
marker) from llama-server running SmolLM2-135M-Instruct, with the configuration in
`examples/live-smollm2.flowc.toml`. Replaying one with that configuration must make exactly
the requests the real model was sent (compared as canonical JSON, key by key), serve its
answers, and end the run as the live run ended. A prompt, schema or request option that
changed since the recording fails here: re-record with `FLOWC_LIVE_RECORDINGS=DIR pytest -m
live tests/live` (docs/models.md).
"""

from __future__ import annotations

import json
import sys
from contextlib import closing
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "live"))
from live_harness import EXAMPLES, SCRIPTS, LiveCli, shared_sandbox  # noqa: F401

from flowc.runtime.models import router
from flowc.runtime.store import SQLiteStore

CONFIG = EXAMPLES / "live-smollm2.flowc.toml"


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("name", ["support_router", "shipping_inquiry", "complaint"])
def test_a_real_models_recording_replays_byte_for_byte(name, tmp_path, monkeypatch):
    flow, script = SCRIPTS[name]
    recording = flow.parent / "recordings" / f"{name}.live.jsonl"
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert lines and {x["model"] for x in lines} == {"smollm2-135m-instruct"}
    assert all(x["provider"] == "openai" and x["error"] is None for x in lines)

    asked: dict[tuple, tuple[str, str]] = {}   # key -> (request now, request recorded)
    served = router.Models._replayed

    def compare(self, alias, request, key):
        call = served(self, alias, request, key)
        recorded = next(x for x in lines if x["key"]["node_id"] == key.node_id
                        and x["key"]["item"] == key.item and x["key"]["seq"] == key.seq
                        and x["key"]["attempt"] == key.attempt)
        asked[(key.node_id, key.item, key.seq, key.attempt)] = (
            _canonical(request.to_json()), _canonical(recorded["request"]))
        return call

    monkeypatch.setattr(router.Models, "_replayed", compare)
    monkeypatch.setenv("FLOWC_CONFIG", str(CONFIG))
    c = LiveCli(tmp_path, flow, replay=recording)
    script(c)

    assert len(asked) == len(lines), "every recorded exchange is asked for once"
    for key, (now, then) in asked.items():
        at = next((i for i, (x, y) in enumerate(zip(now, then)) if x != y),
                  min(len(now), len(then)))
        assert now == then, f"{name}: the request of {key} differs at {at}: {now[at - 60:at + 60]!r}"
    with closing(SQLiteStore(c.store)) as store:
        calls = store.model_calls()
    answers = {(x.node_id, x.item, x.seq, x.attempt): _canonical(x.response) for x in calls}
    for x in lines:
        k = x["key"]
        served_text = json.loads(answers[(k["node_id"], k["item"], k["seq"], k["attempt"])])
        assert served_text["text"] == x["response"]["text"]   # the real model's answer
    assert c.main_run().status == "succeeded"
