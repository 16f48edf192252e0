"""Every example flow with model nodes runs offline through the CLI, on its recording.

Each test is the command line a reader would type (`flowc people`, `flowc run --replay`,
`flowc resume --replay`), called in-process through `flowc.cli.main`, with a temporary store;
the skills run in the real sandbox (one pool shared by the whole module). The recordings are
made by scripts/record_examples.py (scripted answers, not a real model): when a flow changes,
run it again. `test_every_model_example_ships_a_current_recording` checks that none is
missing or stale.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from flowc_testkit import one_sandbox_for_every_engine

from flowc import cli
from flowc.compiler.api import compile_file
from flowc.runtime.models.record import load_exchanges
from flowc.runtime.store import SQLiteStore
from flowc.runtime.validate import file_value

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODEL_KINDS = {"llm", "agent", "extract"}
CALLED: dict[str, set[tuple[str, int, int]]] = {}  # recording -> the keys the runs asked for


@pytest.fixture(scope="module", autouse=True)
def shared_sandbox():
    """One sandbox pool for every engine the CLI makes in this module."""
    with one_sandbox_for_every_engine() as pool:
        yield pool


class Cli:
    """`flowc ...` against one temporary store, replaying one recording."""

    def __init__(self, tmp_path: Path, flow: str):
        self.store = str(tmp_path / "runs.db")
        self.flow = EXAMPLES / flow
        self.recording = self.flow.parent / "recordings" / f"{self.flow.stem}.jsonl"

    def __call__(self, *args: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main([*args, "--store", self.store])
        assert code == 0, f"flowc {' '.join(args)} exited {code}:\n{out.getvalue()}"
        return out.getvalue()

    def people(self, user: str, *roles: str) -> None:
        self("people", user, *roles)

    def run(self, *inputs: str) -> None:
        self("run", str(self.flow), "--replay", str(self.recording),
             *[a for i in inputs for a in ("--input", i)])

    def tasks(self) -> list:
        with contextlib.closing(SQLiteStore(self.store)) as store:
            return sorted(store.list_tasks(status="pending"), key=lambda t: t.created_at)

    def resume(self, task: str, *decision: str, who: str) -> None:
        self("resume", task, *decision, "--as", who, "--replay", str(self.recording))

    def runs(self) -> dict:
        """Every run in the store by id; the top-level run under the key `main`. Also notes
        which recorded keys the runs asked for."""
        with contextlib.closing(SQLiteStore(self.store)) as store:
            runs = {r.id: r for r in store.list_runs()}
            called = {(c.node_id, c.item, c.seq) for c in store.model_calls()}
        CALLED.setdefault(str(self.recording), set()).update(called)
        runs["main"] = next(r for r in runs.values() if r.parent_run_id is None)
        return runs


def _succeeded(cli_: Cli):
    runs = cli_.runs()
    assert all(r.status == "succeeded" for r in runs.values()), \
        {r.id: (r.status, r.error) for r in runs.values()}
    return runs["main"].outputs


def test_client_report(tmp_path):
    c = Cli(tmp_path, "client_report/client_report.flow")
    c.people("carla", "compliance")
    c.run('client={"id": "C-104", "name": "Ada Lovelace", "email": "ada@example.com", '
          '"currency": "EUR"}',
          "holdings=@examples/client_report/data/holdings.csv", "month=2026-10")
    [task] = c.tasks()
    assert task.node_id == "review" and "unusual moves in 2026-10" in task.title
    c.resume(task.id, "--approve", who="carla")
    out = _succeeded(c)
    assert out["status"] == "anomaly" and out["decision"] == "approved"
    assert out["report"]["name"] == "report.pdf" and out["revision"] is None
    outbox = list((tmp_path / "workspace").rglob("outbox/*.eml"))
    assert len(outbox) == 1 and "To: ada@example.com" in outbox[0].read_text()


def test_all_clients_approves_one_account_and_sends_one_back(tmp_path):
    c = Cli(tmp_path, "client_report/all_clients.flow")
    holdings = file_value(str(EXAMPLES / "client_report" / "data" / "holdings.csv"))
    accounts = [{"client": {"id": cid, "name": "Ada Lovelace", "email": email,
                            "currency": "EUR"},
                 "holdings": holdings}
                for cid, email in (("C-104", "ada@example.com"),
                                   ("C-104-P", "ada.pension@example.com"))]
    c.people("carla", "compliance")
    c.run(f"accounts={json.dumps(accounts)}", "month=2026-10")
    tasks = c.tasks()
    assert [t.node_id for t in tasks] == ["review", "review"]  # one per child run
    with contextlib.closing(SQLiteStore(c.store)) as store:
        by_client = {store.get_run(t.run_id).inputs["client"]["id"]: t.id for t in tasks}
    c.resume(by_client["C-104"], "--approve", who="carla")
    c.resume(by_client["C-104-P"], "--reject", "--reason", "explain the NOVO move on a call",
             who="carla")
    out = _succeeded(c)
    assert out["summary"] == ("2 reports for 2026-10: 2 reviewed by compliance, 1 sent back "
                              "(Ada Lovelace).")
    first, second = out["results"]
    assert (first["decision"], second["decision"]) == ("approved", "rejected")
    assert first["revision"] is None
    assert second["revision"].startswith("Dear Ada,\n\nyour pension portfolio returned 1.13%")


def test_support_router_asks_for_the_office_then_answers_from_its_policy(tmp_path):
    c = Cli(tmp_path, "support_router/support_router.flow")
    message = ("I took a taxi to the airport and back for the Suzhou client visit, CNY 340 in "
               "total, paid with my own card. How do I claim it back?")
    c.run("request=" + json.dumps({"employee": "wei.zhang", "message": message,
                                   "office": None}))
    [task] = c.tasks()
    assert task.kind == "ask" and task.node_id == "where"
    c.resume(task.id, "--answer", "shanghai", who="wei.zhang")
    out = _succeeded(c)
    assert out["category"] == "reimbursement" and out["urgent"] is False
    assert out["office"] == "shanghai"
    assert "fapiao" in out["answer"] and "CNY 340" in out["answer"]


def test_complaint_issues_the_voucher_the_team_lead_approved(tmp_path):
    c = Cli(tmp_path, "ecommerce/complaint.flow")
    c.people("noor", "team-lead")
    c.run('customer={"name": "Jonas Weber", "email": "jonas.weber@example.com", '
          '"ticket_id": "T-88412"}',
          "message=Unacceptable. This is the third time my order #A-1877 arrived with a "
          "cracked grinder hopper, and the box was crushed again. Honestly disappointed; I "
          "want this sorted properly.",
          'history=["2 June: hopper cracked on arrival, replacement hopper sent.", '
          '"9 June: replacement arrived cracked too, box dented."]')
    [task] = c.tasks()
    assert task.title == "Complaint on ticket T-88412: carrier"
    c.resume(task.id, "--approve", who="noor")
    out = _succeeded(c)
    assert out == {"root_cause": "carrier", "decision": "approved", "voucher_issued": 0}
    [voucher] = (tmp_path / "workspace").rglob("vouchers/*.json")
    assert json.loads(voucher.read_text())["amount"] == 15


def test_order_exception_reships_the_short_picked_item(tmp_path):
    c = Cli(tmp_path, "ecommerce/order_exception.flow")
    c.people("omar", "operations")
    c.run('order={"id": "A-2291", "customer": "Lena Fischer", "email": '
          '"lena.fischer@example.com", "total": 348.98, "currency": "EUR", '
          '"delivered_on": "2025-06-10"}',
          "message=My order #A-2291 came with a missing item: the two bags of espresso beans "
          "were not in the box, only the grinder.")
    [task] = c.tasks()
    assert task.title == "reship for order A-2291 (normal)"
    c.resume(task.id, "--approve", who="omar")
    out = _succeeded(c)
    assert (out["kind"], out["remedy"], out["ops_decision"]) == \
        ("missing_item", "reship", "approved")
    assert "2 x espresso beans 1kg" in out["reply"]
    [reship] = (tmp_path / "workspace").rglob("wms/A-2291-reship.json")
    assert "EUR 49.98" in json.loads(reship.read_text())["note"]


def test_returns_refunds_after_the_refunds_team_approves(tmp_path):
    c = Cli(tmp_path, "ecommerce/returns.flow")
    c.people("rosa", "refunds")
    c.run('order={"id": "A-1042", "customer": "Sam Okafor", "email": "sam.okafor@example.com",'
          ' "total": 299.0, "currency": "EUR", "delivered_on": "2025-06-02", "sale": false}',
          "message=I'd like to return the grinder pro from order A-1042, it is too loud for "
          "our flat. Can I get a refund?", "today=2025-06-16")
    [task] = c.tasks()
    assert task.title == "Refund of 299 EUR for order A-1042"
    c.resume(task.id, "--approve", who="rosa")
    out = _succeeded(c)
    assert (out["decision"], out["days_since_delivery"], out["ticket_category"]) == \
        ("refund", 14, "returns")
    [refund] = (tmp_path / "workspace").rglob("payments/RF-*.json")
    ref = json.loads(refund.read_text())
    assert ref["amount"] == 299.0 and f"reference {ref['reference']}" in out["reply"]


def test_shipping_inquiry_extracts_a_delayed_parcel(tmp_path):
    c = Cli(tmp_path, "ecommerce/shipping_inquiry.flow")
    c.run('order={"id": "A-3310", "customer": "Lukas Brandt", "email": '
          '"lukas.brandt@example.com", "total": 37.74, "currency": "EUR", "delivered_on": null}',
          "tracking_number=3SDEVC4471233",
          "message=Where is my parcel? Order A-3310 was supposed to come on Monday and the "
          "tracking has not moved since.")
    out = _succeeded(c)
    assert (out["status"], out["expected"], out["category"]) == \
        ("delayed", "2025-06-11", "shipping")
    assert "11 June 2025" in out["reply"]
    with contextlib.closing(SQLiteStore(c.store)) as store:
        nodes = {n.node_id: n for n in store.node_results(c.runs()["main"].id)}
    assert nodes["parcel"].outcome == "extracted"  # the fields, not the fallback text
    assert nodes["exception"].status == "skipped"  # not lost: no order exception


def test_helpdesk_holds_a_promised_refund_for_a_support_lead(tmp_path):
    """One turn of the chat example through the CLI (flowc serve fills the same inputs per
    message): the answer promises money, so it waits for a support lead's approval."""
    c = Cli(tmp_path, "helpdesk/helpdesk.flow")
    c.run("message=The mug arrived broken. Can I have my 12 EUR back?",
          'history=["user: Hello, I ordered a mug last week.", "assistant: Thanks for '
          'writing: how can I help with the order?"]', "user=jonas")
    [task] = c.tasks()
    assert task.title == "Promise jonas a refund of 12 EUR?"
    c.people("carla", "support_lead")
    c.resume(task.id, "--approve", who="carla")
    out = _succeeded(c)
    assert out["refund"] == 12.0 and "refund your 12 EUR" in out["answer"]


def test_vip_sends_the_managers_edit_and_orders_a_card(tmp_path):
    c = Cli(tmp_path, "ecommerce/vip.flow")
    c.run('customer={"name": "Mira Castellanos", "email": "mira.castellanos@example.com", '
          '"tier": "platinum", "account_manager": "tomas"}',
          "open_tickets=" + json.dumps([
              "I'd like to exchange the oat milk from order #A-4093 for the barista edition.",
              "The grinder from order #A-3987 is terrible, the burr came loose after a week. "
              "Disappointed.",
              "My order #A-4120 still hasn't arrived and the tracking says delivered. I need it "
              "today for a gift."]))
    [task] = c.tasks()
    assert task.title == "Reply to Mira Castellanos (platinum, 1 urgent)"
    draft = task.form["values"]["reply"]
    assert draft.index("A-4120") < draft.index("A-3987") < draft.index("A-4093")  # by priority
    edited = draft.replace(
        "We are sending a replacement by express today at no cost, so it reaches you in time.",
        "A replacement left by express this morning at no cost and arrives tomorrow before "
        "noon.")
    c.resume(task.id, "--edit", f"reply={edited}", "--edit", "send_card=true", who="tomas")
    out = _succeeded(c)
    assert out["outcome"] == "edited" and out["note_for_manager"] is None
    ws = tmp_path / "workspace"
    [sent] = ws.rglob("helpdesk/HD-*.json")
    assert json.loads(sent.read_text())["edited_by"] == "tomas"
    assert "before noon" in json.loads(sent.read_text())["body"]
    [card] = ws.rglob("cards/CD-*.json")
    assert json.loads(card.read_text())["sender"] == "tomas"


def test_data_pipeline_without_the_web(tmp_path):
    c = Cli(tmp_path, "data_pipeline/data_pipeline.flow")
    c.run("sheet=@examples/data_pipeline/turnsheet.csv", "search_web=false")
    out = _succeeded(c)
    assert out["revenue"] == 6738.67 and out["problems"] == []
    assert out["by_region"] == {"north": 2366.98, "east": 2030.49, "west": 1259.47,
                                "south": 1081.73}
    assert out["weekly_note"].startswith("Revenue this week: EUR 6,738.67 over 12 sales")


def test_every_model_example_ships_a_current_recording():
    """Every example flow with model nodes has a recording whose lines parse, and its keys are
    exactly the calls its run above made (a missing one would be a ReplayMiss, an extra one a
    stale recording). Runs last in this module: it reads what the runs noted."""
    with_models = []
    for flow in sorted(EXAMPLES.glob("*/*.flow")):
        if flow.parent.name == "broken":
            continue
        plan = compile_file(flow).plan
        assert plan is not None, f"{flow} does not compile"
        if any({n.kind, n.config.get("body", {}).get("kind")} & (MODEL_KINDS | {"flow"})
               for n in plan.nodes):  # model nodes, or a child flow (client_report's)
            with_models.append(flow)
    assert len(with_models) == 10
    for flow in with_models:
        recording = flow.parent / "recordings" / f"{flow.stem}.jsonl"
        assert recording.is_file(), f"{flow.relative_to(ROOT)} has no recording"
        for line in recording.read_text().splitlines():
            json.loads(line)
        recorded = {(e.key.node_id, e.key.item, e.key.seq) for e in load_exchanges(recording)}
        if str(recording) in CALLED:  # the module's runs covered it (not under -k)
            assert recorded == CALLED[str(recording)], recording.name
