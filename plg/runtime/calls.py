"""One SDK request's values from rendering to response: what `Client` computes, logs and returns.

`Call` is a request resolved and rendered, not yet sent; `Outcome` is one that answered and was logged.
Every response shape (plg's `Client.run`, PromptLayer's `run`) is built at the edge from an `Outcome`;
the request log row is built from the `Call` and what the model said (or the error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plg.log.records import RequestRecord
from plg.registry.versions import PromptVersion
from plg.tracing.spans import ActiveSpan


@dataclass(frozen=True)
class Call:
    version: PromptVersion
    messages: list[dict[str, str]]
    model: str
    params: dict[str, Any]
    variables: dict[str, Any]
    tags: tuple[str, ...]
    metadata: dict[str, str]
    started: float
    span: ActiveSpan | None = None

    def record(self, **outcome: Any) -> RequestRecord:
        """The log row: this call plus `output`/`error`, latency, tokens and cost."""
        pv = self.version
        return RequestRecord.new(
            prompt_name=pv.name,
            version=pv.version,
            commit=pv.commit,
            label=pv.label,
            model=self.model,
            params=self.params,
            input_variables=self.variables,
            messages=self.messages,
            tags=self.tags,
            metadata=self.metadata,
            trace_id=self.span.trace_id if self.span else None,
            span_id=self.span.span_id if self.span else None,
            **outcome,
        )


@dataclass(frozen=True)
class Outcome:
    """A logged, successful request."""

    request_id: str
    version: PromptVersion
    messages: list[dict[str, str]]
    model: str
    params: dict[str, Any]
    variables: dict[str, Any]
    completion: Any


def response(outcome: Outcome) -> dict[str, Any]:
    """The response shape `Client.run` has always returned."""
    completion, pv = outcome.completion, outcome.version
    answer = {"role": "assistant", "content": completion.text}
    raw = {
        "id": f"plg-{outcome.request_id}",
        "object": "chat.completion",
        "model": outcome.model,
        "choices": [{"index": 0, "message": answer, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": (completion.prompt_tokens or 0) + (completion.completion_tokens or 0),
        },
    }
    return {
        "request_id": outcome.request_id,
        "raw_response": raw,
        "prompt_blueprint": {
            "prompt_template": {"type": "chat", "messages": [*outcome.messages, answer]},
            "metadata": {"model": {"name": outcome.model, "parameters": outcome.params}},
        },
        "prompt_name": pv.name,
        "prompt_version": pv.version,
        "prompt_commit": pv.commit,
        "prompt_label": pv.label,
        "latency_s": completion.latency_s,
        "cost": completion.cost,
    }
