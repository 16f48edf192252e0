"""`flowc serve` (the web app, the API, the scheduler and the worker loop in one process) and
`flowc token` (an API token for a person). `flowc people` (runtime_cli.py) records people's
roles, e-mail and password."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flowc.errors import CommandError

__all__ = ["add_serve_commands", "set_person"]


def _need_serve():
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CommandError("`flowc serve` needs the serve extra: pip install 'flowc[serve]' "
                           "(or scripts/bootstrap.sh serve)") from None


def set_person(store, name: str, roles, *, email: str | None, password: str | None) -> None:
    from flowc.server.auth import record_person

    try:
        record_person(store, name, roles, email=email, password=password)
    except ValueError as e:
        raise CommandError(str(e)) from None


def _demo_people(store) -> list[tuple[str, str]]:
    """The demo's people (`flowc serve --demo`): who they are and their passwords."""
    demo = [("carla", ["support_lead", "admin"], "carla@example.test"),
            ("dev", ["compliance", "people-desk"], "dev@example.test"),
            ("ana", ["finance"], "ana@example.test")]
    shown = []
    for name, roles, email in demo:
        if store.get_person(name) is None or not store.get_person(name).password_hash:
            set_person(store, name, roles, email=email, password=f"{name}-demo")
        shown.append((name, f"{name}-demo"))
    return shown


def service_config(args, *, base_url: str, worker: bool, oidc=None):
    """The ServeConfig of `flowc serve` or `flowc worker --project` from their options (each
    bad value is a one-line CommandError)."""
    from flowc.server.service import ServeConfig

    project = Path(args.project).resolve()
    if not project.exists():
        raise CommandError(f"--project: `{args.project}` does not exist")
    if getattr(args, "replay", None) and not Path(args.replay).is_file():
        raise CommandError(f"--replay: `{args.replay}` is not a file")
    schedule_inputs = {}
    if args.schedule_inputs:
        try:
            schedule_inputs = json.loads(Path(args.schedule_inputs).read_text())
            if not isinstance(schedule_inputs, dict):
                raise ValueError("a JSON object {flow: {input: value}} is expected")
        except (OSError, ValueError) as e:
            raise CommandError(f"--schedule-inputs: {e}") from None
    smtp_host, smtp_port = None, 25
    if args.smtp:
        host, _, port = args.smtp.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--smtp takes HOST:PORT, not `{args.smtp}`")
        smtp_host, smtp_port = host, int(port)
    temporal = None
    if getattr(args, "engine", "embedded") == "temporal":
        from flowc.runtime.temporal import NAMESPACE, TASK_QUEUE
        from flowc.runtime.temporal.client import (
            TemporalError,
            check_address,
            check_name,
            check_settings,
            heartbeat_seconds,
        )
        from flowc.temporal_cli import address

        temporal = {"address": address(args), "namespace": args.namespace or NAMESPACE,
                    "task_queue": TASK_QUEUE if args.task_queue is None else args.task_queue}
        try:
            check_settings()
            check_address(temporal["address"])
            check_name(temporal["namespace"], "namespace")
            check_name(temporal["task_queue"], "task queue")
            temporal["heartbeat"] = heartbeat_seconds()
        except TemporalError as e:
            raise CommandError(str(e)) from None
    return ServeConfig(project=project, store=args.store, base_url=base_url, temporal=temporal,
                       smtp_host=smtp_host, smtp_port=smtp_port,
                       smtp_sender=args.smtp_sender, webhook_url=args.webhook,
                       worker=worker, interval=args.interval,
                       replay=getattr(args, "replay", None), record=getattr(args, "record", None),
                       catch_up=args.catch_up, schedule_inputs=schedule_inputs, oidc=oidc,
                       run_threads=run_threads(args))


def open_service(config):
    from flowc.server.service import Service

    try:
        return Service(config)
    except (ValueError, OSError) as e:
        raise CommandError(f"cannot serve: {e}") from None


def trigger_options(sp) -> None:
    """The options `flowc serve` and `flowc worker` share: notifications and schedules."""
    sp.add_argument("--smtp", metavar="HOST:PORT", help="send review links by e-mail")
    sp.add_argument("--smtp-sender", default="flowc@localhost", metavar="ADDRESS")
    sp.add_argument("--webhook", metavar="URL", help="a Slack-compatible webhook: tasks "
                    "opened, runs ended or paused")
    sp.add_argument("--catch-up", choices=("latest", "all", "none"), default="latest",
                    help="schedules after downtime (docs/serve.md)")
    sp.add_argument("--schedule-inputs", metavar="FILE", help="JSON {flow: {input: value}} "
                    "for scheduled runs")
    sp.add_argument("--threads", type=int, default=None, metavar="N",
                    help="runs advanced at once in this process (default: $FLOWC_RUN_THREADS, "
                    "else 4; docs/runtime.md)")


def run_threads(args) -> int:
    """`--threads`, else FLOWC_RUN_THREADS, else 4: a bad value is a one-line error."""
    from flowc.config import ConfigError
    from flowc.runtime.engine import run_threads_default

    value = getattr(args, "threads", None)
    if value is not None:
        if not 1 <= value <= 256:
            raise CommandError(f"--threads: give a whole number from 1 to 256, not {value}")
        return value
    try:
        return run_threads_default()
    except ConfigError as e:
        raise CommandError(str(e)) from None


def cmd_serve(args) -> int:
    _need_serve()
    import uvicorn

    from flowc.cli_store import _ignore_default_store
    from flowc.server.app import create_app

    _ignore_default_store(args)
    base_url = args.base_url or f"http://{args.host}:{args.port}"
    oidc = None
    if args.oidc_issuer:
        import os

        from flowc.server.oidc import OidcConfig

        if not args.oidc_client_id:
            raise CommandError("--oidc-issuer needs --oidc-client-id")
        secret = None
        if args.oidc_client_secret_env:
            secret = os.environ.get(args.oidc_client_secret_env)
            if not secret:
                raise CommandError(f"--oidc-client-secret-env: ${args.oidc_client_secret_env} "
                                   "is not set")
        oidc = OidcConfig(issuer=args.oidc_issuer, client_id=args.oidc_client_id,
                          client_secret=secret)
    config = service_config(args, base_url=base_url, worker=not args.no_worker, oidc=oidc)
    service = open_service(config)
    if args.demo:
        for name, password in _demo_people(service.store):
            print(f"demo person: {name} / password {password}", file=sys.stderr)
    for p in service.catalog.problems:
        print(f"flowc serve: {p}", file=sys.stderr)
    runnable = sorted(e.name for e in service.catalog.runnable())
    broken = len(service.catalog.entries) - len(runnable)
    flows = ", ".join(runnable) or "none"
    more = f"; {broken} with errors, listed on /flows" if broken else ""
    print(f"flowc serve: {base_url} (store {service.store_path}; flows: {flows}{more})",
          file=sys.stderr, flush=True)
    app = create_app(service=service)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                proxy_headers=False, server_header=False)
    return 0


def cmd_token(args) -> int:
    from flowc.cli_store import _name, _store
    from flowc.server.auth import new_secret

    _name(args.user, "USER")
    store = _store(args)
    if store.get_person(args.user) is None:
        raise CommandError(f"no person `{args.user}` (record them with `flowc people "
                           f"{args.user} ROLE...`)")
    if args.revoke:
        n = store.revoke_api_tokens(args.user)
        print(f"revoked {n} token(s) of {args.user}")
        return 0
    token = "flowc_" + new_secret()
    store.add_api_token(args.user, token, args.label or "")
    print(token)
    return 0


def add_serve_commands(sub, parser_class) -> None:
    sp = sub.add_parser("serve", help="the web app for reviewers, the HTTP API, schedules and "
                        "the worker loop (docs/serve.md)")
    sp.add_argument("--project", default=".", help="the folder whose flows are served "
                    "(its flowc.toml configures models and files; default: .)")
    sp.add_argument("--store", help="the run store (default: $FLOWC_STORE or .flowc/runs.db)")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8080)
    sp.add_argument("--base-url", help="the address people reach this server at (links in "
                    "e-mails); default http://HOST:PORT")
    trigger_options(sp)
    sp.add_argument("--no-worker", action="store_true", help="do not advance runs here (a "
                    "separate `flowc worker` does)")
    sp.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                    help="between background passes (default 1)")
    sp.add_argument("--replay", metavar="FILE", help="serve recorded model exchanges")
    sp.add_argument("--record", metavar="FILE", help="keep the model exchanges of the runs "
                    "this server advances (JSON Lines, as `flowc run --record`)")
    sp.add_argument("--oidc-issuer", metavar="URL", help="also sign in with this OpenID Connect "
                    "provider (its discovery document at URL/.well-known/openid-configuration)")
    sp.add_argument("--oidc-client-id", metavar="ID")
    sp.add_argument("--oidc-client-secret-env", metavar="VAR", help="the environment variable "
                    "holding the client secret (none: a public client with PKCE)")
    sp.add_argument("--demo", action="store_true", help="add the demo people (carla, dev, "
                    "ana) with passwords NAME-demo")
    from flowc.temporal_cli import temporal_options

    temporal_options(sp)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("token", help="make an API token for a person (printed once)")
    sp.add_argument("user", metavar="USER")
    sp.add_argument("--label", default="")
    sp.add_argument("--revoke", action="store_true", help="revoke all of USER's tokens")
    sp.add_argument("--store", help="the run store (default: $FLOWC_STORE or .flowc/runs.db)")
    sp.set_defaults(func=cmd_token)
