"""One logged request as plg keeps it, and the checks every log backend applies to what `track.*` attaches."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plg.errors import BadInput

DEFAULT_SCORE_NAME = "default"


@dataclass(frozen=True)
class RequestRecord:
    id: str
    time: float
    prompt_name: str | None
    version: int | None
    commit: str | None
    label: str | None
    model: str | None
    params: dict[str, Any]
    input_variables: dict[str, Any]
    messages: list[dict[str, Any]]
    output: str | None
    error: str | None
    latency_s: float | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    trace_id: str | None = None
    span_id: str | None = None

    @classmethod
    def new(cls, **fields: Any) -> RequestRecord:
        fields.setdefault("id", uuid.uuid4().hex)
        fields.setdefault("time", time.time())
        fields["tags"] = tuple(fields.get("tags") or ())
        for key in ("params", "input_variables", "metadata", "scores"):
            fields[key] = dict(fields.get(key) or {})
        fields["messages"] = list(fields.get("messages") or [])
        for key in (
            "prompt_name",
            "version",
            "commit",
            "label",
            "model",
            "output",
            "error",
            "latency_s",
            "trace_id",
            "span_id",
        ):
            fields.setdefault(key, None)
        return cls(**fields)

    def search_text(self) -> str:
        """What `--search` looks in: inputs, non-system messages, output, error. The system prompt is the
        same for every request of a version (filter by prompt instead) and would double the index."""
        parts = [str(v) for v in self.input_variables.values()]
        parts += [str(m.get("content", "")) for m in self.messages if m.get("role") != "system"]
        parts += [self.output or "", self.error or ""]
        return "\n".join(parts)


def check_score(score: Any) -> float:
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100:
        raise BadInput(f"score must be a number from 0 to 100, got {score!r}")
    return float(score)


def check_metadata(metadata: Mapping[Any, Any]) -> dict[str, str]:
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise BadInput(f"metadata must map strings to strings; got {key!r}: {value!r}")
    return dict(metadata)
