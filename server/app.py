"""The ASGI application of `flowc serve`: pages for reviewers (sign-in, inbox, review, runs,
flows, chat) and the JSON API (server/api.py), over one `Service`.

Every page but sign-in needs a session; every form POST checks the session's CSRF token;
every decision goes through the engine's own checks (who may decide, the form's types, the
first decision stands). Responses carry a strict Content-Security-Policy (scripts and styles
from this server only), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (a
signed link never leaks in a Referer) and `X-Frame-Options: DENY`."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .auth import Who, new_secret, same, verify_password
from .errors import BodyTooLarge
from .service import ServeConfig, Service

__all__ = ["create_app"]

HERE = Path(__file__).parent
SESSION_COOKIE = "flowc_session"
PRESESSION_COOKIE = "flowc_presession"
OIDC_COOKIE = "flowc_oidc"
PAGE_SIZE = 50
MAX_FORM_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class SecurityHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for k, v in ((b"content-security-policy", _CSP.encode()),
                             (b"x-content-type-options", b"nosniff"),
                             (b"referrer-policy", b"no-referrer"),
                             (b"x-frame-options", b"DENY"),
                             (b"cache-control", b"no-store")):
                    if k not in have:
                        headers.append((k, v))
                message["headers"] = headers
            await send(message)

        return await self.app(scope, receive, sending)


def _env() -> Environment:
    # templates are compiled once (no per-request check of their files: half a page's time)
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      auto_reload=False, cache_size=100)
    env.filters["when"] = lambda t: "" if not t else time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(t))
    env.filters["secs"] = lambda s: "" if s is None else (
        f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s")
    env.filters["cost"] = lambda c: f"${c:.4f}" if c else "-"
    return env


class Pages:
    def __init__(self, service: Service):
        self.s = service
        self.env = _env()

    # ---- helpers
    def render(self, request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        who = ctx.pop("who", None) or self.who(request)
        html = self.env.get_template(name).render(who=who, path=request.url.path, **ctx)
        # a lone surrogate (from a request, or a stored value) cannot be UTF-8: shown escaped
        data = html.encode("utf-8", "backslashreplace")
        return HTMLResponse(data, status_code=status)

    def who(self, request: Request) -> Who | None:
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid or len(sid) > 200:
            return None
        found = self.s.store.get_session(sid)
        if found is None:
            return None
        person, csrf = found
        return Who(person, self.s.roles_of(person), "session", csrf=csrf, session=sid)

    def signin_redirect(self, request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    def error(self, request: Request, status: int, message: str, who=None) -> HTMLResponse:
        return self.render(request, "error.html", status=status, message=message, who=who)

    async def form(self, request: Request) -> Any:
        failed = getattr(request.state, "form_error", None)
        if failed is not None:  # reading it before the handler's thread failed: say so here
            raise failed
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            raise BodyTooLarge()
        return await request.form(max_files=20, max_fields=1000,
                                  max_part_size=MAX_FORM_BYTES)

    def form_id(self, who: Who, task_id: str, nonce: str | None = None) -> str:
        """A decision form's one-time id: a nonce bound (HMAC with the server's secret) to the
        session and the task, so a made-up or moved id is refused, not taken as new."""
        import hashlib
        import hmac

        nonce = nonce or new_secret()[:22]
        mac = hmac.new(self.s.secret.encode(), f"{who.session}|{task_id}|{nonce}".encode(),
                       hashlib.sha256).hexdigest()[:32]
        return f"{nonce}.{mac}"

    def form_id_ok(self, who: Who, task_id: str, form_id: str) -> bool:
        nonce, _, _mac = form_id.partition(".")
        return bool(nonce) and len(form_id) < 100 and same(
            self.form_id(who, task_id, nonce), form_id)

    def csrf_ok(self, who: Who, form) -> bool:
        return same(who.csrf, str(form.get("csrf") or ""))

    def new_session(self, response: Response, request: Request, person: str) -> None:
        sid, csrf = new_secret(), new_secret()
        self.s.store.add_session(sid, person, csrf, self.s.config.session_ttl)
        response.set_cookie(SESSION_COOKIE, sid, max_age=int(self.s.config.session_ttl),
                            httponly=True, secure=True, samesite="lax", path="/")

    # ---- sign-in
    async def signin(self, request: Request) -> Response:
        nxt = _local(request.query_params.get("next", "/inbox"))
        if request.method == "GET":
            pre = request.cookies.get(PRESESSION_COOKIE)
            if not pre or len(pre) > 100:
                pre = new_secret()
            resp = self.render(request, "signin.html", next=nxt, csrf=pre, who=None,
                               sso=self.s.oidc is not None)
            resp.set_cookie(PRESESSION_COOKIE, pre, httponly=True, secure=True,
                            samesite="strict", path="/signin")
            return resp
        form = await self.form(request)
        pre = request.cookies.get(PRESESSION_COOKIE)
        if not same(pre, str(form.get("csrf") or "")):
            return self.error(request, 403, "the sign-in form expired or did not come from this "
                              "site: reload the page and sign in again")
        name = str(form.get("name") or "").strip()[:200]
        password = str(form.get("password") or "")
        client = request.client.host if request.client else "?"
        keys = (f"person:{name}", f"addr:{client}")
        # each attempt is counted before the password is checked (a failure until it succeeds),
        # so attempts at once cannot all pass the check first
        if not self.s.limiter.attempt(keys[0]):
            return self.render(request, "signin.html", status=429, next=nxt, csrf=pre, who=None,
                               problem="too many failed sign-ins: wait a few minutes")
        if not self.s.addr_limiter.attempt(keys[1]):
            self.s.limiter.forgive(keys[0])
            return self.render(request, "signin.html", status=429, next=nxt, csrf=pre, who=None,
                               problem="too many failed sign-ins: wait a few minutes")
        person = self.s.store.get_person(name) if name else None
        if not verify_password(person.password_hash if person else None, password):
            return self.render(request, "signin.html", status=401, next=nxt, csrf=pre,
                               who=None, problem="unknown name or wrong password")
        self.s.limiter.succeeded(keys[0])
        self.s.addr_limiter.forgive(keys[1])
        resp = RedirectResponse(nxt, status_code=303)
        self.new_session(resp, request, person.name)
        return resp

    def oidc_start(self, request: Request) -> Response:
        if self.s.oidc is None:
            return self.error(request, 404, "sign-in with an identity provider is not set up")
        from .oidc import OidcError

        nxt = _local(request.query_params.get("next", "/inbox"))
        try:
            url, cookie = self.s.oidc.start(nxt)
        except OidcError as e:
            return self.error(request, 502, str(e))
        resp = RedirectResponse(url, status_code=303)
        resp.set_cookie(OIDC_COOKIE, cookie, max_age=600, httponly=True, secure=True,
                        samesite="lax", path="/signin/oidc")
        return resp

    def oidc_callback(self, request: Request) -> Response:
        if self.s.oidc is None:
            return self.error(request, 404, "sign-in with an identity provider is not set up")
        from .oidc import OidcError

        q = request.query_params
        try:
            claims = self.s.oidc.finish(request.cookies.get(OIDC_COOKIE), q.get("state"),
                                        q.get("code"), q.get("error"))
            person = self.s.oidc.person_for(self.s.store, claims)
        except OidcError as e:
            resp = self.error(request, 403, f"sign-in refused: {e}")
            resp.delete_cookie(OIDC_COOKIE, path="/signin/oidc")
            return resp
        resp = RedirectResponse(_local(claims.get("_next", "/inbox")), status_code=303)
        resp.delete_cookie(OIDC_COOKIE, path="/signin/oidc")
        self.new_session(resp, request, person.name)
        return resp

    async def signout(self, request: Request) -> Response:
        who = self.who(request)
        if who is not None:
            form = await self.form(request)
            if not self.csrf_ok(who, form):
                return self.error(request, 403, "missing or wrong CSRF token", who)
            self.s.store.end_session(who.session)
        resp = RedirectResponse("/signin", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ---- inbox
    def inbox(self, request: Request) -> Response:
        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        flow = request.query_params.get("flow") or None
        role = request.query_params.get("role") or None
        page = _int(request.query_params.get("page"), 1, 1, 10**6)
        filters = dict(for_user=who.name, roles=who.roles, flow=flow, assigned_role=role)
        total = self.s.store.count_tasks("pending", **filters)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(page, pages)
        tasks = self.s.store.list_tasks("pending", limit=PAGE_SIZE,
                                        offset=(page - 1) * PAGE_SIZE, **filters)
        flows = self.s.flow_names()
        return self.render(request, "inbox.html", who=who, tasks=tasks, total=total, page=page,
                           pages=pages, flow=flow, role=role, flows=flows, now=time.time(),
                           describe=_describe_people)

    # ---- review
    def _may_see(self, who: Who, task) -> bool:
        from .access import may_decide_now_or_later

        return may_decide_now_or_later(task, who.name, who.roles)

    def _may_see_run(self, who: Who, run) -> bool:
        from .access import may_see_run

        return may_see_run(self.s.store, run, who.name, who.roles)

    async def review(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        token = request.query_params.get("link")
        if token is not None:
            return self._follow_link(request, task_id, token)
        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        task = self.s.store.get_task(task_id)
        if task is None:
            return self.error(request, 404, f"no task `{task_id[:80]}`", who)
        if not self._may_see(who, task):
            return self.error(request, 403, f"task `{task_id}` is not for {who.name}", who)
        if request.method == "POST":
            return await self._decide(request, who, task)
        return self._review_page(request, who, task)

    def _follow_link(self, request: Request, task_id: str, token: str) -> Response:
        from .notify import LinkRefused

        try:
            link = self.s.signer.check(token)
            if link.task_id != task_id:
                raise LinkRefused("this link is for another task")
            self.s.signer.consume(self.s.store, link)
        except LinkRefused as e:
            return self.error(request, 403, f"this review link cannot be used: {e} (sign in "
                              "to open the task)")
        if self.s.store.get_person(link.person) is None:
            return self.error(request, 403, "this review link's person is no longer known")
        resp = RedirectResponse(f"/review/{quote(task_id)}", status_code=303)
        self.new_session(resp, request, link.person)
        return resp

    def _review_page(self, request, who, task, *, status=200, errors=None, posted=None,
                     problem=None, done=None) -> Response:
        from . import forms, render

        run = self.s.store.get_run(task.run_id)
        form = task.form if isinstance(task.form, dict) else {}
        labels = form.get("show_labels") or []
        shown = []
        for i, value in enumerate(task.show or []):
            label = labels[i] if i < len(labels) and isinstance(labels[i], str) else f"shown {i}"
            shown.append((label, render.value_html(value, files=_file_link(task.run_id))))
        message = render.markdown_html(form.get("message") or "") if form.get("message") \
            else None
        max_bytes = self.s.front.max_field_bytes
        changed = []
        if task.kind == "gate":
            fields = forms.form_fields(form.get("fields") or [], form.get("values") or {},
                                       posted, max_bytes=max_bytes)
            answer = None
            decision = task.decision if isinstance(task.decision, dict) else {}
            if decision.get("values"):
                changed = forms.changes(form.get("values") or {}, decision["values"])
        else:
            fields, answer = [], forms.answer_field(form, posted, max_bytes=max_bytes)
        return self.render(request, "review.html", status=status, who=who, task=task, run=run,
                           shown=shown, message=message, fields=fields, answer=answer,
                           errors=errors or {}, problem=problem, done=done, changed=changed,
                           actions=form.get("actions") or [],
                           form_id=self.form_id(who, task.id),
                           describe=_describe_people)

    async def _decide(self, request: Request, who: Who, task) -> Response:
        from flowc.runtime.engine import DecisionRefused

        from . import forms

        form = await self.form(request)
        if not self.csrf_ok(who, form):
            return self.error(request, 403, "missing or wrong CSRF token: reload the page", who)
        form_id = str(form.get("form_id") or "")[:100]
        once = f"form:{form_id}"

        def again() -> Response:
            return self._review_page(request, who, task, status=409,
                                     problem="this form was already sent once: the page below "
                                     "shows the task as it is now")

        if not form_id or not self.form_id_ok(who, task.id, form_id):
            return self._review_page(request, who, task, status=409,
                                     problem="this form was not made for you and this task: "
                                     "the page below is the task as it is now")
        if task.status != "pending":
            return self._review_page(request, who, task, status=409, problem=(
                f"this task was already {task.status} by {task.decided_by or 'flowc'}: the "
                "first decision stands"))
        max_bytes = self.s.front.max_field_bytes
        action = str(form.get("action") or "")
        reason = str(form.get("reason") or "")[:10000]
        kw: dict[str, Any] = {}
        posted = {k[2:]: form.getlist(k) for k in form if k.startswith("f.")}
        posted = {k: (v[0] if len(v) == 1 else v) for k, v in posted.items()}
        if task.kind == "gate":
            fields = (task.form or {}).get("fields") or []
            values: dict = {}
            if action == "edit":
                prefill = (task.form or {}).get("values") or {}
                values, errors = forms.parse_form(fields, posted, max_bytes=max_bytes,
                                                  prefill=prefill)
                if errors:
                    if not self.s.store.use_once(once, "decision-form"):
                        return again()
                    return self._review_page(request, who, task, status=400, errors=errors,
                                             posted=posted)
                values = {k: v for k, v in values.items() if prefill.get(k) != v}
            kw = dict(action=action, values=values, reason=reason)
        else:
            value, error = forms.parse_answer(task.form or {}, form.get("answer"),
                                              max_bytes=max_bytes)
            if error:
                if not self.s.store.use_once(once, "decision-form"):
                    return again()
                return self._review_page(request, who, task, status=400,
                                         errors={"answer": error}, posted=form.get("answer"))
            kw = dict(action="answer", answer=value)
        try:
            if self.s.bound(task.id) is not None:
                # on Temporal a worker records the decision (the update): the form's one use
                # follows it (a refused decision uses nothing; a second post of an accepted
                # one finds the task decided)
                self.s.decide(task.id, who, **kw)
                self.s.store.use_once(once, "decision-form")
            else:
                # the form's one use and the decision: one commit (a refused decision uses
                # nothing)
                with self.s.store.transaction():
                    if not self.s.store.use_once(once, "decision-form"):
                        return again()
                    self.s.decide(task.id, who, **kw)
            self.s.wake()  # committed now: the worker goes on with the run
        except DecisionRefused as e:
            later = self.s.store.get_task(task.id)
            status = 409 if later is not None and later.status != "pending" else (
                403 if "may not decide" in str(e) else 400)
            return self._review_page(request, who, later or task, status=status,
                                     problem=str(e))
        return RedirectResponse(f"/review/{quote(task.id)}?done=1", status_code=303)

    # ---- runs
    def runs(self, request: Request) -> Response:
        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        status = request.query_params.get("status") or None
        if status not in (None, "queued", "running", "paused", "succeeded", "failed",
                          "cancelled"):
            status = None
        runs = [r for r in self.s.store.list_runs(status=status, limit=200)
                if self._may_see_run(who, r)]
        return self.render(request, "runs.html", who=who, runs=runs, shown_status=status)

    def run(self, request: Request) -> Response:
        from flowc.runtime.trace import TraceError, build_trace, trace_to_dict

        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        run_id = request.path_params["run_id"]
        run = self.s.store.get_run(run_id)
        if run is None:
            return self.error(request, 404, f"no run `{run_id[:80]}`", who)
        if not self._may_see_run(who, run):
            return self.error(request, 403, f"run `{run_id}` is not {who.name}'s to see", who)
        try:
            trace = trace_to_dict(build_trace(self.s.store, run_id, full=False))["run"]
        except TraceError as e:
            trace = None
            self.s._problem(f"trace of {run_id}: {e}")
        events = self.s.store.audit_events(run_id)
        check = self.s.store.verify_audit(run_id)
        tasks = self.s.store.list_tasks(status=None, run_id=run_id, limit=200)
        return self.render(request, "run.html", who=who, run=run, trace=trace, events=events,
                           check=check, tasks=tasks, may_replay="admin" in who.roles,
                           form_id=new_secret())

    def audit_export(self, request: Request) -> Response:
        from flowc.runtime.audit import export_run

        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        run_id = request.path_params["run_id"]
        run = self.s.store.get_run(run_id)
        if run is None:
            return self.error(request, 404, f"no run `{run_id[:80]}`", who)
        if not self._may_see_run(who, run):
            return self.error(request, 403, f"run `{run_id}` is not {who.name}'s to see", who)
        import json

        doc = export_run(self.s.store, run_id)
        return Response(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True),
                        media_type="application/json", headers={
                            "content-disposition": f'attachment; filename="audit-{run_id}.json"'})

    async def replay(self, request: Request) -> Response:
        """Error replay from a failed node (people with role `admin`)."""
        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        form = await self.form(request)
        if not self.csrf_ok(who, form):
            return self.error(request, 403, "missing or wrong CSRF token", who)
        if "admin" not in who.roles:
            return self.error(request, 403, "replaying a run needs the role `admin`", who)
        run_id = request.path_params["run_id"]
        node = str(form.get("node") or "") or None
        try:
            run = self._replay(run_id, node, who.name)
        except (KeyError, ValueError) as e:  # RunRefused is a ValueError
            return self.error(request, 400, f"cannot replay: {str(e)[:300]}", who)
        return RedirectResponse(f"/runs/{quote(run.id)}", status_code=303)

    def _replay(self, run_id: str, node: str | None, by: str):
        """A new run from `node` (default: the first failed one), the nodes before it kept;
        the worker runs it, with the server's models (`flowc replay` on the command line
        also serves the recorded model answers)."""
        run = self.s.front.replay(run_id, node, advance=False, by=by)
        self.s.wake()
        return run

    def stats(self, request: Request) -> Response:
        """Latency distribution and cost per node and model over a time range (default: the
        last 7 days)."""
        from .stats import figures

        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        if "admin" not in who.roles:
            return self.error(request, 403, "the figures of every run are for admins", who)
        now = time.time()
        since = _day(request.query_params.get("from"), now - 7 * 86400)
        until = _day(request.query_params.get("to"), now, end=True)
        data = figures(self.s.store, since, until)
        return self.render(request, "stats.html", who=who, data=data,
                           since_text=time.strftime("%Y-%m-%d", time.gmtime(since)),
                           until_text=time.strftime("%Y-%m-%d", time.gmtime(until)))

    # ---- files (previews and downloads)
    def file(self, request: Request) -> Response:
        from . import render

        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        run_id, file_id = request.path_params["run_id"], request.path_params["file_id"]
        rec = self.s.store.find_file(file_id, run_id)
        run = self.s.store.get_run(run_id) if rec is not None else None
        if rec is None or run is None or not self._may_see_run(who, run):
            return self.error(request, 404, "no such file in this run", who)
        data = _read_file(rec)
        if data is None:
            return self.error(request, 404, "the file is no longer in the workspace", who)
        kind = render.file_preview_kind(rec.name, None)
        if kind == "csv" and request.query_params.get("preview"):
            table = render.csv_preview(data)
            return self.render(request, "csv.html", who=who, table=table, file_name=rec.name,
                               run_id=run_id, file_id=file_id)
        if kind == "image" and request.query_params.get("preview"):
            return Response(data, media_type=_image_type(rec.name))
        return Response(data, media_type="application/octet-stream", headers={
            "content-disposition": render.safe_download_name(rec.name)})

    # ---- flows: start a run from the page, uploads
    def flows(self, request: Request) -> Response:
        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        entries = [e for e in (self.s.flow_entry(n) for n in self.s.flow_names()) if e]
        return self.render(request, "flows.html", who=who, entries=entries,
                           problems=self.s.catalog.problems)

    async def start(self, request: Request) -> Response:
        from .api import start_from_form
        from .errors import RequestProblem

        who = self.who(request)
        if who is None:
            return self.signin_redirect(request)
        version = request.query_params.get("version") or None
        entry = self.s.flow_entry(request.path_params["flow"], version, who)
        if entry is None or entry.plan is None:
            why = f": {entry.errors[0]}" if entry and entry.errors else ""
            return self.error(request, 404, f"no such flow, or it does not run{why}", who)
        if request.method == "GET":
            return self.render(request, "start.html", who=who, entry=entry, errors={},
                               form_id=new_secret())
        form = await self.form(request)
        if not self.csrf_ok(who, form):
            return self.error(request, 403, "missing or wrong CSRF token", who)
        try:
            run = await start_from_form(self.s, entry, form, who)
        except RequestProblem as e:
            return self.render(request, "start.html", status=400, who=who, entry=entry,
                               errors={"_": str(e)}, form_id=new_secret())
        return RedirectResponse(f"/runs/{quote(run.id)}", status_code=303)


def _local(target: str) -> str:
    """A redirect target on this site only (no scheme, no host, no `//`)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/inbox"
    return target


def _day(text, default: float, *, end: bool = False) -> float:
    """A `YYYY-MM-DD` date (UTC) as epoch seconds: its start, or its end with `end`."""
    import calendar

    try:
        t = time.strptime(str(text), "%Y-%m-%d")
    except (TypeError, ValueError):
        return default
    return calendar.timegm(t) + (86400 - 0.001 if end else 0)


def _int(text, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(text)))
    except (TypeError, ValueError):
        return default


def _describe_people(people) -> str:
    from flowc.runtime.engine import describe_people

    return describe_people(people)


def _file_link(run_id: str):
    def link(value: dict) -> str | None:
        fid = value.get("file_id") if isinstance(value, dict) else None
        return f"/files/{quote(run_id)}/{quote(str(fid))}" if fid else None
    return link


def _read_file(rec, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes | None:
    """A recorded file's bytes, checked against its record (inside its workspace, no link,
    its size and sha256): a path trick in a stored row reads nothing."""
    from flowc.runtime.sandbox.files import FileRefused, read_checked

    with contextlib.suppress(OSError, ValueError, FileRefused):
        return read_checked(rec.workspace, rec.location, rec.sha256, rec.size, max_bytes)
    return None


def _image_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
            "webp": "image/webp"}.get(ext, "application/octet-stream")


def create_app(config: ServeConfig | None = None, *, service: Service | None = None,
               background: bool = True) -> Starlette:
    from .api import api_routes
    from .chat import chat_page_routes
    from .versions import version_page_routes

    service = service or Service(config or ServeConfig())
    pages = Pages(service)

    async def home(request):
        return RedirectResponse("/inbox", status_code=303)

    async def health(request):
        return Response("ok\n", media_type="text/plain")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if background:
            service.start()
        try:
            yield
        finally:
            service.stop()

    async def too_large(request, exc):
        if request.url.path.startswith("/api/"):
            from .errors import JSONResponse

            return JSONResponse({"error": "the request is too large"}, status_code=413)
        return HTMLResponse("the request is too large", status_code=413)

    async def http_problem(request, exc):
        """Starlette's own refusals (a malformed multipart body, a wrong method): JSON in the
        API, one line of text on the pages."""
        from starlette.exceptions import HTTPException

        from .errors import JSONResponse

        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = str(getattr(exc, "detail", "") or "the request cannot be served")[:300]
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=status)
        return Response(detail + "\n", status_code=status, media_type="text/plain")

    routes = [
        Route("/", home),
        Route("/healthz", health),
        Route("/signin", pages.signin, methods=["GET", "POST"]),
        Route("/signout", pages.signout, methods=["POST"]),
        Route("/signin/oidc", pages.oidc_start),
        Route("/signin/oidc/callback", pages.oidc_callback),
        Route("/inbox", pages.inbox),
        Route("/review/{task_id}", pages.review, methods=["GET", "POST"]),
        Route("/runs", pages.runs),
        Route("/runs/{run_id}", pages.run),
        Route("/runs/{run_id}/audit.json", pages.audit_export),
        Route("/runs/{run_id}/replay", pages.replay, methods=["POST"]),
        Route("/files/{run_id}/{file_id}", pages.file),
        Route("/flows", pages.flows),
        Route("/stats", pages.stats),
        Route("/flows/{flow}/start", pages.start, methods=["GET", "POST"]),
        *api_routes(service, pages),
        *chat_page_routes(service, pages),
        *version_page_routes(service, pages),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    # handlers that touch the store or hash passwords run in worker threads, never on the
    # event loop (server/threads.py)
    import inspect

    from .threads import threaded

    light = {"/", "/healthz", "/api/openapi.json"}
    uploads = {"/flows/{flow}/start", "/api/flows/{flow}/runs", "/api/flows/{flow}/uploads"}
    routes = [Route(r.path, threaded(r.endpoint, pages.form, MAX_UPLOAD_BYTES
                                     if r.path in uploads else MAX_FORM_BYTES),
                    methods=sorted(set(r.methods or ()) - {"HEAD"}) or None, name=r.name)
              if isinstance(r, Route) and r.path not in light
              and inspect.iscoroutinefunction(r.endpoint) else r for r in routes]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                    lifespan=lifespan, exception_handlers={BodyTooLarge: too_large,
                                                          HTTPException: http_problem})
    app.state.service = service
    return app
