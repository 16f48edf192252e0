"""The JSON API of `flowc serve` (its OpenAPI document at /api/openapi.json).

Every call carries `Authorization: Bearer TOKEN` (`flowc token USER` makes one); without a
valid token: 401. Errors are `{"error": "one line"}` with the status the CLI's exit code
stands for: 400 a value that does not fit (nothing attempted), 403 not yours to decide, 404
unknown id, 409 already decided / run already ended, 413 too large.

A file input comes only as an upload (multipart/form-data: the file under the input's name,
the other inputs as a JSON object in the field `inputs`): a JSON value never names a path on
the server."""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .access import may_cancel_run, may_decide_now_or_later, may_see_run
from .auth import Who
from .errors import JSONResponse, RequestProblem

__all__ = ["RequestProblem", "api_routes", "openapi", "start_from_form"]

MAX_JSON_BYTES = 4 * 1024 * 1024


def _problem(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())[:1000]}, status_code=status)


def _has_file(schema: Any, depth: int = 0) -> bool:
    from flowc.runtime.validate import is_file_schema

    if depth > 50 or not isinstance(schema, dict):
        return False
    if is_file_schema(schema):
        return True
    subs = list(schema.get("anyOf", ())) + list((schema.get("properties") or {}).values())
    if isinstance(schema.get("items"), dict):
        subs.append(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        subs.append(schema["additionalProperties"])
    return any(_has_file(s, depth + 1) for s in subs)


def _run_json(run, store=None) -> dict:
    out = {"id": run.id, "flow": run.flow_name, "status": run.status, "plan_hash": run.plan_hash,
           "inputs": run.inputs, "outputs": run.outputs, "error": run.error,
           "created_at": run.created_at, "updated_at": run.updated_at}
    if store is not None:
        out["tasks"] = [t.id for t in store.list_tasks("pending", run_id=run.id, limit=100)]
    return out


def _task_json(t) -> dict:
    return {"id": t.id, "run": t.run_id, "node": t.node_id, "item": t.item, "kind": t.kind,
            "status": t.status, "title": t.title, "assignees": list(t.assignees),
            "show": t.show, "form": t.form, "deadline": t.deadline,
            "timeout_outcome": t.timeout_outcome, "decision": t.decision,
            "decided_by": t.decided_by, "decided_at": t.decided_at,
            "created_at": t.created_at, "escalations": list(t.escalations),
            "escalated": t.escalated}


async def _save_upload(service, upload, what: str) -> dict:
    """An uploaded file, written under the store's uploads folder with a server-chosen path;
    the engine then copies it into the run (so the upload folder can be emptied)."""
    from flowc.runtime.sandbox.files import safe_name

    folder = service.uploads / secrets.token_hex(16)
    folder.mkdir(parents=True, exist_ok=True)
    raw = str(upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        name = safe_name(raw[:200]) or "upload"
    except ValueError:
        name = "upload"
    path = folder / name
    total = 0
    limit = service.front.max_file_bytes
    with open(path, "wb") as f:
        while chunk := await upload.read(1 << 20):
            total += len(chunk)
            if total > limit:
                raise RequestProblem(f"{what} is larger than {limit} bytes", 413)
            f.write(chunk)
    return {"path": str(path), "name": name}


def _check_inputs(entry, inputs: Any) -> dict:
    if not isinstance(inputs, dict):
        raise RequestProblem("`inputs` must be a JSON object of the flow's inputs")
    specs = {s.name: s for s in entry.plan.inputs}
    for name, value in inputs.items():
        if name not in specs:
            raise RequestProblem(f"the flow has no input `{str(name)[:100]}` (its inputs: "
                                 f"{', '.join(specs) or 'none'})")
        if _has_file(specs[name].schema_) and value is not None:
            raise RequestProblem(f"input `{name}` holds files: upload them (multipart), a JSON "
                                 "value cannot name a file")
    return dict(inputs)


async def start_from_form(service, entry, form, who: Who):
    """A run started from the page's form (typed text per input, files as uploads) or the
    API's multipart body (`inputs` as JSON, files as uploads)."""
    from starlette.datastructures import UploadFile

    from flowc.runtime.engine import RunRefused
    from flowc.runtime.validate import coerce_text, is_file_schema

    max_bytes = service.front.max_field_bytes
    inputs: dict[str, Any] = {}
    if form.get("inputs") is not None:
        try:
            inputs = _check_inputs(entry, json.loads(str(form.get("inputs"))))
        except RecursionError:
            raise RequestProblem("`inputs` is JSON nested too deeply") from None
        except ValueError as e:
            if isinstance(e, RequestProblem):
                raise
            raise RequestProblem(f"`inputs` is not JSON: {e}") from None
    for spec in entry.plan.inputs:
        item = form.get(spec.name) if spec.name not in inputs else None
        if isinstance(item, UploadFile):
            if not item.filename:
                continue
            if not is_file_schema(spec.schema_):
                raise RequestProblem(f"input `{spec.name}` is not a file")
            inputs[spec.name] = await _save_upload(service, item, f"input `{spec.name}`")
        elif isinstance(item, str) and item != "":
            if _has_file(spec.schema_):
                raise RequestProblem(f"input `{spec.name}` holds files: upload them")
            try:  # text from the network: `@PATH` is text, never a file on this server
                inputs[spec.name] = coerce_text(item, spec.schema_, max_bytes,
                                                read_files=False)
            except ValueError as e:
                raise RequestProblem(f"input `{spec.name}` {e}") from None
    try:
        return service.start_run(entry, inputs, by=who.name)
    except RunRefused as e:
        raise RequestProblem(f"not started: {e}") from None


def api_routes(service, pages) -> list[Route]:
    store = service.store

    def authed(request: Request) -> Who | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            return None
        person = store.token_person(token)
        if person is None:
            return None
        return Who(person, service.roles_of(person), "token")

    def endpoint(fn):
        async def wrapped(request: Request) -> Response:
            who = authed(request)
            if who is None:
                return JSONResponse({"error": "an API call needs `Authorization: Bearer TOKEN` "
                                     "(make one with `flowc token USER`)"}, status_code=401,
                                    headers={"www-authenticate": "Bearer"})
            try:
                return await fn(request, who)
            except RequestProblem as e:
                return _problem(str(e), e.status)
        wrapped.__name__ = fn.__name__
        return wrapped

    async def body_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_JSON_BYTES:
            raise RequestProblem("the request body is too large", 413)
        data = await request.body()
        if len(data) > MAX_JSON_BYTES:
            raise RequestProblem("the request body is too large", 413)
        try:
            return json.loads(data or b"{}")
        except RecursionError:
            raise RequestProblem("the body is JSON nested too deeply") from None
        except ValueError as e:
            raise RequestProblem(f"the body is not JSON: {e}") from None

    @endpoint
    async def flows(request, who):
        entries = [service.flow_entry(name) for name in service.flow_names()]
        return JSONResponse({"flows": [{
            "name": e.name, "mode": e.mode, "triggers": e.triggers, "errors": e.errors,
            "inputs": [{"name": s.name, "schema": s.schema_, "required": s.required}
                       for s in e.plan.inputs] if e.plan else [],
            "plan_hash": e.plan.hash if e.plan else None, "version": e.version}
            for e in entries if e is not None]})

    @endpoint
    async def start_run(request, who):
        version = request.query_params.get("version") or None
        entry = service.flow_entry(request.path_params["flow"], version, who)
        if entry is None:
            raise RequestProblem(f"no flow `{request.path_params['flow'][:100]}`", 404)
        if entry.plan is None:
            raise RequestProblem(f"flow `{entry.name}` does not run: {entry.errors[0]}",
                                 403 if version and "role" in entry.errors[0] else 409)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await pages.form(request)
            run = await start_from_form(service, entry, form, who)
        else:
            from flowc.runtime.engine import RunRefused

            data = await body_json(request)
            inputs = _check_inputs(entry, data.get("inputs", {}) if isinstance(data, dict)
                                   else None)
            try:
                run = service.start_run(entry, inputs, by=who.name)
            except RunRefused as e:
                raise RequestProblem(f"not started: {e}") from None
        return JSONResponse(_run_json(run, store), status_code=201,
                            headers={"location": f"/api/runs/{run.id}"})

    @endpoint
    async def upload(request, who):
        """`on upload file<K>`: a file uploaded for a flow starts a run with it."""
        entry = service.flow_entry(request.path_params["flow"])
        if entry is None or entry.plan is None:
            why = f": {entry.errors[0]}" if entry and entry.errors else ""
            raise RequestProblem(f"no such flow, or it does not run{why}", 404)
        name = entry.upload_input()
        if name is None:
            raise RequestProblem(f"flow `{entry.name}` has no `on upload` trigger", 400)
        form = await pages.form(request)
        from starlette.datastructures import UploadFile

        item = form.get("file")
        if not isinstance(item, UploadFile) or not item.filename:
            raise RequestProblem("upload the file in the multipart field `file`")
        _check_kind(entry, name, item.filename)
        value = await _save_upload(service, item, "the upload")
        from flowc.runtime.engine import RunRefused

        try:
            run = service.start_run(entry, {name: value}, by=who.name)
        except RunRefused as e:
            raise RequestProblem(f"not started: {e}") from None
        return JSONResponse(_run_json(run, store), status_code=201)

    @endpoint
    async def runs(request, who):
        status = request.query_params.get("status") or None
        limit = _bounded(request.query_params.get("limit"), 100, 1, 1000)
        try:
            found = store.list_runs(status=status, limit=limit)
        except ValueError as e:
            raise RequestProblem(str(e)) from None
        found = [r for r in found if may_see_run(store, r, who.name, who.roles)]
        return JSONResponse({"runs": [_run_json(r) for r in found]})

    def _run_or_404(run_id: str, who: Who):
        """The run, if `who` may see it (else 403)."""
        run = store.get_run(run_id)
        if run is None:
            raise RequestProblem(f"no run `{run_id[:100]}`", 404)
        if not may_see_run(store, run, who.name, who.roles):
            raise RequestProblem(f"run `{run.id}` is not {who.name}'s to see (it is for the "
                                 "person who started it, the people of its tasks, admins)", 403)
        return run

    @endpoint
    async def run(request, who):
        return JSONResponse(_run_json(_run_or_404(request.path_params["run_id"], who), store))

    @endpoint
    async def cancel(request, who):
        from flowc.runtime.engine import cancel_run
        from flowc.runtime.store import StatusConflict

        run = _run_or_404(request.path_params["run_id"], who)
        if not may_cancel_run(store, run, who.name, who.roles):
            raise RequestProblem(f"{who.name} may not cancel run `{run.id}` (the person who "
                                 "started it or an admin may)", 403)
        try:
            run = cancel_run(store, run.id, who.name)
        except StatusConflict:
            raise RequestProblem(f"run `{run.id}` already {store.get_run(run.id).status}",
                                 409) from None
        return JSONResponse(_run_json(run, store))

    @endpoint
    async def trace(request, who):
        from flowc.runtime.trace import build_trace, trace_to_dict

        run = _run_or_404(request.path_params["run_id"], who)
        return JSONResponse(trace_to_dict(build_trace(store, run.id, full=True)))

    @endpoint
    async def audit(request, who):
        from flowc.runtime.audit import export_run

        run = _run_or_404(request.path_params["run_id"], who)
        check = store.verify_audit(run.id)
        return JSONResponse({"verified": check.ok, "problems": check.problems,
                             "export": export_run(store, run.id)})

    @endpoint
    async def tasks(request, who):
        mine = request.query_params.get("all") != "1"
        if not mine and "admin" not in who.roles:
            raise RequestProblem("`all=1` lists every task: for admins only", 403)
        limit = _bounded(request.query_params.get("limit"), 100, 1, 1000)
        offset = _bounded(request.query_params.get("offset"), 0, 0, 10**9)
        status = request.query_params.get("status", "pending") or None
        filters = dict(for_user=who.name, roles=who.roles) if mine else {}
        try:
            found = store.list_tasks(status, limit=limit, offset=offset,
                                     flow=request.query_params.get("flow") or None, **filters)
            total = store.count_tasks(status, flow=request.query_params.get("flow") or None,
                                      **filters)
        except ValueError as e:
            raise RequestProblem(str(e)) from None
        return JSONResponse({"tasks": [_task_json(t) for t in found], "total": total})

    def _task_or_404(task_id: str, who: Who):
        """The task, if `who` may see it (as on its page; else 403)."""
        t = store.get_task(task_id)
        if t is None:
            raise RequestProblem(f"no task `{task_id[:100]}`", 404)
        if not (may_decide_now_or_later(t, who.name, who.roles) or "admin" in who.roles):
            raise RequestProblem(f"task `{t.id}` is not for {who.name}: {who.name} may not "
                                 "decide it", 403)
        return t

    @endpoint
    async def task(request, who):
        return JSONResponse(_task_json(_task_or_404(request.path_params["task_id"], who)))

    @endpoint
    async def decide(request, who):
        from flowc.runtime.engine import DecisionRefused

        t = _task_or_404(request.path_params["task_id"], who)
        data = await body_json(request)
        if not isinstance(data, dict):
            raise RequestProblem("the body is a JSON object: {action, values, reason} or "
                                 "{answer}")
        if t.kind == "gate":
            values = data.get("values") or {}
            if not isinstance(values, dict):
                raise RequestProblem("`values` must be an object of field values")
            fields = {f["name"]: f["schema"] for f in (t.form or {}).get("fields", [])}
            for k in values:
                if _has_file(fields.get(k)):
                    raise RequestProblem(f"field `{k}` holds files: it cannot be edited here")
            kw = dict(action=str(data.get("action", "")), values=values,
                      reason=str(data.get("reason") or ""))
        else:
            if _has_file((t.form or {}).get("schema")):
                raise RequestProblem("this question asks for a file: answer it on its page")
            kw = dict(action="answer", answer=data.get("answer"))
        try:
            run = service.decide(t.id, who, **kw)
        except DecisionRefused as e:
            later = store.get_task(t.id)
            status = 409 if later is not None and later.status != "pending" else (
                403 if "may not decide" in str(e) else 400)
            raise RequestProblem(str(e), status) from None
        return JSONResponse({"task": _task_json(store.get_task(t.id)),
                             "run": _run_json(run, store)})

    async def openapi_doc(request):
        return JSONResponse(openapi(service.config.base_url))

    from .chat import chat_api_routes
    from .versions import version_api_routes

    return [
        Route("/api/openapi.json", openapi_doc),
        Route("/api/flows", flows),
        Route("/api/flows/{flow}/runs", start_run, methods=["POST"]),
        Route("/api/flows/{flow}/uploads", upload, methods=["POST"]),
        Route("/api/runs", runs),
        Route("/api/runs/{run_id}", run),
        Route("/api/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/trace", trace),
        Route("/api/runs/{run_id}/audit", audit),
        Route("/api/tasks", tasks),
        Route("/api/tasks/{task_id}", task),
        Route("/api/tasks/{task_id}/decision", decide, methods=["POST"]),
        *chat_api_routes(service, pages, endpoint, body_json),
        *version_api_routes(service, endpoint, body_json),
    ]


def _check_kind(entry, name: str, filename: str) -> None:
    spec = next(s for s in entry.plan.inputs if s.name == name)
    kinds = _file_kinds(spec.schema_)
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kinds and ext not in kinds:
        raise RequestProblem(f"flow `{entry.name}` takes uploads of file<{'|'.join(kinds)}>, "
                             f"not `.{ext[:20]}`" if ext else "the upload has no extension")


def _file_kinds(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    kind = schema.get("x-flowc-file")
    if isinstance(kind, str) and kind not in ("", "*", "any"):
        return [kind.lower()]
    out: list[str] = []
    for sub in schema.get("anyOf", ()):
        out += _file_kinds(sub)
    return out


def _bounded(text, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(text)))
    except (TypeError, ValueError):
        return default


def openapi(base_url: str) -> dict:
    """The OpenAPI 3.1 document of this API."""
    from .versions import version_openapi_paths

    err = {"description": "a one-line error", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}

    def op(summary, ok="200", body=None, params=(), tag="runs"):
        o: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {
            ok: {"description": "done", "content": {"application/json": {}}},
            "400": err, "401": err, "403": err, "404": err, "409": err}}
        if params:
            o["parameters"] = [{"name": p, "in": "path", "required": True,
                                "schema": {"type": "string"}} for p in params]
        if body:
            o["requestBody"] = {"required": True, "content": body}
        return o

    start_body = {"application/json": {"schema": {"type": "object", "properties": {
        "inputs": {"type": "object"}}}}, "multipart/form-data": {"schema": {
            "type": "object", "properties": {"inputs": {"type": "string",
                                                        "description": "JSON object"}},
            "additionalProperties": {"type": "string", "format": "binary"}}}}
    decision = {"application/json": {"schema": {"type": "object", "properties": {
        "action": {"enum": ["approve", "edit", "reject"]}, "values": {"type": "object"},
        "reason": {"type": "string"}, "answer": {}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "flowc serve API", "version": "1",
                 "description": "Start runs, follow them, decide tasks. Every call needs "
                                "`Authorization: Bearer TOKEN` (`flowc token USER`)."},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}}},
        "paths": {
            "/api/flows": {"get": op("the flows served, their inputs and triggers",
                                     tag="flows")},
            "/api/flows/{flow}/runs": {"post": op("start a run", "201", start_body, ["flow"],
                                                  "flows")},
            "/api/flows/{flow}/uploads": {"post": op(
                "upload a file to a flow with `on upload`: starts a run", "201",
                {"multipart/form-data": {"schema": {"type": "object", "properties": {
                    "file": {"type": "string", "format": "binary"}}}}}, ["flow"], "flows")},
            "/api/runs": {"get": op("runs, newest first")},
            "/api/runs/{run_id}": {"get": op("a run: status, outputs, pending tasks",
                                             params=["run_id"])},
            "/api/runs/{run_id}/cancel": {"post": op("cancel a run", params=["run_id"])},
            "/api/runs/{run_id}/trace": {"get": op("the run's trace", params=["run_id"])},
            "/api/runs/{run_id}/audit": {"get": op("the audit trail, verified",
                                                   params=["run_id"])},
            "/api/tasks": {"get": op("my pending tasks", tag="tasks")},
            "/api/tasks/{task_id}": {"get": op("a task", params=["task_id"], tag="tasks")},
            "/api/tasks/{task_id}/decision": {"post": op(
                "decide a gate or answer a question", body=decision, params=["task_id"],
                tag="tasks")},
            "/api/chat/{flow}/conversations": {"post": op(
                "start a conversation with a chat flow", "201", params=["flow"], tag="chat")},
            "/api/conversations/{conversation}/messages": {
                "get": op("the conversation so far", params=["conversation"], tag="chat"),
                "post": op("send a message: the answer streams back (text/event-stream)",
                           body={"application/json": {"schema": {"type": "object",
                                 "properties": {"text": {"type": "string"}}}}},
                           params=["conversation"], tag="chat")},
            **version_openapi_paths(op),
        },
    }


