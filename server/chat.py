"""Chat mode: a `mode chat` flow is a conversation. Each message a person sends starts one run
of the flow (a turn); the server fills the flow's inputs by name:

- `message: str`      the person's text;
- `history`           the conversation so far, oldest first: as `list<str>`, each message
                       "role: text"; as a list of a record with `role` and `text` fields, each
                       `{role, text}` (role "user" or "assistant");
- `user: str`         the person's name;
- `memory`            the previous turn's output named `memory` (none on the first turn), so a
                       flow keeps what it extracted from one turn to the next;
(a flow whose only input is a record gets these as that record's fields instead).

The turn's answer is its output named `answer` (else `reply`, else its only `str` output). It
streams back as server-sent events: `status` while the run goes on, `task` when a gate or
`ask human` inside the turn waits for a person (with the link of its form), then `answer` and
`done`. An `ask human` routed to the person chatting is answered in the conversation."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .errors import JSONResponse, RequestProblem

__all__ = ["chat_api_routes", "chat_page_routes", "turn_inputs"]

MAX_MESSAGE_BYTES = 32 * 1024
MAX_HISTORY = 50
POLL = 0.2
TURN_WAIT = 600.0


def _as_texts(schema: Any) -> bool:
    """A `history` declared as `list<str>`: each message as "role: text"."""
    if not isinstance(schema, dict):
        return False
    for sub in [schema, *schema.get("anyOf", ())]:
        if isinstance(sub, dict) and sub.get("type") == "array":
            return (sub.get("items") or {}).get("type") == "string"
    return False


def turn_inputs(plan, message: str, history: list[dict], user: str, memory: Any) -> dict:
    values = {"message": message, "history": history, "user": user, "memory": memory}
    names = {s.name for s in plan.inputs}
    spec = next((s for s in plan.inputs if s.name == "history"), None)
    if spec is not None and _as_texts(spec.schema_):
        values["history"] = [f"{m['role']}: {m['text']}" for m in history]
    if names & set(values):
        return {k: v for k, v in values.items() if k in names and not (
            k == "memory" and v is None)}
    if len(plan.inputs) == 1:
        spec = plan.inputs[0]
        props = (spec.schema_ or {}).get("properties") or {}
        return {spec.name: {k: v for k, v in values.items() if k in props and v is not None}}
    return {}


def answer_of(outputs: Any) -> str | None:
    if not isinstance(outputs, dict):
        return None
    for key in ("answer", "reply"):
        if isinstance(outputs.get(key), str):
            return outputs[key]
    texts = [v for v in outputs.values() if isinstance(v, str)]
    return texts[0] if len(texts) == 1 else None


def _history(store, conversation: str) -> tuple[list[dict], Any]:
    msgs = store.chat_messages(conversation)
    history = [{"role": m.role, "text": m.text} for m in msgs if m.role in ("user", "assistant")]
    memory = None
    for m in reversed(msgs):
        if m.role == "assistant" and m.run_id:
            run = store.get_run(m.run_id)
            if run is not None and isinstance(run.outputs, dict):
                memory = run.outputs.get("memory")
            break
    return history[-MAX_HISTORY:], memory


def send_message(service, conversation: dict, who, text: str):
    """Record the person's message and start the turn's run; the run's id."""
    from flowc.runtime.engine import RunRefused

    if not isinstance(text, str) or not text.strip():
        raise RequestProblem("the message is empty")
    if len(text.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise RequestProblem(f"the message is longer than {MAX_MESSAGE_BYTES} bytes", 413)
    entry = service.flow_entry(conversation["flow"])
    if entry is None or entry.plan is None:
        why = f": {entry.errors[0]}" if entry and entry.errors else ""
        raise RequestProblem(f"this conversation's flow is not served now{why}", 404)
    history, memory = _history(service.store, conversation["id"])
    inputs = turn_inputs(entry.plan, text, history, who.name, memory)
    try:
        run = service.start_run(entry, inputs, by=who.name)
    except RunRefused as e:
        raise RequestProblem(f"the turn did not start: {e}") from None
    service.store.add_chat_message(conversation["id"], "user", text, run.id)
    return run


async def turn_events(service, conversation: dict, run_id: str, *, wait: float = TURN_WAIT):
    """Server-sent events of one turn until it ends (or `wait` seconds pass)."""
    store = service.store
    last, told = None, set()
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while loop.time() < end:
        run = await asyncio.to_thread(store.get_run, run_id)
        if run is None:
            break
        if run.status != last:
            last = run.status
            yield _event("status", {"run": run_id, "status": run.status})
        for t in await asyncio.to_thread(
                lambda: store.list_tasks("pending", run_id=run_id, limit=20)):
            if t.id not in told:
                told.add(t.id)
                yield _event("task", {"task": t.id, "kind": t.kind, "title": t.title,
                                      "url": f"/review/{t.id}"})
        if run.status in ("succeeded", "failed", "cancelled"):
            text = answer_of(run.outputs) if run.status == "succeeded" else None
            if text is None:
                text = (f"(the turn {run.status}"
                        + (f": {run.error}" if run.error else "") + ")")
            already = [m for m in store.chat_messages(conversation["id"])
                       if m.role == "assistant" and m.run_id == run_id]
            if not already:
                store.add_chat_message(conversation["id"], "assistant", text, run_id)
            yield _event("answer", {"run": run_id, "text": text})
            yield _event("done", {"run": run_id, "status": run.status})
            return
        await asyncio.sleep(POLL)
    yield _event("timeout", {"run": run_id, "status": last})


def _event(name: str, data: dict) -> str:
    # ASCII only: U+2028 or U+0085 raw in an event splits it for some event readers
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=True)}\n\n"


def _conversation(service, conversation_id: str, who):
    conv = service.store.get_conversation(conversation_id[:100])
    if conv is None or conv["person"] != who.name:
        raise RequestProblem(f"no conversation `{conversation_id[:100]}`", 404)
    return conv


def _new_conversation(service, flow: str, who) -> dict:
    entry = service.flow_entry(flow)
    if entry is None or entry.plan is None or entry.mode != "chat":
        raise RequestProblem(f"no chat flow `{flow[:100]}`", 404)
    cid = "c-" + secrets.token_hex(10)
    service.store.create_conversation(cid, entry.name, who.name)
    return service.store.get_conversation(cid)


def chat_api_routes(service, pages, endpoint, body_json) -> list[Route]:
    @endpoint
    async def create(request, who):
        conv = _new_conversation(service, request.path_params["flow"], who)
        return JSONResponse(conv, status_code=201)

    @endpoint
    async def messages(request, who):
        conv = _conversation(service, request.path_params["conversation"], who)
        if request.method == "GET":
            return JSONResponse({"conversation": conv, "messages": [
                {"seq": m.seq, "role": m.role, "text": m.text, "run": m.run_id}
                for m in service.store.chat_messages(conv["id"])]})
        data = await body_json(request)
        text = data.get("text") if isinstance(data, dict) else None
        run = send_message(service, conv, who, text)
        return StreamingResponse(turn_events(service, conv, run.id),
                                 media_type="text/event-stream")

    return [Route("/api/chat/{flow}/conversations", create, methods=["POST"]),
            Route("/api/conversations/{conversation}/messages", messages,
                  methods=["GET", "POST"])]


def chat_page_routes(service, pages) -> list[Route]:
    async def new(request: Request) -> Response:
        who = pages.who(request)
        if who is None:
            return pages.signin_redirect(request)
        if request.method == "GET":
            entry = service.flow_entry(request.path_params["flow"])
            if entry is None or entry.mode != "chat":
                return pages.error(request, 404, "no such chat flow", who)
            return pages.render(request, "chat_new.html", who=who, entry=entry)
        form = await pages.form(request)
        if not pages.csrf_ok(who, form):
            return pages.error(request, 403, "missing or wrong CSRF token", who)
        try:
            conv = _new_conversation(service, request.path_params["flow"], who)
        except RequestProblem as e:
            return pages.error(request, e.status, str(e), who)
        return RedirectResponse(f"/chat/c/{conv['id']}", status_code=303)

    async def page(request: Request) -> Response:
        who = pages.who(request)
        if who is None:
            return pages.signin_redirect(request)
        try:
            conv = _conversation(service, request.path_params["conversation"], who)
        except RequestProblem as e:
            return pages.error(request, e.status, str(e), who)
        msgs = service.store.chat_messages(conv["id"])
        pending = []
        for m in msgs:
            if m.run_id:
                pending += service.store.list_tasks("pending", run_id=m.run_id, limit=20)
        return pages.render(request, "chat.html", who=who, conv=conv, messages=msgs,
                            tasks=pending)

    async def send(request: Request) -> Response:
        """The page's message form (POST): starts the turn; the page then follows its
        events (static/chat.js) and shows the answer."""
        who = pages.who(request)
        if who is None:
            return pages.signin_redirect(request)
        form = await pages.form(request)
        if not pages.csrf_ok(who, form):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        try:
            conv = _conversation(service, request.path_params["conversation"], who)
            run = send_message(service, conv, who, str(form.get("text") or ""))
        except RequestProblem as e:
            return JSONResponse({"error": str(e)}, status_code=e.status)
        return StreamingResponse(turn_events(service, conv, run.id),
                                 media_type="text/event-stream")

    return [Route("/chat/{flow}", new, methods=["GET", "POST"]),
            Route("/chat/c/{conversation}", page),
            Route("/chat/c/{conversation}/send", send, methods=["POST"])]
