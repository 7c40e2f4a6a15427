from __future__ import annotations

import base64
import json
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from plg import Client
from tests.conftest import CAKE_V1, GitRepo, run_cli

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
VALUE_KINDS = {"stringValue": str, "intValue": str, "doubleValue": float, "boolValue": bool}


def check_attributes(attributes: Any) -> dict[str, Any]:
    assert isinstance(attributes, list)
    out = {}
    for item in attributes:
        assert set(item) == {"key", "value"} and isinstance(item["key"], str)
        ((kind, value),) = item["value"].items()
        assert isinstance(value, VALUE_KINDS[kind]), (kind, value)
        if kind == "intValue":
            assert re.fullmatch(r"-?\d+", value)
        out[item["key"]] = int(value) if kind == "intValue" else value
    return out


def check_otlp(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The ExportTraceServiceRequest JSON shape, field by field; returns the spans."""
    assert set(payload) == {"resourceSpans"}
    spans: list[dict[str, Any]] = []
    for resource_spans in payload["resourceSpans"]:
        assert check_attributes(resource_spans["resource"]["attributes"])["service.name"] == "plg"
        for scope_spans in resource_spans["scopeSpans"]:
            assert scope_spans["scope"]["name"] == "plg"
            spans += scope_spans["spans"]
    by_id = {s["spanId"]: s for s in spans}
    for s in spans:
        assert HEX32.match(s["traceId"]) and HEX16.match(s["spanId"])
        assert isinstance(s["name"], str) and s["kind"] in (1, 2, 3)
        start, end = s["startTimeUnixNano"], s["endTimeUnixNano"]
        assert isinstance(start, str) and isinstance(end, str) and int(start) < int(end)
        assert int(start) > 1_600_000_000 * 10**9  # nanoseconds since the epoch, not a monotonic clock
        s["attrs"] = check_attributes(s["attributes"])
        assert s["status"]["code"] in (0, 1, 2)
        if "parentSpanId" in s:
            parent = by_id[s["parentSpanId"]]
            assert HEX16.match(s["parentSpanId"]) and parent["traceId"] == s["traceId"]
            assert int(parent["startTimeUnixNano"]) <= int(start) and int(end) <= int(
                parent["endTimeUnixNano"]
            )
    return spans


@pytest.fixture
def collector() -> Iterator[dict[str, Any]]:
    """A loopback OTLP/HTTP receiver: records what is posted, answers with the configured status."""
    seen: dict[str, Any] = {"requests": [], "status": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers["Content-Type"] == "application/x-protobuf":
                body = protobuf_as_otlp_json(body)
            else:
                body = json.loads(body)
            seen["requests"].append((self.path, self.headers, body))
            self.send_response(seen["status"])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    seen["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def offline_run(repo: GitRepo) -> str:
    repo.write("prompts/cake.prompt", CAKE_V1)
    repo.write(
        "evals/cake.yaml",
        "prompt: cake\ndataset: cakes.csv\nscorers:\n  - type: contains\n    value: '{{ cake_type }}'\n"
        "  - type: regex\n    name: has number\n    pattern: '[0-9]'\n",
    )
    repo.write("evals/cakes.csv", "cake_type\nlemon\nplum\nfig\n")
    repo.commit("cake")
    result = run_cli("eval", "cake", "--json")
    assert result.code == 0, result
    return str(json.loads(result.out)["run_id"])


def test_run_export_is_valid_otlp_json(offline_run: str, tmp_path: Path) -> None:
    out = tmp_path / "traces" / "run.json"
    result = run_cli("runs", "export", offline_run, "--otlp", str(out))
    assert result.code == 0, result
    assert "wrote 15 span(s) in 3 trace(s)" in result.out
    payload = json.loads(out.read_text())
    spans = check_otlp(payload)
    resource = check_attributes(payload["resourceSpans"][0]["resource"]["attributes"])
    assert resource["plg.run_id"] == offline_run
    roots = [s for s in spans if "parentSpanId" not in s]
    assert len(roots) == 3 and {r["name"] for r in roots} == {"workflow.prompt"}
    assert len({s["traceId"] for s in spans}) == 3
    calls = [s for s in spans if s["name"] == "llm.call"]
    assert len(calls) == 3 and {c["kind"] for c in calls} == {3}
    assert all(c["attrs"]["gen_ai.request.model"] == "plg/offline" for c in calls)
    assert all(c["attrs"]["gen_ai.usage.output_tokens"] == c["attrs"]["completion_tokens"] > 0 for c in calls)
    assert all(c["attrs"]["cached"] is False and isinstance(c["attrs"]["cost_usd"], float) for c in calls)
    evaluators = sorted(s["name"] for s in spans if s["name"].startswith("evaluator."))
    assert evaluators == ["evaluator.contains"] * 3 + ["evaluator.has number"] * 3


def test_logs_export_traces(repo: GitRepo, tmp_path: Path) -> None:
    repo.write_prompt("cake", CAKE_V1)
    client = Client(repo.path, enable_tracing=True)

    @client.traceable(name="party", attributes={"user.id": "ada"})
    def party() -> None:
        client.run("cake", {"cake_type": "lemon"})
        client.run("cake", {"cake_type": "plum"}, tags=["second"])

    party()
    party()
    client.run("cake", {"cake_type": "fig"})
    out = tmp_path / "log.json"
    assert run_cli("logs", "export-traces", "-o", str(out)).code == 0
    spans = check_otlp(json.loads(out.read_text()))
    assert len({s["traceId"] for s in spans}) == 3 and len(spans) == 2 * 7 + 3
    party_span = next(s for s in spans if s["name"] == "party")
    assert party_span["attrs"]["user.id"] == "ada"
    tagged = run_cli("logs", "export-traces", "--tag", "second", "--limit", "1", "-o", str(out))
    assert "wrote 7 span(s) in 1 trace(s)" in tagged.out
    request_spans = [s for s in check_otlp(json.loads(out.read_text())) if s["name"] == "plg.run"]
    assert all(HEX32.match(s["attrs"]["plg.request_id"]) for s in request_spans)


def protobuf_as_otlp_json(body: bytes) -> dict[str, Any]:
    """Decode with OpenTelemetry's own message class, ids back to OTLP/JSON's hex."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    decoded = MessageToDict(ExportTraceServiceRequest.FromString(body), use_integers_for_enums=True)
    for resource in decoded["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return decoded


def test_protobuf_needs_the_otel_extra_and_json_does_not(
    offline_run: str, collector: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.proto.collector.trace.v1.trace_service_pb2", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    result = run_cli("runs", "export", offline_run, "--endpoint", collector["url"])
    assert result.code == 2
    assert result.err.strip() == (
        "plg: error: sending OTLP as http/protobuf needs the otel extra: pip install 'plg[otel]'"
    )
    assert collector["requests"] == []
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL")
    out = tmp_path / "run.json"
    sent = run_cli("runs", "export", offline_run, "--otlp", str(out), "--endpoint", collector["url"])
    assert sent.code == 0, sent
    ((path, headers, body),) = collector["requests"]
    assert headers["Content-Type"] == "application/json" and body == json.loads(out.read_text())


def test_send_posts_otlp_to_v1_traces(
    offline_run: str, collector: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=evals,authorization=Bearer%20t0k")
    out = tmp_path / "run.json"
    result = run_cli("runs", "export", offline_run, "--otlp", str(out), "--endpoint", collector["url"])
    assert result.code == 0, result
    assert f"sent 15 span(s) in 3 trace(s) to {collector['url']}/v1/traces" in result.out
    ((path, headers, body),) = collector["requests"]
    assert path == "/v1/traces" and headers["Content-Type"] == "application/x-protobuf"
    assert headers["x-team"] == "evals" and headers["authorization"] == "Bearer t0k"
    written = check_otlp(json.loads(out.read_text()))
    sent = [span for r in body["resourceSpans"] for scope in r["scopeSpans"] for span in scope["spans"]]
    assert len(sent) == len(written) == 15
    by_id = {span["spanId"]: span for span in sent}
    for span in written:
        twin = by_id[span["spanId"]]
        for key in ("traceId", "parentSpanId", "name", "kind", "startTimeUnixNano", "endTimeUnixNano"):
            assert twin.get(key) == span.get(key), key
        assert {a["key"]: a["value"] for a in twin["attributes"]} == {
            a["key"]: a["value"] for a in span["attributes"]
        }
        assert twin.get("status", {}).get("code", 0) == span["status"]["code"]

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    assert run_cli("runs", "export", offline_run, "--endpoint", collector["url"]).code == 0
    assert collector["requests"][-1][1]["Content-Type"] == "application/json"

    collector["status"] = 503
    failed = run_cli("runs", "export", offline_run, "--endpoint", collector["url"] + "/v1/traces")
    assert failed.code == 3 and "answered 503" in failed.err
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert run_cli("runs", "export", offline_run, "--endpoint", "ftp://x").code == 2
