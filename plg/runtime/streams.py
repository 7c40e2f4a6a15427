"""Streamed requests: chunks to the caller as they arrive, the request logged once at the end.

A mixin of `Client` (kept apart only for size): it uses the client's `_request_span`, `_prepare`,
`_succeeded`, `_failed` and `_record`, so a streamed request is resolved, rendered, traced and logged
exactly like `call`. The last event (the request id) comes after the request is written, so the caller
can `track.*` it at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from plg.errors import ModelCallError


@dataclass(frozen=True)
class StreamEvent:
    """A chunk (`piece`, with the text so far), or the end of the stream (`outcome`, logged)."""

    piece: Any
    text: str
    call: Any
    outcome: Any = None


class Streaming:
    _request_span: Any
    models: Any

    def stream(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None = None,
        label: str | None = None,
        version: int | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        group_id: int | None = None,
    ) -> Iterator[StreamEvent]:
        """Chunks as the model sends them, then one event carrying the logged `Outcome`. The request is
        logged once, at the end (with what arrived, if the caller stops reading early)."""
        from plg.llm import streaming

        with self._request_span({"prompt": prompt_name, "stream": True}) as active:
            call = self._prepare(
                prompt_name, input_variables, label, version, model, params, tags, metadata, active, group_id
            )
            result = streaming.StreamResult()
            done = False
            try:
                for piece in streaming.stream(self.models, call.model, call.messages, call.params, result):
                    yield StreamEvent(piece=piece, text=result.text, call=call)
                done = True
            except ModelCallError as err:
                done = True
                self._failed(call, err, partial=result.text or None)
                raise
            finally:
                if not done:
                    self._abandoned(call, result)
            assert result.completion is not None
            outcome = self._succeeded(call, result.completion)
        yield StreamEvent(None, result.text, call, outcome)

    async def astream(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None = None,
        label: str | None = None,
        version: int | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        group_id: int | None = None,
    ) -> AsyncIterator[StreamEvent]:
        from plg.llm import streaming

        with self._request_span({"prompt": prompt_name, "stream": True}) as active:
            call = self._prepare(
                prompt_name, input_variables, label, version, model, params, tags, metadata, active, group_id
            )
            result = streaming.StreamResult()
            done = False
            try:
                async for piece in streaming.astream(self.models, call.model, call.messages, call.params, result):
                    yield StreamEvent(piece=piece, text=result.text, call=call)
                done = True
            except ModelCallError as err:
                done = True
                self._failed(call, err, partial=result.text or None)
                raise
            finally:
                if not done:
                    self._abandoned(call, result)
            assert result.completion is not None
            outcome = self._succeeded(call, result.completion)
        yield StreamEvent(None, result.text, call, outcome)

    def _abandoned(self, call: Any, result: Any) -> None:
        self._record(
            call,
            output=result.text,
            error=f"stream closed by the caller after {result.chunks} chunk(s)",
            latency_s=time.perf_counter() - call.started,
        )

