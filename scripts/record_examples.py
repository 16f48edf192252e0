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
    decisions: list[dict] = field(default_factory=list)   # engine.decide kwargs, in order

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

EXAMPLES: dict[str, Example] = {
    "client_report": Example(
        flow="examples/client_report/client_report.flow",
        inputs={"client": {"id": "C-104", "name": "Ada Lovelace", "email": "ada@example.com",
                           "currency": "EUR"},
                "holdings": "@examples/client_report/data/holdings.csv",
                "month": "2026-10"},
        script={
            ("draft", 1): tool("render_report", {
                "title": "Ada Lovelace: October 2026", "body": CLIENT_BODY,
                "table": "table.csv"}),
            ("draft", 2): tool("finish", {
                "body": CLIENT_BODY, "subject": "Your portfolio in October 2026",
                "report": "report.pdf"}, "call_2"),
            ("rework", 1): text(
                "Dear Ada,\n\nyour portfolio returned 1.13% in October. NOVO fell 33.39%; it "
                "remains within your mandate. Past performance is not an indicator of future "
                "results.\n\nThis update is for information only and is not investment "
                "advice."),
        },
        decisions=[{"action": "approve", "by": "carla", "roles": ("compliance",)}]),
}


def _inputs(example: Example) -> dict:
    out = {}
    for k, v in example.inputs.items():
        out[k] = file_value(str(ROOT / v[1:])) if isinstance(v, str) and v.startswith("@") \
            else v
    return out


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
            tasks = store.list_tasks(status="pending", run_id=run.id)
            if not tasks:
                break
            run = engine.decide(tasks[0].id, **decision)
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
