"""Skills that use the network from synchronous scripts, through the host's allowlisted fetch.

The scripts run synchronously inside the shell; their requests suspend the interpreter
(JSPI, `pyodide.ffi.run_sync`) while flowc makes them. Tested against a real HTTP server on
loopback.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flowc.compiler.api import Compiler
from flowc.compiler.source import Source

ROOT = Path(__file__).resolve().parent.parent


class _Search(http.server.BaseHTTPRequestHandler):
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
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Search)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="module")
def pool():
    from flowc.runtime.sandbox import SandboxPool

    with SandboxPool(size=0) as p:
        yield p


@pytest.fixture
def engine(pool, tmp_path):
    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore

    store = SQLiteStore(str(tmp_path / "runs.db"))
    yield Engine(store, sandbox=pool, base_dir=str(tmp_path))
    store.close()


def _skills(tmp_path: Path, server: str) -> Path:
    """The standard web-search skill, unchanged but for its API address (here: loopback),
    and a skill whose script uses `flowc_http.get_sync`."""
    skills = tmp_path / "skills"
    shutil.copytree(ROOT / "stdlib_skills" / "web-search", skills / "web-search",
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
