"""Spans: what happened inside one eval row or one application request, with measured timings.

The span in progress lives in a context variable, so nested calls nest and concurrent asyncio tasks
(each runs in a copy of its creator's context) never see each other's spans. Durations come from
`perf_counter_ns`; only a trace's root reads the wall clock, and its descendants are placed against
that anchor, so a child can never start before or end after its parent because the wall clock moved.
"""

from __future__ import annotations

import contextvars
import os
import random
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from plg.errors import BadInput

_ids = random.Random(int.from_bytes(os.urandom(16), "little"))
AttrValue = str | int | float | bool
SpanSink = Callable[["Span"], None]
STATUSES = ("unset", "ok", "error")
KINDS = ("internal", "client", "server")

METADATA_PREFIX = "plg.metadata."
METADATA_ATTRIBUTES = {"user.id": "user_id", "gen_ai.conversation.id": "conversation_id"}


def new_trace_id() -> str:
    """Random, not secret (as OpenTelemetry's SDKs make them): a syscall per id cost the eval engine more
    than the rest of a span's bookkeeping."""
    return f"{_ids.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{_ids.getrandbits(64) or 1:016x}"


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    status: str = "unset"
    status_message: str | None = None
    kind: str = "internal"

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "attributes": dict(self.attributes),
            "status": self.status,
            "status_message": self.status_message,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: Any) -> Span:
        """Spans come back from run files and the log database: check them before trusting them."""
        if not isinstance(data, Mapping):
            raise BadInput(f"a span must be an object, got {type(data).__name__}")
        try:
            span = cls(
                trace_id=str(data["trace_id"]),
                span_id=str(data["span_id"]),
                parent_id=None if data.get("parent_id") in (None, "") else str(data["parent_id"]),
                name=str(data["name"]),
                start_ns=int(data["start_ns"]),
                end_ns=int(data["end_ns"]),
                attributes={str(k): _attr(v) for k, v in dict(data.get("attributes") or {}).items()},
                status=str(data.get("status") or "unset"),
                status_message=None if data.get("status_message") is None else str(data["status_message"]),
                kind=str(data.get("kind") or "internal"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise BadInput(f"malformed span: {type(err).__name__}: {err}") from None
        if not (_is_hex(span.trace_id, 32) and _is_hex(span.span_id, 16)):
            raise BadInput(f"span '{span.name}': trace id must be 32 and span id 16 hex digits")
        if span.status not in STATUSES or span.kind not in KINDS or span.end_ns < span.start_ns:
            raise BadInput(f"span '{span.name}': bad status, kind or times")
        return span


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdef" for c in value)


_PLAIN = frozenset({str, bool, int, float})


def _attr(value: Any) -> AttrValue:
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


class ActiveSpan:
    """A span being recorded. Users reach it through `current_span()` to add attributes."""

    __slots__ = (
        "name", "kind", "parent", "trace_id", "span_id", "_sink", "_anchor", "start_ns", "attributes",
        "status", "status_message",
    )

    def __init__(
        self,
        name: str,
        sink: SpanSink,
        parent: ActiveSpan | None,
        attributes: Mapping[str, Any] | None = None,
        kind: str = "internal",
    ) -> None:
        self.name = name
        self.kind = kind
        self.parent = parent
        self.trace_id = parent.trace_id if parent else new_trace_id()
        self.span_id = new_span_id()
        self._sink = sink
        self._anchor: tuple[int, int] = parent._anchor if parent else (time.time_ns(), time.perf_counter_ns())
        self.start_ns = self._now()
        self.attributes: dict[str, AttrValue] = {}
        self.status = "unset"
        self.status_message: str | None = None
        if attributes:
            self.set_attributes(attributes)

    def _now(self) -> int:
        wall, perf = self._anchor
        return wall + (time.perf_counter_ns() - perf)

    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None:
            self.attributes[str(key)] = value if type(value) in _PLAIN else _attr(value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        mine = self.attributes
        for key, value in attributes.items():
            if value is not None:
                mine[key if type(key) is str else str(key)] = value if type(value) in _PLAIN else _attr(value)

    def set_status(self, status: str, message: str | None = None) -> None:
        if status not in STATUSES:
            raise BadInput(f"span status must be one of {', '.join(STATUSES)}, got {status!r}")
        self.status, self.status_message = status, message

    def record_exception(self, err: BaseException) -> None:
        from plg.redact import scrub_secrets

        text = (str(err).strip().splitlines() or [""])[0][:300]
        self.set_attribute("exception.type", type(err).__name__)
        self.set_status(
            "error", scrub_secrets(f"{type(err).__name__}: {text}" if text else type(err).__name__)
        )

    def inherited_attributes(self) -> dict[str, AttrValue]:
        """This span's attributes over its ancestors': what a request made inside it belongs to."""
        chain: list[ActiveSpan] = []
        span: ActiveSpan | None = self
        while span is not None:
            chain.append(span)
            span = span.parent
        merged: dict[str, AttrValue] = {}
        for item in reversed(chain):
            merged.update(item.attributes)
        return merged

    def end(self) -> Span:
        span = Span(
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_id=self.parent.span_id if self.parent else None,
            name=self.name,
            start_ns=self.start_ns,
            end_ns=max(self._now(), self.start_ns + 1),
            attributes=dict(self.attributes),
            status=self.status,
            status_message=self.status_message,
            kind=self.kind,
        )
        self._sink(span)
        return span


_current: contextvars.ContextVar[ActiveSpan | None] = contextvars.ContextVar("plg_span", default=None)


def current_span() -> ActiveSpan | None:
    return _current.get()


class _Recording:
    """`with span(...)`: a plain context manager rather than a generator one, as the eval engine enters
    four or more per row."""

    __slots__ = ("_active", "_token")

    def __init__(self, active: ActiveSpan) -> None:
        self._active = active

    def __enter__(self) -> ActiveSpan:
        self._token = _current.set(self._active)
        return self._active

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        if err is not None:
            self._active.record_exception(err)
        _current.reset(self._token)
        self._active.end()


class _NotRecording:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NOT_RECORDING = _NotRecording()


def span(
    name: str,
    sink: SpanSink,
    attributes: Mapping[str, Any] | None = None,
    kind: str = "internal",
    new_trace: bool = False,
) -> AbstractContextManager[ActiveSpan]:
    """Record `name` around the block as a child of the current span (or a new trace's root).
    An exception marks it an error and propagates."""
    return _Recording(ActiveSpan(name, sink, None if new_trace else _current.get(), attributes, kind))


def child_span(
    name: str, attributes: Mapping[str, Any] | None = None, kind: str = "internal"
) -> AbstractContextManager[ActiveSpan | None]:
    """A span only when something is being traced: library code (the model layer) marks its steps
    without knowing who records them; with no current span it costs nothing and yields None."""
    parent = _current.get()
    if parent is None:
        return _NOT_RECORDING
    return _Recording(ActiveSpan(name, parent._sink, parent, attributes, kind))


def completion_attributes(completion: Any) -> dict[str, Any]:
    """What an `llm.call` span says about a finished model call."""
    latency = completion.latency_s
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost_usd": completion.cost,
        "latency_ms": None if latency is None else round(latency * 1000, 3),
        "attempts": completion.attempts,
        "retries": max(completion.attempts - 1, 0),
        "cached": completion.cached,
    }


def evaluator_attributes(result: Any, weight: float) -> dict[str, Any]:
    """What an `evaluator.<name>` span says about a scorer's result."""
    return {
        "weight": weight,
        "score": result.score,
        "passed": result.passed,
        "reason": result.reason,
        "pending": result.pending or None,
    }


class _ModelCall:
    __slots__ = ("_recording",)

    def __init__(self, model: str) -> None:
        parent = _current.get()
        self._recording = (
            None
            if parent is None
            else _Recording(ActiveSpan("llm.call", parent._sink, parent, {"model": model}, "client"))
        )

    def note(self, completion: Any) -> Any:
        if self._recording is not None:
            self._recording._active.set_attributes(completion_attributes(completion))
        return completion

    def __enter__(self) -> Callable[[Any], Any]:
        if self._recording is not None:
            self._recording.__enter__()
        return self.note

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        if self._recording is None:
            return
        if err is not None:
            attempts = getattr(err, "attempts", 1)
            self._recording._active.set_attributes({"attempts": attempts, "retries": max(attempts - 1, 0)})
        self._recording.__exit__(kind, err, tb)


def model_call_span(model: str) -> AbstractContextManager[Callable[[Any], Any]]:
    """`llm.call` around a model call, when traced; yields `note(completion)` to record its figures."""
    return _ModelCall(model)


def metadata_from_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """`user.id`, `gen_ai.conversation.id` and `plg.metadata.<key>` span attributes as request metadata."""
    metadata: dict[str, str] = {}
    for key, value in attributes.items():
        if key in METADATA_ATTRIBUTES:
            metadata[METADATA_ATTRIBUTES[key]] = str(value)
        elif key.startswith(METADATA_PREFIX) and len(key) > len(METADATA_PREFIX):
            metadata[key[len(METADATA_PREFIX) :]] = str(value)
    return metadata
