"""OpenTelemetry export: spans sent to a real OTLP/HTTP receiver on loopback, decoded from
protobuf; the console exporter; settings from flowc.toml; clear errors."""

from __future__ import annotations

import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from trace_world import T0

from flowc.cli import main
from flowc.config import ConfigError, ProjectConfig
from flowc.runtime.otel import (
    OtelError,
    OtelUnavailable,
    TelemetrySettings,
    export_run,
    telemetry_from_config,
)


class Receiver:
    """An OTLP/HTTP trace receiver: decodes each POST to /v1/traces and keeps it."""

    def __init__(self, status: int = 200):
        self.requests: list[tuple[str, dict, ExportTraceServiceRequest]] = []
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                msg = ExportTraceServiceRequest()
                msg.ParseFromString(body)
                outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()},
                                       msg))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def spans(self):
        out = []
        for _, _, msg in self.requests:
            for rs in msg.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append({
                            "name": s.name, "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(), "parent": s.parent_span_id.hex(),
                            "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                            "kind": s.kind, "status": s.status.code,
                            "message": s.status.message, "scope": ss.scope.name,
                            "attrs": {a.key: _value(a.value) for a in s.attributes},
                            "resource": resource})
        return out


def _value(v):
    return getattr(v, v.WhichOneof("value"))


def ns(t: float) -> int:
    return round(t * 1e9)


def test_otlp_export_to_a_real_receiver(world):
    with Receiver() as rx:
        n = export_run(world.store, world.ok_run, exporter="otlp", endpoint=rx.url,
                       headers={"x-team": "flowc"})
    assert n == 8   # the run, stats, draft, 3 model calls, review, send (rework was skipped)
    assert len(rx.requests) == 1
    path, headers, _ = rx.requests[0]
    assert path == "/v1/traces"
    assert headers.get("x-team") == "flowc"
    assert headers.get("content-type") == "application/x-protobuf"
    spans = rx.spans()
    assert len(spans) == 8 and len({s["trace_id"] for s in spans}) == 1
    by_name = {s["name"]: s for s in spans}
    run = by_name["run client_report"]
    assert run["parent"] == "" and run["scope"] == "flowc"
    assert run["resource"]["service.name"] == "flowc"
    r0 = T0 + 100
    assert (run["start"], run["end"]) == (ns(r0), ns(r0 + 64.3))
    assert run["attrs"]["flowc.run.id"] == world.ok_run
    assert run["attrs"]["flowc.run.status"] == "succeeded"
    assert run["attrs"]["flowc.cost_usd"] == pytest.approx(0.0053)
    assert set(by_name) == {"run client_report", "skill stats", "invoke_agent draft",
                            "gate review", "command send", "chat gpt-4o-mini"}
    nodes = [s for s in spans if s["parent"] == run["span_id"]]
    assert sorted(s["attrs"]["flowc.node.id"] for s in nodes) == \
        ["draft", "review", "send", "stats"]
    draft = by_name["invoke_agent draft"]
    assert (draft["start"], draft["end"]) == (ns(r0 + 1.5), ns(r0 + 3.5))
    assert draft["attrs"]["gen_ai.operation.name"] == "invoke_agent"
    assert draft["attrs"]["gen_ai.usage.input_tokens"] == 3000
    assert draft["attrs"]["flowc.node.attempts"] == 2
    assert draft["attrs"]["flowc.agent.steps"] == 2
    review = by_name["gate review"]
    assert review["attrs"]["flowc.node.outcome"] == "approved"
    calls = sorted((s for s in spans if s["parent"] == draft["span_id"]),
                   key=lambda s: s["start"])
    assert len(calls) == 3 and all(c["kind"] == 3 for c in calls)   # SPAN_KIND_CLIENT
    failed, ok1, ok2 = calls
    assert ok2["attrs"]["flowc.model_call.seq"] == 2
    assert failed["status"] == 2 and failed["message"] == "timeout"   # STATUS_CODE_ERROR
    assert failed["attrs"]["error.type"] == "_OTHER"
    assert ok1["status"] == 0
    assert (ok1["start"], ok1["end"]) == (ns(r0 + 1.6), ns(r0 + 2.6))
    a = ok1["attrs"]
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024"
    assert a["gen_ai.response.id"] == "chatcmpl-draft-1"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert a["flowc.cost_usd"] == pytest.approx(0.002)
    assert (a["flowc.node.id"], a["flowc.run.id"]) == ("draft", world.ok_run)
    assert (a["flowc.model.alias"], a["flowc.model_call.attempt"]) == ("default", 2)


def test_a_failed_run_has_error_status_on_the_run_and_the_node(world):
    with Receiver() as rx:
        assert export_run(world.store, world.failed_run, exporter="otlp",
                          endpoint=rx.url + "/v1/traces") == 4
    spans = {s["name"]: s for s in rx.spans()}
    assert spans["run client_report"]["status"] == 2
    assert spans["run client_report"]["message"] == "node `draft` failed"
    assert spans["invoke_agent draft"]["status"] == 2
    assert spans["invoke_agent draft"]["message"] == "the model failed: rate limited (429)"
    assert spans["skill stats"]["status"] == 0


def test_sub_runs_join_the_parent_trace_under_the_calling_item(world):
    with Receiver() as rx:
        n = export_run(world.store, world.batch_run, exporter="otlp", endpoint=rx.url)
    spans = rx.spans()
    assert n == len(spans) == 1 + 1 + 2 + 2 * 8
    assert len({s["trace_id"] for s in spans}) == 1
    ids = {s["span_id"]: s for s in spans}
    assert all(s["parent"] == "" or s["parent"] in ids for s in spans)
    items = [s for s in spans if s["name"].startswith("for_each reports[")]
    children = [s for s in spans if s["name"] == "run client_report"]
    assert sorted(ids[c["parent"]]["name"] for c in children) == \
        ["for_each reports[0]", "for_each reports[1]"]
    assert {i["attrs"]["flowc.node.item"] for i in items} == {0, 1}
    batch = next(s for s in spans if s["name"] == "run all_clients")
    assert batch["attrs"]["flowc.run.status"] == "paused"
    loop = next(s for s in spans if s["name"] == "for_each reports")
    assert loop["attrs"]["flowc.node.status"] == "waiting"
    assert loop["end"] == batch["end"] == ns(T0 + 3710)   # still waiting: the last update

    # exporting a sub-run alone gives the same ids, under the same parent
    with Receiver() as rx2:
        export_run(world.store, world.child_runs[1], exporter="otlp", endpoint=rx2.url)
    alone = {s["span_id"]: s for s in rx2.spans()}
    assert set(alone) <= set(ids)
    root = next(s for s in alone.values() if s["name"] == "run client_report")
    assert root["parent"] == ids[root["span_id"]]["parent"]
    assert root["trace_id"] == batch["trace_id"]


def test_a_collector_that_refuses_or_is_not_there_is_one_clear_error(world):
    with Receiver(status=401) as rx, pytest.raises(OtelError, match=r"HTTP 401 Unauthorized"):
        export_run(world.store, world.ok_run, exporter="otlp", endpoint=rx.url, timeout=2)
    with Receiver() as rx:
        closed = rx.url
    # the reason is the OS's (refused; under heavy load a timeout first): one line either way
    with pytest.raises(OtelError, match=r"could not export 8 spans of run .* to "
                       r"http://127.0.0.1:\d+/v1/traces: \S") as caught:
        export_run(world.store, world.ok_run, exporter="otlp", endpoint=closed, timeout=3)
    assert "\n" not in str(caught.value)
    with pytest.raises(OtelError, match="must be an http:// or https:// URL"):
        export_run(world.store, world.ok_run, exporter="otlp", endpoint="localhost:4318")
    with pytest.raises(OtelError, match="unknown exporter `zipkin`"):
        export_run(world.store, world.ok_run, exporter="zipkin")
    with pytest.raises(OtelError, match="no run `nope`"):
        export_run(world.store, "nope", exporter="console", stream=io.StringIO())


def test_console_export_and_off(world):
    buf = io.StringIO()
    assert export_run(world.store, world.ok_run, exporter="console", stream=buf) == 8
    text = buf.getvalue()
    assert text.count('"name": "chat gpt-4o-mini"') == 3
    assert '"gen_ai.usage.input_tokens": 1000' in text
    assert export_run(world.store, world.ok_run, exporter="off") == 0


def test_without_the_packages_the_error_says_what_to_install(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(OtelUnavailable, match=r"pip install 'flowc\[otel\]'"):
        export_run(world.store, world.ok_run, exporter="console", stream=io.StringIO())
    assert export_run(world.store, world.ok_run, exporter="off") == 0


def test_telemetry_settings_from_config(tmp_path):
    assert telemetry_from_config(ProjectConfig(None)) == TelemetrySettings()
    assert not TelemetrySettings().enabled
    s = telemetry_from_config(ProjectConfig(tmp_path / "flowc.toml", telemetry={
        "exporter": "otlp", "endpoint": "http://127.0.0.1:4318", "headers": {"x": "y"},
        "timeout": 3}))
    assert (s.enabled, s.exporter, s.endpoint, s.headers, s.timeout) == \
        (True, "otlp", "http://127.0.0.1:4318", {"x": "y"}, 3.0)
    for bad, msg in [({"exporter": "jaeger"}, "`exporter` must be one of off, console, otlp"),
                     ({"endpoint": "localhost"}, "`endpoint` must be an http"),
                     ({"headers": {"a": 1}}, "`headers` must be a table of strings"),
                     ({"timeout": 0}, "`timeout` must be a positive number"),
                     ({"exporters": "otlp"}, "unknown setting `exporters`")]:
        with pytest.raises(ConfigError, match=msg):
            telemetry_from_config(ProjectConfig(tmp_path / "flowc.toml", telemetry=bad))


# ------------------------------------------------------------------------------------ the CLI


def test_flowc_trace_export_otlp_uses_the_config_endpoint(world, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.delenv("FLOWC_CONFIG", raising=False)
    with Receiver() as rx:
        (tmp_path / "flowc.toml").write_text(
            f'[telemetry]\nexporter = "otlp"\nendpoint = "{rx.url}"\n'
            'headers = { "x-env" = "test" }\n')
        monkeypatch.chdir(tmp_path)
        code = main(["trace", world.ok_run, "--export", "otlp", "--store", str(world.path)])
        _, err = capsys.readouterr()
        assert code == 0, err
        assert err.strip() == f"exported 8 spans of run {world.ok_run} to {rx.url}"
        assert rx.requests[0][1].get("x-env") == "test"
    with Receiver() as rx2:   # --endpoint wins over the config
        code = main(["trace", world.ok_run, "--export", "otlp", "--endpoint", rx2.url,
                     "--store", str(world.path)])
        assert code == 0 and len(rx2.spans()) == 8
    capsys.readouterr()


def test_flowc_trace_export_console(world, capsys):
    code = main(["trace", world.failed_run, "--export", "console", "--store", str(world.path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.count('"trace_id"') == 4
    assert "exported 4 spans" in err


def test_flowc_trace_export_errors_are_one_line(world, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FLOWC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flowc.toml").write_text("[telemetry]\ntimeout = 1\n")
    with Receiver() as rx:
        closed = rx.url
    code = main(["trace", world.ok_run, "--export", "otlp", "--endpoint", closed,
                 "--store", str(world.path)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Connection refused" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "flowc.toml").write_text('[telemetry]\nexporter = "carrier-pigeon"\n')
    code = main(["trace", world.ok_run, "--export", "otlp", "--store", str(world.path)])
    _, err = capsys.readouterr()
    assert code == 2 and "`exporter` must be one of off, console, otlp" in err
    assert len(err.strip().splitlines()) == 1
    code = main(["trace", "nope", "--export", "console", "--store", str(world.path)])
    _, err = capsys.readouterr()
    assert code == 2 and "no run `nope`" in err


def test_flowc_trace_export_without_the_packages(world, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    code = main(["trace", world.ok_run, "--export", "console", "--store", str(world.path)])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.strip().endswith("pip install 'flowc[otel]'")
    assert len(err.strip().splitlines()) == 1
    json.dumps(err)
