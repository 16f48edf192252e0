"""Files are capabilities, not paths (issue 12, item 1).

A file value that crosses nodes is a handle the runtime minted (`file_id`) and recorded in the
store (`files`: run, node, item, name, sha256, size, where it lives in the workspace). Staging
resolves handles from those records only, for the run and its parent/child flow runs; checks
the hash; caps the size before reading; refuses devices, FIFOs, folders and links out of the
workspace. A dict that merely looks like a file is data: passed on as JSON, never read.
User-supplied files (run inputs, `--edit`, answers) go through an fsspec protocol allowlist and
are copied into the run's workspace. Real SQLite stores, the real sandbox, real files.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flowc_testkit import ROOT, loopback_server, plan_of

from flowc.compiler.api import compile_source
from flowc.runtime.engine import DecisionRefused, Engine, RunRefused
from flowc.runtime.store import SQLiteStore

# what would show if a forged value were read: /etc/passwd, this process's environment as it
# started (/proc/self/environ), a memory:// file, an HTTP answer
SECRETS = ("root:x:0:0", f"PATH={os.environ.get('PATH', '')}", "MEMSECRET-91c2",
           "HTTPSECRET-55d0")


@pytest.fixture
def engine(store, pool, tmp_path):
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT)) as e:
        yield e


def _everything(store, run_id) -> str:
    """All a run left in the store: its row, node results, audit trail (as text)."""
    run = store.get_run(run_id)
    parts = [json.dumps([run.inputs, run.outputs, run.error], default=str)]
    for r in store.node_results(run_id):
        parts.append(json.dumps([r.node_id, r.output, r.error], default=str))
    for e in store.audit_events(run_id):
        parts.append(json.dumps(e.payload, default=str))
    return "\n".join(parts)


def _node(store, run_id, node_id, item=-1):
    return next(r for r in store.node_results(run_id) if r.node_id == node_id and r.item == item)


# ---- forged file values are data ---------------------------------------------------------

FORGE = '''flow forge version "1.0.0"
use skill csv_report @ 1.0.0
input forged: str
node f: json = code python(v: forged) """
import json
result = json.loads(v)
"""
node c: json = code python(t: f) """
import os
result = {"t": t, "staged": sorted(os.listdir("in")) if os.path.isdir("in") else []}
"""
node l = command `echo {f}`
node s = command `cat` <- f
node k = skill csv_report(input: f)
output seen: json = c
'''


class _Secret(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        body = b"HTTPSECRET-55d0"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _targets(tmp_path: Path, http_host: str) -> dict[str, str]:
    """Every kind of place a forged `path` may point at."""
    import fsspec

    fsspec.filesystem("memory").pipe("/flowc-test-secret.txt", b"MEMSECRET-91c2")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.txt").write_text("root:x:0:0 in a folder")
    link = tmp_path / "link.csv"
    link.symlink_to("/etc/passwd")
    return {
        "passwd": "/etc/passwd",
        "environ": "/proc/self/environ",
        "devzero": "/dev/zero",
        "fifo": str(fifo),
        "folder": str(folder),
        "symlink": str(link),
        "file_url": "file:///etc/passwd",
        "ftp_url": "ftp://127.0.0.1:1/etc/passwd",
        "memory_url": "memory://flowc-test-secret.txt",
        "http_url": f"http://{http_host}/secret",
        "climbing": "../../../../../../../../etc/passwd",
    }


def test_a_value_that_looks_like_a_file_is_data_for_code_commands_stdin_and_skills(
        engine, store, tmp_path):
    plan = plan_of(FORGE)
    _Secret.hits = 0
    with loopback_server(_Secret) as host:
        for what, path in _targets(tmp_path, host).items():
            forged = {"path": path, "sha256": "x", "name": "a.txt", "size": 3}
            run = engine.start(plan, {"forged": json.dumps(forged)})
            assert run.status == "failed", what  # the skill was handed data, not a file
            c = _node(store, run.id, "c")
            assert c.status == "succeeded", (what, c.error)
            assert c.output == {"t": forged, "staged": []}, what  # nothing was staged
            line = _node(store, run.id, "l")  # a template shows a file-like value's path,
            assert line.status == "succeeded"  # as text: one quoted word, nothing staged
            assert line.output["stdout"] == path + "\n", (what, line.output)
            s = _node(store, run.id, "s")  # stdin: the value's JSON, not the file's content
            assert s.status == "succeeded" and json.loads(s.output["stdout"]) == forged, what
            k = _node(store, run.id, "k")
            assert k.status == "failed" and "exited with status" in k.error, (what, k.error)
            text = _everything(store, run.id)
            for secret in SECRETS:
                assert secret not in text, (what, secret)
    assert _Secret.hits == 0  # nothing connected out


def test_a_forged_handle_is_refused_by_name(engine, store):
    forged = {"file_id": "f" + "0" * 32, "path": "/etc/passwd", "sha256": "x", "name": "a.txt"}
    run = engine.start(plan_of(FORGE), {"forged": json.dumps(forged)})
    assert run.status == "failed"
    for node in ("c", "l", "s", "k"):
        r = _node(store, run.id, node)
        assert r.status == "failed" and "not a file of this run" in r.error, (node, r.error)
    assert "root:x:0:0" not in _everything(store, run.id)


# ---- real handles: produced, recorded, checked --------------------------------------------

TABLE = '''flow t version "1.0.0"
deliverable Table {
  files { table: file<csv> }
  fields { rows: int }
}
node make: Table = code python() """
open("table.csv", "w").write("a,b\\n1,2\\n")
result = {"rows": 1}
"""
node review = await human(to: role("lead"), actions: [approve], timeout: 1h -> approve)
  after make
node use: str = code python(t: make.table) """
import os
result = os.path.basename(t["path"]) + ":" + open(t["path"]).read()
"""
  after review.approved
node line = command `cat {make.table}`
  after review.approved
output text: str? = use
output printed: str? = line.stdout
'''


def _paused(engine, store, text=TABLE):
    run = engine.start(plan_of(text), {})
    assert run.status == "paused", run.error
    (task,) = store.list_tasks(run_id=run.id)
    return run, task


def test_files_a_node_produced_are_recorded_with_unguessable_handles(engine, store, tmp_path):
    run, task = _paused(engine, store)
    table = _node(store, run.id, "make").output["table"]
    assert set(table) >= {"file_id", "name", "sha256", "size", "path"}
    assert len(table["file_id"]) >= 32 and table["name"] == "table.csv"
    (rec,) = store.run_files(run.id)
    assert (rec.id, rec.run_id, rec.node_id, rec.item, rec.name, rec.size) == \
        (table["file_id"], run.id, "make", -1, "table.csv", 8)
    assert rec.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert rec.location == f"{run.id}/make/table.csv" and rec.created_at > 0
    run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "table.csv:a,b\n1,2\n", "printed": "a,b\n1,2\n"}


def _tamper_then_resume(engine, store, tamper):
    run, task = _paused(engine, store)
    path = Path(engine.workspace) / run.id / "make" / "table.csv"
    tamper(path)
    run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "failed"
    use, line = _node(store, run.id, "use"), _node(store, run.id, "line")
    assert use.status == line.status == "failed"
    return use.error, line.error, run


def test_a_file_changed_on_disk_after_it_was_recorded_is_refused(engine, store):
    use, line, _ = _tamper_then_resume(engine, store, lambda p: p.write_text("a,b\n6,6\n"))
    assert "changed since" in use and "changed since" in line


def test_a_file_grown_beyond_the_cap_is_refused_before_it_is_read(store, pool, tmp_path):
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"),
                max_file_bytes=1000) as engine:
        use, line, _ = _tamper_then_resume(
            engine, store, lambda p: p.write_bytes(p.read_bytes() + b"9" * 5000))
    assert "over the limit of 1000 bytes" in use and "over the limit" in line


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder", "device"])
def test_a_recorded_file_replaced_by_a_link_fifo_folder_or_device_is_refused(
        engine, store, kind):
    def tamper(p: Path):
        p.unlink()
        if kind == "symlink":
            p.symlink_to("/etc/passwd")
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "folder":
            p.mkdir()
            (p / "x").write_text("a,b\n1,2\n")
        else:
            p.symlink_to("/dev/zero")

    use, line, run = _tamper_then_resume(engine, store, tamper)
    for error in (use, line):
        assert "not a regular file" in error or "is a link" in error, error
    assert "root:x:0:0" not in _everything(store, run.id)


def test_a_folder_on_the_way_replaced_by_a_link_out_of_the_workspace_is_refused(
        engine, store, tmp_path):
    def tamper(p: Path):
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "table.csv").write_bytes(p.read_bytes())  # same content, same hash
        folder = p.parent
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
        folder.symlink_to(outside)

    use, line, _ = _tamper_then_resume(engine, store, tamper)
    assert "out of the workspace" in use and "out of the workspace" in line


MAKE = '''flow m version "1.0.0"
deliverable Table {
  files { table: file<csv> }
}
node make: Table = code python() """
open("table.csv", "w").write("a,b\\n1,2\\n")
result = {}
"""
output table: file<csv> = make.table
'''


def test_a_handle_from_another_run_is_refused(engine, store):
    made = engine.start(plan_of(MAKE), {})
    assert made.status == "succeeded", made.error
    handle = made.outputs["table"]
    assert store.find_file(handle["file_id"], made.id) is not None
    other = '''flow o version "1.0.0"
input h: json
node use: str = code python(t: h) """
result = open(t["path"]).read()
"""
node line = command `cat {h}`
output text: str = use
'''
    run = engine.start(plan_of(other), {"h": handle})
    assert run.status == "failed"
    for node in ("use", "line"):
        r = _node(store, run.id, node)
        assert "not a file of this run" in r.error, r.error
    assert store.find_file(handle["file_id"], run.id) is None
    assert "a,b" not in _everything(store, run.id)


def test_names_in_a_handle_value_are_not_trusted(engine, store):
    text = TABLE.replace('node use: str = code python(t: make.table) """',
                         'node renamed: json = code python(t: make.table) """\n'
                         'result = {**t, "name": "../../../etc/passwd", "sha256": "0",\n'
                         '          "path": "/etc/passwd"}\n"""\n'
                         'node use: str = code python(t: renamed) """')
    run, task = _paused(engine, store, text)
    run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "succeeded", run.error
    assert run.outputs["text"] == "table.csv:a,b\n1,2\n"  # the record's name and content


def test_a_child_flow_run_reads_its_parents_files_and_the_parent_its_childs(
        engine, store, tmp_path):
    (tmp_path / "child.flow").write_text('''flow child version "1.0.0"
input t: file<csv>
node upper: Out = code python(t: t) """
open("copy.csv", "w").write(open(t["path"]).read().upper())
result = {}
"""
deliverable Out {
  files { copy: file<csv> }
}
output copy: file<csv> = upper.copy
''')
    parent = '''flow parent version "1.0.0"
use flow "child.flow" as child
deliverable Table {
  files { table: file<csv> }
}
node make: Table = code python() """
open("table.csv", "w").write("a,b\\n")
result = {}
"""
node c = flow child(t: make.table)
node read: str = code python(t: c.copy) """
result = open(t["path"]).read()
"""
output text: str = read
'''
    result = compile_source(parent, str(tmp_path / "parent.flow"), base_dir=tmp_path)
    assert result.plan is not None, [d.message for d in result.diagnostics.items]
    run = engine.start(result.plan, {})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "A,B\n"}
    again = engine.replay(run.id, "read")  # the child's file, kept by a replay, still reads
    assert again.status == "succeeded" and again.outputs == {"text": "A,B\n"}, again.error


# ---- user-supplied files ------------------------------------------------------------------

INPUT = '''flow i version "1.0.0"
input sheet: file<csv>
node review = await human(to: role("lead"), actions: [approve, edit],
                          edit: { sheet: file<csv> = sheet }, timeout: 1h -> approve)
node use: str = code python(t: review.sheet) """
result = open(t["path"]).read()
"""
node line = command `cat {sheet}`
  after review
output text: str? = use
output printed: str? = line.stdout
'''


def _value(path: Path) -> dict:
    return {"path": str(path), "name": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size": path.stat().st_size}


def test_a_run_input_file_is_copied_into_the_run_and_read_from_there(engine, store, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("x\n1\n")
    run = engine.start(plan_of(INPUT), {"sheet": _value(src)})
    assert run.status == "paused", run.error
    sheet = store.get_run(run.id).inputs["sheet"]
    (rec,) = store.run_files(run.id)
    assert sheet["file_id"] == rec.id and rec.name == "in.csv" and rec.size == 4
    assert rec.location.startswith(f"{run.id}/") and str(src) not in json.dumps(sheet)
    src.write_text("changed afterwards\n")  # the run never goes back to the user's path
    (task,) = store.list_tasks(run_id=run.id)
    run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "x\n1\n", "printed": "x\n1\n"}


def test_an_edited_file_field_is_copied_into_the_run(engine, store, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("first\n")
    second.write_text("second\n")
    run = engine.start(plan_of(INPUT), {"sheet": _value(first)})
    (task,) = store.list_tasks(run_id=run.id)
    with pytest.raises(DecisionRefused, match="protocol `ftp`"):
        engine.decide(task.id, action="edit", by="a", roles=("lead",),
                      values={"sheet": {"path": "ftp://127.0.0.1:1/x", "name": "x"}})
    run = engine.decide(task.id, action="edit", by="a", roles=("lead",),
                        values={"sheet": _value(second)})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "second\n", "printed": "first\n"}
    names = sorted((r.node_id, r.name) for r in store.run_files(run.id))
    assert names == [("input:sheet", "a.csv"), ("review", "b.csv")]


ASK_FILE = '''flow a version "1.0.0"
node q: file<csv> = ask human(to: user("u"), question: "Which file?", timeout: 1h -> fail)
node use: str = code python(t: q) """
result = open(t["path"]).read()
"""
output text: str = use
'''


def test_an_answered_file_is_copied_into_the_run(engine, store, tmp_path):
    src = tmp_path / "answer.csv"
    src.write_text("answered\n")
    run = engine.start(plan_of(ASK_FILE), {})
    (task,) = store.list_tasks(run_id=run.id)
    with pytest.raises(DecisionRefused, match="not a regular file"):
        engine.decide(task.id, action="answer", by="u", answer={"path": "/dev/zero"})
    run = engine.decide(task.id, action="answer", by="u", answer=_value(src))
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "answered\n"}


@pytest.mark.parametrize("what", ["ftp", "memory", "http", "chained", "devzero", "fifo",
                                  "folder", "missing", "sha"])
def test_user_files_go_through_the_protocol_allowlist_and_are_checked(engine, store, tmp_path,
                                                                      what):
    fifo, folder = tmp_path / "fifo", tmp_path / "folder"
    os.mkfifo(fifo)
    folder.mkdir()
    good = tmp_path / "good.csv"
    good.write_text("a\n")
    value = {
        "ftp": {"path": "ftp://127.0.0.1:1/x.csv"},
        "memory": {"path": "memory://flowc-test/x.csv"},
        "http": {"path": "http://127.0.0.1:1/x.csv"},
        "chained": {"path": "simplecache::ftp://127.0.0.1:1/x.csv"},
        "devzero": {"path": "/dev/zero"},
        "fifo": {"path": str(fifo)},
        "folder": {"path": str(folder)},
        "missing": {"path": str(tmp_path / "nope.csv")},
        "sha": {**_value(good), "sha256": "0" * 64},
    }[what]
    expected = {"ftp": "protocol `ftp` is not allowed", "memory": "protocol `memory`",
                "http": "protocol `http`", "chained": "protocol `simplecache`",
                "devzero": "not a regular file", "fifo": "not a regular file",
                "folder": "not a regular file", "missing": "cannot be read",
                "sha": "does not match its sha256"}[what]
    with pytest.raises(RunRefused, match=expected):
        engine.start(plan_of(INPUT), {"sheet": value})
    assert store.list_runs() == []


def test_protocols_a_project_allows_are_accepted(store, pool, tmp_path):
    import fsspec

    fsspec.filesystem("memory").pipe("/flowc-test/allowed.csv", b"from memory\n")
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"),
                file_protocols=("file", "memory")) as engine:
        run = engine.start(plan_of(INPUT), {"sheet": {"path": "memory://flowc-test/allowed.csv"}})
        assert run.status == "paused", run.error
        (task,) = store.list_tasks(run_id=run.id)
        run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
    assert run.outputs == {"text": "from memory\n", "printed": "from memory\n"}
    (rec,) = store.run_files(run.id)
    assert rec.size == 12 and rec.name == "allowed.csv"


def test_a_file_input_over_the_cap_is_refused(store, pool, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 5000)
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), max_file_bytes=1000) as e:
        with pytest.raises(RunRefused, match="over the limit of 1000 bytes"):
            e.start(plan_of(INPUT), {"sheet": _value(big)})


def test_without_a_workspace_user_files_are_kept_next_to_the_store(pool, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("kept\n")
    with SQLiteStore(str(tmp_path / "db" / "runs.db")) as store, \
            Engine(store, sandbox=pool) as engine:
        run = engine.start(plan_of(INPUT), {"sheet": _value(src)})
        (rec,) = store.run_files(run.id)
        assert Path(rec.workspace) == tmp_path / "db" / "workspace"
        (task,) = store.list_tasks(run_id=run.id)
        run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
        assert run.outputs == {"text": "kept\n", "printed": "kept\n"}


def test_a_replay_keeps_the_files_of_the_nodes_it_keeps(engine, store):
    text = '''flow r version "1.0.0"
deliverable Table {
  files { table: file<csv> }
}
node make: Table = code python() """
open("table.csv", "w").write("kept\\n")
result = {}
"""
node use: str = code python(t: make.table) """
result = open(t["path"]).read()
"""
output text: str = use
'''
    run = engine.start(plan_of(text), {})
    assert run.status == "succeeded", run.error
    again = engine.replay(run.id, "use")  # `make` is kept: its file goes along
    assert again.status == "succeeded", again.error
    assert again.outputs == {"text": "kept\n"}
    assert [f.node_id for f in store.run_files(again.id)] == ["make"]


# ---- the command line --------------------------------------------------------------------

def _flowc(*args, cwd):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_STORE", None)
    env.pop("FLOWC_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_cli_inputs_and_the_files_setting_of_flowc_toml(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "count.flow").write_text('''flow count version "1.0.0"
input data: file<csv>
node n: int = code python(t: data) """
result = len(open(t["path"]).read().splitlines())
"""
output rows: int = n
''')
    (project / "d.csv").write_text("a\nb\nc\n")
    os.mkfifo(project / "fifo")
    r = _flowc("run", "count.flow", "--input", "data=@fifo", "--store", "runs.db", cwd=project)
    assert r.returncode in (1, 2) and "not a regular file" in r.stderr, r.stderr
    r = _flowc("run", "count.flow", "--input", "data=@/dev/zero", "--store", "runs.db",
               cwd=project)
    assert r.returncode in (1, 2) and "not a regular file" in r.stderr, r.stderr
    r = _flowc("run", "count.flow", "--input", "data=@memory://x/d.csv", "--store", "runs.db",
               cwd=project)
    assert r.returncode in (1, 2) and "protocol `memory` is not allowed" in r.stderr, r.stderr
    r = _flowc("run", "count.flow", "--input", "data=@d.csv", "--store", "runs.db", cwd=project)
    assert r.returncode == 0, r.stderr
    assert '"rows": 3' in r.stdout
    (project / "flowc.toml").write_text('[files]\nprotocols = ["memory"]\n')
    r = _flowc("run", "count.flow", "--input", "data=@d.csv", "--store", "runs.db", cwd=project)
    assert r.returncode in (1, 2) and "protocol `file` is not allowed" in r.stderr, r.stderr
    (project / "flowc.toml").write_text('[files]\nprotocols = "file"\n')
    r = _flowc("run", "count.flow", "--input", "data=@d.csv", "--store", "runs.db", cwd=project)
    assert r.returncode in (1, 2) and "[files] protocols must be a list" in r.stderr, r.stderr
    (project / "flowc.toml").write_text('[files]\nprotocols = ["file"]\nmax_mb = 0.000001\n')
    r = _flowc("run", "count.flow", "--input", "data=@d.csv", "--store", "runs.db", cwd=project)
    assert r.returncode in (1, 2) and "over the limit" in r.stderr, r.stderr


def test_config_files_section(tmp_path):
    from flowc.config import ConfigError, ProjectConfig, load_config

    assert ProjectConfig(None).file_protocols == ("file",)
    assert ProjectConfig(None).max_file_bytes == 100 * 2**20
    toml = tmp_path / "flowc.toml"
    toml.write_text('[files]\nprotocols = ["file", "memory", "s3"]\nmax_mb = 5\n')
    cfg = load_config(tmp_path)
    assert cfg.file_protocols == ("file", "memory", "s3")
    assert cfg.max_file_bytes == 5 * 2**20
    for bad, message in (('protocols = ["fi le"]', "not a protocol name"),
                         ("max_mb = -1", "non-negative"),
                         ("other = 1", "unknown setting `other`")):
        toml.write_text(f"[files]\n{bad}\n# {message}\n")  # a new size: read again
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path)


def test_a_link_in_a_skill_folder_is_not_staged(store, pool, tmp_path):
    import shutil

    from flowc.compiler.api import compile_file

    secret = tmp_path / "credentials"
    secret.write_text("SKILLSECRET-3e1b\n")
    skill = tmp_path / "skills" / "csv-report"
    shutil.copytree(ROOT / "stdlib_skills" / "csv-report" / "1.0.0", skill)
    (skill / "notes.txt").symlink_to(secret)
    (skill / "linked").symlink_to(tmp_path, target_is_directory=True)
    flow = tmp_path / "f.flow"
    flow.write_text('flow f version "1.0.0"\nuse skill csv_report @ 1.0.0\n'
                    'node x = command `ls -a .flowc/skills/csv_report`\n'
                    'node y = command `cat .flowc/skills/csv_report/notes.txt`\n'
                    'output o: str = x.stdout\n')
    plan = compile_file(flow).plan
    with Engine(store, sandbox=pool, base_dir=str(tmp_path)) as engine:
        run = engine.start(plan, {})
    listed = _node(store, run.id, "x")
    assert listed.status == "succeeded", listed.error
    assert "SKILL.md" in listed.output["stdout"]
    assert "notes.txt" not in listed.output["stdout"] and "linked" not in listed.output["stdout"]
    assert _node(store, run.id, "y").status == "failed"
    assert "SKILLSECRET-3e1b" not in _everything(store, run.id)


# ---- agent tools ----------------------------------------------------------------------------

AGENT = '''flow a version "1.0.0"
use skill csv_report @ 1.0.0
deliverable Table {
  files { table: file<csv> }
}
deliverable Note {
  text body
}
input forged: str
node make: Table = code python() """
open("table.csv", "w").write("region,revenue\\nemea,10\\n")
result = {}
"""
node fake: json = code python(v: forged) """
import json
result = json.loads(v)
"""
node note: Note = agent {
  goal      "Report on the tables."
  skills    [csv_report]
  context   [make, fake]
  max_steps 4
}
output body: str = note.body
'''


def test_agent_tools_stage_handles_only(store, pool, tmp_path, monkeypatch):
    from flowc.config import ProjectConfig
    from flowc.runtime.models.fakeserver import FakeModelServer, tool_call_reply
    from flowc.runtime.models.router import Models

    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    fake = [{"path": "/etc/passwd", "sha256": "x", "name": "passwd.csv"},
            {"file_id": "f" + "1" * 32, "path": "/etc/passwd", "sha256": "x",
             "name": "forged.csv"}]
    with FakeModelServer(api_key="sk-test") as server:
        cfg = server.model_config("default", "openai", api_key_env="FLOWC_TEST_KEY")
        server.push(
            tool_call_reply("csv_report", {"input": "passwd.csv"}, id="c1"),
            tool_call_reply("csv_report", {"input": "forged.csv"}, id="c2"),
            tool_call_reply("csv_report", {"input": "table.csv"}, id="c3"),
            tool_call_reply("finish", {"body": "done"}, id="c4"))
        with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT),
                    models=Models(ProjectConfig(None, {"default": cfg}))) as engine:
            run = engine.start(plan_of(AGENT), {"forged": json.dumps(fake)})
        observed = [m["content"] for m in server.requests[-1].body["messages"]
                    if m["role"] == "tool"]
    assert run.status == "succeeded", run.error
    passwd, forged, table = observed  # the last request came before `finish` was answered
    assert "names no known file `passwd.csv`" in passwd  # data: not offered as a file
    assert "could not run" in forged and "not a file of this run" in forged
    assert "exit status 0" in table and "revenue" in table
    assert "root:x:0:0" not in "\n".join(observed) + _everything(store, run.id)


def test_an_in_memory_store_keeps_user_files_in_memory_and_checks_them(pool, tmp_path):
    import fsspec

    from flowc.runtime.store import open_store

    src = tmp_path / "in.csv"
    src.write_text("in memory\n")
    store = open_store(":memory:")
    try:
        with Engine(store, sandbox=pool) as engine:
            run = engine.start(plan_of(INPUT), {"sheet": _value(src)})
            (rec,) = store.run_files(run.id)
            assert rec.workspace.startswith("memory://")
            (task,) = store.list_tasks(run_id=run.id)
            fs = fsspec.filesystem("memory")
            path = f"{rec.workspace.removeprefix('memory://')}/{rec.location}"
            fs.pipe(path, b"tampered!\n")  # same size, other content
            run = engine.decide(task.id, action="approve", by="a", roles=("lead",))
        assert run.status == "failed"
        assert "changed since it was recorded" in _node(store, run.id, "use").error
    finally:
        store.close()
