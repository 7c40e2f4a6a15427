"""OTLP/HTTP trace requests (JSON or protobuf) read into plg's spans, for `POST /v1/traces`.

PromptLayer's SDKs export `enable_tracing=True` spans with OpenTelemetry's OTLP/HTTP exporter (protobuf);
the collector's JSON form is accepted as well. Protobuf needs the `otel` extra (opentelemetry-proto),
imported only when such a body arrives. Attribute values that are not plain become their JSON text.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from plg.errors import BadInput
from plg.tracing.spans import Span

_KINDS = {2: "server", 3: "client"}
_STATUS = {1: "ok", 2: "error"}
_KIND_NAMES = {"SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}
_STATUS_NAMES = {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _enum(value: Any, names: Mapping[str, int]) -> int:
    """An OTLP enum as its number: JSON may carry the number or (protobuf's JSON form) the name."""
    if isinstance(value, str):
        return names.get(value, int(value) if value.isdigit() else 0)
    return int(value) if isinstance(value, int) else 0


def _id(value: Any, length: int) -> str | None:
    """OTLP/JSON carries ids as hex; protobuf-as-dict as base64."""
    if not value:
        return None
    text = str(value)
    if len(text) == length and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"span id {text!r} is neither hex nor base64") from None
    return raw.hex() if len(raw) * 2 == length else None


def _value(value: Mapping[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return json.dumps([_value(v) for v in value["arrayValue"].get("values", [])])
    if "kvlistValue" in value:
        return json.dumps({kv["key"]: _value(kv.get("value", {})) for kv in value["kvlistValue"].get("values", [])})
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return ""


def spans_from_json(payload: Any) -> list[Span]:
    if not isinstance(payload, Mapping):
        raise BadInput("an OTLP trace request must be a JSON object")
    spans: list[Span] = []
    for resource in payload.get("resourceSpans") or payload.get("resource_spans") or []:
        for scope in resource.get("scopeSpans") or resource.get("scope_spans") or []:
            for raw in scope.get("spans") or []:
                trace_id, span_id = _id(raw.get("traceId"), 32), _id(raw.get("spanId"), 16)
                if trace_id is None or span_id is None:
                    raise BadInput(f"span {raw.get('name')!r}: trace id must be 16 bytes and span id 8")
                status = raw.get("status") or {}
                code = _enum(status.get("code"), _STATUS_NAMES)
                kind = _enum(raw.get("kind"), _KIND_NAMES)
                start = int(raw.get("startTimeUnixNano") or 0)
                spans.append(Span.from_json({
                    "trace_id": trace_id, "span_id": span_id, "parent_id": _id(raw.get("parentSpanId"), 16),
                    "name": raw.get("name") or "span", "start_ns": start,
                    "end_ns": max(start, int(raw.get("endTimeUnixNano") or start)),
                    "attributes": {a["key"]: _value(a.get("value") or {}) for a in raw.get("attributes") or []},
                    "status": _STATUS.get(code, "unset"), "status_message": status.get("message") or None,
                    "kind": _KINDS.get(kind, "internal"),
                }))
    return spans


def spans_from_bulk(payload: Any) -> list[Span]:
    """The JavaScript SDK's own upload (`POST /spans-bulk`, `{"spans": [...]}`): Python-style enum names
    (`SpanKind.CLIENT`, `StatusCode.ERROR`), nanosecond strings, attributes as an object."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("spans"), list):
        raise BadInput('a spans-bulk request must be {"spans": [...]}')
    spans = []
    for raw in payload["spans"]:
        if not isinstance(raw, Mapping):
            raise BadInput("each span must be an object")
        context = raw.get("context") or {}
        status = raw.get("status") or {}
        start = int(raw.get("start_time") or 0)
        kind = str(raw.get("kind") or "").removeprefix("SpanKind.").lower()
        code = str(status.get("status_code") or "").removeprefix("StatusCode.").lower()
        spans.append(Span.from_json({
            "trace_id": str(context.get("trace_id") or "").lower(), "span_id": str(context.get("span_id") or "").lower(),
            "parent_id": raw.get("parent_id") or None, "name": raw.get("name") or "span", "start_ns": start,
            "end_ns": max(start, int(raw.get("end_time") or start)),
            "attributes": {str(k): v if isinstance(v, (str, int, float, bool)) else json.dumps(v)
                           for k, v in (raw.get("attributes") or {}).items()},
            "status": code if code in ("ok", "error") else "unset", "status_message": status.get("description") or None,
            "kind": kind if kind in ("client", "server") else "internal",
        }))
    return spans


def spans_from_protobuf(body: bytes) -> list[Span]:
    try:
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    except ModuleNotFoundError:
        raise BadInput("OTLP protobuf needs the otel extra (pip install 'plg-registry[otel]'); or send JSON") from None
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except Exception as err:  # protobuf's DecodeError has no stable import path
        raise BadInput(f"malformed OTLP protobuf: {err}") from None
    return spans_from_json(MessageToDict(message))


def read_spans(body: bytes, content_type: str, encoding: str = "") -> list[Span]:
    if encoding == "gzip":
        import gzip

        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as err:
            raise BadInput(f"malformed gzip body: {err}") from None
    if "json" in content_type:
        try:
            return spans_from_json(json.loads(body or b"{}"))
        except ValueError as err:
            raise BadInput(f"malformed OTLP JSON: {err}") from None
    return spans_from_protobuf(body)
