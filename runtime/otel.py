"""OpenTelemetry export of a run: spans for the run, its node executions and its model calls.

    from flowc.runtime.otel import export_run, telemetry_from_config
    settings = telemetry_from_config(load_config(flow_dir))     # [telemetry] in flowc.toml
    if settings.enabled:
        export_run(store, run_id, exporter=settings.exporter, endpoint=settings.endpoint,
                   headers=settings.headers)

One trace per top-level run: a span for the run; a child span for each node execution (a
`for each` item is a child of its loop's span; a flow call's sub-run is a child of the calling
node's span); a child span for each model call of a node, with the GenAI semantic conventions
(`gen_ai.operation.name` = chat, `gen_ai.provider.name` and `gen_ai.system`,
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens`,
`gen_ai.usage.output_tokens`) plus `flowc.cost_usd`, `flowc.node.id` and `flowc.run.id`.
Spans carry the times the store recorded, and status ERROR (with the error text) when the run,
node or call failed. Nodes that were skipped or never ran have no span; a node still waiting
(or a run still paused) ends at the run's last update, with its status in `flowc.node.status`
(`flowc.run.status`).

Ids are derived from the run's ids (sha256), so exporting the same run twice (after a pause,
then at the end) gives the same trace and span ids, and a sub-run exported on its own joins
its parent's trace under the calling node.

Exporters: `console` (JSON lines on stdout, or the `stream` given) and `otlp` (OTLP over
HTTP/protobuf; `endpoint` is the collector's base URL such as http://localhost:4318, to which
/v1/traces is added, or the full traces URL; without one, the OpenTelemetry variables
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`/`OTEL_EXPORTER_OTLP_ENDPOINT` apply, else
http://localhost:4318). Headers that hold secrets belong in `OTEL_EXPORTER_OTLP_HEADERS`, not in
flowc.toml. `off` (the default) exports nothing.

The OpenTelemetry packages are the optional extra `otel`: `pip install 'flowc[otel]'`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TextIO

__all__ = ["EXPORTERS", "OtelError", "OtelUnavailable", "TelemetrySettings", "build_spans",
           "export_run", "telemetry_from_config"]

EXPORTERS = ("off", "console", "otlp")
_SETTINGS = ("exporter", "endpoint", "headers", "timeout", "service_name")
_INSTALL = "pip install 'flowc[otel]'"


class OtelError(RuntimeError):
    """The spans could not be exported (the message says why and where)."""


class OtelUnavailable(OtelError, ImportError):
    """The OpenTelemetry packages are not installed."""


@dataclass(frozen=True)
class TelemetrySettings:
    """`[telemetry]` of flowc.toml: `exporter` off|console|otlp, `endpoint`, `headers`,
    `timeout` (seconds per OTLP request), `service_name` (the resource's service.name)."""

    exporter: str = "off"
    endpoint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    service_name: str = "flowc"

    @property
    def enabled(self) -> bool:
        return self.exporter != "off"


def telemetry_from_config(config) -> TelemetrySettings:
    """The telemetry settings of a `ProjectConfig` (or of a plain `[telemetry]` dict); off when
    there is none. A bad setting raises `flowc.config.ConfigError` naming it."""
    from flowc.config import ConfigError, check_settings

    raw = config if isinstance(config, Mapping) else getattr(config, "telemetry", None) or {}
    where = f"{getattr(config, 'path', None) or 'flowc.toml'}: [telemetry]"
    check_settings(where, raw, _SETTINGS)
    exporter = raw.get("exporter", "off")
    if exporter not in EXPORTERS:
        raise ConfigError(f"{where}: `exporter` must be one of {', '.join(EXPORTERS)}, not "
                          f"{exporter!r}")
    endpoint = raw.get("endpoint")
    if endpoint is not None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: `endpoint` must be an http:// or https:// URL, not "
                              f"{endpoint!r}")
    headers = raw.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigError(f"{where}: `headers` must be a table of strings")
    timeout = raw.get("timeout", 10.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"{where}: `timeout` must be a positive number of seconds, not "
                          f"{timeout!r}")
    service = raw.get("service_name", "flowc")
    if not isinstance(service, str) or not service:
        raise ConfigError(f"{where}: `service_name` must be a non-empty string")
    return TelemetrySettings(exporter, endpoint, dict(headers), float(timeout), service)


# ------------------------------------------------------------------------------------- ids


def _id(bits: int, *parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    value = int.from_bytes(digest[: bits // 8], "big")
    return value or 1   # an all-zero id is invalid


def _trace_id(root_run: str) -> int:
    return _id(128, "flowc.trace", root_run)


def _run_span_id(run_id: str) -> int:
    return _id(64, "flowc.run", run_id)


def _node_span_id(run_id: str, node_id: str, item: int) -> int:
    return _id(64, "flowc.node", run_id, node_id, item)


def _call_span_id(run_id: str, node_id: str, item: int, attempt: int, seq: int) -> int:
    return _id(64, "flowc.call", run_id, node_id, item, attempt, seq)


def _caller(parent_node_id: str | None) -> tuple[str, int] | None:
    """The engine names a flow call's caller `NODE#ITEM`."""
    if not parent_node_id:
        return None
    node, sep, item = parent_node_id.rpartition("#")
    if sep and item.lstrip("-").isdigit():
        return node, int(item)
    return parent_node_id, -1


# ---------------------------------------------------------------------------------- spans


@dataclass
class SpanSpec:
    """One span to export, before it meets the SDK (plain data; `build_spans` makes them)."""

    name: str
    span_id: int
    parent_id: int | None          # None: the root of the trace
    start: float                   # epoch seconds
    end: float
    kind: str = "internal"         # internal | client
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _attrs(**values: Any) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key.replace("__", ".")] = value
    return out


def build_spans(store, run_id: str) -> tuple[int, list[SpanSpec]]:
    """The trace id and the spans of a run (its sub-runs included), parents first."""
    from flowc.runtime.trace import NOT_RUN, build_trace

    run = store.get_run(run_id)
    if run is None:
        raise OtelError(f"no run `{run_id}`")
    # a sub-run belongs to its top-level run's trace, under the node that called it
    root, seen = run, {run.id}
    while root.parent_run_id and root.parent_run_id not in seen:
        parent = store.get_run(root.parent_run_id)
        if parent is None:
            break
        seen.add(parent.id)
        root = parent
    parent_span = None
    if run.parent_run_id:
        caller = _caller(run.parent_node_id)
        parent_span = (_node_span_id(run.parent_run_id, *caller) if caller
                       else _run_span_id(run.parent_run_id))
    trace = build_trace(store, run_id)
    spans: list[SpanSpec] = []

    def run_spans(r, parent: int | None) -> None:
        end = r.finished_at if r.finished_at is not None else max(r.updated_at, r.started_at)
        t = r.totals
        rid = _run_span_id(r.id)
        spans.append(SpanSpec(
            name=f"run {r.flow}", span_id=rid, parent_id=parent, start=r.started_at, end=end,
            attributes=_attrs(
                flowc__run__id=r.id, flowc__flow__name=r.flow, flowc__run__status=r.status,
                flowc__plan__hash=r.plan_hash, flowc__run__parent_id=r.parent_run_id,
                flowc__run__parent_node=r.parent_node_id, flowc__cost_usd=float(t.cost),
                flowc__usage__input_tokens=t.prompt_tokens,
                flowc__usage__output_tokens=t.completion_tokens,
                flowc__model_calls=t.model_calls, flowc__nodes=t.nodes),
            error=(r.error or f"run {r.status}") if r.status in ("failed", "cancelled")
            else None))
        for n in r.nodes:
            node_spans(r, n, rid, end)

    def node_spans(r, n, parent: int, run_end: float) -> None:
        if n.status in (NOT_RUN, "skipped") or n.started_at is None:
            return
        sid = _node_span_id(r.id, n.id, n.item)
        end = n.finished_at if n.finished_at is not None else max(run_end, n.started_at)
        metrics = n.metrics or {}
        agent = n.kind == "agent"
        modelled = bool(n.model or n.calls)
        spans.append(SpanSpec(
            name=f"invoke_agent {n.label}" if agent else f"{n.kind or 'node'} {n.label}",
            span_id=sid, parent_id=parent, start=n.started_at, end=end,
            attributes=_attrs(
                flowc__run__id=r.id, flowc__node__id=n.id, flowc__node__kind=n.kind,
                flowc__node__item=n.item if n.item >= 0 else None,
                flowc__node__status=n.status, flowc__node__outcome=n.outcome,
                flowc__node__attempts=n.attempts, flowc__node__line=n.line,
                gen_ai__operation__name="invoke_agent" if agent else None,
                gen_ai__agent__name=n.id if agent else None,
                gen_ai__request__model=n.provider_model if modelled else None,
                gen_ai__provider__name=n.provider if modelled else None,
                flowc__model__alias=n.model,
                gen_ai__usage__input_tokens=n.prompt_tokens if modelled else None,
                gen_ai__usage__output_tokens=n.completion_tokens if modelled else None,
                flowc__cost_usd=float(n.cost) if modelled else None,
                flowc__model_calls=n.calls if modelled else None,
                flowc__agent__steps=_int(metrics.get("steps")),
                flowc__agent__tool_calls=_int(metrics.get("tool_calls")),
                flowc__llm__reasks=_int(metrics.get("reasks")),
                flowc__extract__fallback=metrics.get("fallback")
                if isinstance(metrics.get("fallback"), bool) else None),
            error=(n.error or "failed") if n.status == "failed" else None))
        for c in n.model_calls:
            spans.append(SpanSpec(
                name=f"chat {c.model}", kind="client",
                span_id=_call_span_id(r.id, n.id, n.item, c.attempt, c.seq), parent_id=sid,
                start=c.started_at, end=c.finished_at,
                attributes=_attrs(
                    gen_ai__operation__name="chat", gen_ai__provider__name=c.provider,
                    gen_ai__system=c.provider, gen_ai__request__model=c.model,
                    gen_ai__response__model=_response_field(c, "model") or c.model,
                    gen_ai__response__id=_response_field(c, "id"),
                    gen_ai__usage__input_tokens=c.prompt_tokens,
                    gen_ai__usage__output_tokens=c.completion_tokens,
                    flowc__cost_usd=float(c.cost), flowc__run__id=r.id, flowc__node__id=n.id,
                    flowc__node__item=n.item if n.item >= 0 else None,
                    flowc__model__alias=c.alias, flowc__model_call__purpose=c.purpose,
                    flowc__model_call__seq=c.seq, flowc__model_call__attempt=c.attempt,
                    error__type="_OTHER" if c.error else None),
                error=c.error))
        for i in n.items:
            node_spans(r, i, sid, run_end)
        if n.child_run is not None:
            run_spans(n.child_run, sid)

    run_spans(trace, parent_span)
    return _trace_id(root.id), spans


def _response_field(c, name: str) -> str | None:
    resp = c.response
    if isinstance(resp, dict) and isinstance(resp.get(name), str):
        return resp[name]
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------------- export


def _sdk() -> SimpleNamespace:
    try:
        from opentelemetry import context, trace
        from opentelemetry.sdk import resources
        from opentelemetry.sdk import trace as sdk_trace
        from opentelemetry.sdk.trace import export, id_generator, sampling
        from opentelemetry.sdk.trace.export import in_memory_span_exporter
    except ImportError as e:
        raise OtelUnavailable(f"OpenTelemetry is not installed ({e.name or e}): {_INSTALL}") \
            from e
    return SimpleNamespace(context=context, trace=trace, resources=resources, sdk=sdk_trace,
                           export=export, ids=id_generator, sampling=sampling,
                           memory=in_memory_span_exporter)


def _otlp_exporter(endpoint: str | None, headers: Mapping[str, str] | None, timeout: float):
    try:
        import requests
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as e:
        raise OtelUnavailable(f"the OTLP/HTTP exporter is not installed ({e.name or e}): "
                              f"{_INSTALL}") from e
    url = None
    if endpoint:
        if not endpoint.startswith(("http://", "https://")):
            raise OtelError(f"the OTLP endpoint must be an http:// or https:// URL, not "
                            f"`{endpoint}`")
        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"

    class Session(requests.Session):
        """Remembers how the last request went: the exporter logs failures, not raises."""

        last: str | None = None

        def request(self, *args: Any, **kwargs: Any):
            try:
                response = super().request(*args, **kwargs)
            except Exception as e:
                Session.last = _connection_error(e)
                raise
            Session.last = f"HTTP {response.status_code} {response.reason or ''}".strip()
            return response

    exporter = OTLPSpanExporter(endpoint=url, headers=dict(headers) if headers else None,
                                timeout=timeout, session=Session())
    where = getattr(exporter, "_endpoint", None) or url or "the OTLP endpoint"
    return exporter, where, Session


def _connection_error(e: Exception) -> str:
    text = str(e)
    m = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if m:
        return m.group(0).strip()
    if "timed out" in text.lower() or "timeout" in type(e).__name__.lower():
        return "timed out"
    text = f"{type(e).__name__}: {' '.join(text.split())}"
    return text if len(text) <= 200 else text[:199] + "…"


class _Quiet(logging.Handler):
    """Swallows the exporter's log lines while it runs (the caller gets one clear error)."""

    def emit(self, record: logging.LogRecord) -> None:
        pass


def export_run(store, run_id: str, *, exporter: str, endpoint: str | None = None,
               headers: Mapping[str, str] | None = None, timeout: float = 10.0,
               stream: TextIO | None = None, service_name: str = "flowc") -> int:
    """Export the spans of a run (and its sub-runs); returns how many were exported.

    `exporter`: "off" (nothing, 0), "console" (JSON to `stream`, default stdout) or "otlp"
    (`endpoint`, `headers`, `timeout` seconds per request, retries included). Raises
    `OtelUnavailable` without the OpenTelemetry packages, `OtelError` for an unknown run or
    exporter, or when the collector could not be reached or refused the spans."""
    if exporter not in EXPORTERS:
        raise OtelError(f"unknown exporter `{exporter}` (exporters: {', '.join(EXPORTERS)})")
    if exporter == "off":
        return 0
    sdk = _sdk()
    trace_id, specs = build_spans(store, run_id)
    if not specs:
        return 0

    class _Ids(sdk.ids.IdGenerator):
        span_id = 1

        def generate_span_id(self) -> int:
            return self.span_id

        def generate_trace_id(self) -> int:
            return trace_id

    from flowc import __version__

    ids = _Ids()
    collector = sdk.memory.InMemorySpanExporter()
    provider = sdk.sdk.TracerProvider(
        resource=sdk.resources.Resource.create({"service.name": service_name,
                                         "service.version": __version__}),
        id_generator=ids, sampler=sdk.sampling.ALWAYS_ON)
    provider.add_span_processor(sdk.export.SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("flowc", __version__)
    kinds = {"internal": sdk.trace.SpanKind.INTERNAL, "client": sdk.trace.SpanKind.CLIENT}
    sampled = sdk.trace.TraceFlags(sdk.trace.TraceFlags.SAMPLED)
    for spec in specs:
        if spec.parent_id is None:
            ctx = sdk.context.Context()
        else:
            parent = sdk.trace.SpanContext(trace_id, spec.parent_id, is_remote=False,
                                        trace_flags=sampled)
            ctx = sdk.trace.set_span_in_context(sdk.trace.NonRecordingSpan(parent))
        ids.span_id = spec.span_id
        start = _ns(spec.start)
        span = tracer.start_span(spec.name, context=ctx, kind=kinds[spec.kind],
                                 attributes=spec.attributes, start_time=start)
        if spec.error:
            span.set_status(sdk.trace.Status(sdk.trace.StatusCode.ERROR, spec.error))
        span.end(end_time=max(start, _ns(spec.end)))
    finished = list(collector.get_finished_spans())
    provider.shutdown()
    if not finished:   # OTEL_SDK_DISABLED=true: the SDK made no spans
        return 0

    if exporter == "console":
        out = stream if stream is not None else sys.stdout
        target, where, session = sdk.export.ConsoleSpanExporter(out=out), "the console", None
    else:
        target, where, session = _otlp_exporter(endpoint, headers, timeout)
    log = logging.getLogger("opentelemetry")
    quiet, propagate = _Quiet(), log.propagate
    log.addHandler(quiet)
    log.propagate = False
    try:
        result = target.export(finished)
    finally:
        log.removeHandler(quiet)
        log.propagate = propagate
        target.shutdown()
    if result != sdk.export.SpanExportResult.SUCCESS:
        why = (session.last if session is not None else None) or "the exporter failed"
        raise OtelError(f"could not export {len(finished)} spans of run {run_id} to {where}: "
                        f"{why}")
    return len(finished)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)
