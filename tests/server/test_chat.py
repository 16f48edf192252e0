"""Chat mode over the API: the helpdesk example's recorded conversation with a real model
(SmolLM2-135M on llama.cpp's server, examples/helpdesk/recordings/helpdesk.live.jsonl) replayed
offline: two turns, each message a run with the conversation so far as its history, a gate
inside each turn (the model promised a refund) decided by a support lead while the person
chatting waits on the turn's event stream; each request the flow sends equals the recorded
one, key by key. And what a chat API refuses."""

from __future__ import annotations

import json

import httpx
import pytest
from servekit import EXAMPLES, serving, token_for

RECORDING = EXAMPLES / "helpdesk" / "recordings" / "helpdesk.live.jsonl"
PEOPLE = [("carla", ["support_lead"], "carla-pw", None), ("ana", ["customer"], "ana-pw", None),
          ("bo", ["customer"], "bo-pw", None)]
MESSAGES = ["When does my parcel ship?", "It arrived broken, I want my 25 EUR back."]


@pytest.fixture
def chat_server(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "helpdesk.flow").write_text((EXAMPLES / "helpdesk" / "helpdesk.flow").read_text())
    (project / "flowc.toml").write_text((EXAMPLES / "live-smollm2.flowc.toml").read_text())
    with serving(project, tmp_path / "runs.db", people=PEOPLE, replay=str(RECORDING)) as s:
        yield s


def test_the_recorded_conversation_replays_with_a_gate_in_each_turn(chat_server):
    base, service = chat_server
    ana = {"authorization": f"Bearer {token_for(service, 'ana')}"}
    lead = {"authorization": f"Bearer {token_for(service, 'carla')}"}
    conv = httpx.post(f"{base}/api/chat/helpdesk/conversations", headers=ana)
    assert conv.status_code == 201
    cid = conv.json()["id"]
    recorded = [json.loads(line) for line in RECORDING.read_text().splitlines()]
    for turn, text in enumerate(MESSAGES):
        seen: list[tuple[str, dict]] = []
        with httpx.stream("POST", f"{base}/api/conversations/{cid}/messages", headers=ana,
                          json={"text": text}, timeout=120) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    seen.append((name, data))
                    if name == "task":  # the person chatting waits; a lead decides meanwhile
                        d = httpx.post(f"{base}/api/tasks/{data['task']}/decision",
                                       headers=lead, json={"action": "approve"})
                        assert d.status_code == 200, d.text
        kinds = [k for k, _ in seen]
        assert kinds[0] == "status" and "task" in kinds and kinds[-2:] == ["answer", "done"]
        answer = seen[-2][1]["text"]
        assert answer == json.loads(recorded[turn]["response"]["text"])["answer"]
        run_id = seen[-1][1]["run"]
        calls = service.store.model_calls(run_id)
        assert [c.request for c in calls] == [recorded[turn]["request"]], \
            "the flow sent another request than the recorded one"
    messages = httpx.get(f"{base}/api/conversations/{cid}/messages", headers=ana).json()
    assert [m["role"] for m in messages["messages"]] == ["user", "assistant"] * 2
    second = service.store.get_run(messages["messages"][2]["run"])
    assert second.inputs["history"] == [f"user: {MESSAGES[0]}",
                                        f"assistant: {messages['messages'][1]['text']}"]
    assert second.inputs["user"] == "ana"


def test_what_the_chat_api_refuses(chat_server):
    base, service = chat_server
    ana = {"authorization": f"Bearer {token_for(service, 'ana')}"}
    bo = {"authorization": f"Bearer {token_for(service, 'bo')}"}
    assert httpx.post(f"{base}/api/chat/helpdesk/conversations").status_code == 401
    assert httpx.post(f"{base}/api/chat/nope/conversations", headers=ana).status_code == 404
    cid = httpx.post(f"{base}/api/chat/helpdesk/conversations", headers=ana).json()["id"]
    # another person's conversation is not found for them
    r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=bo, json={"text": "hi"})
    assert r.status_code == 404
    r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=ana, json={"text": " "})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=ana,
                   json={"text": "x" * 40_000})
    assert r.status_code == 413
    r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=ana, json=["no"])
    assert r.status_code == 400
    assert service.store.chat_messages(cid) == []
