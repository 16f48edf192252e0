"""Helpers of the `live` tests: the CLI against a temporary store, recording live or replaying,
the figures of a run (wall time, calls, tokens), and the record-then-replay check."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest
from flowc_testkit import one_sandbox_for_every_engine

from flowc import cli
from flowc.runtime.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module", autouse=True)
def shared_sandbox():
    """One sandbox pool for every engine the CLI makes in a module (as the offline tests)."""
    with one_sandbox_for_every_engine() as pool:
        yield pool


class LiveCli:
    """`flowc ...` against one temporary store; model calls go live and are recorded (one
    file per command), or are replayed from `replay`."""

    def __init__(self, folder: Path, flow: Path, replay: Path | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.flow, self.replay = folder, flow, replay
        self.store = str(folder / "runs.db")
        self.recordings: list[Path] = []
        self.wall = 0.0
        self.last = ""

    def __call__(self, *args: str, ok: bool = True) -> tuple[int, str]:
        out = io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main([*args, "--store", self.store])
        self.wall += time.monotonic() - started
        self.last = f"flowc {' '.join(args)} exited {code}:\n{out.getvalue()}"
        if ok:
            assert code == 0, f"flowc {' '.join(args)} exited {code}:\n{out.getvalue()}"
        return code, out.getvalue()

    def _models(self) -> list[str]:
        if self.replay is not None:
            return ["--replay", str(self.replay)]
        recording = self.folder / f"calls-{len(self.recordings) + 1}.jsonl"
        self.recordings.append(recording)
        return ["--record", str(recording)]

    def people(self, user: str, *roles: str) -> None:
        self("people", user, *roles)

    def run(self, *inputs: str) -> None:
        self("run", str(self.flow), *self._models(),
             *[a for i in inputs for a in ("--input", i)], ok=False)

    def tasks(self) -> list:
        with contextlib.closing(SQLiteStore(self.store)) as store:
            return sorted(store.list_tasks(status="pending"), key=lambda t: t.created_at)

    def resume(self, task: str, *decision: str, who: str) -> None:
        self("resume", task, *decision, "--as", who, *self._models(), ok=False)

    def main_run(self):
        with contextlib.closing(SQLiteStore(self.store)) as store:
            runs = [r for r in store.list_runs() if r.parent_run_id is None]
        assert runs, f"no run was started; {self.last}"
        return runs[0]

    def figures(self) -> dict:
        """Wall time, calls and tokens of every run in the store (from its model calls)."""
        with contextlib.closing(SQLiteStore(self.store)) as store:
            calls = store.model_calls()
        return {"wall_s": round(self.wall, 1), "calls": len(calls),
                "prompt_tokens": sum(c.prompt_tokens for c in calls),
                "completion_tokens": sum(c.completion_tokens for c in calls)}

    def recording(self) -> Path:
        """The command's recordings as one file (run, then each resume)."""
        joined = self.folder / "recording.jsonl"
        joined.write_text("".join(p.read_text() for p in self.recordings if p.exists()))
        return joined


def report(name: str, cli_: LiveCli, outcome: str) -> dict:
    """Print a test's figures (`-s` shows them) and append them to $FLOWC_LIVE_RESULTS."""
    figures = {"test": name, "outcome": outcome, **cli_.figures()}
    print(f"\nLIVE {name}: {outcome}; {figures['wall_s']} s, {figures['calls']} calls, "
          f"{figures['prompt_tokens']} prompt + {figures['completion_tokens']} completion tokens")
    results = os.environ.get("FLOWC_LIVE_RESULTS")
    if results:
        with open(results, "a") as f:
            f.write(json.dumps(figures) + "\n")
    keep = os.environ.get("FLOWC_LIVE_RECORDINGS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"{name}.live.jsonl").write_text(cli_.recording().read_text())
    return figures


def _stored(c: LiveCli) -> dict[tuple, str]:
    """Each model exchange in the store, by key: request, response, tokens and error as JSON
    text (`--record` and `--replay` do not go together, so the replayed side is the store)."""
    with contextlib.closing(SQLiteStore(c.store)) as store:
        calls = store.model_calls()
    return {(x.node_id, x.item, x.seq, x.attempt): json.dumps(
        [x.request, x.response, x.prompt_tokens, x.completion_tokens, x.error, x.model],
        ensure_ascii=False, separators=(",", ":"), default=str) for x in calls}


def replay_reproduces(live: LiveCli, replayed: LiveCli) -> None:
    """Replaying the live recording made the same requests and served the same answers, byte
    for byte (as stored), and the run ended the same way."""
    recorded = _stored(live)
    assert recorded, "the live run made no model call"
    assert len(live.recording().read_text().splitlines()) == len(recorded)
    again = _stored(replayed)
    assert again.keys() == recorded.keys()
    for key in recorded:
        a, b = recorded[key], again[key]
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert b == a, (f"the replay of {key} differs at character {at}: recorded "
                        f"…{a[max(0, at - 100):at + 100]!r}… replayed …{b[max(0, at - 100):at + 100]!r}…")
    a, b = live.main_run(), replayed.main_run()
    assert (a.status, a.outputs) == (b.status, b.outputs)


# ---- the example flows the live tests drive, and how (a run, then the people's decisions) --

def decide_all(c: LiveCli, *decision: str, who: str) -> None:
    for _ in range(5):   # each decision may open the next task
        tasks = c.tasks()
        if not tasks:
            return
        c.resume(tasks[0].id, *decision, who=who)


def _support_router(c: LiveCli) -> None:
    message = ("I took a taxi to the airport and back for the Suzhou client visit, CNY 340 in "
               "total, paid with my own card. How do I claim it back?")
    c.run("request=" + json.dumps({"employee": "wei.zhang", "message": message,
                                   "office": None}))
    for task in c.tasks():
        if task.kind == "ask":
            c.resume(task.id, "--answer", "shanghai", who="wei.zhang")


def _shipping_inquiry(c: LiveCli) -> None:
    c.run('order={"id": "A-3310", "customer": "Lukas Brandt", "email": '
          '"lukas.brandt@example.com", "total": 37.74, "currency": "EUR", '
          '"delivered_on": null}', "tracking_number=3SDEVC4471233",
          "message=Where is my parcel? Order A-3310 was supposed to come on Monday and the "
          "tracking has not moved since.")
    c.people("omar", "operations")
    decide_all(c, "--approve", who="omar")   # a parcel read as lost: its child flow's gate


def _complaint(c: LiveCli) -> None:
    c.people("noor", "team-lead")
    c.run('customer={"name": "Jonas Weber", "email": "jonas.weber@example.com", '
          '"ticket_id": "T-88412"}',
          "message=Unacceptable. This is the third time my order #A-1877 arrived with a "
          "cracked grinder hopper, and the box was crushed again. Honestly disappointed; I "
          "want this sorted properly.",
          'history=["2 June: hopper cracked on arrival, replacement hopper sent.", '
          '"9 June: replacement arrived cracked too, box dented."]')
    decide_all(c, "--approve", who="noor")


def _client_report(c: LiveCli) -> None:
    c.people("carla", "compliance")
    c.run('client={"id": "C-104", "name": "Ada Lovelace", "email": "ada@example.com", '
          '"currency": "EUR"}',
          f"holdings=@{EXAMPLES / 'client_report' / 'data' / 'holdings.csv'}",
          "month=2026-10")
    decide_all(c, "--approve", who="carla")


SCRIPTS = {
    "support_router": (EXAMPLES / "support_router" / "support_router.flow", _support_router),
    "shipping_inquiry": (EXAMPLES / "ecommerce" / "shipping_inquiry.flow", _shipping_inquiry),
    "complaint": (EXAMPLES / "ecommerce" / "complaint.flow", _complaint),
    "client_report": (EXAMPLES / "client_report" / "client_report.flow", _client_report),
}
