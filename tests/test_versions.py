"""Flow versions (runtime/versions.py, flowc/versions_cli.py): the lifecycle through the
command line, separation of duties, the chained history, export and import (a changed export
refused), `--from-git`, and two people acting on one version at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

FLOW = '''flow pricing version "1.0.0"
  "Quotes a price."

input amount: float

node quote: float = code python(amount: amount) """
  result = round(amount * 1.1, 2)
"""

output price = quote
'''

FLOW_V2 = FLOW.replace("1.1", "1.2")


def flowc(*args, cwd, check=None):
    r = subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=300)
    if check is not None:
        assert (r.returncode == 0) == check, (r.returncode, r.stdout, r.stderr)
    return r


def one_line_error(r) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pricing.flow").write_text(FLOW)
    for name, roles in (("dana", ["drafter"]), ("rita", ["reviewer"]),
                        ("pete", ["publisher"]), ("otto", ["support_lead"]),
                        ("solo", ["drafter", "reviewer", "publisher"])):
        flowc("people", name, *roles, "--store", tmp_path / "runs.db", cwd=tmp_path,
              check=True)
    return folder


def test_the_lifecycle_from_draft_to_rollback_through_the_command_line(project, tmp_path):
    store = tmp_path / "runs.db"
    s = ("--store", store)
    r = flowc("version", "submit", project / "pricing.flow", "--as", "dana", "-m", "first",
              *s, cwd=tmp_path, check=True)
    assert r.stdout.startswith("pricing v1: draft")
    assert "nothing to record" in one_line_error(flowc(
        "version", "submit", project / "pricing.flow", "--as", "dana", *s, cwd=tmp_path))
    # a draft cannot be approved or published before its review is asked for
    assert "is draft" in one_line_error(flowc("version", "approve", "pricing", "1", "--as",
                                              "rita", *s, cwd=tmp_path))
    flowc("version", "review", "pricing", "v1", "--as", "dana", *s, cwd=tmp_path, check=True)
    assert "role `reviewer`" in one_line_error(flowc(
        "version", "approve", "pricing", "1", "--as", "otto", *s, cwd=tmp_path))
    flowc("version", "approve", "pricing", "1", "--as", "rita", "-m", "checked the rates",
          *s, cwd=tmp_path, check=True)
    assert "role `publisher`" in one_line_error(flowc(
        "publish", "pricing", "1", "--as", "rita", *s, cwd=tmp_path))
    flowc("publish", "pricing", "1", "--as", "pete", *s, cwd=tmp_path, check=True)
    # v2: the same path again; publishing it supersedes v1
    (project / "pricing.flow").write_text(FLOW_V2)
    flowc("version", "submit", project / "pricing.flow", "--as", "dana", "-m", "new rate",
          *s, cwd=tmp_path, check=True)
    for act, who in (("review", "dana"), ("approve", "rita")):
        flowc("version", act, "pricing", "latest", "--as", who, *s, cwd=tmp_path, check=True)
    flowc("publish", "pricing", "2", "--as", "pete", *s, cwd=tmp_path, check=True)
    listed = json.loads(flowc("versions", "pricing", "--format", "json", *s, cwd=tmp_path,
                              check=True).stdout)["versions"]
    assert [(v["number"], v["status"]) for v in listed] == [(2, "published"),
                                                            (1, "superseded")]
    # a rollback needs a reason, and the publisher role
    assert "reason" in one_line_error(flowc("rollback", "pricing", "1", "--as", "pete", "-m",
                                            " ", *s, cwd=tmp_path))
    assert "role `publisher`" in one_line_error(flowc(
        "rollback", "pricing", "1", "--as", "dana", "-m", "bad rate", *s, cwd=tmp_path))
    flowc("rollback", "pricing", "1", "--as", "pete", "-m", "the new rate was wrong", *s,
          cwd=tmp_path, check=True)
    listed = json.loads(flowc("versions", "pricing", "--format", "json", *s, cwd=tmp_path,
                              check=True).stdout)["versions"]
    assert [(v["number"], v["status"]) for v in listed] == [(2, "superseded"),
                                                            (1, "published")]
    # the history: every transition, who and why, chained and intact
    r = flowc("versions", "pricing", "--verify", *s, cwd=tmp_path, check=True)
    assert "intact" in r.stdout
    shown = flowc("version", "show", "pricing", "1", *s, cwd=tmp_path, check=True).stdout
    for line in ("submitted by dana: first", "review requested by dana",
                 "approved by rita: checked the rates", "published by pete",
                 "rolled back by pete: the new rate was wrong"):
        assert line in shown, shown
    with sqlite3.connect(store) as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM version_events WHERE flow ="
                                          " 'pricing' ORDER BY seq")]
    assert kinds.count("version.superseded") == 2  # v1 by v2, then v2 by the rollback
    # a changed event shows
    with sqlite3.connect(store) as db:
        db.execute("UPDATE version_events SET actor = 'mallory' WHERE seq = 3")
    r = flowc("versions", "pricing", "--verify", *s, cwd=tmp_path)
    assert r.returncode == 1 and "history broken: event 3" in r.stdout


def test_the_author_can_neither_approve_nor_publish_unless_the_project_allows_it(project,
                                                                                 tmp_path):
    s = ("--store", tmp_path / "runs.db")
    flowc("version", "submit", project / "pricing.flow", "--as", "solo", *s, cwd=tmp_path,
          check=True)
    flowc("version", "review", "pricing", "1", "--as", "solo", *s, cwd=tmp_path, check=True)
    line = one_line_error(flowc("version", "approve", "pricing", "1", "--as", "solo", *s,
                                cwd=tmp_path))
    assert "solo wrote pricing v1: its author cannot approve it" in line
    flowc("version", "approve", "pricing", "1", "--as", "rita", *s, cwd=tmp_path, check=True)
    assert "cannot publish" in one_line_error(flowc("publish", "pricing", "1", "--as", "solo",
                                                    *s, cwd=tmp_path))
    # the project turns separation of duties off: then the author may
    (tmp_path / "flowc.toml").write_text("[versions]\nseparate_duties = false\n")
    flowc("publish", "pricing", "1", "--as", "solo", *s, cwd=tmp_path, check=True)
    (tmp_path / "flowc.toml").write_text("[versions]\nseparate_duties = 'no'\n")
    assert "separate_duties" in one_line_error(flowc("publish", "pricing", "1", "--as",
                                                     "solo", *s, cwd=tmp_path))


def test_bad_references_and_commands_are_one_line_errors(project, tmp_path):
    s = ("--store", tmp_path / "runs.db")
    assert "has no versions" in one_line_error(flowc("version", "show", "pricing", "1", *s,
                                                     cwd=tmp_path))
    flowc("version", "submit", project / "pricing.flow", "--as", "dana", *s, cwd=tmp_path,
          check=True)
    for ref, text in (("v9", "no version `v9`"), ("x!", "names no version"),
                      ("deadbeef00", "no version")):
        assert text in one_line_error(flowc("version", "show", "pricing", ref, *s,
                                            cwd=tmp_path))
    assert "role `drafter`" in one_line_error(flowc(
        "version", "submit", project / "pricing.flow", "--as", "rita", *s, cwd=tmp_path))
    (project / "broken.flow").write_text("flow broken version \"1\"\nnode x = ???\n")
    assert "does not compile" in one_line_error(flowc(
        "version", "submit", project / "broken.flow", "--as", "dana", *s, cwd=tmp_path))
    assert "no flow file" in one_line_error(flowc(
        "version", "submit", project / "nope.flow", "--as", "dana", *s, cwd=tmp_path))


def _exported(project, tmp_path) -> dict:
    s = ("--store", tmp_path / "runs.db")
    flowc("version", "submit", project / "pricing.flow", "--as", "dana", "-m", "to move", *s,
          cwd=tmp_path, check=True)
    out = tmp_path / "pricing-v1.json"
    flowc("version", "export", "pricing", "1", "-o", out, *s, cwd=tmp_path, check=True)
    return json.loads(out.read_text())


def test_an_exported_version_imports_into_a_fresh_store_and_hashes_the_same(project,
                                                                            tmp_path):
    doc = _exported(project, tmp_path)
    fresh = tmp_path / "other" / "runs.db"
    fresh.parent.mkdir()
    flowc("people", "ivan", "drafter", "--store", fresh, cwd=tmp_path, check=True)
    r = flowc("version", "import", tmp_path / "pricing-v1.json", "--as", "ivan", "--store",
              fresh, cwd=tmp_path, check=True)
    assert "imported; author dana" in r.stdout  # the author travels with the version
    listed = json.loads(flowc("versions", "pricing", "--format", "json", "--store", fresh,
                              cwd=tmp_path, check=True).stdout)["versions"]
    assert listed[0]["hash"] == doc["bundle"]["plan_hash"] == doc["version"]["hash"]
    assert listed[0]["status"] == "draft" and listed[0]["origin"] == "import of v1"
    assert "nothing to import" in one_line_error(flowc(
        "version", "import", tmp_path / "pricing-v1.json", "--as", "ivan", "--store", fresh,
        cwd=tmp_path))
    # its files, written out from the store alone, compile to the same plan
    from flowc.runtime.store import open_store
    from flowc.runtime.versions import compile_plan, materialize

    st = open_store(str(fresh))
    try:
        v = st.get_version("pricing", 1)
        entry = materialize(st, v, fresh.parent)
        assert compile_plan(entry)["hash"] == v.hash
        assert entry.read_text() == FLOW
    finally:
        st.close()


def _tamper_cases(doc: dict):
    from flowc.runtime.versions import bundle_sha256

    def copy():
        return json.loads(json.dumps(doc))

    d = copy()  # the source changed, the digest left as it was
    d["bundle"]["files"]["pricing.flow"]["text"] = FLOW_V2
    yield "source changed", d, "does not hash to its bundle_sha256"
    d = copy()  # the source changed and the digest made again: the plan no longer matches
    d["bundle"]["files"]["pricing.flow"]["text"] = FLOW_V2
    d["bundle_sha256"] = bundle_sha256(d["bundle"])
    yield "source and digest changed", d, "do not compile to its plan"
    d = copy()  # the plan's hash changed to match another version
    d["bundle"]["plan_hash"] = "0" * 64
    d["bundle_sha256"] = bundle_sha256(d["bundle"])
    yield "plan hash changed", d, "do not compile to its plan"
    d = copy()  # a file that would be written outside the version's folder
    d["bundle"]["files"]["../../evil.py"] = {"text": "print('x')"}
    d["bundle_sha256"] = bundle_sha256(d["bundle"])
    yield "path escapes", d, "must stay inside its folder"
    d = copy()
    d["bundle"]["files"]["/etc/cron.d/x"] = {"text": "x"}
    d["bundle_sha256"] = bundle_sha256(d["bundle"])
    yield "absolute path", d, "must stay inside its folder"
    d = copy()
    d["bundle"]["files"]["pricing.flow"] = {"base64": "%%%"}
    d["bundle_sha256"] = bundle_sha256(d["bundle"])
    yield "bad base64", d, "base64"
    d = copy()
    d["format"] = "something/9"
    yield "format", d, "not a version export"
    d = copy()
    d["bundle"]["entry"] = "missing.flow"
    d["bundle_sha256"] = bundle_sha256(d["bundle"])
    yield "entry missing", d, "entry flow is not among its files"


def test_a_changed_export_is_refused_and_nothing_is_recorded(project, tmp_path):
    doc = _exported(project, tmp_path)
    fresh = tmp_path / "other" / "runs.db"
    fresh.parent.mkdir()
    flowc("people", "ivan", "drafter", "--store", fresh, cwd=tmp_path, check=True)
    for name, bad, text in _tamper_cases(doc):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        line = one_line_error(flowc("version", "import", path, "--as", "ivan", "--store",
                                    fresh, cwd=tmp_path))
        assert text in line, (name, line)
    (tmp_path / "bad.json").write_text("{not json")
    assert "not a version export" in one_line_error(flowc(
        "version", "import", tmp_path / "bad.json", "--as", "ivan", "--store", fresh,
        cwd=tmp_path))
    assert not (tmp_path / "evil.py").exists() and not (tmp_path.parent / "evil.py").exists()
    listed = json.loads(flowc("versions", "pricing", "--format", "json", "--store", fresh,
                              cwd=tmp_path, check=True).stdout)["versions"]
    assert listed == []


def test_publish_from_git_records_a_draft_with_the_commit(project, tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=CI", "-c", "user.email=ci@example.test", "add", ".")
    git("-c", "user.name=CI", "-c", "user.email=ci@example.test", "commit", "-q", "-m",
        "Raise the rate to 1.1")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                         text=True, check=True).stdout.strip()
    s = ("--store", tmp_path / "runs.db")
    r = flowc("publish", "--from-git", project / "pricing.flow", "--as", "dana", *s,
              cwd=tmp_path, check=True)
    assert f"Raise the rate to 1.1 ({sha[:12]})" in r.stdout
    v = json.loads(flowc("versions", "pricing", "--format", "json", *s, cwd=tmp_path,
                         check=True).stdout)["versions"][0]
    assert v["status"] == "draft" and v["origin"] == f"git:{sha}"
    outside = tmp_path / "nogit"
    outside.mkdir()
    (outside / "pricing.flow").write_text(FLOW_V2)
    assert "not in a git repository" in one_line_error(flowc(
        "publish", "--from-git", outside / "pricing.flow", "--as", "dana", *s, cwd=outside))


def test_two_people_acting_on_one_version_at_once_one_wins(project, tmp_path):
    from flowc.runtime.store import open_store
    from flowc.runtime.versions import VersionRefused, submit, transition

    store = open_store(str(tmp_path / "runs.db"))
    try:
        submit(store, project / "pricing.flow", "dana", "m")
        transition(store, "pricing", "1", "review", "dana", ["drafter"])
        barrier = threading.Barrier(6)
        results = []

        def act(i):
            st = open_store(str(tmp_path / "runs.db"))
            try:
                barrier.wait()
                action = "approve" if i % 2 else "reject"
                # each decides on the page they saw: the version in review (without
                # `seen`, a reject read after an approval is a later, legal decision)
                transition(st, "pricing", "1", action, f"r{i}", ["reviewer"],
                           message="no", seen="in_review")
                results.append(("ok", action))
            except VersionRefused as e:
                results.append(("refused", str(e)))
            finally:
                st.close()

        threads = [threading.Thread(target=act, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wins = [r for r in results if r[0] == "ok"]
        assert len(wins) == 1 and len(results) == 6, results
        status = store.get_version("pricing", 1).status
        assert status == {"approve": "approved", "reject": "rejected"}[wins[0][1]]
        # a rejected version cannot be approved any more; an approved one can still be
        # rejected (before it is published)
        assert store.verify_version_chain("pricing") == []
        assert len(store.version_events("pricing")) == 3
    finally:
        store.close()


def test_a_version_holds_the_sops_lock_and_sub_flows_it_was_built_from(tmp_path):
    """examples/client_report: SOP documents and a lock; all_clients calls client_report."""
    import shutil

    from flowc.runtime.store import open_store
    from flowc.runtime.versions import build_bundle, compile_plan, materialize, submit

    src = Path(__file__).resolve().parent.parent / "examples" / "client_report"
    project = tmp_path / "client_report"
    shutil.copytree(src, project, ignore=shutil.ignore_patterns("recordings", "data"))
    bundle = build_bundle(project / "all_clients.flow")
    assert {"all_clients.flow", "client_report.flow", "flow.lock", "sops/compliance.md"} <= \
        set(bundle["files"])
    store = open_store(str(tmp_path / "runs.db"))
    try:
        v = submit(store, project / "all_clients.flow", "dana", "m")
        entry = materialize(store, v, tmp_path / "elsewhere")
        assert compile_plan(entry)["hash"] == v.hash
        # a written-out version that was changed on disk is written again
        (entry.parent / "sops" / "compliance.md").write_text("changed")
        again = materialize(store, v, tmp_path / "elsewhere")
        assert compile_plan(again)["hash"] == v.hash
    finally:
        store.close()


# (command, its commit point) for each write the version commands make; a kill before or
# after each must leave the status and the history consistent, and the command run again
# must end where a run without the kill ends
KILL_POINTS = [
    ("submit", "submit/add_version"),
    ("review", "transition/set_version_status"),
    ("comment", "comment/add_version_event"),
    ("import", "import_version/add_version"),
]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("command,point", KILL_POINTS, ids=[c for c, _ in KILL_POINTS])
def test_kill_at_each_version_commit_point(project, tmp_path, command, point, when):
    import os
    import signal

    store = tmp_path / "runs.db"
    s = ("--store", store)
    if command == "import":
        _exported(project, tmp_path)
        store = tmp_path / "fresh.db"
        s = ("--store", store)
        flowc("people", "dana", "drafter", *s, cwd=tmp_path, check=True)
    elif command != "submit":
        flowc("version", "submit", project / "pricing.flow", "--as", "dana", *s, cwd=tmp_path,
              check=True)
    args = {"submit": ("version", "submit", project / "pricing.flow", "--as", "dana"),
            "review": ("version", "review", "pricing", "1", "--as", "dana"),
            "comment": ("version", "comment", "pricing", "1", "--as", "dana", "-m", "hm"),
            "import": ("version", "import", tmp_path / "pricing-v1.json", "--as", "dana")
            }[command]
    env = {**os.environ, "FLOWC_FAULT": f"{point}:{when}"}
    killed = subprocess.run([sys.executable, "-m", "flowc", *map(str, args), *s], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    from flowc.runtime.store import open_store

    st = open_store(str(store))
    try:
        assert st.verify_version_chain("pricing") == []
        events = [e.kind for e in st.version_events("pricing")]
        versions = st.list_versions("pricing")
    finally:
        st.close()
    done = when == "after"
    if command in ("submit", "import"):
        assert len(versions) == (1 if done else 0)
        assert events == (["version.submitted"] if done else [])
    elif command == "review":
        assert versions[0].status == ("in_review" if done else "draft")
        assert events[-1] == ("version.review_requested" if done else "version.submitted")
    else:
        assert events[-1] == ("version.comment" if done else "version.submitted")
    again = flowc(*args, *s, cwd=tmp_path)
    if done and command != "comment":  # already done: refused, in one line, nothing changed
        assert one_line_error(again)
    else:
        assert again.returncode == 0, again.stderr
    st = open_store(str(store))
    try:
        assert st.verify_version_chain("pricing") == []
        assert len(st.list_versions("pricing")) == 1
        if command == "review":
            assert st.get_version("pricing", 1).status == "in_review"
    finally:
        st.close()


GATED = '''flow payout version "1.0.0"
  "Pays a supplier once finance approves."

input amount: float

node check = await human(to: role("finance"), show: [amount], actions: [approve, reject],
                         timeout: 48h -> reject)

match check {
  approved -> pay
  rejected -> stop
}

node pay: float = code python(amount: amount) """
  result = amount
"""
  effect external

output paid = pay
'''

UNGATED = '''flow payout version "1.0.0"
  "Pays a supplier once finance approves."

policy approval: warning

input amount: float

node check = await human(to: role("finance"), show: [amount], actions: [approve, reject],
                         timeout: 24h -> reject)

match check {
  approved -> stop
  rejected -> stop
}

node pay: float = code python(amount: amount) """
  result = amount * 1
"""
  effect external

output paid = pay
'''


def test_flowc_diff_puts_an_effect_no_longer_behind_a_gate_first(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    s = ("--store", tmp_path / "runs.db")
    flowc("people", "dana", "drafter", *s, cwd=tmp_path, check=True)
    for text in (GATED, UNGATED):
        (folder / "payout.flow").write_text(text)
        flowc("version", "submit", folder / "payout.flow", "--as", "dana", *s, cwd=tmp_path,
              check=True)
    out = flowc("diff", "payout", "1", "2", *s, cwd=tmp_path, check=True).stdout
    changes = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert changes[0].startswith("DANGER   effect pay"), out
    assert any(c.startswith("warning  gate check") and "24h" in c for c in changes), out
    assert "--- " in out and '-  result = amount' in out and '+  result = amount * 1' in out
    assert "+++ " not in flowc("diff", "payout", "1", "2", "--semantic-only", *s,
                               cwd=tmp_path, check=True).stdout
    doc = json.loads(flowc("diff", "payout", "v1", "latest", "--format", "json", *s,
                           cwd=tmp_path, check=True).stdout)
    assert doc["changes"][0]["severity"] == "danger" and doc["to"]["number"] == 2
    assert doc["files"][0]["path"] == "payout.flow"
    same = flowc("diff", "payout", "1", "1", *s, cwd=tmp_path, check=True).stdout
    assert "no semantic changes; sources identical" in same
    assert "no version `7`" in one_line_error(flowc("diff", "payout", "1", "7", *s,
                                                    cwd=tmp_path))


def test_version_commands_anchor_the_history_head_when_the_project_has_an_anchor(project,
                                                                                 tmp_path):
    (project / "flowc.toml").write_text('[audit]\nanchor = "audit/heads.jsonl"\n')
    s = ("--store", tmp_path / "runs.db")
    heads = project / "audit" / "heads.jsonl"

    def anchored():
        return [json.loads(line) for line in heads.read_text().splitlines()]

    flowc("version", "submit", project / "pricing.flow", "--as", "dana", *s, cwd=project,
          check=True)
    assert [(h["run"], h["seq"]) for h in anchored()] == [("versions/pricing", 1)]
    flowc("version", "review", "pricing", "1", "--as", "dana", *s, cwd=project, check=True)
    flowc("version", "comment", "pricing", "1", "--as", "rita", "-m", "reading", *s,
          cwd=project, check=True)
    flowc("version", "approve", "pricing", "1", "--as", "rita", *s, cwd=project, check=True)
    flowc("publish", "pricing", "1", "--as", "pete", *s, cwd=project, check=True)
    assert [h["seq"] for h in anchored()] == [1, 2, 3, 4, 5]
    r = flowc("versions", "pricing", "--verify", *s, cwd=project, check=True)
    assert "every head anchored in" in r.stdout
    # an action refused appends nothing
    one_line_error(flowc("version", "approve", "pricing", "1", "--as", "rita", *s,
                         cwd=project))
    assert len(anchored()) == 5
    # an anchor that cannot be written: the action stays committed, a one-line warning
    r = flowc("version", "comment", "pricing", "1", "--as", "rita", "-m", "again", *s,
              "--anchor", "nosuchproto://x/heads.jsonl", cwd=project)
    assert r.returncode == 0 and "warning" in r.stderr and "Traceback" not in r.stderr, r
    assert len(anchored()) == 5
    # the head recorded before a rewrite no longer matches what the store holds
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute("UPDATE version_events SET actor = 'mallory' WHERE seq = 4")
    db.close()
    r = flowc("versions", "pricing", "--verify", *s, cwd=project)
    assert r.returncode == 1 and "history broken" in r.stdout
