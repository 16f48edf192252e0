"""Skills that use the network from synchronous scripts, through the host's allowlisted fetch.

The scripts run synchronously inside the shell; their requests suspend the interpreter
(JSPI, `pyodide.ffi.run_sync`) while flowc makes them. Tested against a real HTTP server on
loopback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flowc_testkit import ROOT, JsonHandler, loopback_server

from flowc.compiler.api import Compiler
from flowc.compiler.source import Source


class _Search(JsonHandler):
    hits: list[str] = []

    def do_GET(self):
        _Search.hits.append(self.path)
        q = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
        body = json.dumps({
            "Heading": q.title(), "AbstractText": f"{q} is a test subject.",
            "AbstractURL": "https://example.test/abstract",
            "RelatedTopics": [
                {"Text": f"{q} one", "FirstURL": "https://example.test/1"},
                {"Name": "group", "Topics": [{"Text": f"{q} two", "FirstURL": "https://example.test/2"}]},
            ],
        }).encode()
        self.send_json(body)


@pytest.fixture(scope="module")
def server():
    with loopback_server(_Search) as address:
        yield address


@pytest.fixture
def engine(cold_pool, store, tmp_path):
    from flowc.runtime.engine import Engine

    return Engine(store, sandbox=cold_pool, base_dir=str(tmp_path))


def _skills(tmp_path: Path, server: str) -> Path:
    """The standard web-search skill, unchanged but for its API address (here: loopback),
    and a skill whose script uses `flowc_http.get_sync`."""
    skills = tmp_path / "skills"
    shutil.copytree(ROOT / "stdlib_skills" / "web-search" / "1.1.0", skills / "web-search",
                    ignore=shutil.ignore_patterns("__pycache__"))
    script = skills / "web-search" / "scripts" / "web_search.py"
    script.write_text(script.read_text().replace('"https://api.duckduckgo.com/"',
                                                 f'"http://{server}/"'))
    quote = skills / "quote"
    (quote / "scripts").mkdir(parents=True)
    (quote / "SKILL.md").write_text(
        "---\nname: quote\ndescription: Fetches a quote (test skill).\nversion: 1.0.0\n"
        "inputs:\n  url: str\noutputs:\n  text: body\neffects: [network]\n"
        "entry: quote --url {url}\n---\n# Quote\n")
    (quote / "scripts" / "quote.py").write_text(
        "import sys\nimport flowc_http\n\n"
        "r = flowc_http.get_sync(sys.argv[sys.argv.index('--url') + 1])\n"
        "print(r['status'], r['text'][:40])\n")
    return skills


def _plan(tmp_path: Path, skills: Path, text: str):
    r = Compiler([skills]).check(Source(text, str(tmp_path / "f.flow")), tmp_path, plan=True)
    assert r.plan is not None, [d.message for d in r.diagnostics.items]
    return r.plan


def test_web_search_runs_through_the_allowlisted_host(engine, tmp_path, server):
    _Search.hits.clear()
    skills = _skills(tmp_path, server)
    plan = _plan(tmp_path, skills, f'''flow f version "1.0.0"
use skill web_search @ ^1.1
node s = command `web_search --query dify --max_size 3 | grep -c dify`
  hosts ["{server}"]
node full = command `web_search --query dify --max_size 3`
  hosts ["{server}"]
output n: str = s.stdout
output lines: str = full.stdout
''')
    run = engine.start(plan, {})
    assert run.status == "succeeded", run.error
    assert run.outputs["n"].strip() == "3"
    assert run.outputs["lines"].splitlines() == [
        "Dify: dify is a test subject. (https://example.test/abstract)",
        "dify one (https://example.test/1)", "dify two (https://example.test/2)"]
    assert len(_Search.hits) == 2 and "q=dify" in _Search.hits[0]


def test_a_host_that_is_not_allowed_is_refused_with_a_clear_error(engine, tmp_path, server):
    _Search.hits.clear()
    skills = _skills(tmp_path, server)
    plan = _plan(tmp_path, skills, '''flow f version "1.0.0"
use skill web_search @ ^1.1
node s = command `web_search --query dify`
output o: str = s.stdout
''')
    run = engine.start(plan, {})
    assert run.status == "failed"
    assert "exited with status 2" in run.error and "is not allowed" in run.error
    assert _Search.hits == []


def test_flowc_http_get_sync_in_a_skill_script(engine, tmp_path, server):
    skills = _skills(tmp_path, server)
    plan = _plan(tmp_path, skills, f'''flow f version "1.0.0"
use skill quote @ 1.0.0
node q = skill quote(url: "http://{server}/?q=sync")
  hosts ["{server}"]
output o: str = q.body
''')
    run = engine.start(plan, {})
    assert run.status == "succeeded", run.error
    assert run.outputs["o"].startswith("200 ") and "Sync" in run.outputs["o"]
