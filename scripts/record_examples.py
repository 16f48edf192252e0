"""Make the example flows' model recordings, so every example runs offline (`--replay`).

    .venv/bin/python scripts/record_examples.py            # every example
    .venv/bin/python scripts/record_examples.py client_report

No real model is called here: each example's model answers are scripted below, keyed by node
and call number, and the flow runs for real (skills in the sandbox, gates decided as listed)
while every exchange, with the engine's real requests, is written to
`examples/<example>/recordings/<flow>.jsonl`. Token counts are `tokens.estimate_tokens`
estimates. To record a real model instead: `flowc run FLOW --record FILE` with a provider
configured in examples/flowc.toml.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowc.compiler.api import compile_file
from flowc.config import load_config
from flowc.runtime.engine import Engine
from flowc.runtime.models.base import CallKey, ModelRequest, ModelResponse, ToolCall, Usage
from flowc.runtime.models.router import ModelCall, Models
from flowc.runtime.models.tokens import estimate_request_tokens, estimate_tokens
from flowc.runtime.store import SQLiteStore
from flowc.runtime.validate import file_value

ROOT = Path(__file__).resolve().parent.parent


def text(t: str) -> ModelResponse:
    return ModelResponse(t, [], Usage(), "stop", "scripted")


def data(value: Any) -> ModelResponse:
    return ModelResponse(json.dumps(value, ensure_ascii=False), [], Usage(), "stop", "scripted")


def tool(name: str, args: dict, call_id: str = "call_1") -> ModelResponse:
    return ModelResponse("", [ToolCall(call_id, name, args)], Usage(), "tool_calls", "scripted")


class ScriptedModels(Models):
    """Models whose answers come from a script keyed by (node, call number), recorded like any
    other exchange (the engine's real request, an estimated usage, the configured price)."""

    def __init__(self, config, script: dict, record: str):
        super().__init__(config, record=record)
        self.script = script

    def preflight(self, alias: str):
        return self.model_config(alias)  # scripted: no key needed

    def complete(self, alias: str, request: ModelRequest, key: CallKey) -> ModelCall:
        answer = self.script.get((key.node_id, key.seq))
        if answer is None:
            raise SystemExit(f"no scripted answer for node `{key.node_id}` call {key.seq}")
        usage = Usage(estimate_request_tokens(request),
                      estimate_tokens(answer.text) + sum(
                          estimate_tokens(json.dumps(c.arguments)) for c in answer.tool_calls))
        response = ModelResponse(answer.text, answer.tool_calls, usage, answer.finish_reason,
                                 self.config.models[alias].model)
        started = time.time()
        call = ModelCall(response, "scripted", alias, response.model,
                         self.config.models[alias].cost(usage.prompt_tokens,
                                                        usage.completion_tokens),
                         started, started + 0.001, request.to_json(), key)
        self._record(call)
        return call


@dataclass
class Example:
    flow: str                                   # relative to the repository
    inputs: dict[str, Any]                      # "@path" for a file input (relative to ROOT)
    script: dict[tuple[str, int], ModelResponse]
    # engine.decide kwargs, in order, each for the oldest pending task (child runs included),
    # or with "client_id" for the task of the run whose `client` input has that id
    decisions: list[dict] = field(default_factory=list)

    @property
    def recording(self) -> Path:
        f = ROOT / self.flow
        return f.parent / "recordings" / f"{f.stem}.jsonl"


CLIENT_BODY = (
    "Dear Ada,\n\nyour portfolio returned 1.13% in October (total return as computed by the "
    "statistics skill).\n\nOne position moved unusually: NOVO fell 33.39% over the month. It "
    "remains within your mandate; your adviser is happy to talk it through on a call.\n\n"
    "Past performance is not an indicator of future results.\n\nThis update is for information "
    "only and is not investment advice.")

ADA = {"id": "C-104", "name": "Ada Lovelace", "email": "ada@example.com", "currency": "EUR"}

# client_report's draft step, also what each child run of all_clients is served
CLIENT_DRAFT = {
    ("draft", 1): tool("render_report", {
        "title": "Ada Lovelace: October 2026", "body": CLIENT_BODY, "table": "table.csv"}),
    ("draft", 2): tool("finish", {
        "body": CLIENT_BODY, "subject": "Your portfolio in October 2026",
        "report": "report.pdf"}, "call_2"),
}

SUPPORT_ANSWER = (
    "Wei, you can claim the CNY 340 in the Finance portal (\"报销 / Expense claim\") within 30 "
    "days of the trip, and only with the official fapiao for each taxi ride.\n"
    "1. Ask the taxi company (or DiDi) for a fapiao for both rides.\n"
    "2. Open an expense claim in the Finance portal, category travel, and attach both fapiao.\n"
    "3. Name the Suzhou client visit as the purpose.\n"
    "Claims approved before the 20th are paid with the next monthly salary; next time, book "
    "through the DiDi business account.")

COMPLAINT_REPLY = (
    "Hi Jonas,\n\nI'm sorry your grinder arrived with a cracked hopper again: three times is "
    "not the service you should get from us. The box was crushed in transit, so this is a "
    "carrier problem, and we have logged it with them.\n\n"
    "1. A replacement hopper leaves our warehouse tomorrow, packed in a reinforced box.\n"
    "2. As an apology, you will receive a EUR 15 voucher by email today.\n\n"
    "If anything else is not right, just reply to this message.\n\nKind regards,\nCustomer Care")

RETURNS_CONFIRMATION = (
    "Hi Sam,\n\nyour refund of 299.0 EUR for order A-1042 is on its way back to your original "
    "payment method (reference RF-d3fbe6d1).\n\n"
    "1. Print the return label from the link below; it is valid for 14 days.\n"
    "2. Drop the grinder off, unused and with its labels.\n"
    "3. The refund arrives within 5 working days of the return reaching our warehouse.\n\n"
    "If you need anything else, just reply.\n\nKind regards,\nCustomer Care")

SHIPPING_ANSWER = (
    "Hi Lukas,\n\nI'm sorry your parcel is late. Order A-3310 is delayed, not lost: DPD "
    "reports it at their Oberhausen hub, held up by a sorting backlog after the public holiday, "
    "and their new estimate is 11 June 2025 (it was due on 9 June).\n\n"
    "1. You can follow it with tracking number 3SDEVC4471233 on DPD's public tracking page.\n"
    "2. If it has not arrived by 13 June, reply here and we will open an order exception "
    "and reship it.\n\nKind regards,\nCustomer Care")

ORDER_FIX_REPLY = (
    "Hi Lena,\n\nthank you for telling us, and I'm sorry the espresso beans were missing from "
    "order A-2291. Our warehouse confirms the two bags of espresso beans 1kg were short-picked; "
    "the grinder was packed as ordered.\n\n"
    "1. We are reshipping the 2 x espresso beans 1kg today, with the same service as your "
    "order.\n2. There is nothing for you to pay or send back.\n\n"
    "If anything else is not right, just reply to this message.\n\nKind regards,\nCustomer Care")

VIP_DRAFT = (
    "Dear Mira,\n\nthank you for your patience, and I'm sorry that three orders needed your "
    "attention at once. Here is where each one stands, most urgent first.\n\n"
    "1. Order A-4120 (the gift): the tracking says delivered, but you have not received it. "
    "We are sending a replacement by express today at no cost, so it reaches you in time.\n"
    "2. Order A-3987: I'm sorry the grinder's burr came loose after a week. We will collect "
    "it free of charge and send a new one by express.\n"
    "3. Order A-4093: happy to exchange the oat milk for the barista edition; the return is "
    "free and the new pack leaves as soon as you confirm.\n\n"
    "I am your contact for all three: just reply to this message.\n\nKind regards,\nTomas, "
    "Customer Care")

VIP_EDITED = VIP_DRAFT.replace(
    "We are sending a replacement by express today at no cost, so it reaches you in time.",
    "A replacement left by express this morning at no cost and arrives tomorrow before noon.")

PIPELINE_NOTE = (
    "Revenue this week: EUR 6,738.67 over 12 sales (439 units).\n"
    "North leads with EUR 2,366.98, ahead of east (EUR 2,030.49) and west (EUR 1,259.47).\n"
    "Filter papers move the most units (195); espresso beans bring the most revenue (EUR 2,898.84).\n"
    "South trails at EUR 1,081.73.\n"
    "No market search this week, so no outside news to add.")

EXAMPLES: dict[str, Example] = {
    "client_report": Example(
        flow="examples/client_report/client_report.flow",
        inputs={"client": ADA,
                "holdings": "@examples/client_report/data/holdings.csv",
                "month": "2026-10"},
        script={
            **CLIENT_DRAFT,
            ("rework", 1): text(
                "Dear Ada,\n\nyour portfolio returned 1.13% in October. NOVO fell 33.39%; it "
                "remains within your mandate. Past performance is not an indicator of future "
                "results.\n\nThis update is for information only and is not investment "
                "advice."),
        },
        decisions=[{"action": "approve", "by": "carla", "roles": ("compliance",)}]),
    "all_clients": Example(
        # two accounts of one client, each a child run of client_report (replay keys do not
        # name the child run, so both children are served the same draft): compliance approves
        # the first and sends the second back, which the rework step rewrites
        flow="examples/client_report/all_clients.flow",
        inputs={"accounts": [
            {"client": ADA,
             "holdings": "@examples/client_report/data/holdings.csv"},
            {"client": {"id": "C-104-P", "name": "Ada Lovelace",
                        "email": "ada.pension@example.com", "currency": "EUR"},
             "holdings": "@examples/client_report/data/holdings.csv"}],
            "month": "2026-10"},
        script={
            **CLIENT_DRAFT,
            ("rework", 1): text(
                "Dear Ada,\n\nyour pension portfolio returned 1.13% in October. NOVO fell "
                "33.39% over the month; the position remains within your mandate, and your "
                "adviser will explain the move on your next call.\n\nPast performance is not "
                "an indicator of future results.\n\nThis update is for information only and "
                "is not investment advice."),
        },
        decisions=[
            {"client_id": "C-104", "action": "approve", "by": "carla",
             "roles": ("compliance",)},
            {"client_id": "C-104-P", "action": "reject", "by": "carla", "roles": ("compliance",),
             "reason": "A pension account: say that the NOVO move is explained on the next "
                       "call, not that the adviser is happy to talk."}]),
    "support_router": Example(
        # the message does not say where Wei works and HR has no office on file: the flow asks
        # him, then answers from the Shanghai policy
        flow="examples/support_router/support_router.flow",
        inputs={"request": {
            "employee": "wei.zhang",
            "message": "I took a taxi to the airport and back for the Suzhou client visit, "
                       "CNY 340 in total, paid with my own card. How do I claim it back?",
            "office": None}},
        script={
            ("triage", 1): data({
                "rationale": "Getting money back for taxis paid personally on a business trip "
                             "is a reimbursement. The message names Suzhou as the trip's "
                             "destination, not the office Wei works in, so the office is left "
                             "empty. Nothing stops him working today: not urgent.",
                "category": "reimbursement", "office": None, "urgent": False}),
            ("shanghai_answer", 1): text(SUPPORT_ANSWER),
        },
        decisions=[{"action": "answer", "by": "wei.zhang", "answer": "shanghai"}]),
    "complaint": Example(
        # a third damaged delivery: the agent finds the carrier at fault and offers EUR 15, the
        # team lead approves, the voucher is issued and the reply goes out
        flow="examples/ecommerce/complaint.flow",
        inputs={"customer": {"name": "Jonas Weber", "email": "jonas.weber@example.com",
                             "ticket_id": "T-88412"},
                "message": "Unacceptable. This is the third time my order #A-1877 arrived with "
                           "a cracked grinder hopper, and the box was crushed again. Honestly "
                           "disappointed; I want this sorted properly.",
                "history": ["2 June: hopper cracked on arrival, replacement hopper sent.",
                            "9 June: replacement arrived cracked too, box dented."]},
        script={
            ("draft", 1): tool("finish", {
                "reply": COMPLAINT_REPLY, "voucher": 15, "root_cause": "carrier",
                "serious": False}),
        },
        decisions=[{"action": "approve", "by": "noor", "roles": ("team-lead",)}]),
    "order_exception": Example(
        # a missing item: the warehouse record shows a short pick, the agent prescribes a
        # reshipment, operations approves it, the warehouse reships and the customer is told
        flow="examples/ecommerce/order_exception.flow",
        inputs={"order": {"id": "A-2291", "customer": "Lena Fischer",
                          "email": "lena.fischer@example.com", "total": 348.98,
                          "currency": "EUR", "delivered_on": "2025-06-10"},
                "message": "My order #A-2291 came with a missing item: the two bags of espresso "
                           "beans were not in the box, only the grinder."},
        script={
            ("diagnosis", 1): tool("finish", {
                "kind": "missing_item", "remedy": "reship", "cost": 49.98,
                "note": "The pick list shows 2 x espresso beans 1kg (ESP-1KG) ordered and none "
                        "picked (bin E-14 empty at pick time); the grinder pro was packed. "
                        "Reship the 2 bags, same service, EUR 49.98 at 24.99 each."}),
            ("fix_reply", 1): text(ORDER_FIX_REPLY),
        },
        decisions=[{"action": "approve", "by": "omar", "roles": ("operations",)}]),
    "returns": Example(
        # 14 days after delivery, EUR 299: inside the window and above EUR 100, so the refunds
        # team checks it first; approved, the refund is paid and confirmed
        flow="examples/ecommerce/returns.flow",
        inputs={"order": {"id": "A-1042", "customer": "Sam Okafor",
                          "email": "sam.okafor@example.com", "total": 299.0, "currency": "EUR",
                          "delivered_on": "2025-06-02", "sale": False},
                "message": "I'd like to return the grinder pro from order A-1042, it is too "
                           "loud for our flat. Can I get a refund?",
                "today": "2025-06-16"},
        script={("confirmation", 1): text(RETURNS_CONFIRMATION)},
        decisions=[{"action": "approve", "by": "rosa", "roles": ("refunds",)}]),
    "helpdesk": Example(
        # one turn of the chat flow (flowc serve fills message, history and user per message):
        # the answer promises a refund, so a support lead approves it before it is sent
        flow="examples/helpdesk/helpdesk.flow",
        inputs={"message": "The mug arrived broken. Can I have my 12 EUR back?",
                "history": ["user: Hello, I ordered a mug last week.",
                            "assistant: Thanks for writing: how can I help with the order?"],
                "user": "jonas"},
        script={
            ("draft", 1): data({"answer": "Sorry about the broken mug: we refund your 12 EUR "
                                          "within three working days.", "refund": 12.0}),
        },
        decisions=[{"action": "approve", "by": "carla", "roles": ("support_lead",)}]),
    "shipping_inquiry": Example(
        # a late parcel: the answer reads the carrier's tracking, the extraction turns it into
        # fields (delayed, 2025-06-11, DPD), and since it is not lost no exception is opened
        flow="examples/ecommerce/shipping_inquiry.flow",
        inputs={"order": {"id": "A-3310", "customer": "Lukas Brandt",
                          "email": "lukas.brandt@example.com", "total": 37.74,
                          "currency": "EUR", "delivered_on": None},
                "tracking_number": "3SDEVC4471233",
                "message": "Where is my parcel? Order A-3310 was supposed to come on Monday "
                           "and the tracking has not moved since."},
        script={
            ("answer", 1): text(SHIPPING_ANSWER),
            ("parcel", 1): data({"status": "delayed", "expected": "2025-06-11",
                                 "carrier": "DPD"}),
        }),
    "vip": Example(
        # three open tickets of a platinum customer, ordered in code; the account manager edits
        # the draft and orders a card, so the edited reply and the card go out
        flow="examples/ecommerce/vip.flow",
        inputs={"customer": {"name": "Mira Castellanos", "email": "mira.castellanos@example.com",
                             "tier": "platinum", "account_manager": "tomas"},
                "open_tickets": [
                    "I'd like to exchange the oat milk from order #A-4093 for the barista "
                    "edition.",
                    "The grinder from order #A-3987 is terrible, the burr came loose after a "
                    "week. Disappointed.",
                    "My order #A-4120 still hasn't arrived and the tracking says delivered. I "
                    "need it today for a gift."]},
        script={("draft", 1): tool("finish", {"text": VIP_DRAFT})},
        decisions=[{"action": "edit", "by": "tomas",
                    "values": {"reply": VIP_EDITED, "send_card": True},
                    "reason": "the replacement already left this morning"}]),
    "data_pipeline": Example(
        # offline: no web search (search_web=false), so the note says there is no market news
        flow="examples/data_pipeline/data_pipeline.flow",
        inputs={"sheet": "@examples/data_pipeline/turnsheet.csv", "search_web": False},
        script={("note", 1): text(PIPELINE_NOTE)}),
}


def _files(value: Any) -> Any:
    """"@path" strings (relative to the repository) as file values, at any depth."""
    if isinstance(value, str) and value.startswith("@"):
        return file_value(str(ROOT / value[1:]))
    if isinstance(value, dict):
        return {k: _files(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_files(v) for v in value]
    return value


def _inputs(example: Example) -> dict:
    return {k: _files(v) for k, v in example.inputs.items()}


def record(name: str, example: Example, workdir: Path) -> str:
    flow = ROOT / example.flow
    result = compile_file(flow)
    if result.plan is None:
        raise SystemExit(f"{example.flow} does not compile")
    example.recording.parent.mkdir(exist_ok=True)
    example.recording.unlink(missing_ok=True)
    store = SQLiteStore(str(workdir / f"{name}.db"))
    models = ScriptedModels(load_config(flow.parent), example.script, str(example.recording))
    with Engine(store, workspace=str(workdir / "ws"), base_dir=str(flow.parent),
                models=models) as engine:
        run = engine.start(result.plan, _inputs(example))
        for decision in example.decisions:
            decision = dict(decision)
            client = decision.pop("client_id", None)
            tasks = sorted((t for t in store.list_tasks(status="pending")
                            if client is None or store.get_run(t.run_id).inputs.get(
                                "client", {}).get("id") == client), key=lambda t: t.created_at)
            if not tasks:
                break
            engine.decide(tasks[0].id, **decision)
        run = store.get_run(run.id)
    models.close()
    calls = len(example.recording.read_text().splitlines())
    return f"{name}: run {run.status}, {calls} exchange(s) -> " \
        f"{example.recording.relative_to(ROOT)}" + (f" ({run.error})" if run.error else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"examples (default: all of {', '.join(EXAMPLES)})")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in EXAMPLES]
    if unknown:
        print(f"unknown example `{unknown[0]}` (examples: {', '.join(EXAMPLES)})",
              file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names or EXAMPLES:
            line = record(name, EXAMPLES[name], Path(tmp))
            failed += "run failed" in line
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
