"""`Models`: aliases, cost, record and replay, live nodes, threads."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from models_helpers import KEY, KEY_ENV, PROTOCOLS, config_for, project

from flowc.config import ProjectConfig
from flowc.runtime.models import (
    CallKey,
    Exchange,
    Message,
    MissingKey,
    ModelError,
    ModelRequest,
    Models,
    ModelTimeout,
    ModelUnavailable,
    ReplayMiss,
    ReplayProvider,
    ToolSpec,
    UnknownModel,
    load_exchanges,
)
from flowc.runtime.models.fakeserver import (
    FakeModelServer,
    error_reply,
    json_reply,
    text_reply,
    tool_call_reply,
)
from flowc.runtime.store import ModelCallRecord


def ask(text: str, **kw) -> ModelRequest:
    return ModelRequest([Message("user", text)], **kw)


@pytest.fixture
def models(server, providers):
    m = Models(project(config_for(server, "openai", "gpt", price_input=2.0, price_output=8.0),
                       config_for(server, "anthropic", "claude")), providers=providers)
    yield m
    m.close()


def test_unknown_alias_names_the_configured_models(models):
    with pytest.raises(UnknownModel) as e:
        models.complete("gtp", ask("hi"), CallKey("draft"))
    assert str(e.value) == ("unknown model `gtp` (no flowc.toml was found; models configured: "
                            "claude, gpt)")
    assert e.value.alias == "gtp"


def test_call_carries_provider_model_cost_and_times(models, server):
    server.push(text_reply("done", usage=(1000, 500)))
    call = models.complete("gpt", ask("hi"), CallKey("draft", seq=2, purpose="llm"))
    assert (call.provider, call.alias, call.model) == ("openai", "gpt", "fake-gpt")
    assert call.cost == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert call.started_at <= call.finished_at and call.latency >= 0
    assert call.request == ask("hi").to_json()
    assert call.key == CallKey("draft", seq=2)
    assert models.complete("claude", ask("hi"), CallKey("draft", seq=3)).cost == 0.0


def test_failed_call_raises_with_the_call_attached(models, server):
    server.push(*[error_reply(503)] * 3)
    with pytest.raises(ModelUnavailable) as e:
        models.complete("claude", ask("hi"), CallKey("draft"))
    call = e.value.call
    assert call.response is None and call.provider == "anthropic"
    assert call.error.startswith("ModelUnavailable: model `claude`")


def test_preflight_checks_alias_and_key(models, monkeypatch):
    assert models.preflight("gpt").alias == "gpt"
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(MissingKey):
        models.preflight("claude")
    with pytest.raises(UnknownModel):
        models.preflight("nope")


def _script(server):
    server.push(tool_call_reply("lookup", {"q": "acme"}), text_reply("Acme is fine."),
                json_reply({"ok": True}), text_reply("claude says hi", usage=(10, 4)))


def _conversation(models):
    tool = ToolSpec("lookup", "Look up", {"type": "object", "properties": {"q": {"type":
                                                                                "string"}}})
    first = models.complete("gpt", ask("Acme?", tools=[tool]), CallKey("agent", seq=1))
    history = [Message("user", "Acme?"),
               Message("assistant", "", tool_calls=first.response.tool_calls),
               Message("tool", "ok", tool_call_id=first.response.tool_calls[0].id)]
    second = models.complete("gpt", ModelRequest(history, tools=[tool]), CallKey("agent", seq=2))
    third = models.complete("gpt", ask("ok?", response_schema={
        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}),
        CallKey("check", item=3, seq=1, purpose="extract"))
    fourth = models.complete("claude", ask("hi"), CallKey("greet"))
    return [first, second, third, fourth]


def test_record_then_replay_without_a_server(tmp_path, providers, monkeypatch):
    path = tmp_path / "rec" / "run.jsonl"
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeModelServer(api_key=KEY) as srv:
        config = project(config_for(srv, "openai", "gpt", price_input=1.0, price_output=1.0),
                         config_for(srv, "anthropic", "claude"))
        _script(srv)
        with Models(config, record=path, providers=providers) as live:
            recorded = _conversation(live)
            assert len(path.read_text().splitlines()) == 4   # flushed as each call ended
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(lines[0]) == {"key", "alias", "provider", "model", "request", "response", "usage",
                             "latency", "error", "cost", "started_at", "finished_at"}
    assert lines[2]["key"] == {"node_id": "check", "item": 3, "attempt": 1, "seq": 1,
                               "purpose": "extract"}
    # offline, and without the aliases in flowc.toml
    with Models(ProjectConfig(None), replay=path) as offline:
        replayed = _conversation(offline)
    for live_call, again in zip(recorded, replayed, strict=True):
        assert again.response == live_call.response
        assert again.provider == "replay"
        assert (again.alias, again.model, again.cost) == (live_call.alias, live_call.model,
                                                          live_call.cost)
        assert again.request == live_call.request


def test_replay_serves_attempts_in_order_then_repeats_the_last(tmp_path):
    def ex(attempt, text):
        return {"key": {"node_id": "draft", "attempt": attempt, "seq": 1}, "alias": "default",
                "provider": "openai", "model": "m", "request": None,
                "response": {"text": text, "tool_calls": [], "finish_reason": "stop",
                             "model": "m", "usage": {"prompt_tokens": 3,
                                                     "completion_tokens": attempt}}}
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(ex(a, t)) + "\n" for a, t in [(2, "second"),
                                                                      (1, "first")]))
    models = Models(ProjectConfig(None), replay=path)
    texts = [models.complete("default", ask("x"), CallKey("draft", attempt=n)).response.text
             for n in (1, 2, 3)]
    assert texts == ["first", "second", "second"]


def test_replay_miss_message(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"key": {"node_id": "draft", "seq": 1}, "model": "m",
                                "response": {"text": "t"}}) + "\n")
    models = Models(ProjectConfig(None), replay=path)
    with pytest.raises(ReplayMiss) as e:
        models.complete("default", ask("x"), CallKey("draft", seq=3))
    assert str(e.value) == (f"no recorded exchange for node `draft` call 3 (item -1) in {path} "
                            "(it has call 1 of that node)")
    with pytest.raises(ReplayMiss, match=r"node `send` call 1 \(item 2\) .*nothing recorded"):
        models.complete("default", ask("x"), CallKey("send", item=2))


def test_replay_from_store_records_and_recorded_errors(models, server):
    server.push(text_reply("from the store", usage=(7, 3)))
    ok = models.complete("gpt", ask("hi"), CallKey("draft", seq=1))
    server.push(*[error_reply(500)] * 3)
    with pytest.raises(ModelUnavailable) as e:
        models.complete("claude", ask("hi"), CallKey("review", seq=1))
    records = [ok.to_record("run-1"), e.value.call.to_record("run-1")]
    assert isinstance(records[0], ModelCallRecord)
    assert (records[0].prompt_tokens, records[0].completion_tokens) == (7, 3)

    replay = Models(ProjectConfig(None), replay=records)
    again = replay.complete("gpt", ask("hi"), CallKey("draft", seq=1))
    assert again.response == ok.response and again.cost == ok.cost
    assert (again.response.usage.prompt_tokens, again.response.usage.completion_tokens) == (7, 3)
    with pytest.raises(ModelUnavailable, match="gave up after 3 attempts"):
        replay.complete("claude", ask("hi"), CallKey("review", seq=1))
    # rows as dicts (JSON columns still text) work too
    rows = [{**dataclasses.asdict(records[0]), "response": json.dumps(records[0].response)}]
    assert Models(ProjectConfig(None), replay=rows).complete(
        "gpt", ask("hi"), CallKey("draft")).response.text == "from the store"


def test_replay_uses_the_configured_price_when_there_is_one(server, providers):
    exchange = Exchange.from_json({"key": {"node_id": "n"}, "alias": "gpt", "model": "m",
                                   "response": {"text": "t"}, "cost": 0.5,
                                   "usage": {"prompt_tokens": 1_000_000,
                                             "completion_tokens": 0}})
    priced = project(config_for(server, "openai", "gpt", price_input=3.0))
    assert Models(priced, replay=[exchange]).complete("gpt", ask("x"), CallKey("n")).cost == 3.0
    assert Models(ProjectConfig(None), replay=[exchange]).complete(
        "gpt", ask("x"), CallKey("n")).cost == 0.5


def test_live_nodes_go_to_the_provider_in_replay_mode(models, server, providers, tmp_path):
    server.push(text_reply("recorded draft"), text_reply("recorded send"))
    path = tmp_path / "r.jsonl"
    with Models(models.config, record=path, providers=providers) as rec:
        rec.complete("gpt", ask("a"), CallKey("draft"))
        rec.complete("gpt", ask("b"), CallKey("send"))
    server.push(text_reply("live send"))
    replay = Models(models.config, replay=path, live_nodes={"send"}, providers=providers)
    assert replay.complete("gpt", ask("a"), CallKey("draft")).response.text == "recorded draft"
    live = replay.complete("gpt", ask("b"), CallKey("send"))
    assert (live.response.text, live.provider) == ("live send", "openai")
    assert len(server.requests) == 3


def test_recording_keeps_failures_and_survives_a_cut_last_line(models, server, providers,
                                                              tmp_path):
    path = tmp_path / "r.jsonl"
    server.push(error_reply(400, "bad"), text_reply("fine"))
    with Models(models.config, record=path, providers=providers) as rec:
        with pytest.raises(ModelError):
            rec.complete("gpt", ask("a"), CallKey("n", seq=1))
        rec.complete("gpt", ask("b"), CallKey("n", seq=2))
    with path.open("a") as f:
        f.write('{"key": {"node_id": "n", "se')       # a crash mid-write
    [failed, ok] = load_exchanges(path)
    assert failed.response is None and "HTTP 400" in failed.error
    assert ok.response.text == "fine"
    path.write_text('not json\n{"key": {"node_id": "n"}}\n')
    with pytest.raises(ModelError, match=r"line 1: not a recorded model exchange"):
        load_exchanges(path)
    with pytest.raises(ModelError, match="does not exist"):
        Models(ProjectConfig(None), replay=tmp_path / "missing.jsonl")


def test_replayed_timeout_is_the_same_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"key": {"node_id": "n"}, "model": "m", "response": None,
                                "error": "ModelTimeout: model `x` (...): timed out"}) + "\n")
    with pytest.raises(ModelTimeout, match="timed out"):
        ReplayProvider.from_file(path).complete(None, ask("x"), CallKey("n"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_many_concurrent_calls_each_get_their_own_answer(tmp_path, providers, monkeypatch,
                                                         protocol):
    monkeypatch.setenv(KEY_ENV, KEY)

    def echo(_protocol, body):
        last = body["messages"][-1]["content"]
        text = last if isinstance(last, str) else last[0]["text"]
        return text_reply(f"echo {text}")

    path = tmp_path / "r.jsonl"
    with FakeModelServer(api_key=KEY, handler=echo) as srv:
        config = project(config_for(srv, protocol, "m"))
        with Models(config, record=path, providers=providers) as models, \
                ThreadPoolExecutor(8) as pool:
            calls = list(pool.map(lambda i: models.complete(
                "m", ask(f"n{i}"), CallKey(f"node{i % 5}", item=i, seq=1)), range(40)))
        assert len(srv.requests) == 40
    assert [c.response.text for c in calls] == [f"echo n{i}" for i in range(40)]
    assert len(load_exchanges(path)) == 40
    replay = Models(ProjectConfig(None), replay=path)
    barrier = threading.Barrier(8)

    def again(i):
        if i < 8:
            barrier.wait()
        return replay.complete("m", ask(f"n{i}"), CallKey(f"node{i % 5}", item=i)).response.text

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(again, range(40))) == [f"echo n{i}" for i in range(40)]
