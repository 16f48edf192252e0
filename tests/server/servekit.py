"""A real `flowc serve` for tests: uvicorn on 127.0.0.1 (a free port) in a thread, over a
real SQLite store in the test's folder, with the background loop (worker, notifier,
scheduler) running. Helpers to sign in and to wait for a run's state."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from flowc_testkit import wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project_with(tmp_path: Path, *flows: str) -> Path:
    """A project folder holding copies of example flows (`refund_approval`, ...) and the
    examples' flowc.toml."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(EXAMPLES / "flowc.toml", project / "flowc.toml")
    for name in flows:
        src = next(EXAMPLES.glob(f"*/{name}.flow"))
        shutil.copy(src, project / src.name)
        lock = src.parent / "flow.lock"
        if lock.exists() and not (project / "flow.lock").exists():
            shutil.copy(lock, project / "flow.lock")
    return project


@contextmanager
def serving(project: Path, store: Path, *, people=(), **config):
    """Yields (base_url, service). `people`: (name, roles, password, email) tuples."""
    import uvicorn

    from flowc.serve_cli import set_person
    from flowc.server.app import create_app
    from flowc.server.service import ServeConfig, Service

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config.setdefault("interval", 0.1)
    service = Service(ServeConfig(project=project, store=str(store), base_url=base, **config))
    for name, roles, password, email in people:
        set_person(service.store, name, roles, email=email, password=password)
    app = create_app(service=service)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield base, service
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def token_for(service, person: str) -> str:
    from flowc.server.auth import new_secret

    token = "flowc_" + new_secret()
    service.store.add_api_token(person, token)
    return token


def run_status(service, run_id: str, *statuses: str):
    return wait_for(lambda: (r := service.store.get_run(run_id)) and r.status in statuses and r,
                    f"run {run_id} to be {'/'.join(statuses)}")


def start_paused(base: str, service, headers: dict, flow: str, inputs: dict) -> str:
    """Start a run of `flow` through the API and wait until it pauses at its gate."""
    r = httpx.post(f"{base}/api/flows/{flow}/runs", headers=headers, json={"inputs": inputs},
                   timeout=120)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    run_status(service, run_id, "paused")
    return run_id


def keep_cookies(response: httpx.Response) -> None:
    """The server's cookies are `Secure`: a browser keeps them on http://127.0.0.1 (a
    potentially trustworthy origin), Python's cookie jar does not; keep them as a browser
    would."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if 'max-age=0' in header.lower() or value in ('""', ""):
            response._request_client.cookies.delete(name)  # type: ignore[attr-defined]
        else:
            response._request_client.cookies.set(name, value)  # type: ignore[attr-defined]


def client(base: str) -> httpx.Client:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=60)

    def hook(response: httpx.Response) -> None:
        response._request_client = c  # type: ignore[attr-defined]
        keep_cookies(response)

    c.event_hooks["response"] = [hook]
    return c


def signed_in(base: str, name: str, password: str) -> httpx.Client:
    """An httpx client with a session (the sign-in form, its CSRF token and cookie)."""
    c = client(base)
    page = c.get("/signin")
    r = c.post("/signin", data={"csrf": csrf_of(page.text), "name": name,
                                "password": password})
    assert r.status_code == 303, r.text[:500]
    return c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def form_id_of(html: str) -> str:
    return re.search(r'name="form_id" value="([^"]+)"', html).group(1)


def seed_gate(service, *, title="Refund 40 EUR for order A-17?", show=None, role="support_lead",
              flow_file: Path | None = None):
    """A paused run of refund_approval with its pending gate, made through the store (no node
    runs): the task's form as the gate builds it. Returns (run, task)."""
    from flowc.compiler.api import compile_file

    plan = compile_file(flow_file or EXAMPLES / "refund_approval" / "refund_approval.flow").plan
    store = service.store
    store.put_plan(plan.hash, plan.to_compact_json())
    with store.transaction():
        run = store.create_run(plan.flow.name, plan.hash, {"order": {
            "id": "A-17", "amount": 80.0, "reason": "damaged"}}, status="paused")
        task = store.create_task(
            run.id, "review", kind="gate", assignees=[{"kind": "role", "name": role}],
            title=title, show=show if show is not None else ["A-17", "damaged", 40.0, "half"],
            form={"fields": [{"name": "refund", "schema": {"type": "number"}}],
                  "values": {"refund": 40.0}, "actions": ["approve", "edit", "reject"],
                  "show_labels": ["order.id", "order.reason", "proposal.refund",
                                  "proposal.rule"]})
    return run, task
