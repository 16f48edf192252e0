"""Run webhooks: a Slack-compatible JSON post when a run ends (succeeded, failed, cancelled)
or pauses for a person. Each event is posted once per run and status change, whatever the
number of servers (claimed in the store's notifications table before it is sent); a failed
post is recorded with its error and not retried (the run's page and the API show the state)."""

from __future__ import annotations

import httpx

__all__ = ["post_run_events"]

_EVENTS = ("succeeded", "failed", "cancelled", "paused")


def post_run_events(store, url: str, base_url: str, *, limit: int = 200) -> int:
    sent = 0
    for run in store.list_runs(limit=limit):
        if run.status not in _EVENTS or run.parent_run_id:
            continue
        key = f"run:{run.id}:{run.status}:{run.updated_at!r}"
        if not store.claim_notification(key, "", "run-webhook", url):
            continue
        link = f"{base_url.rstrip('/')}/runs/{run.id}"
        body = {"text": f"flowc: run {run.id} of {run.flow_name} {run.status}: {link}",
                "event": f"run.{run.status}", "run": run.id, "flow": run.flow_name,
                "status": run.status, "url": link}
        error = None
        try:
            r = httpx.post(url, json=body, timeout=5.0)
            if r.status_code >= 300:
                error = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"[:300]
        store.notification_done(key, error)
        sent += error is None
    return sent
