"""Flow versions in `flowc serve`: the JSON API and the pages (a flow's versions, one version
with its history, review comments and the actions the person may take, a side-by-side diff).
The rules are runtime/versions.py's: every action is checked there, on the server."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .errors import JSONResponse, RequestProblem

_log = logging.getLogger("flowc.serve.versions")

__all__ = ["version_api_routes", "version_openapi_paths", "version_page_routes"]

_STATUS = {"VersionRefused": 403, "VersionExists": 409}


def _separate(service) -> bool:
    from flowc.config import ConfigError, load_config

    try:
        return load_config(service.config.project).separate_duties
    except ConfigError:
        return True


def _problem(e: Exception) -> RequestProblem:
    from flowc.runtime.versions import VersionConflict, VersionRefused

    text = " ".join(str(e).split())[:500]
    if isinstance(e, VersionRefused):
        return RequestProblem(text, 409 if isinstance(e, VersionConflict) or " takes a version"
                              in text else 403)
    if type(e).__name__ == "VersionExists":
        return RequestProblem(text, 409)
    if text.startswith("no version") or "has no versions" in text:
        return RequestProblem(text, 404)
    return RequestProblem(text, 400)


def _version_json(v, who=None, service=None) -> dict[str, Any]:
    from flowc.runtime.versions import allowed_actions

    out = {"flow": v.flow, "number": v.number, "hash": v.hash, "status": v.status,
           "author": v.author, "message": v.message, "origin": v.origin,
           "created_at": v.created_at, "updated_at": v.updated_at,
           "bundle_sha256": v.bundle_sha256}
    if who is not None:
        out["actions"] = allowed_actions(v, who.name, who.roles, separate=_separate(service),
                                         recorded_by=_recorder(service.store, v))
    return out


def _recorder(store, v) -> str | None:
    """Who recorded a version (an importer, or its author)."""
    event = store.version_submission(v.flow, v.number)
    return event.actor if event is not None else None


def _history(store, v) -> list[dict[str, Any]]:
    return [{"seq": e.seq, "ts": e.ts, "kind": e.kind, "actor": e.actor, "payload": e.payload}
            for e in store.version_events(v.flow)
            if isinstance(e.payload, dict) and e.payload.get("version") == v.number]


def anchor_versions(service, flow: str) -> None:
    """After a version was recorded or acted on: append its flow's history head to the
    project's audit anchor (flowc.toml `[audit] anchor`), when it has one. A failure is
    logged in one line; the action stays committed."""
    from flowc.config import ConfigError, load_config
    from flowc.runtime.audit import Anchor, AnchorError

    try:
        url = load_config(service.config.project).audit_anchor
        if url:
            Anchor(url).record_versions(service.store, [flow])
    except (ConfigError, AnchorError) as e:
        _log.warning("the history of %s's versions is not anchored: %s", flow,
                     " ".join(str(e).split())[:300])


def submit_working_copy(service, flow: str, who, message: str):
    """Record the project's file of `flow` as it is now as a draft (a drafter's action)."""
    from flowc.runtime.versions import VersionRefused, submit

    if not ({"drafter", "admin"} & set(who.roles)):
        raise VersionRefused(f"{who.name} does not hold the role `drafter` needed to record "
                             "a version")
    entry = service.catalog.get(flow)
    if entry is None:
        raise RequestProblem(f"no flow `{flow[:100]}` in the project", 404)
    v = submit(service.store, entry.path, who.name, message)
    anchor_versions(service, v.flow)
    return v


def take_action(service, flow: str, ref: str, action: str, who, message: str,
                seen: str | None = None, seen_hash: str | None = None):
    """`seen`: the status the person's page showed (or an API client's `if_status`);
    `seen_hash`: the plan hash of the version it showed (`if_hash`): the action is refused
    when the version has moved on since, or the ref names another version now."""
    from flowc.runtime.versions import comment, transition

    if action == "comment":
        comment(service.store, flow, ref, who.name, who.roles, message, seen_hash=seen_hash)
        anchor_versions(service, flow)
        return None
    v = transition(service.store, flow, ref, action, who.name, who.roles, message=message,
                   separate=_separate(service), seen=seen, seen_hash=seen_hash)
    anchor_versions(service, v.flow)
    return v


def diff_json(service, flow: str, a: str, b: str) -> dict[str, Any]:
    from flowc.versions_cli import diff_versions

    va, vb, changes, files = diff_versions(service.store, flow, a, b)
    return {"flow": flow, "from": _version_json(va), "to": _version_json(vb),
            "changes": [c.to_json() for c in changes], "files": [f.to_json() for f in files]}


def _default_pair(store, flow: str, v) -> str:
    """What a version is compared with by default: the published version, else the one
    before it."""
    pub = store.published_version(flow)
    if pub is not None and pub.number != v.number:
        return str(pub.number)
    return str(v.number - 1) if v.number > 1 else str(v.number)


def _call(fn, *args, **kw):
    """Run a version operation; its refusals become RequestProblems."""
    from flowc.errors import CommandError
    from flowc.runtime.store.versions import VersionExists
    from flowc.runtime.versions import VersionError

    try:
        return fn(*args, **kw)
    except (VersionError, VersionExists) as e:
        raise _problem(e) from None
    except CommandError as e:  # the CLI's diff helper names an unknown version so
        raise RequestProblem(str(e)[:500], 404) from None


def version_api_routes(service, endpoint, body_json) -> list[Route]:
    store = service.store

    @endpoint
    async def versions(request, who):
        flow = request.path_params["flow"]
        if request.method == "POST":
            data = await body_json(request)
            message = data.get("message") if isinstance(data, dict) else None
            if message is not None and not isinstance(message, str):
                raise RequestProblem("`message` must be text")
            v = _call(submit_working_copy, service, flow, who, message or "")
            return JSONResponse(_version_json(v, who, service), status_code=201)
        return JSONResponse({"flow": flow, "versions": [
            _version_json(v, who, service) for v in store.list_versions(flow)]})

    @endpoint
    async def version(request, who):
        from flowc.runtime.versions import resolve

        v = _call(resolve, store, request.path_params["flow"], request.path_params["ref"])
        return JSONResponse({**_version_json(v, who, service), "history": _history(store, v)})

    @endpoint
    async def act(request, who):
        action = request.path_params["action"]
        if action not in ("review", "approve", "reject", "publish", "rollback", "comment"):
            raise RequestProblem(f"no action `{action[:40]}`", 404)
        data = await body_json(request)
        message = data.get("message", "") if isinstance(data, dict) else None
        if not isinstance(message, str):
            raise RequestProblem("`message` must be text")
        seen = data.get("if_status") if isinstance(data, dict) else None
        if seen is not None and not isinstance(seen, str):
            raise RequestProblem("`if_status` must be text")
        seen_hash = data.get("if_hash") if isinstance(data, dict) else None
        if seen_hash is not None and not isinstance(seen_hash, str):
            raise RequestProblem("`if_hash` must be text")
        flow, ref = request.path_params["flow"], request.path_params["ref"]
        _call(take_action, service, flow, ref, action, who, message, seen, seen_hash)
        from flowc.runtime.versions import resolve

        v = _call(resolve, store, flow, ref)
        return JSONResponse({**_version_json(v, who, service), "history": _history(store, v)})

    @endpoint
    async def export(request, who):
        from flowc.runtime.versions import export_version, resolve

        v = _call(resolve, store, request.path_params["flow"], request.path_params["ref"])
        return Response(export_version(store, v), media_type="application/json", headers={
            "content-disposition": f'attachment; filename="{v.flow}-v{v.number}.flowc-version'
                                   '.json"'})

    @endpoint
    async def import_(request, who):
        from flowc.runtime.versions import import_version

        if not ({"drafter", "admin"} & set(who.roles)):
            raise RequestProblem(f"{who.name} does not hold the role `drafter` needed to "
                                 "record a version", 403)
        body = await request.body()
        v = _call(import_version, store, body, who.name)
        anchor_versions(service, v.flow)
        return JSONResponse(_version_json(v, who, service), status_code=201)

    @endpoint
    async def diff(request, who):
        q = request.query_params
        if not q.get("from") or not q.get("to"):
            raise RequestProblem("give ?from=VERSION&to=VERSION")
        return JSONResponse(_call(diff_json, service, request.path_params["flow"], q["from"],
                                  q["to"]))

    return [
        Route("/api/flows/{flow}/versions", versions, methods=["GET", "POST"]),
        Route("/api/flows/{flow}/versions/{ref}", version),
        Route("/api/flows/{flow}/versions/{ref}/export", export),
        Route("/api/flows/{flow}/versions/{ref}/{action}", act, methods=["POST"]),
        Route("/api/flows/{flow}/diff", diff),
        Route("/api/versions/import", import_, methods=["POST"]),
    ]


def version_openapi_paths(op) -> dict[str, Any]:
    message = {"application/json": {"schema": {"type": "object", "properties": {
        "message": {"type": "string"}}}}}
    return {
        "/api/flows/{flow}/versions": {
            "get": op("the flow's versions, newest first, with the actions open to you",
                      params=["flow"], tag="versions"),
            "post": op("record the project's file of the flow as a draft version (drafter)",
                       "201", message, ["flow"], "versions")},
        "/api/flows/{flow}/versions/{ref}": {"get": op(
            "a version (3, v3, published, latest or a plan hash) and its history",
            params=["flow", "ref"], tag="versions")},
        "/api/flows/{flow}/versions/{ref}/export": {"get": op(
            "the version as one file (flowc.version-export/1)", params=["flow", "ref"],
            tag="versions")},
        "/api/flows/{flow}/versions/{ref}/{action}": {"post": op(
            "review, approve, reject, publish, rollback or comment (with a message)",
            body={"application/json": {"schema": {"type": "object", "properties": {
                "message": {"type": "string"},
                "if_status": {"type": "string", "description": "refuse the action (409) "
                              "unless the version still has this status"},
                "if_hash": {"type": "string", "description": "refuse the action (409) "
                            "unless the ref still names the version with this plan hash"}}}}},
            params=["flow", "ref", "action"], tag="versions")},
        "/api/flows/{flow}/diff": {"get": {**op(
            "what changed between two versions: the plan's semantic changes, the sources",
            params=["flow"], tag="versions"), "parameters": [
                {"name": "flow", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "from", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "to", "in": "query", "required": True, "schema": {"type": "string"}}]}},
        "/api/versions/import": {"post": op(
            "record an exported version as a draft here (drafter)", "201",
            {"application/json": {"schema": {"type": "object"}}}, tag="versions")},
    }


def version_page_routes(service, pages) -> list[Route]:
    store = service.store

    def _page_problem(request, who, e: RequestProblem) -> Response:
        return pages.error(request, e.status, str(e), who)

    async def versions(request: Request) -> Response:
        who = pages.who(request)
        if who is None:
            return pages.signin_redirect(request)
        flow = request.path_params["flow"]
        error = None
        if request.method == "POST":
            form = await pages.form(request)
            if not pages.csrf_ok(who, form):
                return pages.error(request, 403, "missing or wrong CSRF token", who)
            try:
                v = _call(submit_working_copy, service, flow, who,
                          str(form.get("message") or ""))
                return RedirectResponse(f"/flows/{quote(flow)}/versions/{v.number}",
                                        status_code=303)
            except RequestProblem as e:
                error = str(e)
        entry = service.flow_entry(flow)
        found = store.list_versions(flow)
        if entry is None and not found:
            return pages.error(request, 404, f"no flow `{flow[:100]}`", who)
        return pages.render(request, "versions.html", status=400 if error else 200, who=who,
                            flow=flow, versions=found, error=error,
                            in_project=service.catalog.get(flow) is not None,
                            may_draft=bool({"drafter", "admin"} & set(who.roles)),
                            problems=store.verify_version_chain(flow))

    async def version(request: Request) -> Response:
        from flowc.runtime.versions import allowed_actions, resolve

        who = pages.who(request)
        if who is None:
            return pages.signin_redirect(request)
        flow, ref = request.path_params["flow"], request.path_params["ref"]
        error, status = None, 200
        if request.method == "POST":
            form = await pages.form(request)
            if not pages.csrf_ok(who, form):
                return pages.error(request, 403, "missing or wrong CSRF token", who)
            action = str(form.get("action") or "")
            try:
                if action not in ("review", "approve", "reject", "publish", "rollback",
                                  "comment"):
                    raise RequestProblem(f"no action `{action[:40]}`")
                seen_hash = str(form.get("seen_hash") or "") or None
                if action != "comment" and seen_hash is None and not ref.isdigit():
                    # a decision is on the version the page showed: on a ref that can
                    # move (`latest`, `published`, a hash prefix) its form must say which
                    raise RequestProblem("the form does not say which version you were "
                                         "shown (nothing done): reload the page")
                _call(take_action, service, flow, ref, action, who,
                      str(form.get("message") or ""), str(form.get("seen") or "") or None,
                      seen_hash)
                return RedirectResponse(f"/flows/{quote(flow)}/versions/{quote(ref)}"
                                        f"?done={quote(action)}", status_code=303)
            except RequestProblem as e:
                error, status = str(e), e.status
        try:
            v = _call(resolve, store, flow, ref)
        except RequestProblem as e:
            return _page_problem(request, who, e)
        other = _default_pair(store, flow, v)
        return pages.render(request, "version.html", status=status, who=who, v=v,
                            history=_history(store, v), error=error,
                            done=request.query_params.get("done"),
                            actions=allowed_actions(v, who.name, who.roles,
                                                    separate=_separate(service),
                                                    recorded_by=_recorder(store, v)),
                            compare=other if other != str(v.number) else None)

    async def diff(request: Request) -> Response:
        who = pages.who(request)
        if who is None:
            return pages.signin_redirect(request)
        flow = request.path_params["flow"]
        q = request.query_params
        try:
            if not q.get("from") or not q.get("to"):
                raise RequestProblem("give ?from=VERSION&to=VERSION")
            data = _call(diff_json, service, flow, q["from"], q["to"])
        except RequestProblem as e:
            return _page_problem(request, who, e)
        return pages.render(request, "diff.html", who=who, flow=flow, d=data)

    return [
        Route("/flows/{flow}/versions", versions, methods=["GET", "POST"]),
        Route("/flows/{flow}/versions/{ref}", version, methods=["GET", "POST"]),
        Route("/flows/{flow}/diff", diff),
    ]
