"""Spans as OpenTelemetry: the OTLP/JSON `ExportTraceServiceRequest` shape, to a file or an OTLP/HTTP endpoint.

A file needs nothing beyond plg, so traces can be handed to any OTLP-speaking backend or collector.
Sending to an endpoint is part of the `otel` extra, which brings the OpenTelemetry exporter whose
conventions (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`) the sender follows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from plg.errors import BadInput, OutsideFailure
from plg.tracing import Span

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


def exporter_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:
        return False


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
    """POST the payload as OTLP/HTTP JSON; returns the URL it went to."""
    if not exporter_installed():
        raise BadInput("sending to an OTLP endpoint needs the otel extra: pip install 'plg[otel]'")
    url = traces_url(endpoint)
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={**_env_headers(), "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as err:
        raise OutsideFailure(f"OTLP endpoint {url} answered {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        from plg.llm import scrub_secrets

        reason = getattr(err, "reason", err)
        raise OutsideFailure(scrub_secrets(f"cannot reach OTLP endpoint {url}: {reason}")) from None
    return url
