"""The inbox shows how many tasks there are (issue 13, finding 10): pages with "showing N of
M", `--all`, and filters by person, role and flow, through the real CLI on a real SQLite
store holding 10,003 pending tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from flowc_testkit import ROOT

from flowc.runtime.store import SQLiteStore

TOTAL = 10_003


def flowc(*args):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    env.pop("FLOWC_STORE", None)
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def who(i: int) -> list[dict]:
    """Task i is for: role lead (i % 4 == 0), user ana (1), role finance (2), anyone (3)."""
    return [[{"kind": "role", "name": "lead"}], [{"kind": "user", "name": "ana"}],
            [{"kind": "role", "name": "finance"}], []][i % 4]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """A store with TOTAL pending tasks (every third one of flow `payroll`, the others of
    `refunds`), a decided one, and people.json: ana holds role lead, bo holds finance."""
    folder = tmp_path_factory.mktemp("inbox")
    db = folder / "runs.db"
    clock = [1_000_000.0]

    def tick():
        clock[0] += 1
        return clock[0]

    ids: list[tuple[str, str, list]] = []   # (task id, flow, assignees), oldest first
    with SQLiteStore(str(db), clock=tick) as store:
        store.put_plan("p" * 64, "{}")
        refunds = store.create_run("refunds", "p" * 64)
        payroll = store.create_run("payroll", "p" * 64)
        with store.transaction():
            for i in range(TOTAL):
                run = payroll if i % 3 == 0 else refunds
                t = store.create_task(run.id, f"n{i}", assignees=who(i), title=f"task {i}")
                ids.append((t.id, run.flow_name, who(i)))
            decided = store.create_task(refunds.id, "done", title="decided already")
        store.decide_task(decided.id, {"outcome": "approved"}, "ana")
    (folder / "people.json").write_text(json.dumps({"ana": ["lead"], "bo": ["finance"]}))
    return db, ids


def task_lines(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if "  for " in line]


def footer(out: str) -> str:
    return out.rstrip("\n").splitlines()[-1]


def test_the_first_page_says_how_many_there_are(inbox):
    db, ids = inbox
    r = flowc("inbox", "--store", db)
    assert r.returncode == 0, r.stderr
    assert task_lines(r.stdout) == [t for t, _, _ in ids[:100]]
    assert footer(r.stdout) == (f"showing 1-100 of {TOTAL} pending tasks (next: --page 2; "
                                "everything: --all)")


def test_pages_and_all(inbox):
    db, ids = inbox
    r = flowc("inbox", "--page", 101, "--store", db)
    assert r.returncode == 0, r.stderr
    assert task_lines(r.stdout) == [t for t, _, _ in ids[10_000:]]
    assert footer(r.stdout) == f"showing 10001-{TOTAL} of {TOTAL} pending tasks"
    r = flowc("inbox", "--limit", 1000, "--page", 2, "--store", db)
    assert task_lines(r.stdout) == [t for t, _, _ in ids[1000:2000]]
    assert footer(r.stdout).startswith(f"showing 1001-2000 of {TOTAL} pending tasks")
    r = flowc("inbox", "--all", "--store", db)
    assert r.returncode == 0, r.stderr
    assert task_lines(r.stdout) == [t for t, _, _ in ids]
    assert footer(r.stdout) == f"showing all {TOTAL} pending tasks"
    r = flowc("inbox", "--page", 200, "--store", db)   # past the end: nothing, said so
    assert r.returncode == 0 and task_lines(r.stdout) == []
    assert footer(r.stdout) == f"page 200 is past the end: {TOTAL} pending tasks, 101 pages"


def test_json_pages_say_what_they_leave_out(inbox):
    db, ids = inbox
    r = flowc("inbox", "--json", "--store", db)
    assert r.returncode == 0, r.stderr
    assert [e["id"] for e in json.loads(r.stdout)] == [t for t, _, _ in ids[:100]]
    assert r.stderr.strip() == (f"flowc: showing 1-100 of {TOTAL} pending tasks (next: "
                                "--page 2; everything: --all)")
    r = flowc("inbox", "--json", "--all", "--store", db)
    entries = json.loads(r.stdout)
    assert len(entries) == TOTAL and r.stderr == ""
    assert [e["flow"] for e in entries[:4]] == ["payroll", "refunds", "refunds", "payroll"]


def test_filters_by_person_role_and_flow(inbox):
    db, ids = inbox
    # ana may decide: tasks named for her, for role lead (which she holds), and for anyone
    r = flowc("inbox", "--for", "ana", "--all", "--store", db)
    assert r.returncode == 0, r.stderr
    mine = [t for k, (t, _, _) in enumerate(ids) if k % 4 in (0, 1, 3)]
    assert task_lines(r.stdout) == mine
    assert footer(r.stdout) == f"showing all {len(mine)} pending tasks ana may decide"
    # assigned to role finance (bo's), in flow payroll
    r = flowc("inbox", "--role", "finance", "--flow", "payroll", "--all", "--store", db)
    both = [t for k, (t, _, _) in enumerate(ids) if k % 4 == 2 and k % 3 == 0]
    assert task_lines(r.stdout) == both
    assert footer(r.stdout) == (f"showing all {len(both)} pending tasks for role finance of "
                                "flow `payroll`")
    # the filters and the pages together
    r = flowc("inbox", "--flow", "refunds", "--for", "bo", "--limit", 10, "--store", db)
    bo = [t for k, (t, _, _) in enumerate(ids) if k % 3 != 0 and k % 4 in (2, 3)]
    assert task_lines(r.stdout) == bo[:10]
    assert footer(r.stdout) == (f"showing 1-10 of {len(bo)} pending tasks bo may decide of "
                                "flow `refunds` (next: --page 2; everything: --all)")
    r = flowc("inbox", "--flow", "refunds", "--for", "bo", "--json", "--all", "--store", db)
    assert [e["id"] for e in json.loads(r.stdout)] == bo
    r = flowc("inbox", "--flow", "nosuch", "--store", db)
    assert r.returncode == 0 and r.stdout == "no pending tasks of flow `nosuch`\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--page", "0"], "--page counts from 1"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--all", "--page", "2"], "--all shows every task: leave out --page"),
])
def test_bad_paging_is_one_line(inbox, args, message):
    db, _ = inbox
    r = flowc("inbox", *args, "--store", db)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
