"""Tracing application code from the SDK: `@client.traceable`, `client.span`, and one log write per trace
(or per request, written with the request's row)."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from plg.tracing.spans import METADATA_PREFIX, ActiveSpan, Span, SpanSink, span


class TraceBuffer:
    """A sink that writes a trace's spans in one batch when its root ends (or every `limit` spans, so a
    long-lived root does not hold them all): one write per trace instead of one per span.

    Items `hold`-ed with a span (the SDK's request rows) are written in the same call as that span, once
    it has ended: the writer can store a request and its spans in one transaction. `flush` writes what a
    trace has so far, so a request inside a longer trace is stored when it finishes, not when the trace does.
    """

    def __init__(self, write: Callable[[list[Span], list[Any]], None], limit: int = 64) -> None:
        self._write = write
        self._limit = limit
        self._lock = threading.Lock()
        self._pending: dict[str, list[Span]] = {}
        self._held: dict[str, list[tuple[str, Any]]] = {}

    def __call__(self, span: Span) -> None:
        with self._lock:
            batch = self._pending.setdefault(span.trace_id, [])
            batch.append(span)
            if span.parent_id is not None and len(batch) < self._limit:
                return
            spans, items = self._take(span.trace_id, everything=span.parent_id is None)
        self._write(spans, items)

    def hold(self, trace_id: str, span_id: str, item: Any) -> None:
        """Write `item` with span `span_id` (still open) when that span's batch is written."""
        with self._lock:
            self._held.setdefault(trace_id, []).append((span_id, item))

    def flush(self, trace_id: str) -> None:
        with self._lock:
            spans, items = self._take(trace_id, everything=False)
        if spans or items:
            self._write(spans, items)

    def _take(self, trace_id: str, everything: bool) -> tuple[list[Span], list[Any]]:
        spans = self._pending.pop(trace_id, [])
        held = self._held.pop(trace_id, [])
        if everything:
            return spans, [item for _, item in held]
        ended = {s.span_id for s in spans}
        waiting = [(sid, item) for sid, item in held if sid not in ended]
        if waiting:
            self._held[trace_id] = waiting
        return spans, [item for sid, item in held if sid in ended]


def _discard(span: Span) -> None:
    pass


class Tracer:
    """Spans around application code, written to `sink` as each one ends. Disabled, it records nothing,
    so decorated code can stay in place when tracing is switched off."""

    def __init__(self, sink: SpanSink, enabled: bool = True) -> None:
        self.sink = sink
        self.enabled = enabled

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, Any] | None = None, kind: str = "internal"
    ) -> Iterator[ActiveSpan | None]:
        if not self.enabled:
            yield None
            return
        with span(name, self.sink, attributes, kind) as active:
            yield active

    @contextmanager
    def block(self, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[ActiveSpan]:
        """A span around a block of user code. Disabled, it yields a span that is never recorded, so
        `span.set_attribute(...)` in the block works either way."""
        if not self.enabled:
            yield ActiveSpan(name, _discard, None, attributes)
            return
        with span(name, self.sink, attributes) as active:
            yield active

    def traceable(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Any:
        """`@tracer.traceable` or `@tracer.traceable(name=..., attributes=..., metadata=...)`, on sync or
        async functions. `metadata` becomes `plg.metadata.<key>` attributes, which requests made inside
        the span inherit as metadata."""
        attrs = {**(attributes or {}), **{METADATA_PREFIX + k: v for k, v in (metadata or {}).items()}}

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            span_name = name or fn.__qualname__
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def run_async(*args: Any, **kwargs: Any) -> Any:
                    if not self.enabled:
                        return await fn(*args, **kwargs)
                    with span(span_name, self.sink, attrs):
                        return await fn(*args, **kwargs)

                return run_async

            @functools.wraps(fn)
            def run(*args: Any, **kwargs: Any) -> Any:
                if not self.enabled:
                    return fn(*args, **kwargs)
                with span(span_name, self.sink, attrs):
                    return fn(*args, **kwargs)

            return run

        return decorate(func) if func is not None else decorate
