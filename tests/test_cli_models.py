"""The command line around model-backed flows: flowc.toml, --record/--replay, flowc replay,
telemetry, and the clear one-line errors for every user mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowc.runtime.models.fakeserver import FakeModelServer, json_reply, text_reply

ROOT = Path(__file__).resolve().parent.parent

FLOW = '''flow figures version "1.0.0"
record Figures { total: float }
input text: str
node figures: Figures = llm { prompt "Read the figures in: {text}" }
node share: float = code python(t: figures.total) """
result = 100 / t
"""
output ratio = share
'''


def flowc(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, "FLOWC_CONFIG": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "flowc", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "figures.flow").write_text(FLOW)
    return tmp_path


def _config(project: Path, srv: FakeModelServer, extra: str = "") -> None:
    (project / "flowc.toml").write_text(f'''[models.default]
provider = "openai"
base_url = "{srv.openai_url}"
model = "fake-gpt"
api_key_env = "FLOWC_CLI_TEST_KEY"
max_retries = 1
price = {{ input = 1.0, output = 2.0 }}
{extra}''')


def test_without_a_config_the_run_is_refused_naming_the_node(project):
    r = flowc("run", "figures.flow", "--input", "text=x", "--store", "runs.db", cwd=project)
    assert r.returncode == 1
    assert "node `figures` (line 4): unknown model `default`" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_missing_key_is_refused_before_the_run_naming_the_variable(project):
    with FakeModelServer() as srv:
        _config(project, srv)
        r = flowc("run", "figures.flow", "--input", "text=x", "--store", "runs.db",
                  cwd=project)
    assert r.returncode == 1 and "FLOWC_CLI_TEST_KEY" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_broken_config_and_bad_options_are_one_line_errors(project):
    (project / "flowc.toml").write_text("[models.default]\nprovider = 'openia'\nmodel = 'x'\n")
    r = flowc("run", "figures.flow", "--input", "text=x", "--store", "runs.db", cwd=project)
    assert r.returncode == 2 and "unknown provider `openia`" in r.stderr
    r = flowc("run", "figures.flow", "--replay", "nope.jsonl", "--store", "runs.db",
              cwd=project)
    assert r.returncode == 2 and "`nope.jsonl` does not exist" in r.stderr
    (project / "flowc.toml").unlink()
    (project / "garbage.jsonl").write_text("not json\n")
    r = flowc("run", "figures.flow", "--replay", "garbage.jsonl", "--store", "runs.db",
              cwd=project)
    assert r.returncode == 2 and "line 1: not a recorded model exchange" in r.stderr
    r = flowc("run", "figures.flow", "--replay", ".", "--store", "runs.db", cwd=project)
    assert r.returncode == 2 and "`.` is not a file" in r.stderr
    r = flowc("run", "figures.flow", "--replay", "a", "--record", "b", cwd=project)
    assert r.returncode == 2 and "not allowed with argument" in r.stderr
    for bad in (["replay", "01nosuchrun"], ["replay", "01nosuchrun", "--from", "x"]):
        r = flowc(*bad, "--store", "runs.db", cwd=project)
        assert r.returncode == 2 and "no run `01nosuchrun`" in r.stderr
    assert all("Traceback" not in x for x in (r.stderr, r.stdout))


def test_record_replay_and_error_replay_from_the_command_line(project):
    env = {"FLOWC_CLI_TEST_KEY": "k"}
    with FakeModelServer(api_key="k") as srv:
        _config(project, srv, '[telemetry]\nexporter = "console"\n')
        srv.push(json_reply({"total": 0.0}))
        r = flowc("run", "figures.flow", "--input", "text=nothing sold", "--record",
                  "rec.jsonl", "--store", "runs.db", cwd=project, env=env)
        assert r.returncode == 1 and "ZeroDivisionError" in r.stdout, r.stdout + r.stderr
        # telemetry: the run's spans went to stderr as the console exporter prints them
        assert '"gen_ai.request.model": "fake-gpt"' in r.stderr
        run_id = r.stdout.split()[1].rstrip(":")
        served = len(srv.requests)
        # the recording serves a fresh run with no provider called
        r = flowc("run", "figures.flow", "--input", "text=nothing sold", "--replay",
                  "rec.jsonl", "--store", "runs.db", cwd=project)
        assert r.returncode == 1 and "ZeroDivisionError" in r.stdout
        assert len(srv.requests) == served
        line = json.loads((project / "rec.jsonl").read_text().splitlines()[0])
        assert line["key"]["node_id"] == "figures"
        # error replay: from the failed node, with the recorded answers
        r = flowc("replay", run_id, "--store", "runs.db", cwd=project)
        assert "replaying run" in r.stdout and "from `share`" in r.stdout
        assert r.returncode == 1 and "ZeroDivisionError" in r.stdout
        assert len(srv.requests) == served
        # --live: the model is asked again from `figures` on
        srv.push(json_reply({"total": 4.0}))
        r = flowc("replay", run_id, "--from", "figures", "--live", "--store", "runs.db",
                  cwd=project, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert '"ratio": 25' in r.stdout and len(srv.requests) == served + 1
        r = flowc("replay", run_id, "--from", "nope", "--store", "runs.db", cwd=project)
        assert r.returncode == 2 and "has no node `nope`" in r.stderr
        # the trace and cost commands see the model calls with their cost
        r = flowc("cost", "--by", "node", "--format", "json", "--store", "runs.db",
                  cwd=project)
        assert r.returncode == 0 and "figures" in r.stdout


def test_a_file_input_is_given_with_at(project, tmp_path):
    (project / "count.flow").write_text('''flow count version "1.0.0"
input data: file<csv>
node n: int = code python(f: data) """
result = len(open(f["path"]).read().splitlines())
"""
output rows = n
''')
    (project / "d.csv").write_text("a,b\n1,2\n3,4\n")
    r = flowc("run", "count.flow", "--input", "data=@d.csv", "--store", "runs.db", cwd=project)
    assert r.returncode == 0 and '"rows": 3' in r.stdout, r.stdout + r.stderr
    r = flowc("run", "count.flow", "--input", "data=@missing.csv", "--store", "runs.db",
              cwd=project)
    assert r.returncode == 2 and "no file `missing.csv`" in r.stderr


def test_text_reply_of_an_unconfigured_alias_in_a_recording_still_replays(project):
    """A recording names its alias; replay needs no flowc.toml at all."""
    (project / "hello.flow").write_text('''flow hello version "1.0.0"
input who: str
node hi = llm { prompt "Greet {who}." model "tiny" }
output text = hi.text
''')
    env = {"FLOWC_CLI_TEST_KEY": "k"}
    with FakeModelServer(api_key="k") as srv:
        _config(project, srv, '[models.tiny]\nmodel = "fake-gpt"\nbase_url = "'
                + srv.openai_url + '"\napi_key_env = "FLOWC_CLI_TEST_KEY"\n')
        srv.push(text_reply("Hello, Ada!"))
        r = flowc("run", "hello.flow", "--input", "who=Ada", "--record", "h.jsonl",
                  "--store", "runs.db", cwd=project, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    (project / "flowc.toml").unlink()
    r = flowc("run", "hello.flow", "--input", "who=Ada", "--replay", "h.jsonl", "--store",
              "runs.db", cwd=project)
    assert r.returncode == 0 and "Hello, Ada!" in r.stdout, r.stdout + r.stderr
