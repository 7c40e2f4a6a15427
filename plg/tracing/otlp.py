"""Spans as OpenTelemetry: the OTLP/JSON `ExportTraceServiceRequest` shape, to a file or an OTLP/HTTP endpoint.

A file needs nothing beyond plg, so traces can be handed to any OTLP-speaking backend or collector.
Sending follows the OpenTelemetry exporters' conventions (`OTEL_EXPORTER_OTLP_ENDPOINT`, `_HEADERS`,
`_PROTOCOL`). It speaks OTLP/HTTP JSON out of the box, which the collector accepts; with the `otel` extra
it sends protobuf, which every OTLP backend accepts, encoded by OpenTelemetry's own message classes.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from plg.errors import BadInput, OutsideFailure
from plg.tracing.spans import Span

SCOPE_NAME = "plg"
KIND_CODES = {"internal": 1, "server": 2, "client": 3}
STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}
_GEN_AI_ALIASES = {
    "model": "gen_ai.request.model",
    "prompt_tokens": "gen_ai.usage.input_tokens",
    "completion_tokens": "gen_ai.usage.output_tokens",
}


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _span(span: Span) -> dict[str, Any]:
    attributes = dict(span.attributes)
    if span.name == "llm.call":
        for ours, theirs in _GEN_AI_ALIASES.items():
            if ours in attributes:
                attributes.setdefault(theirs, attributes[ours])
    status: dict[str, Any] = {"code": STATUS_CODES[span.status]}
    if span.status_message:
        status["message"] = span.status_message
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": KIND_CODES.get(span.kind, 1),
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": _attributes(attributes),
        "status": status,
    }
    if span.parent_id:
        out["parentSpanId"] = span.parent_id
    return out


def to_otlp(
    spans: Iterable[Span], service_name: str = "plg", resource: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        plg_version = version("plg")
    except PackageNotFoundError:
        plg_version = "0"
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes({"service.name": service_name, **(resource or {})})},
                "scopeSpans": [
                    {
                        "scope": {"name": SCOPE_NAME, "version": plg_version},
                        "spans": [_span(s) for s in spans],
                    }
                ],
            }
        ]
    }


def write_otlp(payload: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False) + "\n", encoding="utf-8")


def _protobuf_request() -> Any | None:
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    except ImportError:
        return None
    return ExportTraceServiceRequest


def _hex_ids_to_base64(value: Any) -> Any:
    """OTLP/JSON writes ids as hex, where protobuf's JSON mapping expects base64 bytes."""
    if isinstance(value, list):
        return [_hex_ids_to_base64(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in ("traceId", "spanId", "parentSpanId") and isinstance(item, str):
            out[key] = base64.b64encode(bytes.fromhex(item)).decode()
        else:
            out[key] = _hex_ids_to_base64(item)
    return out


def encode(payload: Mapping[str, Any], protocol: str | None = None) -> tuple[bytes, str]:
    """The request body and its content type, by `OTEL_EXPORTER_OTLP_PROTOCOL` or what is installed."""
    protocol = protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    if protocol not in ("", "http/json", "http/protobuf"):
        raise BadInput(f"OTLP protocol '{protocol}' is not supported here: use http/protobuf or http/json")
    message_class = None if protocol == "http/json" else _protobuf_request()
    if message_class is None:
        if protocol == "http/protobuf":
            raise BadInput("sending OTLP as http/protobuf needs the otel extra: pip install 'plg[otel]'")
        return json.dumps(payload).encode(), "application/json"
    from google.protobuf.json_format import ParseDict

    message = ParseDict(_hex_ids_to_base64(payload), message_class())
    return message.SerializeToString(), "application/x-protobuf"


def traces_url(endpoint: str | None) -> str:
    """The OTLP/HTTP traces URL: a base endpoint gets `/v1/traces`, as the OpenTelemetry exporters do."""
    base = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not base:
        raise BadInput("no OTLP endpoint: pass --endpoint URL or set OTEL_EXPORTER_OTLP_ENDPOINT")
    if urllib.parse.urlparse(base).scheme not in ("http", "https"):
        raise BadInput(f"OTLP endpoint '{base}' must be an http:// or https:// URL")
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def _env_headers() -> dict[str, str]:
    headers = {}
    for item in os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return headers


def send_otlp(payload: Mapping[str, Any], endpoint: str | None = None, timeout: float = 10.0) -> str:
    """POST the payload to the OTLP/HTTP traces endpoint; returns the URL it went to."""
    url = traces_url(endpoint)
    body, content_type = encode(payload)
    request = urllib.request.Request(
        url, data=body, headers={**_env_headers(), "Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as err:
        raise OutsideFailure(f"OTLP endpoint {url} answered {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        from plg.redact import scrub_secrets

        reason = getattr(err, "reason", err)
        raise OutsideFailure(scrub_secrets(f"cannot reach OTLP endpoint {url}: {reason}")) from None
    return url


def export_spans(
    spans: list[Span],
    path: Path | None,
    endpoint: str | None,
    resource: Mapping[str, Any] | None = None,
) -> list[str]:
    """Write and/or send spans as one OTLP request; the lines say what went where."""
    payload = to_otlp(spans, resource=resource)
    count = f"{len(spans)} span(s) in {len({s.trace_id for s in spans})} trace(s)"
    said = []
    if path is not None:
        write_otlp(payload, path)
        said.append(f"wrote {count} to {path}")
    if endpoint is not None:
        said.append(f"sent {count} to {send_otlp(payload, endpoint)}")
    return said
