"""`flowc models check`: the capability probe against a llama-like and a full-featured fake,
`--save` and the "auto" settings that read the saved probe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowc.runtime.models.fakeserver import FakeModelServer, tool_call_reply


def _full(protocol, body):
    if body.get("tools") and body.get("tool_choice") != "none":
        return tool_call_reply(body["tools"][0]["function"]["name"], {"city": "Paris"})
    return None


def flowc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLOWC_CONFIG": ""}
    return subprocess.run([sys.executable, "-m", "flowc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _project(tmp_path, srv, alias="local"):
    (tmp_path / "flowc.toml").write_text(
        f'[models.{alias}]\nprovider = "openai"\nmodel = "m"\nbase_url = "{srv.openai_url}"\n'
        'api_key_env = ""\nmax_retries = 0\n')
    return tmp_path


def test_a_llama_like_endpoint_gets_json_steps_and_the_probe_is_saved(tmp_path):
    with FakeModelServer.llama_like(handler=_full) as srv:
        project = _project(tmp_path, srv)
        done = flowc("models", "check", "local", "--save", cwd=project)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "json_schema response_format fits" in out and 'agent_steps = "json"' in out
        assert 'structured_output = "json_schema"' in out
        assert "tool_choice object form accepted" in out and "refused" in out
        saved = json.loads((project / ".flowc" / "models.json").read_text())
        assert saved["local"]["choices"] == {"structured_output": "json_schema",
                                             "agent_steps": "json",
                                             "parallel_tool_calls": True}
        assert saved["local"]["findings"]["tool_required"]["ok"] is False
        assert saved["local"]["findings"]["tool_choice_object"]["ok"] is False


def test_a_full_featured_endpoint_keeps_native_tool_calls(tmp_path):
    with FakeModelServer(handler=_full) as srv:
        project = _project(tmp_path, srv)
        done = flowc("models", "check", "local", "--json", cwd=project)
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert found["choices"] == {"structured_output": "json_schema", "agent_steps": "tools",
                                    "parallel_tool_calls": True}
        assert all(f["ok"] for f in found["findings"].values())
        assert found["saved"] is None and not (project / ".flowc").exists()


def test_a_refused_parallel_tool_calls_is_reported(tmp_path):
    with FakeModelServer(handler=_full, refuse_params=("parallel_tool_calls",)) as srv:
        done = flowc("models", "check", "local", "--json", cwd=_project(tmp_path, srv))
        found = json.loads(done.stdout)
        assert found["findings"]["parallel_tool_calls"]["ok"] is False
        assert found["choices"]["parallel_tool_calls"] is False


@pytest.mark.parametrize("alias, code, message", [
    ("nope", 2, "unknown model `nope`"),
    ("local", 1, "model `local` could not be probed"),
])
def test_errors_are_one_line(tmp_path, alias, code, message):
    (tmp_path / "flowc.toml").write_text(
        '[models.local]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = ""\nmax_retries = 0\ntimeout = 2\n')
    done = flowc("models", "check", alias, cwd=tmp_path)
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_saved_probe_drives_auto_and_a_changed_config_ignores_it(tmp_path):
    from flowc.config import load_config
    from flowc.runtime.models.probe import Probe, fingerprint, save_probe, saved_choice

    (tmp_path / "flowc.toml").write_text('[models.local]\nprovider = "openai"\nmodel = "m"\n')
    cfg = load_config(tmp_path).models["local"]
    found = Probe("local", fingerprint(cfg), {"json_schema": (True, ""),
                                              "tool_required": (False, "")})
    save_probe(tmp_path, found)
    assert saved_choice(tmp_path, cfg, "agent_steps") == "json"
    (tmp_path / "flowc.toml").write_text('[models.local]\nprovider = "openai"\nmodel = "m2"\n')
    assert saved_choice(tmp_path, load_config(tmp_path).models["local"], "agent_steps") is None


def test_an_agent_in_auto_takes_json_steps_from_the_saved_probe(store, pool, tmp_path):
    from flowc_testkit import ROOT, plan_of

    from flowc.config import load_config
    from flowc.runtime.engine import Engine
    from flowc.runtime.models.fakeserver import json_reply
    from flowc.runtime.models.probe import Probe, fingerprint, save_probe
    from flowc.runtime.models.router import Models

    agent = '''flow a version "1.0.0"
record Note { subject: str, body: str }
input client: str
node draft: Note = agent {
  goal  "Write {client}'s update."
  model "local"
}
output subject = draft.subject
'''
    with FakeModelServer() as srv:
        project = _project(tmp_path, srv)
        config = load_config(project)
        save_probe(project, Probe("local", fingerprint(config.models["local"]),
                                  {"json_schema": (True, ""), "tool_required": (False, "")}))
        srv.push(json_reply({"step": {"tool": "finish",
                                      "arguments": {"subject": "Oct", "body": "Up."}}}))
        with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT),
                    models=Models(config)) as e:
            run = e.start(plan_of(agent), {"client": "Ada"})
        assert run.status == "succeeded", run.error
        assert "tools" not in srv.last.body and "response_format" in srv.last.body


def test_a_saved_probe_that_found_parallel_tool_calls_refused_stops_sending_it(tmp_path):
    """The runtime uses what the probe found: an endpoint that answers HTTP 400 to
    `parallel_tool_calls` fails every request with tools until the probe is saved; after
    `flowc models check --save` the same configuration works."""
    from flowc.config import load_config
    from flowc.runtime.models import Models
    from flowc.runtime.models.base import (
        CallKey,
        Message,
        ModelRequest,
        ModelRequestError,
        ToolSpec,
    )

    with FakeModelServer(handler=_full, refuse_params=("parallel_tool_calls",)) as srv:
        project = _project(tmp_path, srv)
        request = ModelRequest([Message("user", "Weather in Paris?")],
                               tools=[ToolSpec("weather", "The weather of a city.", {
                                   "type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"]})], tool_choice="required")
        with pytest.raises(ModelRequestError, match="HTTP 400"):
            Models(load_config(project)).complete("local", request, CallKey("a"))
        assert srv.last.body["parallel_tool_calls"] is False
        done = flowc("models", "check", "local", "--save", cwd=project)
        assert done.returncode == 0, done.stderr
        call = Models(load_config(project)).complete("local", request, CallKey("a"))
        assert call.response.tool_calls[0].name == "weather"
        assert "parallel_tool_calls" not in srv.last.body
